"""OpenSLO v1 documents read into otel-perf objectives.

One file may hold many documents (``---``) or a list of them. Kinds read: ``SLO`` (one
:class:`Objective` per entry of ``spec.objectives``), ``SLI`` (for ``indicatorRef``),
``DataSource`` (for ``metricSourceRef``), ``AlertPolicy`` and ``AlertCondition`` (burn-rate
rules); ``Service`` and ``AlertNotificationTarget`` are checked and otherwise unused.

otel-perf reads its own telemetry, so every metric source is ``type: otel-perf`` (or a
``metricSourceRef`` to a DataSource of that type) and its ``spec`` is one of:

- ``{metric: <name>, attributes: {key: value}}``: a received OTel metric, its points
  restricted to those whose attributes equal every given value. In a ``ratioMetric``
  good/bad/total it is a counter (kind ``ratio``); in a ``thresholdMetric`` it is a duration
  histogram (kind ``latency`` over that metric).
- ``{spans: ok | error | all, operation: <span name>}``: counts of the service's requests
  (``ok`` = status not Error). ``good: ok`` or ``bad: error`` over ``total: all`` is kind
  ``availability``.
- ``{spans: latency, operation: <span name>}``: request durations (kind ``latency``), in a
  ``thresholdMetric`` only.

A ``thresholdMetric`` objective is ``op: lte`` with ``value`` in seconds, or in the unit
given by ``unit: ms | s`` in the source spec. Windows: rolling ``m``/``h``/``d``/``w``;
calendar ``1w`` (ISO weeks, from Monday 00:00) or ``1M`` (from the 1st, 00:00) in
``calendar.timeZone``. Timeslices are one minute. An alert condition ``burnrate``
(``threshold``, ``lookbackWindow``) becomes a :class:`BurnRateRule` whose short window is
lookbackWindow / 12 (SRE Workbook, ch. 5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from otel_perf.config import ConfigError, Problem
from otel_perf.processors.slo.objective import (
    DEFAULT_RULES,
    AlertSeverity,
    BudgetingMethod,
    BurnRateRule,
    Objective,
    SLIKind,
    TimeWindow,
)

API_VERSION = "openslo/v1"
SOURCE_TYPE = "otel-perf"

#: attribute values a source may select on; compared as strings (booleans as true/false)
_SCALAR = str | int | float | bool


def parse_openslo(text: str, source: str) -> list[Objective]:
    """Objectives from the OpenSLO documents in ``text`` (``source`` names it in errors).

    Raises:
        ConfigError: every problem, each with its document and path, e.g.
            ``slos.yaml:12:17 [doc 2] spec.objectives[0].target: must be between 0 and 1``.
    """
    return _parse([(source, text)], source)


def load_openslo(paths: list[Path]) -> list[Objective]:
    """Objectives from OpenSLO files; an ``indicatorRef`` may name an SLI in any of them.

    Raises:
        ConfigError: every problem in every file, each with its file and position.
    """
    files: list[tuple[str, str]] = []
    unread: list[Problem] = []
    for path in paths:
        try:
            files.append((str(path), path.read_text()))
        except OSError as exc:
            unread.append(_FileProblem("", f"cannot read: {exc.strerror}", file=str(path)))
    source = ", ".join(str(p) for p in paths)
    if unread:
        raise ConfigError(source, unread)
    return _parse(files, source)


def _parse(files: list[tuple[str, str]], source: str) -> list[Objective]:
    problems: list[Problem] = []
    read = [_documents(name, text, problems) for name, text in files]
    docs = [doc for found in read if found is not None for doc in found]
    # unparsable YAML hides its objects: resolving references now would only add noise
    objectives = _Resolver(docs, problems).objectives() if None not in read else []
    if problems:
        order = {name: i for i, (name, _) in enumerate(files)}
        problems.sort(
            key=lambda p: (order.get(getattr(p, "file", ""), 0), p.line or 0, p.column or 0)
        )
        raise ConfigError(source, problems)
    return objectives


# -- documents with positions ---------------------------------------------------------------


@dataclass(frozen=True)
class _FileProblem(Problem):
    """A problem that names its own file (a file set's problems share one ConfigError)."""

    file: str = ""

    def render(self, source: str) -> str:
        return super().render(self.file or source)


@dataclass
class _Doc:
    """One OpenSLO object and where its values are in the file."""

    file: str
    label: str  # "[doc 2] " when the file holds several documents
    base: str  # "[3]" for the list form
    data: Any
    positions: dict[str, tuple[int, int]]
    problems: list[Problem] = field(repr=False)

    def add(self, path: str, message: str) -> None:
        full = _join(self.base, path)
        line, column = self._position(full)
        shown = f"{self.label}{full}".strip()
        self.problems.append(_FileProblem(shown, message, line, column, file=self.file))

    def where(self, path: str) -> str:
        line, column = self._position(_join(self.base, path))
        return f"{self.file}:{line}:{column}"

    def model(self, model: type[_M], body: Any, path: str) -> _M | None:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                self.add(_join(path, _loc(error["loc"])), _message(model, error))
            return None

    def _position(self, path: str) -> tuple[int | None, int | None]:
        while path not in self.positions and path:
            path = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path)
        line, column = self.positions.get(path, (None, None))
        return line, column


