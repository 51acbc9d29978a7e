"""Error-budget arithmetic, spelled out.

With ``good`` of ``total`` events (or, for Timeslices budgeting, good minutes of minutes with
data) and a ``target`` such as 0.999::

    bad                       = total − good
    SLI                       = good / total
    error budget (ratio)      = 1 − target
    error budget (events)     = (1 − target) × total
    consumed (fraction)       = bad / ((1 − target) × total)
    remaining (fraction)      = 1 − consumed          (negative: budget exhausted)
    remaining (events)        = (1 − target) × total − bad
    burn rate                 = (bad / total) / (1 − target)

With no events at all nothing has failed: SLI 1, nothing consumed, burn rate 0.
"""

from __future__ import annotations

from decimal import Decimal

from otel_perf.processors.slo.objective import BudgetingMethod


def error_budget_ratio(target: float) -> float:
    """``1 − target``, rounded to 12 decimals.

    Targets are written as decimals (0.999); in binary ``1 − 0.999`` is 0.0010000000000000009,
    which would make a burn of exactly 1× come out as 0.99999… and miss a ``≥ 1`` threshold.
    """
    return round(1.0 - target, 12)


def sli(good: float, total: float) -> float:
    """``SLI = good / total``; 1.0 when ``total`` is 0."""
    return good / total if total else 1.0


def error_ratio(good: float, total: float) -> float:
    """``bad / total = 1 − SLI``; 0.0 when ``total`` is 0."""
    return (total - good) / total if total else 0.0


def error_budget_total(total: float, target: float) -> float:
    """Bad events allowed: ``(1 − target) × total``."""
    return error_budget_ratio(target) * total


def error_budget_consumed(good: float, total: float, target: float) -> float:
    """Fraction of the budget spent: ``bad / ((1 − target) × total)``; above 1 when exhausted."""
    budget = error_budget_total(total, target)
    return (total - good) / budget if budget else 0.0


def error_budget_remaining(good: float, total: float, target: float) -> float:
    """``1 − bad / ((1 − target) × total)``. Negative means the budget is exhausted (overspent)."""
    return 1.0 - error_budget_consumed(good, total, target)


def error_budget_remaining_events(good: float, total: float, target: float) -> float:
    """``(1 − target) × total − bad``: bad events still allowed; negative when exhausted."""
    return error_budget_total(total, target) - (total - good)


def burn_rate(good: float, total: float, target: float) -> float:
    """``(bad / total) / (1 − target)``: 1 spends the budget exactly over the SLO window.

    0.0 when ``total`` is 0. Rounded to 12 significant digits so that a burn of exactly a
    decimal threshold meets it: 144 bad of 10 000 at 99.9 % is 14.4, not 14.399999999999999.
    """
    return float(f"{error_ratio(good, total) / error_budget_ratio(target):.12g}")


def explain(
    good: float,
    total: float,
    target: float,
    budgeting: BudgetingMethod = BudgetingMethod.OCCURRENCES,
) -> dict[str, object]:
    """Every number of the budget with the formula and the figures that produced it.

    For Timeslices pass good minutes and minutes with data as ``good`` and ``total``.
    """
    unit = "events" if budgeting == BudgetingMethod.OCCURRENCES else "minutes"
    values = {
        "sli": sli(good, total),
        "error_budget_total": error_budget_total(total, target),
        "error_budget_consumed": error_budget_consumed(good, total, target),
        "error_budget_remaining": error_budget_remaining(good, total, target),
        "error_budget_remaining_events": error_budget_remaining_events(good, total, target),
        "burn_rate": burn_rate(good, total, target),
    }
    exhausted = values["error_budget_remaining"] < 0
    return {
        "budgeting": budgeting.value,
        "unit": unit,
        "good": good,
        "bad": total - good,
        "total": total,
        "target": target,
        **values,
        "exhausted": exhausted,
        "formulas": {
            name: text if total else f"{text} (no events)"
            for name, text in _formulas(good, total, target, unit, values).items()
        },
        "status": _status(total, exhausted),
    }


def _formulas(
    good: float, total: float, target: float, unit: str, values: dict[str, float]
) -> dict[str, str]:
    bad, ratio = _int(total - good), _num(error_budget_ratio(target))
    budget = f"{ratio} × {_int(total)}"
    what = "good minutes / minutes with data" if unit == "minutes" else "good / total"
    return {
        "sli": f"SLI = {what} = {_int(good)} / {_int(total)} = {_pct(values['sli'])}",
        "error_budget_total": (
            f"error budget = (1 − target) × total = {budget}"
            f" = {_num(values['error_budget_total'])} {unit}"
        ),
        "error_budget_consumed": (
            f"error budget consumed = bad / ((1 − target) × total) = {bad} / ({budget})"
            f" = {_pct(values['error_budget_consumed'])}"
        ),
        "error_budget_remaining": (
            f"error budget remaining = 1 − bad / ((1 − target) × total) = 1 − {bad} / "
            f"({budget}) = {_pct(values['error_budget_remaining'])}"
        ),
        "error_budget_remaining_events": (
            f"error budget remaining {unit} = (1 − target) × total − bad = "
            f"{_num(values['error_budget_total'])} − {bad}"
            f" = {_num(values['error_budget_remaining_events'])} {unit}"
        ),
        "burn_rate": (
            f"burn rate = (bad / total) / (1 − target) = ({bad} / {_int(total)}) / {ratio}"
            f" = {_num(values['burn_rate'])}"
        ),
    }


def _status(total: float, exhausted: bool) -> str:
    if total == 0:
        return "no data: nothing has failed, so SLI is 100 % and no budget is consumed"
    if exhausted:
        return "error budget exhausted: more bad events than the target allows"
    return "within budget"


def _int(n: float) -> str:
    """48000 → "48 000"; a fractional count (RatioTimeslices) keeps four decimals."""
    if float(n).is_integer():
        return f"{int(n):,}".replace(",", " ")
    return f"{n:,.4f}".replace(",", " ")


def _num(x: float) -> str:
    """Six significant digits, never in exponent form: 0.0010000000000000009 → "0.001"."""
    return format(Decimal(f"{x:.6g}"), ",f").replace(",", " ")


def _pct(x: float) -> str:
    return f"{_num(x * 100)} %"
