"""What a component contributes to the API, the CLI, health and recommendations, declared
beside its factory.

The API, the CLI, health and recommendations loop over the registered factories and use
what each one's :class:`Surface` offers, so the core imports no component. A component's
routes see the running pipeline only through :class:`PipelineView` (its processors and
their snapshots), never the ``Pipeline`` class itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from starlette.routing import Route

if TYPE_CHECKING:  # the contract imports this module for Factory.surface
    from otel_perf.component.contract import Processor
    from otel_perf.findings import Finding, Kind
    from otel_perf.recommend.health import Check
    from otel_perf.recommend.rules import Rule
#: an OpenAPI paths object, ``{"/performance/...": {"get": {...}}}``
Paths = dict[str, Any]
#: one processor type's snapshots, by component id
ProcessorSnapshots = Mapping[str, Mapping[str, Any]]


class PipelineView(Protocol):
    """The part of the running pipeline a component's routes read."""

    @property
    def processors(self) -> Mapping[str, Processor]:
        """Every processor by id."""
        ...

    def snapshot(self, of_type: str | None = None) -> dict[str, dict[str, Any]]:
        """Each processor's snapshot by id (only those of type ``of_type`` when given)."""
        ...


@dataclass(frozen=True)
class RouteContext:
    """What the API gives a component's routes: the pipeline and whether a token is checked."""

    pipeline: PipelineView
    authenticated: bool = False


@dataclass(frozen=True)
class OpenAPIResponses:
    """The responses every route shares, for a component's OpenAPI paths."""

    ok: dict[str, Any]
    unauthorized: dict[str, Any]


@dataclass(frozen=True)
class Surface:
    """A component's routes, their OpenAPI paths, its CLI commands, health checks and
    recommendation rules (all optional).

    Attributes:
        routes: the Starlette routes, built once per API over a :class:`RouteContext`.
        paths: the OpenAPI paths of those routes.
        cli: adds the component's commands to the ``otel-perf`` subparsers.
        health: checks :func:`otel_perf.recommend.health.evaluate` runs after the core's own.
        recommendations: a table, finding kind → rule, that :mod:`otel_perf.recommend.ranking`
            reads: a rule turns one finding into an ``Item`` or None (the rules of several
            components for one kind are tried in the factories' order until one gives an
            item).
        held_findings: the findings its processors' snapshots hold as current (they are not
            stored while they change), given those snapshots by component id; what is open
            (:mod:`otel_perf.recommend.current`) adds them to the stored ones.
        evaluated_ns: the event times its processors' snapshots were evaluated at, which
            count towards "now" beside the newest finding's.
        closed_by: given its processors' snapshots, a test of whether a finding's episode is
            over by them (a stored finding that was not resolved in the store).
        period_setting: the setting (a duration, in seconds) whose value is the period the
            counts in its findings cover, for per-minute and per-month figures.
        metrics: the keys it adds to ``/performance/metrics``, given the pipeline, the
            ``?service=`` asked for (or None) and the ``?limit=`` on rows.
        metrics_schema: the OpenAPI properties of those keys, added to the ``Metrics``
            schema after the core's own.
    """

    routes: Callable[[RouteContext], list[Route]] | None = None
    paths: Callable[[OpenAPIResponses], Paths] | None = None
    cli: Callable[[Any], None] | None = None
    health: tuple[Check, ...] = ()
    recommendations: Mapping[Kind, Rule] = field(default_factory=dict)
    held_findings: Callable[[ProcessorSnapshots], list[Finding]] | None = None
    evaluated_ns: Callable[[ProcessorSnapshots], list[int]] | None = None
    closed_by: Callable[[ProcessorSnapshots], Callable[[Finding], bool]] | None = None
    period_setting: str = ""
    metrics: Callable[[PipelineView, str | None, int], dict[str, Any]] | None = None
    metrics_schema: Mapping[str, Any] = field(default_factory=dict)


NO_SURFACE = Surface()