def _documents(file: str, text: str, problems: list[Problem]) -> list[_Doc] | None:
    """The file's OpenSLO objects; None when it is not YAML."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = f"invalid YAML: {getattr(exc, 'problem', None) or exc}"
        problems.append(_FileProblem("", message, line, column, file=file))
        return None
    docs: list[_Doc] = []
    for number, node in enumerate(nodes, 1):
        positions: dict[str, tuple[int, int]] = {}
        duplicates: list[str] = []
        data = _construct(node, "", positions, duplicates, yaml.SafeLoader(""))
        label = f"[doc {number}] " if len(nodes) > 1 else ""
        items = list(enumerate(data)) if isinstance(data, list) else [(None, data)]
        docs += [
            _Doc(file, label, "" if i is None else f"[{i}]", item, positions, problems)
            for i, item in items
            if item is not None
        ]
        for path in duplicates:
            _Doc(file, label, "", None, positions, problems).add(path, "key appears twice")
    return docs


def _construct(
    node: yaml.Node,
    path: str,
    positions: dict[str, tuple[int, int]],
    duplicates: list[str],
    loader: yaml.SafeLoader,
) -> Any:
    """Plain data from YAML nodes, recording where each path's value starts."""
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            child = _join(path, str(key_node.value))
            if key_node.value in out:
                duplicates.append(child)
            out[str(key_node.value)] = _construct(value_node, child, positions, duplicates, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, f"{path}[{i}]", positions, duplicates, loader)
            for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node)


def _join(path: str, child: str) -> str:
    if not path or not child:
        return path or child
    return f"{path}{child}" if child.startswith("[") else f"{path}.{child}"


def _loc(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]


def _message(model: type[BaseModel], error: Any) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "extra_forbidden":
        keys = _keys(model, error["loc"][:-1])
        return "unknown key" + (f" (expected one of: {', '.join(keys)})" if keys else "")
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {given!r}"
    if kind == "list_type":
        return f"expected a list, got {given!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message if kind == "value_error" else f"{message}, got {given!r}"


def _keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed at ``loc`` inside ``model``, as written in YAML."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        current = _inner_model(fields[str(part)].annotation) if part in fields else None
        if current is None:
            return []
    return sorted(f.alias or n for n, f in current.model_fields.items())


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None


# -- the OpenSLO v1 schema --------------------------------------------------------------------

_M = TypeVar("_M", bound=BaseModel)


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel)


class _Metadata(_Spec):
    name: str = Field(min_length=1)
    display_name: str | None = None
    labels: dict[str, Any] = {}
    annotations: dict[str, Any] = {}


