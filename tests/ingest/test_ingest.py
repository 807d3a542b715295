"""The ingest path without a scheduler: nothing lost, nothing doubled, reruns and crashes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from attestations.ledger import write_files
from pipelines.ingest import IngestConfig, IngestError, ingest
from pipelines.simulate import WorldConfig, simulate
from pipelines.simulate.tamper import tamper_bundle
from tests.attestations.builders import Ledger, contribution


def table(lake: Path, name: str) -> ds.Dataset:
    return ds.dataset(str(lake / name), format="parquet", partitioning="hive")


def snapshot(lake: Path) -> dict[str, bytes]:
    """Every data file of the lake (the ingest log carries timings, so it is left out)."""
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in lake.rglob("*.parquet")
        if "ingest_log" not in str(p)
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(firms=40, months=3, seed=4), out)
    return out


@pytest.fixture
def config(world: Path, tmp_path: Path) -> IngestConfig:
    landing = tmp_path / "landing"
    shutil.copytree(world / "landing", landing)
    return IngestConfig(str(landing), str(tmp_path / "lake"), str(world / "trust.json"))


def test_everything_lands_once_and_counts_add_up(config: IngestConfig, world: Path) -> None:
    report = ingest(config)
    lake = Path(config.lake_uri)
    log = table(lake, "ingest_log").to_table().to_pandas()
    assert len(log) == len(report.rows) == len(list(world.glob("landing/*/*")))
    assert (log.lines == log.verified + log.duplicates + log.quarantined).all()
    assert set(log.source) == {"supply_chain", "social_insurance", "housing_fund"}
    contributions = table(lake, "verified/social_insurance/contribution").to_table()
    exported = sum(
        len(p.read_bytes().splitlines()) for p in world.glob("landing/social_insurance/*/records.jsonl")
    )
    assert contributions.num_rows == exported > 100
    assert {"sealed_month", "leaf_hash", "height", "index", "sealed_at", "bundle_id", "chain_id"} <= set(
        contributions.schema.names
    )
    landed = sum(
        table(lake, f"verified/{p.parent.name}/{p.name}").count_rows() for p in lake.glob("verified/*/*")
    )
    assert landed == log.verified.sum() > 0
    assert table(lake, "quarantine").count_rows() == 0
    reports = [json.loads(p.read_text()) for p in lake.glob("validation/batch-*.json")]
    waybill_checks = [
        r
        for rep in reports
        for r in rep["logistics"]["results"]
        if r["expectation_config"]["kwargs"].get("column") == "invoice_known"
    ]
    # Waybills sealed before their invoice fail the check (reported, not quarantined): those
    # windows carry the counts; windows where every waybill's invoice was known, the verdict.
    assert waybill_checks and all(r["success"] or r["result"]["unexpected_count"] > 0 for r in waybill_checks)
    assert all(rep["logistics"]["rows"] > 0 for rep in reports if "logistics" in rep)


def test_windows_of_one_bundle_land_what_one_window_lands(config: IngestConfig, tmp_path: Path) -> None:
    whole = ingest(config)
    one_by_one = IngestConfig(config.landing_uri, str(tmp_path / "lake-one-by-one"), config.trust_policy)
    report = ingest(one_by_one, batch_size=1)
    assert len(report.rows) == len(whole.rows) > 1  # every window of one bundle ran, not just the first
    lakes = [Path(config.lake_uri), Path(one_by_one.lake_uri)]
    landed = [{k: v for k, v in snapshot(lake).items() if not k.startswith("validation")} for lake in lakes]
    assert landed[0] == landed[1]
    assert len(list(lakes[1].glob("validation/batch-*.json"))) == len(report.rows)


def test_a_rerun_changes_nothing(config: IngestConfig) -> None:
    ingest(config)
    before = snapshot(Path(config.lake_uri))
    assert ingest(config).rows == []
    assert snapshot(Path(config.lake_uri)) == before


def test_new_bundles_are_picked_up_later(config: IngestConfig) -> None:
    landing = Path(config.landing_uri)
    held = landing.parent / "held"
    shutil.move(str(landing / "supply_chain"), held)
    first = ingest(config)
    shutil.move(str(held), str(landing / "supply_chain"))
    second = ingest(config)
    assert first.rows and second.rows
    assert {r["bundle_uri"] for r in first.rows}.isdisjoint(r["bundle_uri"] for r in second.rows)
    assert all("supply_chain" in r["bundle_uri"] for r in second.rows)


def test_a_tampered_bundle_does_not_stop_the_others(config: IngestConfig, world: Path) -> None:
    landing = Path(config.landing_uri)
    victim = max(landing.glob("supply_chain/*"), key=lambda p: p.stat().st_size)
    tamper_bundle(victim, victim, "drop-signatures", world)
    truncated = next(landing.glob("social_insurance/*"))
    tamper_bundle(truncated, truncated, "truncate", world)
    ingest(config)
    quarantine = table(Path(config.lake_uri), "quarantine").to_table().to_pandas()
    assert set(quarantine.reason) == {"header_untrusted", "manifest_mismatch"}
    assert (quarantine.raw.map(len) > 0).all()
    log = table(Path(config.lake_uri), "ingest_log").to_table().to_pandas()
    assert (log.verified > 0).sum() == len(log) - 2


def test_a_crash_midway_then_a_rerun_lands_each_record_exactly_once(
    config: IngestConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.ingest.land as land_module

    real = land_module.land_tables
    calls = {"n": 0}

    class WorkerLost(BaseException):
        """A crash, not an error: a failing write is a land_failed bundle, not a stop."""

    def land_then_crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 25:
            raise WorkerLost("worker lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(land_module, "land_tables", land_then_crash)
    with pytest.raises(WorkerLost, match="worker lost"):
        ingest(config)
    monkeypatch.setattr(land_module, "land_tables", real)
    ingest(config)
    lake = Path(config.lake_uri)
    ids = [
        rid
        for p in lake.glob("verified/*/*")
        for rid in table(lake, f"verified/{p.parent.name}/{p.name}")
        .to_table(columns=["record_id"])["record_id"]
        .to_pylist()
    ]
    assert len(ids) == len(set(ids))
    log = table(lake, "ingest_log").to_table().to_pandas()
    assert len(ids) == log.verified.sum() and log.duplicates.sum() == 0


def test_rows_failing_quality_are_quarantined_and_the_gate_names_them(tmp_path: Path) -> None:
    led = Ledger()
    good = [contribution(i) for i in range(8)]
    bad = contribution(8)
    bad["body"]["paid_fen"] = bad["body"]["due_fen"] + 1  # attested, but more paid than due
    led.seal([*good, bad])
    write_files(tmp_path / "landing" / "social_insurance" / "2025-03-03", led.bundle())
    (tmp_path / "trust.json").write_text(json.dumps(led.policy_dict()))
    cfg = IngestConfig(str(tmp_path / "landing"), str(tmp_path / "lake"), str(tmp_path / "trust.json"), 0.05)
    with pytest.raises(
        IngestError,
        match=r"b1 .*1 of 9 verified rows failed quality, 1 of them quality:expect_column_pair_values_a",
    ):
        ingest(cfg)
    quarantine = table(tmp_path / "lake", "quarantine").to_table().to_pandas()
    assert list(quarantine.reason) == ["quality:expect_column_pair_values_a_to_be_greater_than_b"]
    leaf = json.loads(json.loads(bytes(quarantine.raw[0]))["leaf"])
    assert leaf["body"]["paid_fen"] == leaf["body"]["due_fen"] + 1
    assert table(tmp_path / "lake", "verified/social_insurance/contribution").count_rows() == 8
    assert ingest(cfg).rows == []  # committed: the gate alerts once, it does not replay the bundle


def test_an_ingest_run_collects_garbage_at_the_slower_pace(
    config: IngestConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from pipelines.collector import THRESHOLDS
    from pipelines.ingest import run as run_module

    seen = []
    real = run_module.validate_batch

    def validate_and_look(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(gc.get_threshold())
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "validate_batch", validate_and_look)
    before = gc.get_threshold()
    ingest(config)
    assert seen and set(seen) == {THRESHOLDS}
    assert gc.get_threshold() == before
