"""The lake's table schemas, in one place. Parquet writing, quality suites and feature lists
are derived from here; ``tests/test_schemas.py`` holds the record tables to the verifier's
record schema (``attestations.records.BODIES``), which must not import this module."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SOURCES = ("supply_chain", "social_insurance", "housing_fund")
KINDS: dict[str, tuple[str, ...]] = {
    "supply_chain": ("order", "invoice", "logistics", "payment", "warehouse_receipt", "lease"),
    "social_insurance": ("contribution",),
    "housing_fund": ("contribution",),
}

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    """One body member as a typed column, with what a quality suite expects of it."""

    name: str
    type: pa.DataType
    nullable: bool = False
    non_negative: bool = False
    allowed: tuple[str, ...] = ()
    uscc: bool = False


# Attestation of every verified row: where it sits on chain and when the bank could know it.
ATTESTATION = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("event_time", TS, nullable=False),
        pa.field("sealed_at", TS, nullable=False),
        pa.field("chain_id", pa.string(), nullable=False),
        pa.field("height", pa.int64(), nullable=False),
        pa.field("index", pa.int64(), nullable=False),
        pa.field("leaf_hash", pa.string(), nullable=False),
        pa.field("bundle_id", pa.string(), nullable=False),
    ]
)

_DIRECTION = Column("direction", pa.string(), allowed=("sale", "purchase"))
_PARTY = Column("counterparty_id", pa.string(), uscc=True)

BODY_COLUMNS: dict[str, tuple[Column, ...]] = {
    "order": (
        Column("order_no", pa.string()),
        _PARTY,
        _DIRECTION,
        Column("amount_fen", pa.int64(), non_negative=True),
        Column("ordered_on", pa.date32()),
    ),
    "invoice": (
        Column("invoice_no", pa.string()),
        Column("order_no", pa.string()),
        _PARTY,
        _DIRECTION,
        Column("amount_fen", pa.int64(), non_negative=True),
        Column("tax_fen", pa.int64(), non_negative=True),
        Column("issued_on", pa.date32()),
    ),
    "logistics": (
        Column("waybill_no", pa.string()),
        Column("invoice_no", pa.string()),
        _PARTY,
        _DIRECTION,
        Column("shipped_on", pa.date32()),
        Column("delivered_on", pa.date32(), nullable=True),
        Column("weight_kg", pa.int64(), non_negative=True),
    ),
    "payment": (
        Column("payment_no", pa.string()),
        Column("invoice_no", pa.string()),
        _PARTY,
        _DIRECTION,
        Column("amount_fen", pa.int64(), non_negative=True),
        Column("paid_on", pa.date32()),
    ),
    "warehouse_receipt": (
        Column("receipt_no", pa.string()),
        Column("warehouse_id", pa.string()),
        Column("goods", pa.string()),
        Column("quantity", pa.int64(), non_negative=True),
        Column("unit", pa.string()),
        Column("unit_value_fen", pa.int64(), non_negative=True),
        Column("status", pa.string(), allowed=("issued", "pledged", "released")),
        Column("pledgee", pa.string(), nullable=True),
    ),
    "lease": (
        Column("lease_no", pa.string()),
        Column("premises", pa.string()),
        Column("monthly_rent_fen", pa.int64(), non_negative=True),
        Column("start_on", pa.date32()),
        Column("end_on", pa.date32()),
        Column("status", pa.string(), allowed=("active", "terminated")),
    ),
    "contribution": (
        Column("period", pa.string()),
        Column("headcount", pa.int64(), non_negative=True),
        Column("wage_base_fen", pa.int64(), non_negative=True),
        Column("due_fen", pa.int64(), non_negative=True),
        Column("paid_fen", pa.int64(), non_negative=True),
    ),
}


def record_schema(kind: str) -> pa.Schema:
    """The verified table of ``kind``: attestation columns, then the body's members."""
    body = [pa.field(c.name, c.type, nullable=c.nullable) for c in BODY_COLUMNS[kind]]
    return pa.schema([*ATTESTATION, *body])


QUARANTINE = pa.schema(
    [
        pa.field("bundle_id", pa.string(), nullable=False),
        pa.field("bundle_uri", pa.string(), nullable=False),
        pa.field("line_no", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("raw", pa.binary(), nullable=False),
    ]
)

INGEST_LOG = pa.schema(
    [
        pa.field("bundle_id", pa.string(), nullable=False),
        pa.field("bundle_uri", pa.string(), nullable=False),
        pa.field("chain_id", pa.string(), nullable=False),
        pa.field("lines", pa.int64(), nullable=False),
        pa.field("verified", pa.int64(), nullable=False),
        pa.field("duplicates", pa.int64(), nullable=False),
        pa.field("quarantined", pa.int64(), nullable=False),
        pa.field("quarantined_by_reason", pa.string(), nullable=False),  # JSON object
        pa.field("validation", pa.string(), nullable=False),  # passed | failed_rows | skipped
        pa.field("verify_seconds", pa.float64(), nullable=False),
        pa.field("validate_seconds", pa.float64(), nullable=False),
        pa.field("land_seconds", pa.float64(), nullable=False),
        pa.field("ingested_at", TS, nullable=False),
    ]
)