class _Envelope(_Spec):
    api_version: str
    kind: str
    metadata: _Metadata
    spec: dict[str, Any] = {}


class _MetricSource(_Spec):
    metric_source_ref: str | None = None
    type: str | None = None
    spec: dict[str, Any] = {}


class _Query(_Spec):
    metric_source: _MetricSource


class _Ratio(_Spec):
    counter: bool | None = None
    good: _Query | None = None
    bad: _Query | None = None
    total: _Query | None = None
    raw_type: str | None = None
    raw: _Query | None = None


class _SLISpec(_Spec):
    description: str = ""
    threshold_metric: _Query | None = None
    ratio_metric: _Ratio | None = None


class _InlineSLI(_Spec):
    metadata: _Metadata
    spec: _SLISpec


class _Calendar(_Spec):
    start_time: Any
    time_zone: str


class _Window(_Spec):
    duration: str
    is_rolling: bool | None = None
    calendar: _Calendar | None = None


class _ObjectiveSpec(_Spec):
    display_name: str | None = None
    op: Literal["lte", "lt", "gte", "gt"] | None = None
    value: float | None = None
    target: float | None = None
    target_percent: float | None = None
    time_slice_target: float | None = None
    time_slice_window: Any = None


class _Condition(_Spec):
    kind: Literal["burnrate"] = "burnrate"
    threshold: float = Field(gt=0)
    lookback_window: str
    alert_after: str | None = None


class _AlertConditionSpec(_Spec):
    description: str = ""
    severity: str
    condition: _Condition


class _ConditionItem(_Spec):
    condition_ref: str | None = None
    kind: Literal["AlertCondition"] | None = None
    metadata: _Metadata | None = None
    spec: _AlertConditionSpec | None = None


class _AlertPolicySpec(_Spec):
    description: str = ""
    alert_when_no_data: bool = False
    alert_when_resolved: bool = False
    alert_when_breaching: bool = True
    conditions: list[_ConditionItem]
    notification_targets: list[dict[str, Any]] = []


class _PolicyItem(_Spec):
    alert_policy_ref: str | None = None
    kind: Literal["AlertPolicy"] | None = None
    metadata: _Metadata | None = None
    spec: _AlertPolicySpec | None = None


class _SLOSpec(_Spec):
    description: str = ""
    service: str = Field(min_length=1)
    indicator: _InlineSLI | None = None
    indicator_ref: str | None = None
    time_window: list[_Window] = []
    budgeting_method: BudgetingMethod
    objectives: list[_ObjectiveSpec] = Field(min_length=1)
    alert_policies: list[_PolicyItem] = []


class _DataSourceSpec(_Spec):
    description: str = ""
    type: str
    connection_details: Any = None


class _TargetSpec(_Spec):
    description: str = ""
    target: str


class _ServiceSpec(_Spec):
    description: str = ""


_SPECS: dict[str, type[_Spec]] = {
    "SLO": _SLOSpec,
    "SLI": _SLISpec,
    "DataSource": _DataSourceSpec,
    "AlertPolicy": _AlertPolicySpec,
    "AlertCondition": _AlertConditionSpec,
    "AlertNotificationTarget": _TargetSpec,
    "Service": _ServiceSpec,
}


