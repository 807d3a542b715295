"""Peak memory of ingesting a bundle with one huge line, against the line's size.

    .venv/bin/python benchmarks/huge_line.py [--mb 50 100 200]

For each size, a bundle of ten valid contributions plus one ``records.jsonl`` line of that
many megabytes (a JSON object whose ``leaf`` is one long string, so it is well formed and
ends ``proof_invalid``) is written with the consortium writer and ingested by
``pipelines.ingest.ingest`` in a fresh process. The figure is that process's peak resident
memory above a baseline process that ingests the same bundle without the huge line, as a
multiple of the line's size. The verifier streams the bundle's files, so what is left is
the quarantined line itself (quoted whole in the lake), its parsed leaf while it is judged,
and the lake's copy of it in Arrow and Parquet (docs/hardening.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import resource, sys
from pipelines.ingest import IngestConfig, ingest
root = sys.argv[1]
report = ingest(IngestConfig(root + "/landing", root + "/lake", root + "/trust.json"))
(row,) = report.rows
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, row["lines"], row["quarantined_by_reason"])
"""


def make(root: Path, mb: int) -> None:
    sys.path.insert(0, str(ROOT))
    from attestations.ledger import write_files
    from tests.attestations.builders import Ledger, contribution, resign

    led = Ledger()
    led.seal([contribution(i) for i in range(10)])
    files = led.bundle()
    if mb:
        line = json.dumps({"height": 0, "index": 0, "leaf": "x" * (mb << 20), "proof": []}).encode()
        files["records.jsonl"] += line + b"\n"
        files = resign(files, led.exporters["social_insurance"].key)
    write_files(root / "landing" / "social_insurance" / "2025-03-02", files)
    (root / "trust.json").write_text(json.dumps(led.policy_dict()))


def peak_kib(root: Path) -> tuple[int, str]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    rss, lines, reasons = out.stdout.strip().splitlines()[-1].split(" ", 2)
    return int(rss), f"{lines} lines, {reasons}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, nargs="+", default=[50, 100, 200])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make(Path(tmp) / "base", 0)
        base, _ = peak_kib(Path(tmp) / "base")
        print(f"baseline (no huge line): peak {base / 1024:.0f} MiB")
        for mb in args.mb:
            root = Path(tmp) / f"l{mb}"
            make(root, mb)
            peak, outcome = peak_kib(root)
            extra = (peak - base) / 1024
            print(f"line of {mb} MiB: peak {peak / 1024:.0f} MiB, {extra:.0f} MiB above baseline = "
                  f"{extra / mb:.1f} x the line ({outcome})")  # fmt: skip


if __name__ == "__main__":
    main()
