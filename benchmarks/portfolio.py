"""Portfolio benchmarks: build a world end to end without a scheduler, and time one month's
assessment of a large book.

    # a world and its lake: simulate, ingest, features for every month end, train the
    # pre-loan and behaviour models, score every application, assess every month end
    nice -n 10 .venv/bin/python benchmarks/portfolio.py world --firms 5000 --months 36 --seed 11 \
        --out /work/worlds-22/w5k-s11

    # one month's assessment of a book replicated from a world's loans to N firms
    .venv/bin/python benchmarks/portfolio.py runtime --from /work/worlds-22/w5k-s11 --firms 50000 \
        --out /tmp/big

The world uses the demo's credit knobs (``pipelines.demo.DEMO_WORLD``). Then
``benchmarks/quality.py --world OUT/world --lake OUT/lake`` prints the measures.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.config import Settings  # noqa: E402
from pipelines.features import build_snapshot, month_ends  # noqa: E402
from pipelines.portfolio import Policy, add_months, assess_months  # noqa: E402
from pipelines.scoring import ScoringError, read_bank, score_days, train  # noqa: E402
from pipelines.scoring.behaviour import train_behaviour  # noqa: E402


def settings_for(out: Path) -> Settings:
    lake = out / "lake"
    return Settings(str(out / "world" / "landing"), str(lake), str(out / "world" / "trust.json"),
                    str(out / "world" / "bank"), str(lake / "models"))  # fmt: skip


def step(name: str, started: float) -> float:
    now = time.perf_counter()
    print(f"[{now - started:7.1f}s] {name}", flush=True)
    return now


def build_world(firms: int, months: int, seed: int, out: Path) -> None:
    from pipelines.demo import DEMO_WORLD
    from pipelines.ingest import IngestConfig, ingest
    from pipelines.simulate import WorldConfig, simulate

    started = time.perf_counter()
    s = settings_for(out)
    cfg = WorldConfig(firms=firms, months=months, seed=seed, **DEMO_WORLD)  # type: ignore[arg-type]
    if not (out / "world" / "world.json").exists():
        simulate(cfg, out / "world")
    step("simulated", started)
    shutil.rmtree(out / "lake", ignore_errors=True)
    ingest(IngestConfig(s.landing_uri, s.lake_uri, s.trust_policy))
    step("ingested", started)
    ends = month_ends(cfg.start, add_months(cfg.start, months - 1))
    for m in ends:
        build_snapshot(s.lake_uri, m)
    step(f"features for {len(ends)} month ends", started)
    train(s.lake_uri, s.bank_uri, s.models_uri, min_bads=(20, 5))
    try:
        train_behaviour(s.lake_uri, s.bank_uri, s.models_uri)
    except ScoringError as exc:
        print(f"no behaviour model: {exc}")
    step("trained", started)
    days = sorted({date.fromisoformat(d) for d in read_bank(s.bank_uri, "applications").applied_on})
    score_days(s.lake_uri, s.bank_uri, s.models_uri, days)
    step("scored", started)
    for row in assess_months(s, Policy.load(), ends):
        print(json.dumps(row), flush=True)
    step("assessed", started)