class _OtelPerfSource(_Spec):
    """``metricSource.spec`` for ``type: otel-perf`` (see the module docstring)."""

    metric: str | None = Field(default=None, min_length=1)
    attributes: dict[str, Any] = {}
    spans: Literal["ok", "error", "all", "latency"] | None = None
    operation: str | None = Field(default=None, min_length=1)
    unit: Literal["s", "ms"] | None = None

    @field_validator("attributes")
    @classmethod
    def _scalars(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        for key, value in attributes.items():
            if not isinstance(value, _SCALAR):
                raise ValueError(f"{key}: expected a string, number or boolean, got {value!r}")
        return attributes

    @model_validator(mode="after")
    def _one_source(self) -> _OtelPerfSource:
        if (self.metric is None) == (self.spans is None):
            raise ValueError("give metric (a received OTel metric) or spans, exactly one")
        if self.attributes and self.metric is None:
            raise ValueError("attributes select a metric's points; spans take operation")
        if self.operation is not None and self.metric is not None:
            raise ValueError("operation selects spans; a metric's points take attributes")
        return self


# -- OpenSLO to objectives --------------------------------------------------------------------


@dataclass(frozen=True)
class _Object:
    doc: _Doc
    kind: str
    name: str
    spec: Any  # the kind's _Spec, None when it did not validate


@dataclass(frozen=True)
class _Indicator:
    """What an SLI decides of the objectives that use it."""

    threshold: bool  # thresholdMetric: each objective gives op and value
    fields: dict[str, Any]
    seconds_per_unit: float = 1.0


_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_SHORTHAND = re.compile(r"^(\d+)([mhdwMQY])$")


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


# -- objectives and windows -------------------------------------------------------------------


def _objective(
    doc: _Doc,
    budgeting: BudgetingMethod,
    entry: _ObjectiveSpec,
    path: str,
    indicator: _Indicator | None,
) -> dict[str, Any]:
    """The objective's own fields; problems go to ``doc``."""
    fields: dict[str, Any] = {"target": _target(doc, entry, path)}
    if indicator is not None and indicator.threshold:
        if entry.op != "lte":
            got = f', got "{entry.op}"' if entry.op else ""
            doc.add(
                f"{path}.op" if entry.op else path,
                f"a latency objective counts requests at or under value as good: use op: lte{got}",
            )
        if entry.value is None or entry.value <= 0:
            got = f", got {_number(entry.value)}" if entry.value is not None else ""
            doc.add(f"{path}.value" if got else path, f"value (above 0) is required{got}")
        else:
            fields["threshold_s"] = entry.value * indicator.seconds_per_unit
    elif indicator is not None:
        for key, given in (("op", entry.op), ("value", entry.value)):
            if given is not None:
                doc.add(f"{path}.{key}", "only used with a thresholdMetric")
    fields.update(_timeslices(doc, budgeting, entry, path))
    return fields


def _target(doc: _Doc, entry: _ObjectiveSpec, path: str) -> float | None:
    if entry.target is not None and entry.target_percent is not None:
        doc.add(f"{path}.targetPercent", "give target or targetPercent, not both")
    elif entry.target is not None:
        if 0 < entry.target < 1:
            return entry.target
        doc.add(f"{path}.target", f"must be between 0 and 1, got {_number(entry.target)}")
    elif entry.target_percent is not None:
        if 0 < entry.target_percent < 100:
            return float(Decimal(str(entry.target_percent)) / 100)
        got = _number(entry.target_percent)
        doc.add(f"{path}.targetPercent", f"must be between 0 and 100, got {got}")
    else:
        doc.add(path, "target or targetPercent is required")
    return None


def _timeslices(
    doc: _Doc, budgeting: BudgetingMethod, entry: _ObjectiveSpec, path: str
) -> dict[str, Any]:
    slice_target, slice_window = entry.time_slice_target, entry.time_slice_window
    if budgeting != BudgetingMethod.TIMESLICES and slice_target is not None:
        doc.add(f"{path}.timeSliceTarget", "only used with Timeslices budgeting")
    if budgeting == BudgetingMethod.OCCURRENCES:
        if slice_window is not None:
            doc.add(f"{path}.timeSliceWindow", "not used with Occurrences budgeting")
        return {}
    if slice_window is None:
        doc.add(path, f"timeSliceWindow is required with {budgeting} budgeting (1m)")
    elif _slice_s(slice_window) != 60:
        doc.add(
            f"{path}.timeSliceWindow",
            f"otel-perf judges one-minute timeslices: use 1m, got {slice_window!r}",
        )
    if budgeting == BudgetingMethod.RATIO_TIMESLICES:
        return {}
    if slice_target is None:
        doc.add(path, "timeSliceTarget is required with Timeslices budgeting")
    elif not 0 < slice_target <= 1:
        got = _number(slice_target)
        doc.add(f"{path}.timeSliceTarget", f"must be above 0 and at most 1, got {got}")
    return {"timeslice_target": slice_target}


def _slice_s(value: Any) -> float | None:
    """timeSliceWindow: a number of minutes or a duration shorthand."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) * 60
    match = _SHORTHAND.match(value) if isinstance(value, str) else None
    if match and match.group(2) in _SECONDS:
        return int(match.group(1)) * _SECONDS[match.group(2)]
    return None


def _window(doc: _Doc, windows: list[_Window]) -> TimeWindow | None:
    if not windows:
        return TimeWindow()
    if len(windows) > 1:
        doc.add("spec.timeWindow", f"exactly one time window, got {len(windows)}")
        return None
    window, path = windows[0], "spec.timeWindow[0]"
    rolling = window.is_rolling if window.is_rolling is not None else window.calendar is None
    if not rolling:
        return _calendar(doc, window, path)
    if window.calendar is not None:
        doc.add(f"{path}.calendar", "a rolling window has no calendar (isRolling: false)")
        return None
    duration_s = _rolling_s(doc, window.duration, f"{path}.duration")
    if duration_s == 0:
        doc.add(f"{path}.duration", "must be longer than 0")
    return TimeWindow(duration_s=duration_s) if duration_s else None


def _rolling_s(doc: _Doc, value: str, path: str) -> float | None:
    match = _SHORTHAND.match(value)
    if match is None:
        doc.add(path, f'expected a duration like "30d" (m, h, d, w, M, Q, Y), got "{value}"')
        return None
    if match.group(2) not in _SECONDS:
        doc.add(path, f'rolling durations take m, h, d or w; "{value}" needs a calendar window')
        return None
    return float(int(match.group(1)) * _SECONDS[match.group(2)])


def _calendar(doc: _Doc, window: _Window, path: str) -> TimeWindow | None:
    if window.calendar is None:
        doc.add(path, "a calendar window (isRolling: false) needs calendar: startTime, timeZone")
        return None
    before = len(doc.problems)
    periods = {"1w": ("week", 7 * 86400.0), "1M": ("month", 30 * 86400.0)}
    if window.duration not in periods:
        doc.add(
            f"{path}.duration",
            f'calendar windows are 1w (an ISO week) or 1M (a month), got "{window.duration}"',
        )
    zone = window.calendar.time_zone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        doc.add(f"{path}.calendar.timeZone", f'unknown IANA time zone "{zone}"')
    calendar, duration_s = periods.get(window.duration, ("month", 0.0))
    _start_time(doc, window.calendar.start_time, calendar, f"{path}.calendar.startTime")
    if len(doc.problems) > before:
        return None
    return TimeWindow(duration_s=duration_s, calendar=calendar, timezone=zone)


def _start_time(doc: _Doc, value: Any, calendar: str, path: str) -> None:
    """otel-perf's calendar windows start at a month's or an ISO week's start."""
    start: datetime | None = None
    if isinstance(value, datetime):
        start = value if value.tzinfo is None else None
    elif isinstance(value, date):
        start = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            start = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            pass
    if start is None:
        doc.add(path, f'expected "YYYY-MM-DD hh:mm:ss" without a time zone, got {value!r}')
    elif start.time() != time() or (start.day if calendar == "month" else start.isoweekday()) != 1:
        first = "the 1st" if calendar == "month" else "a Monday"
        doc.add(path, f"otel-perf {calendar}s start on {first} at 00:00:00, got {start}")


def _pairs(attributes: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Objective.metric_attributes: sorted pairs of strings (booleans as true/false)."""
    return tuple(
        sorted(
            (key, str(v).lower() if isinstance(v, bool) else str(v))
            for key, v in attributes.items()
        )
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
