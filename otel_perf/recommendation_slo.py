"""An objective's state and budget figures for its recommendation.

Pure functions over one SLO processor's snapshot (its ``objectives``), falling back to the
finding's own attributes where the snapshot has no view of the objective.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def objective(snap: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The objective called ``name`` in an SLO processor's snapshot, if it has one."""
    return next((o for o in snap.get("objectives", []) if o.get("name") == name), None)


def objective_bad(view: Mapping[str, Any]) -> bool:
    return bool(view.get("breached")) or any(a["firing"] for a in view["alerts"].values())


def burn_rate(view: Mapping[str, Any] | None, attributes: Mapping[str, Any]) -> float:
    rules = (view or {}).get("rules") or attributes.get("burn_rates") or []
    rates = [float(r["long"]["burn_rate"]) for r in rules if r.get("long")]
    budget = (view or {}).get("budget") or {}
    rates.append(float(budget.get("burn_rate") or 0.0))
    return max((r for r in rates if math.isfinite(r)), default=0.0)


def window_s(name: str) -> float | None:
    """Seconds of a ``rolling 30d`` window name (None for calendar windows)."""
    if not name.startswith("rolling "):
        return None
    text = name.removeprefix("rolling ")
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    try:
        return float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        return None


def exhaustion(remaining: float | None, burn: float, window_s: float | None) -> str:
    if remaining is None:
        return f"burn rate {burn:.3g}×"
    if remaining <= 0:
        return "error budget exhausted"
    if burn <= 0 or window_s is None:
        return f"{remaining:.0%} of the error budget left"
    hours = remaining * window_s / burn / 3600
    return f"budget exhausted in {hours:.1f} h at this rate ({remaining:.0%} left)"
