"""Stylised facts of SME credit that the simulated world must show (on one mid-sized world)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.simulate import WorldConfig, simulate


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("facts")
    simulate(WorldConfig(firms=1500, months=24, seed=11), out)
    return out


@pytest.fixture(scope="module")
def defaults(world: Path) -> pd.DataFrame:
    perf = pd.read_parquet(world / "bank" / "loan_performance.parquet")
    first = perf[perf.status == "default"].drop_duplicates("loan_id")
    return first.assign(month=first.month_end.str[:7])


def _shift(month: str, k: int) -> str:
    return (pd.Period(month, "M") - k).strftime("%Y-%m")


@pytest.mark.slow
def test_loans_default_at_a_plausible_annual_rate(world: Path, defaults: pd.DataFrame) -> None:
    perf = pd.read_parquet(world / "bank" / "loan_performance.parquet")
    loan_years = len(perf) / 12
    rate = len(defaults) / loan_years
    assert 0.02 <= rate <= 0.08, f"annual default rate {rate:.3f}"


@pytest.mark.slow
def test_defaults_are_preceded_by_weakening_but_noisily(world: Path, defaults: pd.DataFrame) -> None:
    health = pd.read_parquet(world / "truth" / "firm_health.parquet").set_index(["firm_id", "month"]).health
    before3 = [health.get((f, _shift(m, 3))) for f, m in zip(defaults.firm_id, defaults.month, strict=True)]
    before6 = pd.Series(
        [health.get((f, _shift(m, 6))) for f, m in zip(defaults.firm_id, defaults.month, strict=True)]
    )
    assert pd.Series(before3).median() < health.median() - 1.0
    assert (before6.dropna() > 0).any(), "some defaults should come without warning"
    weak = set(health[health < -1.0].index.get_level_values(0))
    assert len(weak - set(defaults.firm_id)) > 5 * len(defaults), "many weak firms should never default"


@pytest.mark.slow
def test_social_insurance_arrears_rise_before_default_in_the_attested_data(
    world: Path, defaults: pd.DataFrame
) -> None:
    rows = []
    for records in world.glob("landing/social_insurance/*/records.jsonl"):
        for line in records.read_text().splitlines():
            rec = json.loads(json.loads(line)["leaf"])
            rows.append(
                (rec["firm_id"], rec["body"]["period"], rec["body"]["paid_fen"] < rec["body"]["due_fen"])
            )
    si = pd.DataFrame(rows, columns=["firm_id", "period", "arrears"])
    windows = {
        (f, _shift(m, k)) for f, m in zip(defaults.firm_id, defaults.month, strict=True) for k in range(1, 7)
    }
    keys = list(zip(si.firm_id, si.period, strict=True))
    before = si[[k in windows for k in keys]].arrears.mean()
    baseline = si.arrears.mean()
    assert before > 3 * baseline, f"arrears before default {before:.3f} vs all firm-months {baseline:.3f}"


@pytest.mark.slow
def test_every_kind_of_misbehaviour_is_planted_at_a_low_rate(world: Path) -> None:
    cases = pd.read_parquet(world / "truth" / "planted_cases.parquet")
    counts = cases.kind.value_counts()
    for kind in ("fake_trade", "circular_trade", "double_pledge", "headcount_inflation", "empty_premises"):
        assert counts.get(kind, 0) >= 1, f"no {kind} planted"
    apps = pd.read_parquet(world / "bank" / "applications.parquet")
    per_application = (
        counts.get("fake_trade", 0) + counts.get("double_pledge", 0) + counts.get("headcount_inflation", 0)
    )
    assert per_application < 0.25 * len(apps)
