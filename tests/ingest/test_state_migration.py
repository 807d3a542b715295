"""A lake of the old layout (the verifier's state in ``state/<chain>.sqlite``) is imported
on the first run: nothing already landed is ingested again, and a re-export of a landed
bundle finds its records known (all duplicates)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from attestations.state import SqliteStore
from attestations.verifier import Verifier
from pipelines.ingest import IngestConfig, in_height_order, ingest, load_policy, read_bundle
from pipelines.ledger_state import DEFAULT_FILE, StateStore, state_uri
from pipelines.simulate import WorldConfig, simulate


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(firms=10, months=1, seed=9), out)
    return out


def test_an_old_lake_is_imported_once_and_nothing_is_ingested_twice(tiny_world: Path, tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(tiny_world / "landing", landing)
    cfg = IngestConfig(str(landing), str(lake), str(tiny_world / "trust.json"))
    first = ingest(cfg)
    files = sorted(p.relative_to(lake) for p in lake.rglob("*.parquet"))
    # Turn the lake into one of the old layout: the state as the old runs kept it.
    for path in (lake / "state").glob("ledger-state.sqlite*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    policy = load_policy(cfg.trust_policy)
    uris = in_height_order([str(p) for p in landing.glob("*/*")])
    with SqliteStore(lake / "state" / f"{policy.chain_id}.sqlite") as old:
        verifier = Verifier(policy, old)
        for uri in uris:
            verifier.verify(read_bundle(uri))
        old.checkpoint()
    assert ingest(cfg).rows == []  # every bundle was committed in the old state
    assert sorted(p.relative_to(lake) for p in lake.rglob("*.parquet")) == files
    with StateStore(state_uri(str(lake))) as store:
        assert store.committed() == set(uris)
        landed = sum(r["verified"] for r in first.rows)
        assert len(store.known_records(policy.chain_id, _record_ids(lake))) == landed
        assert store.meta(f"migrated:{policy.chain_id}") is not None
        invoices = ds.dataset(
            str(lake / "verified/supply_chain/invoice"), format="parquet", partitioning="hive"
        )
        numbers = set(invoices.to_table(columns=["invoice_no"])["invoice_no"].to_pylist())
        assert numbers and store.landed_invoices(numbers | {"not-an-invoice"}) == numbers  # indexed
    assert (lake / DEFAULT_FILE).exists() and (lake / "state" / f"{policy.chain_id}.sqlite").exists()
    copy = max(map(Path, uris), key=lambda p: (p / "records.jsonl").stat().st_size)
    shutil.copytree(copy, copy.parent / f"0000-reexport-{copy.name}")
    again = ingest(cfg)
    assert len(again.rows) == 1
    assert again.rows[0]["verified"] == 0 and again.rows[0]["duplicates"] == again.rows[0]["lines"] > 0


def _record_ids(lake: Path) -> list[str]:
    ids: list[str] = []
    for kind in lake.glob("verified/*/*"):
        data = ds.dataset(str(kind), format="parquet", partitioning="hive")
        ids += data.to_table(columns=["record_id"])["record_id"].to_pylist()
    return ids
