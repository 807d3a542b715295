"""Compare every Parquet table of two lakes row for row, apart from run times and paths.

    .venv/bin/python benchmarks/compare_lakes.py BASE_LAKE NEW_LAKE [--root PREFIX ...]

A table is a folder of Parquet files read as one hive-partitioned dataset: the folder above
the first ``name=value`` level (``verified/supply_chain/invoice``, ``scores/pre_loan``), or a
file's own folder when it has no partitions (``alerts``). Columns that record when or how
long a run took (``RUN_COLUMNS``, and any ``*_seconds``) are dropped; every ``--root``
prefix (the lakes' output folders by default) is replaced by ``<out>`` in text, so that two
runs in different folders compare equal. Rows are sorted on every remaining column. Prints
one line per table and exits 1 when any table differs or exists on one side only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

RUN_COLUMNS = {
    "ingested_at",
    "scored_at",
    "reviewed_at",
    "created_at",
    "sent_at",
    "next_attempt_at",
    "updated_at",
    "built_at",
}


def tables(lake: Path) -> dict[str, Path]:
    """Every table of the lake by its path relative to the lake."""
    found: dict[str, Path] = {}
    for file in lake.rglob("*.parquet"):
        parts = file.relative_to(lake).parts[:-1]
        cut = next((i for i, p in enumerate(parts) if "=" in p), len(parts))
        name = "/".join(parts[:cut]) or "."
        found.setdefault(name, lake.joinpath(*parts[:cut]))
    return dict(sorted(found.items()))


def _text(value: object, roots: list[str]) -> object:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, "<out>")
    return value


def frame(path: Path, roots: list[str]) -> pd.DataFrame:
    """The table with run columns dropped, paths normalised, every value as comparable text
    (lists and structs by their repr), rows sorted."""
    table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
    keep = [c for c in table.column_names if c not in RUN_COLUMNS and not c.endswith("_seconds")]
    table = table.select(keep)
    columns = {}
    for name in keep:
        column = table[name]
        if pa.types.is_floating(column.type):
            columns[name] = [None if v is None else round(v, 12) for v in column.to_pylist()]
        else:
            columns[name] = [repr(_text(v, roots)) for v in column.to_pylist()]
    out = pd.DataFrame(columns, columns=keep)
    return out.sort_values(keep, kind="stable").reset_index(drop=True) if keep else out


def compare(base: Path, new: Path, roots: list[str]) -> list[str]:
    """One line per table; lines starting with ``DIFF`` or ``ONLY`` are failures."""
    a, b = tables(base), tables(new)
    lines = []
    for name in sorted(a.keys() | b.keys()):
        if name not in a or name not in b:
            lines.append(f"ONLY {'new' if name in b else 'base'}: {name}")
            continue
        left, right = frame(a[name], roots), frame(b[name], roots)
        if list(left.columns) != list(right.columns):
            lines.append(f"DIFF {name}: columns {list(left.columns)} != {list(right.columns)}")
        elif len(left) != len(right):
            lines.append(f"DIFF {name}: {len(left)} rows != {len(right)} rows")
        else:
            differs = {c: int((left[c].astype(str) != right[c].astype(str)).sum()) for c in left.columns}
            differs = {c: n for c, n in differs.items() if n}
            if differs:
                lines.append(f"DIFF {name}: {len(left)} rows; rows differing per column {differs}")
            else:
                lines.append(f"same {name}: {len(left)} rows x {len(left.columns)} columns")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--root", action="append", default=[], help="path prefix to replace by <out>")
    args = parser.parse_args()
    roots = sorted({*args.root, str(args.base.resolve().parent), str(args.new.resolve().parent)}, key=len)
    lines = compare(args.base, args.new, roots[::-1])
    print("\n".join(lines))
    bad = [line for line in lines if not line.startswith("same")]
    print(f"{len(lines) - len(bad)} of {len(lines)} tables identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
