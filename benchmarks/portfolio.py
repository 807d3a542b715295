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

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from pipelines.config import Settings  # noqa: E402
from pipelines.features import build_snapshot, month_ends  # noqa: E402
from pipelines.portfolio import BankBooks, Policy, add_months, assess_month, assess_months  # noqa: E402
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


def build_world(
    firms: int,
    months: int,
    seed: int,
    out: Path,
    credit: dict[str, float] | None = None,
    min_bads: tuple[int, int] = (20, 5),
) -> None:
    from pipelines.demo import DEMO_WORLD
    from pipelines.ingest import IngestConfig, ingest
    from pipelines.simulate import WorldConfig, simulate

    started = time.perf_counter()
    s = settings_for(out)
    knobs = credit or DEMO_WORLD
    cfg = WorldConfig(firms=firms, months=months, seed=seed, **knobs)  # type: ignore[arg-type]
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
    train(s.lake_uri, s.bank_uri, s.models_uri, min_bads=min_bads)
    try:
        train_behaviour(s.lake_uri, s.bank_uri, s.models_uri, min_bads=min_bads)
    except ScoringError as exc:
        print(f"no behaviour model: {exc}")
    step("trained", started)
    days = sorted({date.fromisoformat(d) for d in read_bank(s.bank_uri, "applications").applied_on})
    score_days(s.lake_uri, s.bank_uri, s.models_uri, days)
    step("scored", started)
    for row in assess_months(s, Policy.load(), ends):
        print(json.dumps(row), flush=True)
    step("assessed", started)


def _replicate(frame: pd.DataFrame, copies: int, columns: tuple[str, ...]) -> pd.DataFrame:
    """``copies`` copies of ``frame``, the ids in ``columns`` suffixed with the copy number."""
    parts = []
    for k in range(copies):
        part = frame.copy()
        for c in columns:
            part[c] = part[c].astype(str) + (f"~{k}" if k else "")
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def build_big_book(src: Path, copies: int, out: Path, as_of: date) -> Settings:
    """A book ``copies`` times the size of ``src``'s: every firm, application, loan and its
    performance, recoveries, feature rows, scores, alerts and the ECL months before ``as_of``
    copied with suffixed ids (a copy's receipts are the original's: the chain is shared)."""
    import pandas as pd

    from pipelines.portfolio.tables import read_month, write_month

    shutil.rmtree(out, ignore_errors=True)
    s, big = settings_for(src), settings_for(out)
    (out / "world" / "bank").mkdir(parents=True)
    for table, ids in (("applications", ("application_id", "loan_id", "firm_id")),
                       ("loan_performance", ("loan_id", "firm_id")), ("recoveries", ("loan_id",)),
                       ("portfolio", ("loan_id", "firm_id")), ("risk_managers", ())):  # fmt: skip
        frame = pd.read_parquet(f"{s.bank_uri}/{table}.parquet")
        _replicate(frame, copies if ids else 1, ids).to_parquet(
            f"{big.bank_uri}/{table}.parquet", index=False
        )
    shutil.copytree(Path(s.lake_uri) / "models", Path(big.lake_uri) / "models")
    shutil.copytree(Path(s.lake_uri) / "verified", Path(big.lake_uri) / "verified")
    for snap in sorted((Path(s.lake_uri) / "features").glob("as_of_month=*/part-0.parquet")):
        target = Path(big.lake_uri) / "features" / snap.parent.name / "part-0.parquet"
        target.parent.mkdir(parents=True)
        _replicate(pd.read_parquet(snap), copies, ("firm_id",)).to_parquet(target, index=False)
    for day in sorted((Path(s.lake_uri) / "scores" / "pre_loan").glob("*=*/*.parquet")):
        target = Path(big.lake_uri) / "scores" / "pre_loan" / day.parent.name / day.name
        target.parent.mkdir(parents=True, exist_ok=True)
        frame = _replicate(pd.read_parquet(day), copies, ("application_id", "firm_id"))
        frame.to_parquet(target, index=False)
    m = add_months(as_of, -1)
    while (prev := read_month(s.lake_uri, "ecl", m)) is not None:
        write_month(big.lake_uri, "ecl", m, _replicate(prev, copies, ("loan_id", "firm_id")))
        m = add_months(m, -1)
    return big


def runtime(src: Path, firms: int, out: Path, repeats: int = 3) -> None:
    """Median seconds of one month's assessment of a book replicated to about ``firms`` firms."""
    world = json.loads((src / "world" / "world.json").read_text())
    copies = max(1, round(firms / int(world["firms"])))
    ends = sorted(
        pd.to_datetime(pd.read_parquet(src / "world" / "bank" / "loan_performance.parquet")["month_end"])
    )
    as_of = ends[-1].date()
    started = time.perf_counter()
    big = build_big_book(src, copies, out, as_of)
    step(f"book of {copies} x {world['firms']} firms built", started)
    policy = Policy.load()
    times, row = [], {}
    for _ in range(repeats):
        books_started = time.perf_counter()
        row = assess_month(big, policy, as_of, BankBooks.read(big.bank_uri))
        times.append(time.perf_counter() - books_started)
    print(json.dumps(row))
    size = copies * int(world["firms"])
    print(f"one month's assessment ({as_of}) of {row['loans']:,} loans of {size:,} firms: ", end="")
    print(f"median {statistics.median(times):.1f}s of {[round(t, 1) for t in times]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("world")
    p.add_argument("--firms", type=int, default=5000)
    p.add_argument("--months", type=int, default=36)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--apply-per-firm-year", type=float, help="default: the demo's")
    p.add_argument("--miss-intercept", type=float, help="default: the demo's")
    p.add_argument("--min-bads", type=int, nargs=2, default=(20, 5), metavar=("TRAIN", "OOT"))
    p = sub.add_parser("runtime")
    p.add_argument("--from", dest="src", type=Path, required=True)
    p.add_argument("--firms", type=int, default=50_000)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.command == "world":
        credit = None
        if args.apply_per_firm_year is not None or args.miss_intercept is not None:
            from pipelines.demo import DEMO_WORLD

            given = {"apply_per_firm_year": args.apply_per_firm_year, "miss_intercept": args.miss_intercept}
            credit = {**DEMO_WORLD, **{k: v for k, v in given.items() if v is not None}}
        build_world(args.firms, args.months, args.seed, args.out, credit, tuple(args.min_bads))
    else:
        runtime(args.src, args.firms, args.out, args.repeats)


if __name__ == "__main__":
    main()
