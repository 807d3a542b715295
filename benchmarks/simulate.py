"""Simulator speed and memory, run by hand.

    .venv/bin/python benchmarks/simulate.py                      # the default plan below
    .venv/bin/python benchmarks/simulate.py --world 2000x24 --world 50000x36

Each world runs in its own child process, so its peak resident memory (ru_maxrss) is its
own. Peak memory that stays flat as the horizon grows is what "streams month by month"
means: the world is held per month, not for its whole length.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PLAN = ("2000x24", "50000x3", "50000x12", "50000x36")


def child(firms: int, months: int, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from pipelines.simulate import WorldConfig, simulate

    started = time.perf_counter()
    summary = simulate(WorldConfig(firms=firms, months=months, seed=1), out)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "firms": firms,
                "months": months,
                "seconds": time.perf_counter() - started,
                "peak_mb": peak_mb,
                "records": sum(summary.records.values()),
                "bundles": summary.bundles,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", action="append", help="FIRMSxMONTHS; repeatable")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), int(args.child[1]), Path(args.child[2]))
        return
    print(f"{'world':>10} {'seconds':>9} {'records':>12} {'records/s':>10} {'peak MB':>8}")
    for spec in args.world or DEFAULT_PLAN:
        firms, months = (int(x) for x in spec.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(firms), str(months), tmp],
                check=True,
                capture_output=True,
                text=True,
            )
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rate = r["records"] / r["seconds"]
        print(
            f"{spec:>10} {r['seconds']:9.1f} {r['records']:12,} {rate:10,.0f} {r['peak_mb']:8.0f}", flush=True
        )


if __name__ == "__main__":
    main()
