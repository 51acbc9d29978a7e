"""OpenSLO v1 documents to objectives: windows, budgeting, sources, references, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_perf.config import ConfigError
from otel_perf.processors.slo.objective import (
    DEFAULT_RULES,
    AlertSeverity,
    BudgetingMethod,
    BurnRateRule,
    Objective,
    SLIKind,
    TimeWindow,
)
from otel_perf.processors.slo.openslo import load_openslo, parse_openslo

TESTDATA = Path(__file__).parents[2] / "testdata" / "openslo"

# one SLO in the spec's format; the error cases below each change one thing in it
BASE = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: web
spec:
  service: web
  indicator:
    metadata:
      name: web-ok
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: otel-perf
            spec:
              spans: ok
        total:
          metricSource:
            type: otel-perf
            spec:
              spans: all
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
"""

THRESHOLD = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api
spec:
  service: api
  indicator:
    metadata:
      name: api-duration
    spec:
      thresholdMetric:
        metricSource:
          type: otel-perf
          spec:
            spans: latency
  budgetingMethod: Occurrences
  objectives:
    - op: lte
      value: 0.25
      target: 0.95
"""


def load(*names: str) -> list[Objective]:
    return load_openslo([TESTDATA / name for name in names])


def errors(text: str, source: str = "t.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_openslo(text, source)
    return str(caught.value).splitlines()


def changed(old: str, new: str, text: str = BASE) -> str:
    assert old in text
    return text.replace(old, new, 1)


# -- documents that map ---------------------------------------------------------------------


def test_rolling_window_occurrences_availability_from_spans_with_alert_policies() -> None:
    [objective] = load("availability.yaml")
    assert objective == Objective(
        name="checkout-availability",
        service="checkout",
        kind=SLIKind.AVAILABILITY,
        target=0.999,  # targetPercent: 99.9, exactly
        budgeting=BudgetingMethod.OCCURRENCES,
        window=TimeWindow(duration_s=30 * 86400),
        rules=(
            BurnRateRule(
                long_window_s=3600, short_window_s=300, burn_rate=14.4, severity=AlertSeverity.PAGE
            ),
            BurnRateRule(
                long_window_s=3 * 86400,
                short_window_s=6 * 3600,
                burn_rate=1,
                severity=AlertSeverity.TICKET,
            ),
        ),
        description="Checkout requests succeed",
    )
    assert objective.window.is_rolling
    hash(objective)  # objectives stay usable as keys


def test_calendar_month_timeslices_latency_from_spans_with_two_objectives() -> None:
    fast, not_slow = load("latency_calendar.yaml")
    month = TimeWindow(duration_s=30 * 86400, calendar="month", timezone="Europe/Berlin")
    expected = Objective(
        name="search-latency-fast",
        service="search",
        operation="GET /search",
        kind=SLIKind.LATENCY,
        target=0.9,
        threshold_s=0.2,  # value: 200 with unit: ms
        budgeting=BudgetingMethod.TIMESLICES,
        timeslice_target=0.95,
        window=month,
    )
    assert fast == expected
    # timeSliceWindow: 1 is one minute: the spec reads numbers as minutes
    assert not_slow == expected.model_copy(
        update={
            "name": "search-latency-not-slow",
            "target": 0.99,
            "threshold_s": 1.0,
            "timeslice_target": 0.99,
        }
    )
    assert fast.rules == DEFAULT_RULES


def test_bad_over_total_counters_from_an_sli_document_through_a_data_source() -> None:
    [objective] = load("ratio_metrics.yaml")
    assert objective == Objective(
        name="payments",
        service="payments",
        kind=SLIKind.RATIO,
        target=0.995,
        bad_metric="payments.failed",
        total_metric="payments.attempted",
        metric_attributes=(("payment.provider", "acme"), ("payment.retry", "false")),
        budgeting=BudgetingMethod.RATIO_TIMESLICES,
        window=TimeWindow(duration_s=7 * 86400, calendar="week", timezone="America/New_York"),
    )


def test_latency_over_a_received_histogram_and_good_over_total_in_the_list_form() -> None:
    fast, slow, orders = load("histogram_latency.yaml")
    expected = Objective(
        name="api-latency-0",  # several objectives without displayName: told apart by index
        service="api",
        kind=SLIKind.LATENCY,
        target=0.95,
        threshold_s=0.3,
        latency_metric="http.server.request.duration",
        metric_attributes=(("http.response.status_code", "200"), ("http.route", "/orders")),
        window=TimeWindow(duration_s=28 * 86400),
    )
    assert fast == expected
    assert slow == expected.model_copy(
        update={"name": "api-latency-1", "target": 0.999, "threshold_s": 1.5}
    )
    assert orders == Objective(
        name="orders-good-total",
        service="orders",
        kind=SLIKind.RATIO,
        target=0.99,
        good_metric="orders.served",
        total_metric="orders.received",
    )
    assert orders.window == TimeWindow()  # timeWindow is optional: otel-perf's 30 d default


@pytest.mark.parametrize(
    "names", [("shared_sli.yaml", "slo_with_ref.yaml"), ("slo_with_ref.yaml", "shared_sli.yaml")]
)
def test_indicator_ref_resolves_across_the_file_set(names: tuple[str, str]) -> None:
    assert load(*names) == [
        Objective(
            name="cart-availability",
            service="cart",
            operation="POST /cart",
            kind=SLIKind.AVAILABILITY,
            target=0.999,
            window=TimeWindow(duration_s=7 * 86400),
        )
    ]


def test_an_sli_only_in_another_file_is_not_found_by_that_file_alone() -> None:
    with pytest.raises(ConfigError) as caught:
        load("slo_with_ref.yaml")
    assert str(caught.value) == (
        f'{TESTDATA / "slo_with_ref.yaml"}:7:17 spec.indicatorRef: no SLI named "cart-errors"'
    )


def test_empty_files_and_documents_give_nothing() -> None:
    assert parse_openslo("", "empty.yaml") == []
    assert parse_openslo("---\n---\n", "empty.yaml") == []


# -- documents that do not ------------------------------------------------------------------


def test_five_mistakes_in_five_documents_are_all_reported_with_paths_and_lines() -> None:
    path = TESTDATA / "malformed.yaml"
    with pytest.raises(ConfigError) as caught:
        load_openslo([path])
    rendered = str(caught.value).replace(str(path), "malformed.yaml")
    assert rendered == (TESTDATA / "malformed.txt").read_text().rstrip("\n")
    assert len(caught.value.problems) == 5


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "duration: 30d",
            "duration: 1M",
            "t.yaml:24:17 spec.timeWindow[0].duration: rolling durations take m, h, d or w; "
            '"1M" needs a calendar window',
            id="rolling-month",
        ),
        pytest.param(
            "duration: 30d\n      isRolling: true",
            "duration: 1Q\n      calendar:\n        startTime: 2024-01-01 00:00:00\n"
            "        timeZone: UTC",
            "t.yaml:24:17 spec.timeWindow[0].duration: calendar windows are 1w (an ISO week) "
            'or 1M (a month), got "1Q"',
            id="calendar-quarter",
        ),
        pytest.param(
            "duration: 30d\n      isRolling: true",
            "duration: 1M\n      calendar:\n        startTime: 2024-01-15 00:00:00\n"
            "        timeZone: UTC",
            "t.yaml:26:20 spec.timeWindow[0].calendar.startTime: otel-perf months start on "
            "the 1st at 00:00:00, got 2024-01-15 00:00:00",
            id="calendar-month-mid-month",
        ),
        pytest.param(
            "duration: 30d\n      isRolling: true",
            "duration: 1w\n      calendar:\n        startTime: '2024-01-01 00:00:00'\n"
            "        timeZone: Mars/Olympus_Mons",
            "t.yaml:27:19 spec.timeWindow[0].calendar.timeZone: unknown IANA time zone "
            '"Mars/Olympus_Mons"',
            id="calendar-unknown-zone",
        ),
        pytest.param(
            "duration: 30d\n      isRolling: true",
            "duration: 1w\n      isRolling: false",
            "t.yaml:24:7 spec.timeWindow[0]: a calendar window (isRolling: false) needs "
            "calendar: startTime, timeZone",
            id="calendar-without-calendar",
        ),
        pytest.param(
            "target: 0.99",
            "target: 0.99\n      targetPercent: 99",
            "t.yaml:29:22 spec.objectives[0].targetPercent: give target or targetPercent, not both",
            id="target-and-percent",
        ),
        pytest.param(
            "target: 0.99",
            "targetPercent: 100",
            "t.yaml:28:22 spec.objectives[0].targetPercent: must be between 0 and 100, got 100",
            id="target-percent-100",
        ),
        pytest.param(
            "target: 0.99",
            "displayName: no target",
            "t.yaml:28:7 spec.objectives[0]: target or targetPercent is required",
            id="no-target",
        ),
        pytest.param(
            "target: 0.99",
            "target: 0.99\n      op: lte",
            "t.yaml:29:11 spec.objectives[0].op: only used with a thresholdMetric",
            id="op-with-ratio",
        ),
        pytest.param(
            "target: 0.99",
            "target: 0.99\n      timeSliceWindow: 1m",
            "t.yaml:29:24 spec.objectives[0].timeSliceWindow: not used with Occurrences budgeting",
            id="timeslice-window-with-occurrences",
        ),
        pytest.param(
            "budgetingMethod: Occurrences",
            "budgetingMethod: RatioTimeslices",
            "t.yaml:28:7 spec.objectives[0]: timeSliceWindow is required with RatioTimeslices "
            "budgeting (1m)",
            id="ratio-timeslices-without-window",
        ),
        pytest.param(
            "            type: otel-perf\n            spec:\n              spans: ok",
            "            spec:\n              spans: ok",
            "t.yaml:15:13 spec.indicator.spec.ratioMetric.good.metricSource: type is required "
            "(type: otel-perf, or a metricSourceRef)",
            id="no-source-type",
        ),
        pytest.param(
            "spans: ok",
            "spans: ok\n              metric: http.server.requests",
            "t.yaml:17:15 spec.indicator.spec.ratioMetric.good.metricSource.spec: give metric "
            "(a received OTel metric) or spans, exactly one",
            id="metric-and-spans",
        ),
        pytest.param(
            "spans: ok",
            "spans: latency",
            "t.yaml:17:22 spec.indicator.spec.ratioMetric.good.metricSource.spec.spans: good "
            'counts spans: ok, got "latency"',
            id="latency-spans-in-a-ratio",
        ),
        pytest.param(
            "spans: all",
            "metric: http.server.requests",
            "t.yaml:19:11 spec.indicator.spec.ratioMetric.total: good and total must both read "
            "metrics or both spans",
            id="spans-over-metric",
        ),
        pytest.param(
            "spans: ok",
            "spans: ok\n              unit: ms",
            "t.yaml:18:21 spec.indicator.spec.ratioMetric.good.metricSource.spec.unit: only used "
            "with a thresholdMetric",
            id="unit-in-a-ratio",
        ),
        pytest.param(
            "        good:",
            "        raw:",
            "t.yaml:14:11 spec.indicator.spec.ratioMetric.raw: precomputed ratios are not "
            "supported; give good or bad with total",
            id="raw-ratio",
        ),
        pytest.param(
            "counter: true",
            "counter: false",
            "t.yaml:12:18 spec.indicator.spec.ratioMetric.counter: otel-perf counts events: "
            "must be true",
            id="gauge",
        ),
        pytest.param(
            "apiVersion: openslo/v1",
            "apiVersion: openslo/v1alpha",
            't.yaml:1:13 apiVersion: only openslo/v1 is supported, got "openslo/v1alpha"',
            id="api-version",
        ),
        pytest.param(
            "kind: SLO",
            "kind: Slo",
            't.yaml:2:7 kind: unknown kind "Slo" (known: SLO, SLI, DataSource, AlertPolicy, '
            "AlertCondition, AlertNotificationTarget, Service)",
            id="kind",
        ),
        pytest.param(
            "  service: web",
            "  service: web\n  service: api",
            "t.yaml:7:12 spec.service: key appears twice",
            id="duplicate-key",
        ),
        pytest.param(
            "  objectives:",
            "  objectives: [",
            "t.yaml:28:5: invalid YAML: expected the node content, but found '-'",
            id="invalid-yaml",
        ),
    ],
)
def test_one_mistake_one_error_at_its_path_and_line(old: str, new: str, expected: str) -> None:
    assert errors(changed(old, new)) == [expected]


def test_timeslices_need_a_target_per_slice_and_one_minute_slices() -> None:
    text = changed("budgetingMethod: Occurrences", "budgetingMethod: Timeslices")
    assert errors(text) == [
        "t.yaml:28:7 spec.objectives[0]: timeSliceWindow is required with Timeslices "
        "budgeting (1m)",
        "t.yaml:28:7 spec.objectives[0]: timeSliceTarget is required with Timeslices budgeting",
    ]
    text = changed(
        "target: 0.99", "target: 0.99\n      timeSliceTarget: 1.2\n      timeSliceWindow: 5m", text
    )
    assert errors(text) == [
        "t.yaml:29:24 spec.objectives[0].timeSliceTarget: must be above 0 and at most 1, got 1.2",
        "t.yaml:30:24 spec.objectives[0].timeSliceWindow: otel-perf judges one-minute "
        "timeslices: use 1m, got '5m'",
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "op: lte",
            "op: gte",
            "t.yaml:18:11 spec.objectives[0].op: a latency objective counts requests at or "
            'under value as good: use op: lte, got "gte"',
            id="op-gte",
        ),
        pytest.param(
            "      value: 0.25\n",
            "",
            "t.yaml:18:7 spec.objectives[0]: value (above 0) is required",
            id="no-value",
        ),
        pytest.param(
            "spans: latency",
            "spans: all",
            "t.yaml:15:20 spec.indicator.spec.thresholdMetric.metricSource.spec.spans: a "
            'thresholdMetric reads spans: latency, got "all"',
            id="counting-spans",
        ),
        pytest.param(
            "spans: latency",
            "spans: latency\n            unit: minutes",
            "t.yaml:16:19 spec.indicator.spec.thresholdMetric.metricSource.spec.unit: Input "
            "should be 's' or 'ms', got 'minutes'",
            id="unit",
        ),
    ],
)
def test_threshold_metric_mistakes(old: str, new: str, expected: str) -> None:
    assert errors(changed(old, new, THRESHOLD)) == [expected]


def test_threshold_metric_maps_to_a_latency_objective() -> None:
    [objective] = parse_openslo(THRESHOLD, "t.yaml")
    assert (objective.kind, objective.threshold_s, objective.target) == (
        SLIKind.LATENCY,
        0.25,
        0.95,
    )
    assert objective.latency_metric is None and objective.operation is None


def test_unsupported_source_through_a_data_source_names_the_reference() -> None:
    text = changed(
        "            type: otel-perf\n            spec:\n              spans: ok",
        "            metricSourceRef: prom\n            spec:\n              spans: ok",
    )
    text += "---\napiVersion: openslo/v1\nkind: DataSource\nmetadata:\n  name: prom\n"
    text += "spec:\n  type: Prometheus\n  connectionDetails:\n    url: http://prom:9090\n"
    assert errors(text) == [
        "t.yaml:15:30 [doc 1] spec.indicator.spec.ratioMetric.good.metricSource"
        ".metricSourceRef: otel-perf reads its own telemetry; 'Prometheus' sources are not "
        "supported (use type: otel-perf)"
    ]


def test_references_and_names_are_checked_across_documents() -> None:
    ref = changed("  indicator:\n", "  indicatorRef: nowhere\n  indicator:\n")
    assert errors(ref) == [
        "t.yaml:6:3 spec: give indicator (an inline SLI) or indicatorRef, exactly one"
    ]
    only_ref = BASE[: BASE.index("  indicator:")] + "  indicatorRef: nowhere\n"
    only_ref += BASE[BASE.index("  timeWindow:") :]
    assert errors(only_ref) == ['t.yaml:7:17 spec.indicatorRef: no SLI named "nowhere"']
    twice = BASE + "---\n" + BASE
    assert errors(twice) == [
        't.yaml:33:9 [doc 2] metadata.name: another SLO named "web" is at t.yaml:4:9'
    ]
    several = changed(
        "    - target: 0.99", "    - target: 0.99\n    - target: 0.9\n      displayName: Fast"
    )
    clash = several + "---\n" + changed("name: web\n", "name: web-fast\n")
    assert errors(clash) == [
        't.yaml:35:9 [doc 2] metadata.name: objective "web-fast" is already defined at t.yaml:29:7'
    ]


def test_alert_policies_that_otel_perf_cannot_honour() -> None:
    text = BASE + (
        "  alertPolicies:\n"
        "    - alertPolicyRef: missing\n"
        "    - spec:\n"
        "        alertWhenNoData: true\n"
        "        conditions:\n"
        "          - spec:\n"
        "              severity: sev1\n"
        "              condition:\n"
        "                threshold: 2\n"
        "                lookbackWindow: 1h\n"
        "                alertAfter: 5m\n"
    )
    where = "spec.alertPolicies[1].spec"
    assert errors(text) == [
        't.yaml:30:23 spec.alertPolicies[0].alertPolicyRef: no AlertPolicy named "missing"',
        f"t.yaml:32:26 {where}.alertWhenNoData: not supported: a burn-rate window without "
        "data does not alert",
        f'''t.yaml:35:25 {where}.conditions[0].spec.severity: otel-perf alert severities are \
page or ticket, got "sev1"''',
        f"t.yaml:39:29 {where}.conditions[0].spec.condition.alertAfter: not supported: "
        "otel-perf confirms a burn with a short window of lookbackWindow / 12 instead "
        "(use 0m or leave it out)",
    ]


def test_list_form_errors_carry_the_item_index() -> None:
    text = "- " + BASE.replace("\n", "\n  ").rstrip() + "\n"
    text = changed("target: 0.99", "target: 0", text)
    assert errors(text) == [
        "t.yaml:28:17 [0].spec.objectives[0].target: must be between 0 and 1, got 0"
    ]


def test_each_file_of_a_set_names_itself_in_its_errors(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(changed("service: web", "service: ''"))
    second.write_text(changed("name: web\n", "name: other\n", changed("kind: SLO", "kind: SLX")))
    with pytest.raises(ConfigError) as caught:
        load_openslo([second, first])
    assert str(caught.value).splitlines() == [
        f'{second}:2:7 kind: unknown kind "SLX" (known: SLO, SLI, DataSource, AlertPolicy, '
        "AlertCondition, AlertNotificationTarget, Service)",
        f"{first}:6:12 spec.service: String should have at least 1 character, got ''",
    ]
    assert caught.value.source == f"{second}, {first}"


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read: No such file"):
        load_openslo([missing])


def test_a_broken_referenced_document_is_reported_once_where_it_is() -> None:
    text = BASE + "  alertPolicies:\n    - alertPolicyRef: paging\n"
    text += (
        "---\napiVersion: openslo/v1\nkind: AlertPolicy\nmetadata:\n  name: paging\n"
        "spec:\n  conditions:\n    - conditionRef: burn\n"
        "---\napiVersion: openslo/v1\nkind: AlertCondition\nmetadata:\n  name: burn\n"
        "spec:\n  severity: page\n  condition:\n    threshold: 2\n    lookbackWindow: 1M\n"
    )
    assert errors(text) == [
        "t.yaml:48:21 [doc 3] spec.condition.lookbackWindow: rolling durations take m, h, d "
        'or w; "1M" needs a calendar window'
    ]


def test_unparsable_yaml_in_one_file_is_reported_without_the_references_it_hides(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text((TESTDATA / "shared_sli.yaml").read_text() + "  oops: [\n")
    with pytest.raises(ConfigError) as caught:
        load_openslo([TESTDATA / "slo_with_ref.yaml", broken])
    [problem] = caught.value.problems
    assert problem.message.startswith("invalid YAML")
    assert str(broken) in str(caught.value)


def test_good_and_total_counters_share_one_attribute_filter() -> None:
    text = changed(
        "spans: ok",
        "metric: http.server.requests\n              attributes:\n"
        "                http.response.status_code: 200",
    )
    text = changed("spans: all", "metric: http.server.requests", text)
    assert errors(text) == [
        "t.yaml:24:15 spec.indicator.spec.ratioMetric.total.metricSource.spec.attributes: "
        "good and total must select the same attributes; count them with counters that "
        "differ by name"
    ]
