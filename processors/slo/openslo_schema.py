"""The OpenSLO v1 kinds as pydantic models, and otel-perf's own metric source spec."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from otel_perf.processors.slo.objective import (
    BudgetingMethod,
)

API_VERSION = "openslo/v1"
SOURCE_TYPE = "otel-perf"

#: attribute values a source may select on; compared as strings (booleans as true/false)
_SCALAR = str | int | float | bool


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
