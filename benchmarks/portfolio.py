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
from pipelines.model_keys import model_keys  # noqa: E402
from pipelines.portfolio import BankBooks, Policy, add_months, assess_month, assess_months  # noqa: E402
from pipelines.scoring import ScoringError, read_bank, score_days, train  # noqa: E402
from pipelines.scoring.behaviour import train_behaviour  # noqa: E402


def settings_for(out: Path) -> Settings:
    """The world's settings, with its own model-signing key (``out/model-signing-key.pem``,
    made on first use, owner-only): the registry signs every model it registers."""
    lake, key = out / "lake", out / "model-signing-key.pem"
    if not key.exists():
        from models.signing import ModelKeys

        out.mkdir(parents=True, exist_ok=True)
        key.touch(mode=0o600)
        key.write_text(ModelKeys.generate().private_pem())
    world = out / "world"
    return Settings(str(world / "landing"), str(lake), str(world / "trust.json"), str(world / "bank"),
                    str(lake / "models"), model_signing_key=str(key))  # fmt: skip


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
    assess: bool = True,
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
    keys = model_keys(s)
    train(s.lake_uri, s.bank_uri, s.models_uri, min_bads=min_bads, keys=keys)
    try:
        train_behaviour(s.lake_uri, s.bank_uri, s.models_uri, min_bads=min_bads, keys=keys)
    except ScoringError as exc:
        print(f"no behaviour model: {exc}")
    step("trained", started)
    days = sorted({date.fromisoformat(d) for d in read_bank(s.bank_uri, "applications").applied_on})
    score_days(s.lake_uri, s.bank_uri, s.models_uri, days, keys)
    step("scored", started)
    if assess:
        assess_world(out, months=ends)


def assess_world(out: Path, policy: Path | None = None, months: list[date] | None = None) -> None:
    """Assess every month end of the world in ``out`` in order, from a clean slate (the
    portfolio tables of an earlier assessment are removed first), under ``policy``."""
    started = time.perf_counter()
    s = settings_for(out)
    for table in ("ecl", "ecl_movements", "model_monitoring"):
        shutil.rmtree(Path(s.lake_uri) / table, ignore_errors=True)
    if months is None:
        world = json.loads((out / "world" / "world.json").read_text())
        start = date.fromisoformat(str(world["start"]))
        months = month_ends(start, add_months(start, int(world["months"]) - 1))
    for row in assess_months(s, Policy.load(policy), months):
        print(json.dumps(row), flush=True)
    step(f"assessed {len(months)} month ends", started)


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
    s = settings_for(src)
    out.mkdir(parents=True)
    shutil.copy2(s.model_signing_key, out / "model-signing-key.pem")  # the copied models' key
    big = settings_for(out)
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
    p.add_argument("--no-assess", action="store_true", help="stop after scoring (assess later with `assess`)")
    p = sub.add_parser("assess", help="(re)assess every month end of a built world from a clean slate")
    p.add_argument("--out", type=Path, required=True, help="the folder `world` built")
    p.add_argument("--policy", type=Path, help="a portfolio policy file (default: the package's)")
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
        build_world(
            args.firms, args.months, args.seed, args.out, credit, tuple(args.min_bads), not args.no_assess
        )
    elif args.command == "assess":
        assess_world(args.out, args.policy)
    else:
        runtime(args.src, args.firms, args.out, args.repeats)


if __name__ == "__main__":
    main()
