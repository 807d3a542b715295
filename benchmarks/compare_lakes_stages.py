"""Are two demo lakes the same, table by table, row for row (apart from timestamps)?

    .venv/bin/python benchmarks/compare_lakes_stages.py /work/baseline-demo demo-output

Each argument is a ``make demo`` output folder (``<out>/lake``, ``<out>/world``). Every
Parquet table of the two lakes is read whole (its files concatenated, hive partition keys
as columns; a table is the folder above its first ``key=value`` level, or a single file),
then compared: the Arrow schema, the row count and the rows as a multiset (each row's
values hashed exactly, the sorted row hashes compared). Left out of the rows are what
legitimately differs between two runs: wall-clock times (columns ending in ``_at``) and
durations (``*_seconds``). The output folder's absolute path (in ``bundle_uri``) and the
webhook receiver's port (in the outbox's ``recipient``) are masked. The model registry's
manifest and artifacts are compared the same way, without ``created_at``.

Prints one line per table and exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_HIVE = re.compile(r"^[A-Za-z_]+=.*$")
_PORT = re.compile(r"127\.0\.0\.1:\d+")


def tables(lake: Path) -> dict[str, list[Path]]:
    """Each Parquet table of ``lake`` (its path relative to the lake) and its files."""
    found: dict[str, list[Path]] = defaultdict(list)
    for f in sorted(lake.rglob("*.parquet")):
        parts = f.relative_to(lake).parts
        cut = next((i for i, p in enumerate(parts) if _HIVE.match(p)), len(parts))
        found["/".join(parts[:cut])].append(f)
    return dict(found)


def read(files: list[Path], lake: Path) -> pa.Table:
    """The files as one table, with each hive key of their path as a string column."""
    parts = []
    for f in files:
        t = pq.read_table(f)
        for p in f.relative_to(lake).parts:
            if _HIVE.match(p):
                key, value = p.split("=", 1)
                if key not in t.column_names:
                    t = t.append_column(key, pa.array([value] * t.num_rows, pa.string()))
        parts.append(t)
    return pa.concat_tables(parts, promote_options="default") if parts else pa.table({})


def _volatile(name: str) -> bool:
    return name.endswith("_at") or name.endswith("_seconds")


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _frame(table: pa.Table, root: str) -> pd.DataFrame:
    """The table without volatile columns, every value in a comparable form: floats exact,
    lists as their repr, the output folder and the webhook port masked."""
    frame = table.select([c for c in table.column_names if not _volatile(c)]).to_pandas()
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object or str(column.dtype) in ("str", "string"):
            texts = (repr(_plain(v)).replace(root, "<out>") for v in column)
            frame[name] = [_PORT.sub("127.0.0.1:<port>", t) for t in texts]
    return frame


def _hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row (of every value), sorted: equal arrays, equal multisets of rows."""
    if frame.empty:
        return np.zeros(0, dtype=np.uint64)
    return np.sort(pd.util.hash_pandas_object(frame, index=False).to_numpy())


def compare_table(name: str, a: pa.Table, b: pa.Table, roots: tuple[str, str]) -> list[str]:
    """What differs between the two versions of table ``name`` (empty: nothing)."""
    if a.schema != b.schema:
        return [f"schema differs:\n  {a.schema}\n  vs\n  {b.schema}"]
    problems = []
    if a.num_rows != b.num_rows:
        problems.append(f"{a.num_rows} rows vs {b.num_rows}")
    fa, fb = _frame(a, roots[0]), _frame(b, roots[1])
    ha, hb = _hashes(fa), _hashes(fb)
    if len(ha) != len(hb) or (ha != hb).any():
        only_a = np.setdiff1d(ha, hb)
        only_b = np.setdiff1d(hb, ha)
        problems.append(f"rows differ: {len(only_a)} only in the first, {len(only_b)} only in the second")
        for frame, only, which in ((fa, only_a, "first"), (fb, only_b, "second")):
            row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
            for row in frame[np.isin(row_hashes, only[:2])].head(2).itertuples(index=False):
                problems.append(f"  {which}: {tuple(row)[:6]}...")
    return problems


def _without_times(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _without_times(v) for k, v in doc.items() if not _volatile(k)}
    if isinstance(doc, list):
        return [_without_times(v) for v in doc]
    return doc


def compare_registry(a: Path, b: Path) -> list[str]:
    """The registry's JSON files under ``<lake>/models``, without their times."""
    problems = []
    names_a = {p.relative_to(a) for p in a.rglob("*.json")}
    names_b = {p.relative_to(b) for p in b.rglob("*.json")}
    if names_a != names_b:
        problems.append(f"registry files differ: {sorted(map(str, names_a ^ names_b))[:4]}")
    for rel in sorted(names_a & names_b):
        docs = [_without_times(json.loads((root / rel).read_text())) for root in (a, b)]
        if docs[0] != docs[1]:
            problems.append(f"registry file {rel} differs")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="a make demo output folder (the baseline)")
    parser.add_argument("second", type=Path, help="another one")
    args = parser.parse_args()
    lakes = (args.first / "lake", args.second / "lake")
    for lake in lakes:
        if not lake.is_dir():
            parser.error(f"{lake} is not a folder")
    roots = (str(args.first.resolve()), str(args.second.resolve()))
    found = [tables(lake) for lake in lakes]
    differing = 0
    for name in sorted(set(found[0]) | set(found[1])):
        if name not in found[0] or name not in found[1]:
            print(f"DIFF {name}: only in {'the second' if name not in found[0] else 'the first'}")
            differing += 1
            continue
        a, b = (read(f[name], lake) for f, lake in zip(found, lakes, strict=True))
        problems = compare_table(name, a, b, roots)
        status = "DIFF" if problems else "same"
        print(f"{status} {name}: {a.num_rows} rows, {len(found[0][name])} vs {len(found[1][name])} files")
        for p in problems:
            print(f"     {p}")
        differing += bool(problems)
    registry = compare_registry(lakes[0] / "models", lakes[1] / "models")
    print(f"{'DIFF' if registry else 'same'} models/ (registry JSON, without times)")
    for p in registry:
        print(f"     {p}")
    differing += bool(registry)
    print(f"{len(set(found[0]) | set(found[1]))} tables compared; {differing} differ")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
