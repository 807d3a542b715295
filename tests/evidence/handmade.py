"""A hand-made world with one defaulted loan, whose pack must hold exactly ``EXPECTED``.

Firm ``FIRM`` borrows ``LOAN`` on 2024-02-01 offering invoice INV-1 and receipt WR-1, and
defaults on 2024-06-30. The chain holds, besides what belongs in its pack, records that must
stay out: another invoice of the firm nobody cites, another firm's receipt, contributions
of periods outside the loan's life and the year before it, and a receipt event sealed after
the pack's as-of day. The review cites INV-9, an alert cites the lease LEASE-1.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from attestations.ledger import write_files
from attestations.uscc import make_uscc
from pipelines.config import Settings
from pipelines.ingest import IngestConfig, ingest
from pipelines.lake import write_parquet
from pipelines.monitor import write_alerts
from pipelines.review import REVIEW_SCHEMA, review_uri
from pipelines.simulate.world import SCHEMAS
from tests.attestations.builders import Ledger

FIRM = make_uscc("91110000MA0000001")
PARTNER = make_uscc("91310000MA0000002")
OTHER = make_uscc("91440000MA0000003")
LOAN, APP = "LN-HAND-1", "APP-HAND-1"
AS_OF = date(2024, 12, 31)
BANK = "SMECREDIT-BANK"

EXPECTED = {
    "ord-1",
    "inv-1",
    "way-1",
    "pay-1",  # the offered invoice and what hangs on it
    "wr-1-issued",
    "wr-1-pledged",
    "wr-1-released",  # the offered receipt's whole history
    *(f"si-{p}" for p in ("2023-02", "2023-08", "2024-01", "2024-06")),
    *(f"hf-{p}" for p in ("2023-02", "2024-01")),
    "inv-9",  # cited by the review
    "lease-1",  # cited by an alert
}
OUTSIDE = {"inv-other", "wr-2-issued", "si-2022-12", "si-2024-07", "hf-2022-06", "wr-1-reissued"}


def _rec(rid: str, source: str, kind: str, firm: str, when: str, **body: Any) -> dict[str, Any]:
    return {
        "record_id": rid,
        "source": source,
        "kind": kind,
        "firm_id": firm,
        "event_time": f"{when}T08:00:00Z",
        "body": body,
    }


def _trade(rid: str, kind: str, when: str, **body: Any) -> dict[str, Any]:
    return _rec(rid, "supply_chain", kind, FIRM, when, counterparty_id=PARTNER, direction="sale", **body)


def _receipt(rid: str, no: str, firm: str, when: str, status: str, pledgee: str | None) -> dict[str, Any]:
    return _rec(
        rid,
        "supply_chain",
        "warehouse_receipt",
        firm,
        when,
        receipt_no=no,
        warehouse_id="WH-1",
        goods="steel coil",
        quantity=40,
        unit="t",
        unit_value_fen=500_000,
        status=status,
        pledgee=pledgee,
    )


def _contribution(source: str, period: str) -> dict[str, Any]:
    prefix = "si" if source == "social_insurance" else "hf"
    return _rec(
        f"{prefix}-{period}",
        source,
        "contribution",
        FIRM,
        f"{period}-15",
        period=period,
        headcount=20,
        wage_base_fen=9_000_000,
        due_fen=2_000_000,
        paid_fen=2_000_000,
    )


def _blocks() -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(source, sealed day, records) of every block, in chain order."""
    si = "social_insurance"
    return [
        (
            "supply_chain",
            "2024-01-10",
            [
                _trade(
                    "ord-1",
                    "order",
                    "2024-01-05",
                    order_no="ORD-1",
                    amount_fen=8_000_000,
                    ordered_on="2024-01-05",
                ),
                _trade(
                    "inv-1",
                    "invoice",
                    "2024-01-08",
                    invoice_no="INV-1",
                    order_no="ORD-1",
                    amount_fen=8_000_000,
                    tax_fen=1_040_000,
                    issued_on="2024-01-08",
                ),
                _trade(
                    "inv-9",
                    "invoice",
                    "2024-01-09",
                    invoice_no="INV-9",
                    order_no="ORD-9",
                    amount_fen=5_000_000,
                    tax_fen=650_000,
                    issued_on="2024-01-09",
                ),
                _rec(
                    "inv-other",
                    "supply_chain",
                    "invoice",
                    OTHER,
                    "2024-01-09",
                    invoice_no="INV-77",
                    order_no="ORD-77",
                    counterparty_id=PARTNER,
                    direction="sale",
                    amount_fen=1_000_000,
                    tax_fen=130_000,
                    issued_on="2024-01-09",
                ),
                _receipt("wr-1-issued", "WR-1", FIRM, "2024-01-06", "issued", None),
                _receipt("wr-2-issued", "WR-2", OTHER, "2024-01-06", "issued", None),
                _rec(
                    "lease-1",
                    "supply_chain",
                    "lease",
                    FIRM,
                    "2023-06-01",
                    lease_no="LEASE-1",
                    premises="Unit 5",
                    monthly_rent_fen=3_000_000,
                    start_on="2023-06-01",
                    end_on="2025-05-31",
                    status="active",
                ),
            ],
        ),
        (si, "2024-01-20", [_contribution(si, p) for p in ("2022-12", "2023-02", "2023-08", "2024-01")]),
        (
            "housing_fund",
            "2024-01-21",
            [_contribution("housing_fund", p) for p in ("2022-06", "2023-02", "2024-01")],
        ),
        (
            "supply_chain",
            "2024-02-03",
            [
                _trade(
                    "way-1",
                    "logistics",
                    "2024-01-12",
                    waybill_no="WAY-1",
                    invoice_no="INV-1",
                    shipped_on="2024-01-12",
                    delivered_on="2024-01-14",
                    weight_kg=40_000,
                ),
                _receipt("wr-1-pledged", "WR-1", FIRM, "2024-02-01", "pledged", BANK),
            ],
        ),
        (
            "supply_chain",
            "2024-07-05",
            [
                _trade(
                    "pay-1",
                    "payment",
                    "2024-07-01",
                    payment_no="PAY-1",
                    invoice_no="INV-1",
                    amount_fen=8_000_000,
                    paid_on="2024-07-01",
                ),
                _receipt("wr-1-released", "WR-1", FIRM, "2024-07-02", "released", None),
            ],
        ),
        (si, "2024-08-20", [_contribution(si, p) for p in ("2024-06", "2024-07")]),
        (
            "supply_chain",
            "2025-01-05",
            [_receipt("wr-1-reissued", "WR-1", FIRM, "2025-01-04", "issued", None)],
        ),
    ]


