"""What every in-loan check works with: the ``Case`` under review and the ``Check`` it fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from pipelines.review.view import ChainView

RESULTS = ("pass", "warn", "fail")
"""A check's results, from best to worst."""


@dataclass(frozen=True)
class Case:
    """One application as of the end of its day (UTC), and the chain as known then."""

    app: dict[str, Any]
    day: date
    cutoff: datetime
    """The first instant after ``day``: only records sealed before it count."""
    view: ChainView
    """The application's own rows (every firm's ring edges and the newest seals of each source)."""
    thresholds: dict[str, Any]
    bank: str
    """How this bank is named as pledgee on chain."""
    earlier: dict[str, str]
    """The invoices offered by earlier applications, and which application offered each first."""

    @property
    def firm(self) -> str:
        return str(self.app["firm_id"])

    def known(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` sealed by the end of the application day."""
        return frame[frame["sealed_at"] < self.cutoff]


@dataclass
class Check:
    """One check's result (``pass``, ``warn`` or ``fail``), its findings in plain language,
    its figures and its evidence: the record ids and leaf hashes of the attested records used."""

    name: str
    result: str = "pass"
    findings: list[str] = field(default_factory=list)
    evidence: list[dict[str, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def worse(self, result: str, finding: str) -> None:
        if RESULTS.index(result) > RESULTS.index(self.result):
            self.result = result
        self.findings.append(finding)

    def cite(self, rows: pd.DataFrame) -> None:
        for rid, leaf in zip(rows["record_id"], rows["leaf_hash"], strict=True):
            self.evidence.append({"record_id": str(rid), "leaf_hash": str(leaf)})

    def to_dict(self) -> dict[str, Any]:
        finding = "; ".join(self.findings) if self.findings else "nothing to report"
        unique = list({e["record_id"]: e for e in self.evidence}.values())
        return {"result": self.result, "finding": finding, "figures": self.figures, "evidence": unique}
