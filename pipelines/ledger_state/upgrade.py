"""Upgrading a state store written by an older release in place (``state_meta``'s
``schema_version``), within the transaction that opens it, under the schema lock.

Version 3 keys ``verified_record`` by a chain number (table ``chain``) and refers to its
bundle by number (``bundle.bundle_no``) instead of repeating the chain's id and the bundle's
location in every row: a row is about half as long, so a bundle's commit, which rewrites the
pages its records fall in while the chain's lock is held, writes about half as much. The
records are copied into a table of the new layout, which then takes the old one's name.
"""

from __future__ import annotations

from sqlalchemy import Connection, MetaData, func, select

from pipelines.ledger_state.schema import bundle, verified_record

_NEW = "verified_record_new"


def records_by_number(conn: Connection, backend: str) -> None:
    """Upgrade a store of version 1 or 2 to version 3 (the tables ``create_all`` adds, ``chain``
    among them, exist already)."""
    conn.exec_driver_sql("ALTER TABLE bundle ADD COLUMN bundle_no INTEGER")
    if backend == "postgresql":
        conn.exec_driver_sql(
            "UPDATE bundle SET bundle_no = n.no FROM (SELECT bundle_name, row_number() OVER "
            "(ORDER BY committed_at, bundle_name) AS no FROM bundle) n "
            "WHERE n.bundle_name = bundle.bundle_name"
        )
        last = conn.scalar(select(func.max(bundle.c.bundle_no)))
        if last is not None:
            conn.exec_driver_sql(f"SELECT setval('bundle_no_seq', {int(last)})")
    else:
        conn.exec_driver_sql("UPDATE bundle SET bundle_no = rowid")  # the order of the commits
    conn.exec_driver_sql("CREATE UNIQUE INDEX bundle_bundle_no ON bundle (bundle_no)")
    conn.exec_driver_sql(
        "INSERT INTO chain (chain_id) SELECT DISTINCT chain_id FROM verified_record "
        "WHERE chain_id NOT IN (SELECT chain_id FROM chain)"
    )
    verified_record.to_metadata(MetaData(), name=_NEW).create(conn)
    conn.exec_driver_sql(
        f"INSERT INTO {_NEW} (chain_no, record_id, leaf_hash, bundle_no) "
        "SELECT c.chain_no, v.record_id, v.leaf_hash, b.bundle_no FROM verified_record v "
        "JOIN chain c ON c.chain_id = v.chain_id LEFT JOIN bundle b ON b.bundle_name = v.bundle_name "
        "ORDER BY c.chain_no, v.record_id"
    )
    conn.exec_driver_sql("DROP TABLE verified_record")
    conn.exec_driver_sql(f"ALTER TABLE {_NEW} RENAME TO verified_record")
