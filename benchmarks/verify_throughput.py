"""Verification throughput on one core, beside two references measured in the same run.

    .venv/bin/python benchmarks/verify_throughput.py [--records 1000000] [--block 10000] [--repeat 3]
        [--base OLD_TREE]

Writes a bundle of ``--records`` records in blocks of ``--block`` with the consortium
writer, then measures (median of ``--repeat`` runs each, pinned to one core):

- ours: ``smecredit verify``'s code path (``pipelines.verify_cli.verify_bundles``: every
  check of the spec, SQLite state, verified and quarantine outputs), from a fresh state,
  each run in a fresh process as the command runs (a process that ran it before reuses
  memory it already holds, which hides the page faults of a real run);
- with ``--base``, the same path in an older tree of this repository (for example
  ``git archive 060530f | tar -x -C /tmp/old``), alternated with ours run by run;
- floor (a): a bare loop that parses each line, hashes its leaf and walks its proof with
  hashlib, the least any verifier must do;
- (b) ``pymerkle`` computing the roots of the same blocks, beside ``attestations.merkle``.
  pymerkle is GPL: it is installed into a temporary folder for this run only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attestations.merkle import root_hash  # noqa: E402
from tests.attestations.builders import Ledger, contribution  # noqa: E402


def write_bundle(folder: Path, records: int, block: int) -> tuple[Path, Path, list[list[bytes]]]:
    from attestations.ledger import write_files

    led = Ledger()
    for start in range(0, records, block):
        led.seal([contribution(i) for i in range(start, min(start + block, records))], "2025-03-02T00:00:00Z")
    bundle = write_files(folder / "bundle", led.bundle())
    trust = folder / "trust.json"
    trust.write_text(json.dumps(led.policy_dict()))
    return bundle, trust, [b.leaves for b in led.blocks]


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


def fresh_run(
    tree: Path, bundle: Path, trust: Path, state: Path, records: int, evaluate_only: bool = False
) -> float:
    """Seconds of one verification of ``bundle`` by the code of ``tree``, in a fresh process
    pinned to one core (``evaluate_only``: ``Verifier.evaluate`` against an in-memory store,
    else ``smecredit verify``'s path from a fresh ``state``). The bundle-size limit is lifted,
    as an operator verifying a large bundle would."""
    argv = [tree, bundle, trust, state, records, "1" if evaluate_only else "0"]
    env = {**os.environ, "SMECREDIT_MAX_BUNDLE_BYTES": str(1 << 40)}
    done = subprocess.run([sys.executable, "-c", CHILD, *map(str, argv)], check=True, capture_output=True,
                          text=True, cwd=state.parent, env=env)  # fmt: skip
    return float(done.stdout.split()[-1])


def floor_loop(records_file: Path) -> int:
    """Parse, hash the leaf and walk the proof of every line: nothing else."""
    sha = hashlib.sha256
    n = 0
    for raw in records_file.read_bytes().split(b"\n"):
        if not raw:
            continue
        line = json.loads(raw)
        r = sha(b"\x00" + line["leaf"].encode()).digest()
        fn, sn = line["index"], 10**9  # the size walk is the same work whatever the size
        for p in line["proof"]:
            p = bytes.fromhex(p)
            r = sha(b"\x01" + p + r).digest() if fn & 1 else sha(b"\x01" + r + p).digest()
            fn >>= 1
            sn >>= 1
        n += 1
    return n


def pymerkle_roots(blocks: list[list[bytes]]) -> list[bytes]:
    from pymerkle import InmemoryTree

    roots = []
    for leaves in blocks:
        tree = InmemoryTree(algorithm="sha256")
        for leaf in leaves:
            tree.append_entry(leaf)
        roots.append(tree.get_root())
    return roots


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--block", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--base", type=Path, help="an older tree of this repository: its path timed alongside"
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pip = [sys.executable, "-m", "pip", "install", "-q", "--target", str(folder / "gpl"), "pymerkle"]
        subprocess.run(pip, check=True)
        sys.path.insert(0, str(folder / "gpl"))
        start = time.perf_counter()
        bundle, trust, blocks = write_bundle(folder, args.records, args.block)
        print(f"wrote {args.records:,} records in {len(blocks)} blocks in {time.perf_counter() - start:.1f}s")
        runs, base_runs = [], []
        for i in range(args.repeat):  # alternated with the base, so that both see the same machine
            runs.append(fresh_run(ROOT, bundle, trust, folder / f"state-{i}", args.records))
            if args.base is not None:
                base_runs.append(
                    fresh_run(args.base.resolve(), bundle, trust, folder / f"base-{i}", args.records)
                )
        t_ours = statistics.median(runs)
        t_floor, n = timed(lambda: floor_loop(bundle / "records.jsonl"), args.repeat)
        assert n == args.records
        t_ours_roots, mine = timed(lambda: [root_hash(leaves) for leaves in blocks], args.repeat)
        t_pym_roots, theirs = timed(lambda: pymerkle_roots(blocks), args.repeat)
        assert mine == theirs, "pymerkle and attestations.merkle disagree on a root"
    rate = args.records / t_ours
    print(f"verify (smecredit verify path): {rate:,.0f} records/s  (median {t_ours:.2f}s)")
    if base_runs:
        t_base = statistics.median(base_runs)
        print(
            f"  the same path in {args.base}: {args.records / t_base:,.0f} records/s  (median {t_base:.2f}s)"
        )
        print(f"  base / ours time ratio:       {t_base / t_ours:.2f}x")
    print(f"floor (a) hash + walk only:     {args.records / t_floor:,.0f} records/s  (median {t_floor:.2f}s)")
    print(f"  ours / floor time ratio:      {t_ours / t_floor:.2f}x")
    ours_rate, pym_rate = args.records / t_ours_roots, args.records / t_pym_roots
    print(f"roots, attestations.merkle:     {ours_rate:,.0f} leaves/s  (median {t_ours_roots:.2f}s)")
    print(f"roots, pymerkle (b):            {pym_rate:,.0f} leaves/s  (median {t_pym_roots:.2f}s)")
    print(f"  pymerkle / ours time ratio:   {t_pym_roots / t_ours_roots:.2f}x")


if __name__ == "__main__":
    main()
