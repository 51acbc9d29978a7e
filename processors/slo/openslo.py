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

This module holds the entry points; the work is in ``openslo_documents`` (YAML with
positions, problems named by file, document and path), ``openslo_schema`` (the OpenSLO
v1 kinds as pydantic models), ``openslo_resolve`` (references resolved, SLIs and alert
policies read, objectives built) and ``openslo_objectives`` (an objective entry's own
fields and its time window).
"""

from __future__ import annotations

from pathlib import Path

from otel_perf.config import ConfigError, Problem
from otel_perf.processors.slo.objective import Objective
from otel_perf.processors.slo.openslo_documents import _documents, _FileProblem
from otel_perf.processors.slo.openslo_resolve import _Resolver


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
