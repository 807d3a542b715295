"""Same-run A/B of the verification path: another tree of this repository against this one.

    mkdir /tmp/base && git archive REV | tar -x -C /tmp/base
    .venv/bin/python benchmarks/verify_ab.py --base /tmp/base [--records 200000] [--rounds 6]
        [--evaluate-only]

Writes one bundle (as ``verify_throughput.py`` does), then times the two trees in turns, each
run in a fresh process pinned to one core, the order swapped every round so that neither
side always runs on a warmer or quieter machine: ``smecredit verify``'s path
(``verify_bundles``: every check, SQLite state, JSONL outputs), or with ``--evaluate-only``
``Verifier.evaluate`` against an in-memory store. Prints every run, the medians and their
ratio (new / base: below 1 is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.verify_throughput import fresh_run, write_bundle  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the other tree (a checkout or an archive)")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--block", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--evaluate-only", action="store_true")
    args = parser.parse_args()
    trees = {"base": args.base.resolve(), "new": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bundle, trust, _ = write_bundle(folder, args.records, args.block)
        times: dict[str, list[float]] = {"base": [], "new": []}
        for i in range(args.rounds):
            for name in ("base", "new") if i % 2 == 0 else ("new", "base"):
                state = folder / f"state-{name}-{i}"
                times[name].append(
                    fresh_run(trees[name], bundle, trust, state, args.records, args.evaluate_only)
                )
                print(f"round {i + 1} {name}: {times[name][-1]:.2f}s", flush=True)
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"{name}: median {median:.2f}s, {args.records / median:,.0f} records/s")
    print(f"new / base median time: {statistics.median(times['new']) / statistics.median(times['base']):.3f}")


if __name__ == "__main__":
    main()
