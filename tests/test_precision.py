"""Precision on generated traffic with decoys, sent paced like live traffic through the real
receiver: the injected cause comes first in the bottleneck ranking and in the
recommendations, and neither the decoys nor clean traffic raise a warning.

``python -m benchmarks.precision`` runs the same scenarios over many seeds and reports the
rates; these are three of them.
"""

from __future__ import annotations

from pathlib import Path

import precision
import precision_scenarios
import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("inject", precision_scenarios.CAUSES)
def test_the_injected_cause_is_first_and_nothing_else_is_raised(
    inject: str, tmp_path: Path
) -> None:
    outcome = precision.run(inject, seed=11, store_dir=tmp_path)
    scores = outcome.scores
    assert scores["top1_ranking"], outcome.ranking[:3]
    assert scores["top1_recommendations"], outcome.recommendations[:3]
    assert scores["decoys_flagged"] == [], [f.summary for f in outcome.raised()]
    assert scores["warnings"] == 1, [f.summary for f in outcome.raised()]
    (finding,) = outcome.raised()
    assert finding.kind == ("slow_query" if inject == "slow_query_10x" else "n_plus_one")
    orders = {"service": "frontend", "route": "GET /api/orders"}
    checkout = {"service": "frontend", "route": "POST /api/checkout"}
    (route,) = finding.attributes["routes"]  # the route that runs it, with its share
    assert {k: route[k] for k in ("service", "route")} == (
        checkout if inject == "slow_query_10x" else orders
    )
    assert route["share"] == 1.0
    assert scores["traces_analysed"] == scores["traces_sent"]  # late spans never split one


def test_clean_traffic_with_decoys_raises_nothing(tmp_path: Path) -> None:
    outcome = precision.run(None, seed=11, store_dir=tmp_path)
    assert outcome.raised() == []
    assert outcome.scores["late_spans"] > 0  # retried exports did arrive late
    assert outcome.scores["traces_analysed"] == outcome.scores["traces_sent"]
