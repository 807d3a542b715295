"""Ingest throughput: one day's bundles of a large world, whole path against verification alone.

    .venv/bin/python benchmarks/ingest.py [--firms 50000] [--months 3] [--repeat 3] [--workers 2]

Generates a world of ``--firms`` firms and ``--months`` months, takes the export day of its
first month with the most records, and measures (medians of ``--repeat`` runs, one core
pinned):
- verification alone: ``Verifier.evaluate`` of every bundle of the day, in height order;
- the whole ingest path: collect, verify, validate (GX) and land into a fresh lake, with the
  share of time in each step from the ingest log.
Target: the whole path at least half as fast as verification alone.

Then, unpinned, the whole ingest of the whole world (every bundle of its months, with the
default batches) by one ``smecredit ingest`` process against ``--workers`` processes at
once on one lake and one state store (SQLite in the lake; each run into a fresh lake,
medians of ``--repeat``, alternated, side by side in one run). Months, not the busiest
day: a day has three bundles, which two workers cannot share evenly. Three months by
default: each process pays about 2 s of its own (start-up, the quality suites' import, its
last window's wait for the other), a tenth of a single month's 20 s but a thirtieth of
three months', so that the ratio measures how ingest scales, not how long a process takes to
start (``--months 1`` shows the month: docs/benchmarks.md). Target: two workers at least 1.7x
one on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attestations.state import MemoryStore  # noqa: E402
from attestations.verifier import BundleFiles, Verifier  # noqa: E402
from pipelines.ingest import IngestConfig, in_height_order, ingest, load_policy, pending_bundles  # noqa: E402
from pipelines.simulate import WorldConfig, simulate  # noqa: E402

WINDOW = re.compile(
    r"^(\S+ \S+) \d+ window of (\d+) bundles, (\d+) lines: judged in ([\d.]+) s, "
    r"validated in ([\d.]+) s, landed and committed in ([\d.]+) s"
)


def timeline(log: str, started: float, ended: float) -> dict[str, float]:
    """Where one process's seconds went, from its ``--progress`` lines: before its first
    window began (start-up, listing), judging, validating, landing and committing, and idle
    at the end while another process still worked."""
    out = {"start": 0.0, "judged": 0.0, "validated": 0.0, "landed": 0.0, "windows": 0.0, "idle": 0.0}
    first = last = None
    for line in log.splitlines():
        m = WINDOW.match(line)
        if not m:
            continue
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        spent = [float(m.group(i)) for i in (4, 5, 6)]
        first = at - sum(spent) if first is None else first
        last = at
        out["windows"] += 1
        for key, value in zip(("judged", "validated", "landed"), spent, strict=True):
            out[key] += value
    if first is not None and last is not None:
        out["start"], out["idle"] = first - started, ended - last
    return out


def processes(landing: Path, lake: Path, trust: str, workers: int) -> tuple[float, list[dict[str, float]]]:
    """Seconds for ``workers`` ``smecredit ingest`` processes at once to ingest ``landing``,
    and each one's timeline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMECREDIT_")}
    env.update(
        SMECREDIT_LANDING_URI=str(landing),
        SMECREDIT_LAKE_URI=str(lake),
        SMECREDIT_TRUST_POLICY=trust,
    )
    every_cpu = os.cpu_count() or 1
    command = [sys.executable, "-m", "pipelines.cli", "ingest", "--progress"]
    t, wall = time.perf_counter(), time.time()
    logs = [lake.with_name(f"{lake.name}-{i}.log") for i in range(workers)]
    running = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            preexec_fn=lambda: os.sched_setaffinity(0, range(every_cpu)),
        )
        for log in logs
    ]
    if any(p.wait() != 0 for p in running):
        raise SystemExit("an ingest process failed: " + " | ".join(log.read_text()[-500:] for log in logs))
    seconds = time.perf_counter() - t
    return seconds, [timeline(log.read_text(), wall, wall + seconds) for log in logs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        simulate(WorldConfig(firms=args.firms, months=args.months, seed=1), folder / "world")
        print(f"world of {args.firms:,} firms x {args.months} months in {time.perf_counter() - started:.0f}s")
        days: dict[str, list[Path]] = {}
        bundles = sorted((folder / "world" / "landing").glob("*/*"))
        first_month = min(b.name for b in bundles)[:7]  # worlds extend: the same day whatever --months
        for bundle in bundles:
            if bundle.name.startswith(first_month):
                days.setdefault(bundle.name, []).append(bundle)
        day = max(days, key=lambda d: sum((b / "records.jsonl").stat().st_size for b in days[d]))
        landing = folder / "landing"
        for bundle in days[day]:
            shutil.copytree(bundle, landing / bundle.parent.name / bundle.name, copy_function=os.link)
        trust = str(folder / "world" / "trust.json")
        policy = load_policy(trust)
        uris = in_height_order([str(b) for b in landing.glob("*/*")])
        records = sum(len((Path(u) / "records.jsonl").read_bytes().splitlines()) for u in uris)
        print(f"day {day}: {len(uris)} bundles, {records:,} records")

        def verify_only() -> float:
            verifier = Verifier(policy, MemoryStore())
            t = time.perf_counter()
            for uri in uris:
                verifier.evaluate(BundleFiles.read_dir(uri))
            return time.perf_counter() - t

        shares: list[dict[str, float]] = []

        def whole(run: int) -> float:
            cfg = IngestConfig(str(landing), str(folder / f"lake-{run}"), trust)
            t = time.perf_counter()
            todo = pending_bundles(cfg)
            collect = time.perf_counter() - t
            report = ingest(cfg, uris=todo)
            total = time.perf_counter() - t
            assert sum(r["lines"] for r in report.rows) == records
            step = {k: sum(r[f"{k}_seconds"] for r in report.rows) for k in ("verify", "validate", "land")}
            shares.append({"collect": collect, **step, "total": total})
            return total

        t_verify = statistics.median(verify_only() for _ in range(args.repeat))
        t_whole = statistics.median(whole(i) for i in range(args.repeat))
        month = folder / "world" / "landing"
        bundles = list(month.glob("*/*"))
        month_records = sum(len((b / "records.jsonl").read_bytes().splitlines()) for b in bundles)
        print(f"the whole world ({args.months} months): {len(bundles)} bundles, {month_records:,} records")
        one, many = [], []
        for i in range(args.repeat):  # alternated, so that both see the same machine
            one.append(processes(month, folder / f"one-{i}", trust, 1))
            many.append(processes(month, folder / f"many-{i}", trust, args.workers))
        t_one, t_many = statistics.median(t for t, _ in one), statistics.median(t for t, _ in many)
        lines_one = sorted(one, key=lambda r: r[0])[len(one) // 2][1]
        lines_many = sorted(many, key=lambda r: r[0])[len(many) // 2][1]
    print(f"verification alone: {records / t_verify:,.0f} records/s (median {t_verify:.2f}s)")
    print(f"whole ingest path:  {records / t_whole:,.0f} records/s (median {t_whole:.2f}s)")
    print(f"  whole / verification-alone speed: {t_verify / t_whole:.2f} (target >= 0.5)")
    mid = sorted(shares, key=lambda s: s["total"])[len(shares) // 2]
    other = mid["total"] - sum(mid[k] for k in ("collect", "verify", "validate", "land"))
    for k in ("collect", "verify", "validate", "land"):
        print(f"  {k:>9}: {100 * mid[k] / mid['total']:5.1f}%")
    print(f"  {'other':>9}: {100 * other / mid['total']:5.1f}%  (state store, planning)")
    for label, t in (("one ingest process", t_one), (f"{args.workers} ingest processes", t_many)):
        print(f"{label}, whole world: {month_records / t:,.0f} records/s (median {t:.2f}s)")
    print(f"  {args.workers} workers / 1 worker: {t_one / t_many:.2f}x (target >= 1.7 for 2 on 2 cores)")
    print("  where each process's seconds went (the median run; from its --progress lines):")
    for label, lines in (("one", lines_one), ("many", lines_many)):
        for i, parts in enumerate(lines):
            spent = ", ".join(f"{k} {v:.1f}" for k, v in parts.items() if k != "windows")
            print(f"    {label} #{i + 1}: {int(parts['windows'])} windows; {spent}")


if __name__ == "__main__":
    main()