def _books(root: Path) -> None:
    app = {
        "application_id": APP,
        "firm_id": FIRM,
        "applied_on": "2024-01-25",
        "amount_fen": 10_000_000,
        "term_months": 12,
        "collateral_receipts": ["WR-1"],
        "invoice_nos": ["INV-1"],
        "loan_id": LOAN,
        "disbursed_on": "2024-02-01",
    }
    perf = [
        (d, b, dpd, s)
        for d, b, dpd, s in (
            ("2024-02-29", 10_000_000, 0, "current"),
            ("2024-03-31", 9_166_666, 0, "current"),
            ("2024-04-30", 9_166_666, 30, "delinquent"),
            ("2024-05-31", 9_166_666, 60, "delinquent"),
            ("2024-06-30", 9_166_666, 90, "default"),
        )
    ]
    tables = {
        "bank/applications": [app],
        "bank/loan_performance": [
            {"loan_id": LOAN, "firm_id": FIRM, "month_end": d, "balance_fen": b, "dpd": dpd, "status": s}
            for d, b, dpd, s in perf
        ],
        "bank/portfolio": [
            {"loan_id": LOAN, "firm_id": FIRM, "manager_id": "RM001", "assigned_on": "2024-02-01"}
        ],
        "bank/firms": [
            {
                "firm_id": FIRM,
                "industry": "metals",
                "region": "north",
                "size_band": "small",
                "registered_on": "2015-04-01",
            }
        ],
    }
    for name, rows in tables.items():
        write_parquet(str(root / f"{name}.parquet"), pa.Table.from_pylist(rows, schema=SCHEMAS[name]))


def _review_and_alert(lake: Path) -> None:
    checks = {
        "receivables": {
            "result": "warn",
            "finding": "INV-9 unpaid",
            "figures": {"offered": 1},
            "evidence": [{"record_id": "inv-9", "leaf_hash": "00" * 32}],
        }
    }
    row = {
        "application_id": APP,
        "firm_id": FIRM,
        "applied_on": date(2024, 1, 25),
        "amount_fen": 10_000_000,
        "pd": 0.08,
        "grade": "C",
        "decision": "refer",
        "decision_reason": "a check warned",
        "failed_checks": [],
        "warned_checks": ["receivables"],
        "reasons": ["receivables: INV-9 unpaid"],
        "checks": json.dumps(checks),
        "evidence_records": 1,
        "reviewed_at": datetime(2024, 1, 26, tzinfo=UTC),
    }
    write_parquet(review_uri(str(lake), date(2024, 1, 25)), pa.Table.from_pylist([row], schema=REVIEW_SCHEMA))
    alert = {
        "alert_id": "a1",
        "loan_id": LOAN,
        "firm_id": FIRM,
        "manager_id": "RM001",
        "rule": "lease_flight",
        "severity": "warning",
        "status": "resolved",
        "opened_on": date(2024, 5, 1),
        "updated_on": date(2024, 6, 1),
        "escalated_on": None,
        "resolved_on": date(2024, 7, 1),
        "acknowledged_by": "rm1",
        "description": "lease ends soon",
        "figures": json.dumps({"days": 30}),
        "evidence": json.dumps(
            [
                {"record_id": "lease-1", "leaf_hash": "11" * 32},
                {"bank_books": "loan_performance", "loan_id": LOAN},
            ]
        ),
    }
    write_alerts(str(lake), pd.DataFrame([alert]))


def build(root: Path) -> Settings:
    """Seal, export, ingest and book the hand-made world under ``root``; its Settings."""
    ledger = Ledger(chain_id="hand-chain")
    landing = root / "landing"
    for source, day, records in _blocks():
        block = ledger.seal(records, f"{day}T20:00:00Z")
        files = ledger.bundle(source, block.height, block.height, bundle_id=f"{source}-{day}")
        write_files(landing / source / day, files)
    trust = root / "trust.json"
    trust.write_text(json.dumps(ledger.policy_dict(), indent=1))
    ingest(IngestConfig(str(landing), str(root / "lake"), str(trust)))
    _books(root)
    _review_and_alert(root / "lake")
    return Settings(
        str(landing),
        str(root / "lake"),
        str(trust),
        bank_uri=str(root / "bank"),
        models_uri=str(root / "lake" / "models"),
    )
