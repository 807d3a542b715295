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
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.verify_throughput import write_bundle  # noqa: E402

CHILD = r"""
import os, sys, time
from pathlib import Path
tree, bundle, trust, state, records, evaluate_only = sys.argv[1:7]
sys.path.insert(0, tree)
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
import attestations.verifier as verifier
from attestations.policy import TrustPolicy
assert verifier.__file__.startswith(tree), verifier.__file__
policy = TrustPolicy.load(Path(trust))
if evaluate_only == "1":
    from attestations.state import MemoryStore
    files = verifier.BundleFiles.read_dir(Path(bundle))
    started = time.perf_counter()
    result = verifier.Verifier(policy, MemoryStore()).evaluate(files)
else:
    from pipelines.verify_cli import verify_bundles
    started = time.perf_counter()
    result = verify_bundles([Path(bundle)], policy, Path(state))[0]
elapsed = time.perf_counter() - started
assert len(result.verified) == int(records), result.summary()
print(elapsed)
"""


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
                argv = [trees[name], bundle, trust, folder / f"state-{name}-{i}", args.records]
                command = [sys.executable, "-c", CHILD, *map(str, argv), "1" if args.evaluate_only else "0"]
                done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=tmp)
                times[name].append(float(done.stdout.split()[-1]))
                print(f"round {i + 1} {name}: {times[name][-1]:.2f}s", flush=True)
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"{name}: median {median:.2f}s, {args.records / median:,.0f} records/s")
    print(f"new / base median time: {statistics.median(times['new']) / statistics.median(times['base']):.3f}")


if __name__ == "__main__":
    main()
