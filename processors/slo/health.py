"""The slo processor's health check (contributed through its factory's surface).

A page burn-rate alert of a declared objective firing → critical; a ticket firing or a
declared objective breached → degraded. Suggested (zero-config) objectives warn at most:
any of their burn-rate alerts firing → degraded; their breaches are shown by ``slo`` but do
not change health (a default that does not fit is not an incident).
"""

from __future__ import annotations

from otel_perf.recommend.health import HealthInputs, Reason


def slo_health(inputs: HealthInputs) -> list[Reason]:
    reasons = []
    for snap in inputs.snapshots.get("slo", {}).values():
        for view in snap.get("objectives", []):
            suggested = bool(view.get("suggested"))
            note = " (suggested objective: warns only)" if suggested else ""
            for alert, state in view["alerts"].items():
                if state["firing"]:
                    status = "critical" if alert == "page" and not suggested else "degraded"
                    text = f"{view['name']}: burn-rate {alert} firing{note}"
                    reasons.append(Reason("slo", status, text))
            if view["breached"] and not suggested:
                text = f"{view['name']}: SLO breached over {view['window']}"
                reasons.append(Reason("slo", "degraded", text))
    return reasons
