"""Feature snapshots of a large world: time and peak memory per monthly snapshot.

    .venv/bin/python benchmarks/features.py --world W --lake L [--snapshots 24] [--shards 1]

``W`` is a simulated world (``smecredit simulate --firms 50000 --months 36 --out W``). If
the lake ``L`` holds no verified records yet, the world is ingested into it first (that
takes a while; the time is reported separately). Then the snapshots of the last
``--snapshots`` month ends are built one per child process (``build_snapshot``, read from
the lake, computed, written), each child's wall time and peak resident memory
(``ru_maxrss``) reported, with the median and the worst. Target on the 2-core machine: under
10 s and 4 GB per snapshot for 50,000 firms x 36 months.
"""

from __future__ import annotations

import argparse
import json
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
    print(f"{'as_of':<12}{'firms':>8}{'seconds':>10}{'peak MB':>10}")
    results = []
    for as_of in ends:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.lake), as_of.isoformat(), str(args.shards)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{as_of.isoformat():<12}{r['rows']:>8}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}", flush=True)
    secs = [r["seconds"] for r in results]
    peaks = [r["peak_mb"] for r in results]
    print(
        f"median {statistics.median(secs):.2f}s, worst {max(secs):.2f}s per snapshot; "
        f"peak memory median {statistics.median(peaks):.0f} MB, worst {max(peaks):.0f} MB"
    )


if __name__ == "__main__":
    main()
