"""The data-freshness check."""

from __future__ import annotations

import bisect

from pipelines.review.checks.base import Case, Check
from pipelines.schemas import SOURCES


def data_freshness(case: Case, check: Check) -> None:
    """Is the attested data recent enough to decide on?

    On the chain: the seal time of the newest record of each source sealed by the end of the
    application day (supply-chain invoices, social-insurance and housing-fund
    contributions, from 3 months before the batch's first day on). A source fails when it
    has none, or when its newest record is older than its ``freshness_days``.

    Finding: the stale or silent sources. Figures: ``<source>_age_days`` per source.
    Evidence: none (the ages are of whole sources, not of the applicant's records).
    """
    limits = case.thresholds["freshness_days"]
    for source in SOURCES:
        seals = case.view.newest.get(source, [])
        at = bisect.bisect_left(seals, case.cutoff)
        newest = seals[at - 1] if at else None
        if newest is None:
            check.worse("fail", f"no {source} record sealed in the last months")
            continue
        age = (case.cutoff - newest).total_seconds() / 86400
        check.figures[f"{source}_age_days"] = round(age, 2)
        if age > float(limits[source]):
            check.worse("fail", f"newest {source} record is {age:.0f} days old")
