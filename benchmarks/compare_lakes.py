"""Compare every Parquet table of two lakes row for row, apart from run times and paths.

    .venv/bin/python benchmarks/compare_lakes.py BASE_LAKE NEW_LAKE [--root PREFIX ...]

A table is a folder of Parquet files: the folder above the first ``name=value`` level
(``verified/supply_chain/invoice``, ``scores/pre_loan``), or a file's own folder when it has
no partitions (``alerts``); each file is read alone, with the partition keys of its path
added where the file does not hold them. Columns that record when or how
long a run took (``RUN_COLUMNS``, and any ``*_seconds``) are dropped; every ``--root``
prefix (the lakes' output folders by default) is replaced by ``<out>`` in text, so that two
runs in different folders compare equal. Every value is compared as text (floats to 12
decimals); rows are sorted. Prints one line per table and exits 1 when any table differs or
exists on one side only.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

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


def _text(value: object, roots: list[str]) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    if isinstance(value, float):
        value = round(value, 12)
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, "<out>")
    return repr(value)


def rows(path: Path, roots: list[str]) -> tuple[list[str], list[tuple[str, ...]]]:
    """The table's columns (run columns dropped, partition keys added from the path where a
    file does not hold them) and its rows as text, paths normalised, sorted."""
    columns: list[str] | None = None
    out: list[tuple[str, ...]] = []
    for file in sorted(path.rglob("*.parquet")):
        table = pq.read_table(file)
        for part in file.relative_to(path).parts[:-1]:
            key, _, value = part.partition("=")
            if value and key not in table.column_names:
                table = table.append_column(key, pa.array([value] * table.num_rows, pa.string()))
        keep = sorted(c for c in table.column_names if c not in RUN_COLUMNS and not c.endswith("_seconds"))
        if columns is None:
            columns = keep
        elif keep != columns:
            raise ValueError(f"{file}: columns {keep} differ from {columns}")
        data = [[_text(v, roots) for v in table[c].to_pylist()] for c in keep]
        out.extend(zip(*data, strict=True))
    out.sort()
    return columns or [], out


def compare(base: Path, new: Path, roots: list[str]) -> list[str]:
    """One line per table; lines starting with ``DIFF`` or ``ONLY`` are failures."""
    a, b = tables(base), tables(new)
    lines = []
    for name in sorted(a.keys() | b.keys()):
        if name not in a or name not in b:
            lines.append(f"ONLY {'new' if name in b else 'base'}: {name}")
            continue
        (left_cols, left), (right_cols, right) = rows(a[name], roots), rows(b[name], roots)
        if left_cols != right_cols:
            lines.append(f"DIFF {name}: columns {left_cols} != {right_cols}")
        elif left != right:
            only_base, only_new = Counter(left) - Counter(right), Counter(right) - Counter(left)
            columns = sorted(
                {c for x, y in zip(sorted(only_base.elements()), sorted(only_new.elements()), strict=False)
                 for c, u, v in zip(left_cols, x, y, strict=True) if u != v}
            )  # fmt: skip
            lines.append(
                f"DIFF {name}: {len(left)} rows against {len(right)}; {only_base.total()} only in base, "
                f"{only_new.total()} only in new; columns that differ: {columns}"
            )
        else:
            lines.append(f"same {name}: {len(left)} rows x {len(left_cols)} columns")
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
