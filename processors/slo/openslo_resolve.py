"""OpenSLO objects registered, their references resolved, and objectives built from SLOs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_perf.config import Problem
from otel_perf.processors.slo.objective import (
    DEFAULT_RULES,
    AlertSeverity,
    BurnRateRule,
    Objective,
    SLIKind,
)
from otel_perf.processors.slo.openslo_documents import _Doc
from otel_perf.processors.slo.openslo_objectives import (
    _Indicator,
    _objective,
    _pairs,
    _rolling_s,
    _slug,
    _window,
)
from otel_perf.processors.slo.openslo_schema import (
    _SPECS,
    API_VERSION,
    SOURCE_TYPE,
    _AlertConditionSpec,
    _AlertPolicySpec,
    _ConditionItem,
    _Envelope,
    _OtelPerfSource,
    _PolicyItem,
    _Query,
    _Ratio,
    _SLISpec,
    _SLOSpec,
)


@dataclass(frozen=True)
class _Object:
    doc: _Doc
    kind: str
    name: str
    spec: Any  # the kind's _Spec, None when it did not validate


class _Resolver:
    """Checks every document, resolves references, and builds the objectives."""

    def __init__(self, docs: list[_Doc], problems: list[Problem]) -> None:
        self.problems = problems
        self.objects: dict[tuple[str, str], _Object] = {}
        for doc in docs:
            self._register(doc)
        # dependencies first: conditions, then the policies and SLOs that use them
        self.conditions = {
            name: self._condition(o.doc, o.spec, "spec") for name, o in self._of("AlertCondition")
        }
        self.policies = {
            name: self._policy(o.doc, o.spec, "spec") for name, o in self._of("AlertPolicy")
        }
        self.indicators = {
            name: self._indicator(o.doc, o.spec, "spec") for name, o in self._of("SLI")
        }

    def objectives(self) -> list[Objective]:
        out: list[Objective] = []
        taken: dict[str, str] = {}
        for _, slo in self._of("SLO"):
            for path, objective in self._slo(slo.doc, slo.name, slo.spec):
                if objective.name in taken:
                    slo.doc.add(
                        path,
                        f'objective "{objective.name}" is already defined at '
                        f"{taken[objective.name]}",
                    )
                taken.setdefault(objective.name, slo.doc.where(path))
                out.append(objective)
        return out

    def _of(self, kind: str) -> list[tuple[str, _Object]]:
        return [(o.name, o) for o in self.objects.values() if o.kind == kind and o.spec is not None]

    def _register(self, doc: _Doc) -> None:
        if not isinstance(doc.data, dict):
            doc.add("", "expected an OpenSLO object (apiVersion, kind, metadata, spec)")
            return
        envelope = doc.model(_Envelope, doc.data, "")
        if envelope is None:
            return
        if envelope.api_version != API_VERSION:
            doc.add("apiVersion", f'only {API_VERSION} is supported, got "{envelope.api_version}"')
        if envelope.kind not in _SPECS:
            doc.add("kind", f'unknown kind "{envelope.kind}" (known: {", ".join(_SPECS)})')
            return
        spec = doc.model(_SPECS[envelope.kind], envelope.spec, "spec")
        key = (envelope.kind, envelope.metadata.name)
        if key in self.objects:
            earlier = self.objects[key].doc.where("metadata.name")
            doc.add("metadata.name", f'another {key[0]} named "{key[1]}" is at {earlier}')
            return
        self.objects[key] = _Object(doc, envelope.kind, envelope.metadata.name, spec)

    def _lookup(self, doc: _Doc, kind: str, name: str, path: str) -> _Object | None:
        found = self.objects.get((kind, name))
        if found is None:
            doc.add(path, f'no {kind} named "{name}"')
        return found

    # -- SLO --------------------------------------------------------------------------------

    def _slo(self, doc: _Doc, name: str, spec: _SLOSpec) -> list[tuple[str, Objective]]:
        before = len(self.problems)
        indicator = self._slo_indicator(doc, spec)
        window = _window(doc, spec.time_window)
        rules = self._rules(doc, spec.alert_policies)
        several = len(spec.objectives) > 1
        out: list[tuple[str, Objective]] = []
        for i, entry in enumerate(spec.objectives):
            path = f"spec.objectives[{i}]"
            fields = _objective(doc, spec.budgeting_method, entry, path, indicator)
            if indicator is None or window is None or rules is None:
                continue  # reported here, or where the SLI or policy is
            if len(self.problems) > before:
                continue
            slug = _slug(entry.display_name or "") or str(i)
            objective = doc.model(
                Objective,
                {
                    "name": f"{name}-{slug}" if several else name,
                    "service": spec.service,
                    "description": spec.description,
                    "budgeting": spec.budgeting_method,
                    "window": window,
                    "rules": rules,
                    **indicator.fields,
                    **fields,
                },
                path,
            )
            if objective is not None:
                out.append((path if several else "metadata.name", objective))
        return out

    def _slo_indicator(self, doc: _Doc, spec: _SLOSpec) -> _Indicator | None:
        inline, ref = spec.indicator, spec.indicator_ref
        if inline is not None and ref is None:
            return self._indicator(doc, inline.spec, "spec.indicator.spec")
        if ref is not None and inline is None:
            found = self._lookup(doc, "SLI", ref, "spec.indicatorRef")
            return None if found is None else self.indicators.get(ref)
        doc.add("spec", "give indicator (an inline SLI) or indicatorRef, exactly one")
        return None

    def _rules(self, doc: _Doc, items: list[_PolicyItem]) -> tuple[BurnRateRule, ...] | None:
        if not items:
            return DEFAULT_RULES
        found = [
            self._policy_item(doc, item, f"spec.alertPolicies[{i}]") for i, item in enumerate(items)
        ]
        if any(rules is None for rules in found):
            return None
        return tuple(rule for rules in found for rule in rules or ())

    def _policy_item(
        self, doc: _Doc, item: _PolicyItem, path: str
    ) -> tuple[BurnRateRule, ...] | None:
        if (item.alert_policy_ref is None) == (item.spec is None):
            doc.add(path, "give alertPolicyRef or an inline AlertPolicy spec, exactly one")
            return None
        if item.spec is not None:
            return self._policy(doc, item.spec, f"{path}.spec")
        ref = str(item.alert_policy_ref)
        if self._lookup(doc, "AlertPolicy", ref, f"{path}.alertPolicyRef") is None:
            return None
        return self.policies.get(ref)

    # -- alert policies ---------------------------------------------------------------------

    def _policy(
        self, doc: _Doc, spec: _AlertPolicySpec, path: str
    ) -> tuple[BurnRateRule, ...] | None:
        before = len(self.problems)
        if not spec.alert_when_breaching:
            doc.add(f"{path}.alertWhenBreaching", "otel-perf alerts on breaches; must be true")
        if spec.alert_when_no_data:
            doc.add(
                f"{path}.alertWhenNoData",
                "not supported: a burn-rate window without data does not alert",
            )
        if len(spec.conditions) != 1:
            doc.add(f"{path}.conditions", f"exactly one condition, got {len(spec.conditions)}")
        rules = [
            self._condition_item(doc, item, f"{path}.conditions[{i}]")
            for i, item in enumerate(spec.conditions)
        ]
        if len(self.problems) > before or None in rules:
            return None
        return tuple(rule for rule in rules if rule is not None)

    def _condition_item(self, doc: _Doc, item: _ConditionItem, path: str) -> BurnRateRule | None:
        if (item.condition_ref is None) == (item.spec is None):
            doc.add(path, "give conditionRef or an inline AlertCondition spec, exactly one")
            return None
        if item.spec is not None:
            return self._condition(doc, item.spec, f"{path}.spec")
        ref = str(item.condition_ref)
        if self._lookup(doc, "AlertCondition", ref, f"{path}.conditionRef") is None:
            return None
        return self.conditions.get(ref)

    def _condition(self, doc: _Doc, spec: _AlertConditionSpec, path: str) -> BurnRateRule | None:
        before = len(self.problems)
        condition, where = spec.condition, f"{path}.condition"
        if spec.severity not in tuple(AlertSeverity):
            doc.add(
                f"{path}.severity",
                f'otel-perf alert severities are page or ticket, got "{spec.severity}"',
            )
        lookback_s = _rolling_s(doc, condition.lookback_window, f"{where}.lookbackWindow")
        if lookback_s == 0:
            doc.add(f"{where}.lookbackWindow", "must be longer than 0")
        if condition.alert_after is not None:
            after_s = _rolling_s(doc, condition.alert_after, f"{where}.alertAfter")
            if after_s:
                doc.add(
                    f"{where}.alertAfter",
                    "not supported: otel-perf confirms a burn with a short window of "
                    "lookbackWindow / 12 instead (use 0m or leave it out)",
                )
        if len(self.problems) > before or not lookback_s:
            return None
        return BurnRateRule(
            long_window_s=lookback_s,
            short_window_s=lookback_s / 12,
            burn_rate=condition.threshold,
            severity=AlertSeverity(spec.severity),
        )

    # -- SLI --------------------------------------------------------------------------------

    def _indicator(self, doc: _Doc, spec: _SLISpec, path: str) -> _Indicator | None:
        if spec.ratio_metric is not None and spec.threshold_metric is not None:
            doc.add(path, "give ratioMetric or thresholdMetric, not both")
        elif spec.ratio_metric is not None:
            return self._ratio(doc, spec.ratio_metric, f"{path}.ratioMetric")
        elif spec.threshold_metric is not None:
            return self._threshold(doc, spec.threshold_metric, f"{path}.thresholdMetric")
        else:
            doc.add(path, "ratioMetric or thresholdMetric is required")
        return None

    def _threshold(self, doc: _Doc, query: _Query, path: str) -> _Indicator | None:
        source = self._source(doc, query, path)
        if source is None:
            return None
        per_unit = 0.001 if source.unit == "ms" else 1.0
        if source.metric is not None:
            fields = {
                "kind": SLIKind.LATENCY,
                "latency_metric": source.metric,
                "metric_attributes": _pairs(source.attributes),
            }
            return _Indicator(True, fields, per_unit)
        if source.spans != "latency":
            doc.add(
                f"{path}.metricSource.spec.spans",
                f'a thresholdMetric reads spans: latency, got "{source.spans}"',
            )
            return None
        return _Indicator(True, {"kind": SLIKind.LATENCY, "operation": source.operation}, per_unit)

    def _ratio(self, doc: _Doc, ratio: _Ratio, path: str) -> _Indicator | None:
        if ratio.raw is not None or ratio.raw_type is not None:
            doc.add(
                f"{path}.{'raw' if ratio.raw else 'rawType'}",
                "precomputed ratios are not supported; give good or bad with total",
            )
            return None
        before = len(self.problems)
        if ratio.counter is False:
            doc.add(f"{path}.counter", "otel-perf counts events: must be true")
        if ratio.good is not None and ratio.bad is not None:
            doc.add(f"{path}.bad", "give good or bad, not both")
        role, numerator = ("good", ratio.good) if ratio.good else ("bad", ratio.bad)
        if numerator is None or ratio.total is None:
            doc.add(path, "good or bad, and total, are required")
            return None
        counted = self._source(doc, numerator, f"{path}.{role}", ratio=True)
        total = self._source(doc, ratio.total, f"{path}.total", ratio=True)
        if counted is None or total is None or len(self.problems) > before:
            return None
        if (counted.metric is None) != (total.metric is None):
            doc.add(f"{path}.total", f"{role} and total must both read metrics or both spans")
            return None
        if counted.metric is None:
            return _spans_ratio(doc, path, role, counted, total)
        if _pairs(counted.attributes) != _pairs(total.attributes):
            # Objective.metric_attributes is one filter for both counters
            doc.add(
                f"{path}.total.metricSource.spec.attributes",
                f"{role} and total must select the same attributes; "
                "count them with counters that differ by name",
            )
            return None
        fields = {
            "kind": SLIKind.RATIO,
            f"{role}_metric": counted.metric,
            "total_metric": total.metric,
            "metric_attributes": _pairs(total.attributes),
        }
        return _Indicator(False, fields)

    def _source(
        self, doc: _Doc, query: _Query, path: str, *, ratio: bool = False
    ) -> _OtelPerfSource | None:
        source, where = query.metric_source, f"{path}.metricSource"
        kind, kind_path = source.type, f"{where}.type"
        if source.metric_source_ref is not None:
            ref_path = f"{where}.metricSourceRef"
            found = self._lookup(doc, "DataSource", source.metric_source_ref, ref_path)
            if found is None or found.spec is None:
                return None
            kind, kind_path = kind or found.spec.type, kind_path if kind else ref_path
        if kind is None:
            doc.add(where, f"type is required (type: {SOURCE_TYPE}, or a metricSourceRef)")
            return None
        if kind.lower() != SOURCE_TYPE:
            doc.add(
                kind_path,
                f"otel-perf reads its own telemetry; '{kind}' sources are not supported "
                f"(use type: {SOURCE_TYPE})",
            )
            return None
        parsed = doc.model(_OtelPerfSource, source.spec, f"{where}.spec")
        if parsed is not None and ratio and parsed.unit is not None:
            doc.add(f"{where}.spec.unit", "only used with a thresholdMetric")
            return None
        return parsed


def _spans_ratio(
    doc: _Doc, path: str, role: str, counted: _OtelPerfSource, total: _OtelPerfSource
) -> _Indicator | None:
    """``good: {spans: ok}`` or ``bad: {spans: error}`` over ``total: {spans: all}``."""
    wanted = {"good": "ok", "bad": "error"}[role]
    fine = True
    for source, part, spans in ((counted, role, wanted), (total, "total", "all")):
        if source.spans != spans:
            where = f"{path}.{part}.metricSource.spec.spans"
            doc.add(where, f'{part} counts spans: {spans}, got "{source.spans}"')
            fine = False
    if counted.operation != total.operation:
        where = f"{path}.total.metricSource.spec"
        doc.add(where, f"{role} and total must select the same operation")
        fine = False
    fields = {"kind": SLIKind.AVAILABILITY, "operation": total.operation}
    return _Indicator(False, fields) if fine else None
