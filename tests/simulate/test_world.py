"""The simulated world: verifiable, deterministic, extendable, and behaving like SME credit."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from attestations.policy import TrustPolicy
from attestations.uscc import is_valid_uscc
from pipelines.cli import main
from pipelines.simulate import WorldConfig, simulate
from pipelines.simulate.tamper import TAMPERS, tamper_bundle
from pipelines.verify_cli import verify_bundles


def bundles_in_order(world: Path) -> list[Path]:
    """Every bundle of a world, by export date (and source, to be deterministic)."""
    return sorted(world.glob("landing/*/*"), key=lambda p: (p.name, p.parent.name))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    simulate(WorldConfig(firms=120, months=9, seed=3), out)
    return out


def test_every_bundle_verifies_with_nothing_quarantined(small: Path, tmp_path: Path) -> None:
    results = verify_bundles(bundles_in_order(small), TrustPolicy.load(small / "trust.json"), tmp_path)
    assert len(results) > 200
    assert sum(r.lines for r in results) == sum(len(r.verified) for r in results) > 10_000
    assert all(not r.quarantined and not r.duplicates for r in results)


def test_trust_policy_is_a_mixed_four_node_quorum(small: Path) -> None:
    policy = json.loads((small / "trust.json").read_text())
    assert policy["threshold"] == 3
    assert len({k["node"] for k in policy["keys"]}) == 4
    assert {k["alg"] for k in policy["keys"]} == {"ed25519", "ecdsa-p256-sha256"}
    assert {e["source"] for e in policy["exporters"]} == {"social_insurance", "housing_fund", "supply_chain"}


def test_firms_and_books_are_well_formed(small: Path) -> None:
    firms = pd.read_parquet(small / "bank" / "firms.parquet")
    assert len(firms) == 120 and firms.firm_id.map(is_valid_uscc).all() and firms.firm_id.is_unique
    apps = pd.read_parquet(small / "bank" / "applications.parquet")
    assert apps.application_id.is_unique and set(apps.firm_id) <= set(firms.firm_id)
    perf = pd.read_parquet(small / "bank" / "loan_performance.parquet")
    assert set(perf.loan_id) <= set(apps.loan_id)
    assert set(perf.status) <= {"current", "delinquent", "default", "repaid"}
    assert (perf.groupby("loan_id").status.apply(lambda s: (s == "default").sum()) <= 1).all()
    portfolio = pd.read_parquet(small / "bank" / "portfolio.parquet")
    managers = pd.read_parquet(small / "bank" / "risk_managers.parquet")
    assert set(portfolio.loan_id) == set(apps.loan_id) and set(portfolio.manager_id) <= set(
        managers.manager_id
    )
    health = pd.read_parquet(small / "truth" / "firm_health.parquet")
    assert len(health) == 120 * 9


def test_recoveries_follow_defaults_and_never_exceed_the_balance(tmp_path: Path) -> None:
    cfg = WorldConfig(firms=400, months=18, seed=5, apply_per_firm_year=0.6, miss_intercept=-4.0)
    simulate(cfg, tmp_path)
    rec = pd.read_parquet(tmp_path / "bank" / "recoveries.parquet")
    perf = pd.read_parquet(tmp_path / "bank" / "loan_performance.parquet")
    apps = pd.read_parquet(tmp_path / "bank" / "applications.parquet")
    assert apps["annual_rate"].between(0.04, 0.2).all()
    defaults = perf[perf.status == "default"].set_index("loan_id")
    assert len(rec) and set(rec.source) == {"collateral", "unsecured"} and (rec.amount_fen > 0).all()
    assert set(rec.loan_id) <= set(defaults.index)
    assert (rec.month_end.to_numpy() > defaults.loc[rec.loan_id, "month_end"].to_numpy()).all()
    total = rec.groupby("loan_id").amount_fen.sum()
    assert (total <= defaults.loc[total.index, "balance_fen"]).all()
    first = rec.sort_values("month_end").groupby("loan_id").source.first()
    collateral = rec[rec.source == "collateral"].groupby("loan_id").month_end.min()
    unsecured = rec[rec.source == "unsecured"].groupby("loan_id").month_end.min()
    both = collateral.index.intersection(unsecured.index)
    assert (collateral[both] < unsecured[both]).all() and (first[collateral.index] == "collateral").all()


def test_same_seed_same_bytes(small: Path, tmp_path: Path) -> None:
    simulate(WorldConfig(firms=120, months=9, seed=3), tmp_path)
    mine = {p.relative_to(small): p.read_bytes() for p in small.glob("landing/*/*/*")}
    again = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.glob("landing/*/*/*")}
    assert mine == again
    for table in (
        "bank/applications",
        "bank/loan_performance",
        "bank/recoveries",
        "truth/planted_cases",
        "truth/firm_health",
    ):
        assert pq.read_table(small / f"{table}.parquet").equals(pq.read_table(tmp_path / f"{table}.parquet"))


def test_a_longer_world_begins_with_the_shorter_one(small: Path, tmp_path: Path) -> None:
    simulate(WorldConfig(firms=120, months=6, seed=3), tmp_path)
    cut = "2024-06-30"
    shorter = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.glob("landing/*/*/*")}
    longer = {
        p.relative_to(small): p.read_bytes() for p in small.glob("landing/*/*/*") if p.parent.name <= cut
    }
    assert shorter and shorter == longer
    for table, column in (
        ("applications", "applied_on"),
        ("loan_performance", "month_end"),
        ("portfolio", "assigned_on"),
        ("recoveries", "month_end"),
    ):
        a = pd.read_parquet(tmp_path / "bank" / f"{table}.parquet")
        b = pd.read_parquet(small / "bank" / f"{table}.parquet")
        pd.testing.assert_frame_equal(a, b[b[column] <= cut].reset_index(drop=True))


@pytest.mark.parametrize("how", sorted(TAMPERS))
def test_tampered_copies_are_quarantined_for_their_reason(small: Path, tmp_path: Path, how: str) -> None:
    bundle = max(small.glob("landing/supply_chain/*"), key=lambda p: p.stat().st_size)
    copy = tamper_bundle(bundle, tmp_path / "copy", how, small)
    policy = TrustPolicy.load(small / "trust.json")
    [result] = verify_bundles([copy], policy, tmp_path / "state")
    reason, scope = TAMPERS[how]
    altered = result.lines if scope == "all" else 1
    assert result.quarantine_counts() == {reason: altered}
    assert len(result.verified) == result.lines - altered


def test_unknown_tamper_and_bad_sizes_are_refused(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="unknown tamper"):
        tamper_bundle(next(small.glob("landing/*/*")), tmp_path / "x", "melt", small)
    with pytest.raises(ValueError, match="firms must be at least 10"):
        WorldConfig(firms=3)
    assert main(["simulate", "--firms", "5", "--out", str(tmp_path / "w")]) == 2
    assert "firms must be at least 10" in capsys.readouterr().err


def test_cli_simulate_and_tamper(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "simulate",
                "--firms",
                "30",
                "--months",
                "3",
                "--seed",
                "1",
                "--out",
                str(tmp_path / "w"),
                "--quiet",
            ]
        )
        == 0
    )
    assert "world of 30 firms x 3 months" in capsys.readouterr().out
    bundle = next((tmp_path / "w").glob("landing/social_insurance/*"))
    args = ["tamper", str(bundle), str(tmp_path / "t"), "--how", "truncate", "--world", str(tmp_path / "w")]
    assert main(args) == 0
    assert (tmp_path / "t" / "records.jsonl").stat().st_size < (bundle / "records.jsonl").stat().st_size


def test_sm3_world_verifies(tmp_path: Path) -> None:
    simulate(WorldConfig(firms=20, months=2, seed=9, hash_alg="sm3"), tmp_path / "w")
    results = verify_bundles(
        bundles_in_order(tmp_path / "w"), TrustPolicy.load(tmp_path / "w" / "trust.json"), tmp_path / "s"
    )
    assert all(len(r.verified) == r.lines for r in results)
