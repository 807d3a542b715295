"""Rules on the firm's premises."""

from __future__ import annotations

from typing import Any

from pipelines import readable
from pipelines.calendar import DAYS_PER_MONTH
from pipelines.monitor.rules.registry import Condition, Context, rule


def _lease_says(f: dict[str, Any], spec: dict[str, Any]) -> str:
    line = f"{float(spec['threshold']):.0f}-day"
    if f.get("terminated_3m"):
        return (
            "A lease was terminated in the last 3 months and no active lease remains: the firm may "
            f"have left its premises (before this, the rule warns at the {line} line before the last "
            "lease ends)"
        )
    return (
        f"The last active lease ends in {readable.count(f['days_to_lease_end'], 'day')} with no renewal "
        f"on the chain, within the {line} line"
    )


@rule("lease_flight", hysteresis=False, says=_lease_says)
def lease_flight(row: Any, ctx: Context) -> Condition | None:
    """Critical when a lease was terminated in the last 3 months and no lease is active; a
    warning when the last lease ends within the threshold in days. Evidence: the leases."""
    if row.lease_terminated_3m and row.no_active_lease:
        figures = {"terminated_3m": True, "active_leases": 0}
        return ctx.hit(row, "lease_flight", 0.0, figures, "lease", severity="critical")
    days_left = row.months_to_lease_end * DAYS_PER_MONTH
    if not row.no_active_lease and days_left <= float(ctx.specs["lease_flight"]["threshold"]):
        return ctx.hit(row, "lease_flight", days_left, {"days_to_lease_end": days_left}, "lease", "warning")
    return None
