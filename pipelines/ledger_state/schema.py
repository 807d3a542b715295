"""The state store's tables (SQLAlchemy Core, the same on SQLite and PostgreSQL).

- ``state_meta``: the schema version, and one ``migrated:<chain>`` row per chain once its
  old ``state/<chain>.sqlite`` was looked for (and imported when found).
- ``trusted_header``: every header hash the verifier trusted, per chain and height.
- ``chain``: a number for each chain id, by which ``verified_record`` refers to it.
- ``verified_record``: every verified ``record_id`` of a chain (by number) and its leaf hash,
  with the number of the bundle that verified it. Its primary key is the unique constraint
  that decides duplicates and ``conflicting_record``. Numbers, not the chain's id and the
  bundle's location, keep its rows small: a bundle's commit rewrites the pages its records
  fall in, under the chain's lock (version 3).
- ``bundle``: one row per committed bundle (its location is the key, ``bundle_no`` its
  number): outcome, counts, the verifier's summary and when it was committed. A bundle with a
  row is never ingested again.
- ``bundle_file``: the lake files a committed bundle produced (paths relative to the lake).
- ``pending_file``: the lake files a bundle is about to write, recorded before it writes them;
  the commit moves them to ``bundle_file``. What stays here belongs to a killed or failed
  attempt, and is removed before the bundle is tried again.
- ``landed_invoice``: the number, chain and record id of every invoice row landed in
  ``verified/``, written by the bundle's commit: the waybill check (``invoice_known``) looks
  numbers up here instead of scanning the lake's invoices every window. Filled from the lake
  once when a store of schema version 1, or a lake of the old layout, is first opened
  (``state_meta`` key ``indexed:invoices``).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = "3"  # 2: landed_invoice; 3: chain, verified_record by numbers, bundle_no

metadata = MetaData()

state_meta = Table(
    "state_meta",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)

trusted_header = Table(
    "trusted_header",
    metadata,
    Column("chain_id", String(200), primary_key=True),
    Column("height", Integer, primary_key=True, autoincrement=False),
    Column("header_hash", LargeBinary, nullable=False),
    Column("sealed_at", String(40), nullable=False),
)

chain = Table(
    "chain",
    metadata,
    Column("chain_no", Integer, primary_key=True),
    Column("chain_id", String(200), nullable=False, unique=True),
)

verified_record = Table(
    "verified_record",
    metadata,
    Column("chain_no", Integer, primary_key=True, autoincrement=False),
    Column("record_id", Text, primary_key=True),
    Column("leaf_hash", LargeBinary, nullable=False),
    # NULL only for a record imported from the old layout whose bundle its state did not log.
    Column("bundle_no", Integer, nullable=True),
    sqlite_with_rowid=False,
)

# Numbers bundles on PostgreSQL, where commits of different chains run at once; SQLite has
# one writer and numbers them from the largest (StateStore.bundle_numbers).
bundle_no_seq = Sequence("bundle_no_seq", metadata=metadata)

bundle = Table(
    "bundle",
    metadata,
    Column("bundle_name", Text, primary_key=True),
    Column("bundle_no", Integer, nullable=False, unique=True),
    Column("chain_id", String(200), nullable=False),
    Column("bundle_id", Text, nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("lines", Integer, nullable=False),
    Column("verified", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("quarantined", Integer, nullable=False),
    Column("summary", Text, nullable=False),
    Column("committed_at", DateTime(timezone=True), nullable=False),
)

bundle_file = Table(
    "bundle_file",
    metadata,
    Column("bundle_name", Text, primary_key=True),
    Column("path", Text, primary_key=True),
)

pending_file = Table(
    "pending_file",
    metadata,
    Column("bundle_name", Text, primary_key=True),
    Column("path", Text, primary_key=True),
)

landed_invoice = Table(
    "landed_invoice",
    metadata,
    Column("invoice_no", Text, primary_key=True),
    Column("chain_id", String(200), primary_key=True),
    Column("record_id", Text, primary_key=True),
    sqlite_with_rowid=False,
)
