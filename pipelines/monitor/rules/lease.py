"""Rules on the firm's premises."""

from __future__ import annotations

from typing import Any

from pipelines.calendar import DAYS_PER_MONTH
from pipelines.monitor.rules.registry import Condition, Context, rule


@rule("lease_flight", hysteresis=False)
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
