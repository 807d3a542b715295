"""Ingest throughput: one day's bundles of a large world, whole path against verification alone.

    .venv/bin/python benchmarks/ingest.py [--firms 50000] [--repeat 3]

Generates a one-month world of ``--firms`` firms, takes the export day with the most
records, and measures (medians of ``--repeat`` runs, one core pinned):
- verification alone: ``Verifier.evaluate`` of every bundle of the day, in height order;
- the whole ingest path: collect, verify, validate (GX) and land into a fresh lake, with the
  share of time in each step from the ingest log.
Target: the whole path at least half as fast as verification alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attestations.state import MemoryStore  # noqa: E402
from attestations.verifier import BundleFiles, Verifier  # noqa: E402
from pipelines.ingest import IngestConfig, in_height_order, ingest, load_policy, pending_bundles  # noqa: E402
from pipelines.simulate import WorldConfig, simulate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        simulate(WorldConfig(firms=args.firms, months=1, seed=1), folder / "world")
        print(f"world of {args.firms:,} firms x 1 month in {time.perf_counter() - started:.0f}s")
        days: dict[str, list[Path]] = {}
        for bundle in (folder / "world" / "landing").glob("*/*"):
            days.setdefault(bundle.name, []).append(bundle)
        day = max(days, key=lambda d: sum((b / "records.jsonl").stat().st_size for b in days[d]))
        landing = folder / "landing"
        for bundle in days[day]:
            (landing / bundle.parent.name).mkdir(parents=True, exist_ok=True)
            bundle.rename(landing / bundle.parent.name / bundle.name)
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
    print(f"verification alone: {records / t_verify:,.0f} records/s (median {t_verify:.2f}s)")
    print(f"whole ingest path:  {records / t_whole:,.0f} records/s (median {t_whole:.2f}s)")
    print(f"  whole / verification-alone speed: {t_verify / t_whole:.2f} (target >= 0.5)")
    mid = sorted(shares, key=lambda s: s["total"])[len(shares) // 2]
    other = mid["total"] - sum(mid[k] for k in ("collect", "verify", "validate", "land"))
    for k in ("collect", "verify", "validate", "land"):
        print(f"  {k:>9}: {100 * mid[k] / mid['total']:5.1f}%")
    print(f"  {'other':>9}: {100 * other / mid['total']:5.1f}%  (state download/upload, planning)")


if __name__ == "__main__":
    main()
