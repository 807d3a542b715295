"""Feature snapshots of a large world: time and peak memory per monthly snapshot.

    .venv/bin/python benchmarks/features.py --world W --lake L [--snapshots 24] [--shards 1]
        [--fresh-store]

``W`` is a simulated world (``smecredit simulate --firms 50000 --months 36 --out W``). If
the lake ``L`` holds no verified records yet, the world is ingested into it first (that
takes a while; the time is reported separately). Then, each step in its own child process
whose wall time and peak resident memory (``ru_maxrss``) are reported:

1. the feature input store is brought up to date for the last ``--snapshots`` month ends
   (``InputStore.refresh``: every verified month they read is compacted once; with
   ``--fresh-store`` the store is deleted first so that every month is);
2. each snapshot is built (``build_snapshot``: read from the store, computed, written), with
   the median and the worst.

The amortised figure adds the store's compaction time shared over the snapshots. Target on
the 2-core machine: under 10 s and 4 GB per snapshot for 50,000 firms x 36 months.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.features import month_ends  # noqa: E402
from pipelines.ingest import IngestConfig, ingest  # noqa: E402

REFRESH = """
import json, resource, sys, time
from datetime import date
from pipelines.features import InputStore
from pipelines.features.compute import WINDOW
t = time.perf_counter()
done = InputStore(sys.argv[1]).refresh([date.fromisoformat(d) for d in sys.argv[2:]], WINDOW)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
months = len({m for _, _, m in done})
print(json.dumps({"compacted": len(done), "months": months, "seconds": seconds, "peak_mb": peak}))
"""
CHILD = """
import json, resource, sys, time
from datetime import date
from pipelines.features import build_snapshot
t = time.perf_counter()
uri, rows = build_snapshot(sys.argv[1], date.fromisoformat(sys.argv[2]), shards=int(sys.argv[3]))
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--snapshots", type=int, default=24)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--fresh-store", action="store_true", help="delete the feature input store first")
    args = parser.parse_args()
    world = json.loads((args.world / "world.json").read_text())
    if not (args.lake / "verified").is_dir():
        started = time.perf_counter()
        report = ingest(
            IngestConfig(str(args.world / "landing"), str(args.lake), str(args.world / "trust.json"))
        )
        landed = sum(int(r["verified"]) for r in report.rows)
        print(f"ingested {landed:,} records in {time.perf_counter() - started:.0f}s")
    start = date.fromisoformat(world["start"])
    months = world["months"]
    last = date(start.year + (start.month - 1 + months) // 12, (start.month - 1 + months) % 12 + 1, 1)
    ends = month_ends(start, last)[-args.snapshots :]
    print(f"{world['firms']:,} firms x {months} months; {len(ends)} snapshots, {args.shards} shard(s)")
    if args.fresh_store:
        shutil.rmtree(args.lake / "feature_inputs", ignore_errors=True)
    store = _child(REFRESH, str(args.lake), *(d.isoformat() for d in ends))
    per_month = store["seconds"] / max(store["months"], 1)
    print(
        f"feature input store: {store['compacted']} kind-months compacted ({store['months']} months) in "
        f"{store['seconds']:.1f}s, {per_month:.2f}s per month of all kinds; peak {store['peak_mb']:.0f} MB"
    )
    print(f"{'as_of':<12}{'firms':>8}{'seconds':>10}{'peak MB':>10}")
    results = []
    for as_of in ends:
        r = _child(CHILD, str(args.lake), as_of.isoformat(), str(args.shards))
        results.append(r)
        print(f"{as_of.isoformat():<12}{r['rows']:>8}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}", flush=True)
    secs = [r["seconds"] for r in results]
    peaks = [r["peak_mb"] for r in results]
    print(
        f"median {statistics.median(secs):.2f}s, worst {max(secs):.2f}s per snapshot; "
        f"peak memory median {statistics.median(peaks):.0f} MB, worst {max(peaks):.0f} MB"
    )
    shared = store["seconds"] / len(ends)
    print(
        f"with the store's compaction shared over the {len(ends)} snapshots: "
        f"median {statistics.median(secs) + shared:.2f}s, worst {max(secs) + shared:.2f}s per snapshot"
    )


def _child(code: str, *argv: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], check=True, capture_output=True, text=True, cwd=ROOT
    )
    result: dict = json.loads(out.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    main()
