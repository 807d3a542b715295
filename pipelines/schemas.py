"""The lake's table schemas, in one place: every table a stage writes under the lake, and
``LAKE_TABLES``, where each lives. Parquet writing, quality suites, readers and
``docs/lake.md`` are derived from here (``tests/test_schemas.py`` holds the doc to it, and
the record tables to the verifier's record schema, ``attestations.records.BODIES``, which
must not import this module). The feature input store's compact tables are a cache whose
format is versioned with its code: ``pipelines.features.store.SCHEMAS``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pyarrow as pa

from attestations.records import SOURCES as SOURCES  # the spec's sources, in its order: written once

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


def feature_schema() -> pa.Schema:
    """``<lake>/features/``: one row per firm and as-of month end (the features' names and
    order come from ``pipelines.features.catalogue``)."""
    return _feature_schema()


@cache
def _feature_schema() -> pa.Schema:
    from pipelines.features.catalogue import FEATURE_NAMES  # the catalogue imports nothing of the lake

    return pa.schema(
        [
            pa.field("firm_id", pa.string(), nullable=False),
            pa.field("as_of", pa.date32(), nullable=False),
            *(pa.field(name, pa.float64(), nullable=False) for name in FEATURE_NAMES),
            pa.field("input_records", pa.int64(), nullable=False),
            pa.field("input_hash", pa.string(), nullable=False),
            pa.field("feature_set_version", pa.string(), nullable=False),
        ]
    )


SCORE_REASONS = 4
"""Reason codes per pre-loan score (``reason_1`` .. ``reason_4``)."""

SCORE_SCHEMA = pa.schema(
    [
        pa.field("application_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("applied_on", pa.date32(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("pd", pa.float64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("grade", pa.string(), nullable=False),
        *(pa.field(f"reason_{k}", pa.string()) for k in range(1, SCORE_REASONS + 1)),
        *(pa.field(f"reason_{k}_statement", pa.string()) for k in range(1, SCORE_REASONS + 1)),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("model_sha256", pa.string(), nullable=False),
        pa.field("feature_row_hash", pa.string(), nullable=False),
        pa.field("scored_at", TS, nullable=False),
    ]
)

REVIEW_SCHEMA = pa.schema(
    [
        pa.field("application_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("applied_on", pa.date32(), nullable=False),
        pa.field("amount_fen", pa.int64(), nullable=False),
        pa.field("pd", pa.float64()),
        pa.field("grade", pa.string()),
        pa.field("decision", pa.string(), nullable=False),
        pa.field("decision_reason", pa.string(), nullable=False),
        pa.field("failed_checks", pa.list_(pa.string()), nullable=False),
        pa.field("warned_checks", pa.list_(pa.string()), nullable=False),
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
        pa.field("checks", pa.string(), nullable=False),  # JSON: per check result, finding, figures, evidence
        pa.field("evidence_records", pa.int64(), nullable=False),
        pa.field("reviewed_at", TS, nullable=False),
    ]
)

BEHAVIOUR_SCHEMA = pa.schema(
    [
        pa.field("loan_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("pd", pa.float64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("score_at_disbursement", pa.float64()),
        pa.field("score_change", pa.float64()),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("model_role", pa.string(), nullable=False),
        pa.field("feature_row_hash", pa.string(), nullable=False),
    ]
)

ALERT_SCHEMA = pa.schema(
    [
        pa.field("alert_id", pa.string(), nullable=False),
        pa.field("loan_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("manager_id", pa.string(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("opened_on", pa.date32(), nullable=False),
        pa.field("updated_on", pa.date32(), nullable=False),
        pa.field("escalated_on", pa.date32()),
        pa.field("resolved_on", pa.date32()),
        pa.field("acknowledged_by", pa.string()),
        pa.field("acknowledged_at", TS),
        pa.field("acknowledgement_note", pa.string()),
        pa.field("description", pa.string(), nullable=False),
        pa.field("figures", pa.string(), nullable=False),  # JSON
        pa.field("evidence", pa.string(), nullable=False),  # JSON list
    ]
)

ACKNOWLEDGEMENT_SCHEMA = pa.schema(
    [
        pa.field("alert_id", pa.string(), nullable=False),
        pa.field("loan_id", pa.string(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("acknowledged_by", pa.string(), nullable=False),
        pa.field("acknowledged_at", TS, nullable=False),
        pa.field("note", pa.string()),
    ]
)

OUTBOX_SCHEMA = pa.schema(
    [
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("idempotency_key", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("recipient", pa.string(), nullable=False),
        pa.field("manager_id", pa.string(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("body", pa.string(), nullable=False),
        pa.field("html", pa.string()),
        pa.field("alert_ids", pa.list_(pa.string()), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # pending | sent
        pa.field("attempts", pa.int64(), nullable=False),
        pa.field("last_error", pa.string()),
        pa.field("created_at", TS, nullable=False),
        pa.field("next_attempt_at", TS, nullable=False),
        pa.field("sent_at", TS),
    ]
)


@dataclass(frozen=True)
class LakeTable:
    """Where a table lives under the lake and how it is cut into files."""

    path: str
    """The folder (or file) under ``<lake>/``."""
    partitioned_by: str
    """The hive partition key of its folders (``key=value/``, a string never stored in the
    files); empty: one file."""
    schema: pa.Schema


def lake_tables() -> dict[str, LakeTable]:
    """Every Parquet table the stages write under the lake, by name, in pipeline order
    (``verified.<kind>`` for each record kind; both contribution sources share one)."""
    verified = {
        f"verified.{kind}": LakeTable(f"verified/<source>/{kind}/", "sealed_month", record_schema(kind))
        for kind in BODY_COLUMNS
    }
    return {
        **verified,
        "quarantine": LakeTable("quarantine/", "source", QUARANTINE),
        "ingest_log": LakeTable("ingest_log/", "source", INGEST_LOG),
        "features": LakeTable("features/", "as_of_month", feature_schema()),
        "scores.pre_loan": LakeTable("scores/pre_loan/", "applied_month", SCORE_SCHEMA),
        "reviews.in_loan": LakeTable("reviews/in_loan/", "applied_month", REVIEW_SCHEMA),
        "scores.behaviour": LakeTable("scores/behaviour/", "monitored_month", BEHAVIOUR_SCHEMA),
        "alerts": LakeTable("alerts/alerts.parquet", "", ALERT_SCHEMA),
        "alert_acknowledgements": LakeTable("alerts/acknowledgements.parquet", "", ACKNOWLEDGEMENT_SCHEMA),
        "outbox": LakeTable("outbox/outbox.parquet", "", OUTBOX_SCHEMA),
    }


# The portfolio's tables (pipelines/portfolio), each partitioned by as_of_month.
_STRINGS = pa.list_(pa.string())

ECL_SCHEMA = pa.schema(
    [
        pa.field("loan_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("stage", pa.int64(), nullable=False),
        pa.field("stage_reason", pa.string(), nullable=False),
        pa.field("pd_12m", pa.float64(), nullable=False),
        pa.field("pd_lifetime", pa.float64(), nullable=False),
        pa.field("pd_lifetime_at_origination", pa.float64(), nullable=False),
        pa.field("lgd", pa.float64(), nullable=False),
        pa.field("ead_fen", pa.int64(), nullable=False),
        pa.field("collateral_value_fen", pa.int64(), nullable=False),
        pa.field("ecl_fen", pa.int64(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("collateral_receipts", _STRINGS, nullable=False),
        pa.field("collateral_record_ids", _STRINGS, nullable=False),
        pa.field("collateral_leaf_hashes", _STRINGS, nullable=False),
        pa.field("ecl_12m_fen", pa.int64(), nullable=False),
        pa.field("ecl_lifetime_fen", pa.int64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("dpd", pa.int64(), nullable=False),
        pa.field("grade", pa.string(), nullable=False),
        pa.field("state", pa.string(), nullable=False),  # the migration state: grade, dpd_30, dpd_60, default
        pa.field("behaviour_pd", pa.float64()),
        pa.field("grade_at_origination", pa.string(), nullable=False),
        pa.field("first_month_end", pa.date32(), nullable=False),
        pa.field("remaining_months", pa.int64(), nullable=False),
        pa.field("annual_rate", pa.float64(), nullable=False),
        pa.field("recovery_rate", pa.float64(), nullable=False),
    ]
)

MOVEMENT_SCHEMA = pa.schema(
    [
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("step", pa.int64(), nullable=False),
        pa.field("cause", pa.string(), nullable=False),
        pa.field("amount_fen", pa.int64(), nullable=False),
        pa.field("loans", pa.int64(), nullable=False),
    ]
)

MONITORING_SCHEMA = pa.schema(
    [
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("family", pa.string(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),  # psi | csi | calibration | missing | overrides
        pa.field("subject", pa.string(), nullable=False),  # score, a feature, a grade, or all
        pa.field("value", pa.float64()),
        pa.field("threshold", pa.float64()),
        pa.field("breach", pa.bool_(), nullable=False),
        pa.field("n", pa.int64(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),  # JSON
    ]
)
