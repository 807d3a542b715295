"""A fitted scorecard as one SQL SELECT that runs unchanged on SQLite, DuckDB and PostgreSQL,
for the decision engine that lives next to the bank's tables.

Per row of the table it returns the total points (``score``), the PD (``pd``), each feature's
points (``points_<feature>``) and, on request, the reason codes (``reason_1`` ..), equal to
``Scorecard.points``, ``predict_proba`` and ``reasons`` to 1e-9. Only what the three engines
share is used: nested sub-queries, ``CASE``, ``CAST(.. AS DOUBLE PRECISION)``, ``CAST(.. AS
TEXT)``, ``EXP`` and double-quoted identifiers. Every number is written in the shortest
exponent form that reads back as the same double (a double in SQLite and DuckDB, a decimal
that PostgreSQL rounds to the same double), and each feature's points are cast to a double before they are
summed. Numeric features are read from numeric columns: NULL and NaN are missing, each special
value is compared with ``=``, then the cuts with ``<`` in order. Categorical features are read
as text; a category the card never saw takes the points of its ``(other)`` bin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models.binning import OTHER, FeatureBins

PG_NAME_BYTES = 63  # PostgreSQL truncates longer identifiers
COST = 1e-9  # a feature costs points when it loses more than this (as Scorecard.reasons)
CLAMP = 700.0  # EXP stays finite in every engine; the PD differs from 0 or 1 by < 1e-300 there


def number(v: float) -> str:
    """The shortest exponent form that reads back as the same double (``3e-01``, not ``0.3``,
    which DuckDB and PostgreSQL would read as a decimal)."""
    v = float(v)
    for digits in range(17):
        written = f"{v:.{digits}e}"
        if float(written) == v:
            return written
    return f"{v:.16e}"


def text(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def name(identifier: str) -> str:
    return '"' + str(identifier).replace('"', '""') + '"'


def table_name(table: str) -> str:
    """``table`` or ``schema.table``, each part quoted."""
    parts = str(table).split(".")
    if not table or not all(parts):
        raise ValueError(f"table must be a table name or schema.table, got {table!r}")
    return ".".join(name(p) for p in parts)


def bin_case(fb: FeatureBins, column: str, values: np.ndarray) -> str:
    """A double-valued CASE expression giving ``values[b]`` for a value in bin ``b`` of ``fb``
    (``values[-1]``: a value that has no bin, as ``FeatureBins.index`` returns -1)."""
    col = name(column)
    no_bin = values[-1]
    missing = no_bin if fb.missing_bin is None else values[fb.missing_bin]
    if fb.kind == "numeric":
        whens = [f"WHEN {col} IS NULL OR ({col} > 0 AND -{col} > 0) THEN {number(missing)}"]  # NULL or NaN
        whens += [f"WHEN {col} = {number(float(code))} THEN {number(values[b])}" for code, b in fb.specials]
        whens += [f"WHEN {col} < {number(edge)} THEN {number(values[i])}" for i, edge in enumerate(fb.edges)]
        otherwise = values[len(fb.edges)]
    else:
        as_text = f"CAST({col} AS TEXT)"
        whens = [f"WHEN {col} IS NULL THEN {number(missing)}"]
        whens += [f"WHEN {as_text} = {text(str(code))} THEN {number(values[b])}" for code, b in fb.specials]
        other = fb.categories.get(OTHER)
        groups: dict[int, list[str]] = {}
        for cat, b in sorted(fb.categories.items()):
            if cat != OTHER and b != other:
                groups.setdefault(b, []).append(text(cat))
        whens += [
            f"WHEN {as_text} IN ({', '.join(cats)}) THEN {number(values[b])}"
            for b, cats in sorted(groups.items())
        ]
        otherwise = no_bin if other is None else values[other]
    return f"CAST(CASE {' '.join(whens)} ELSE {number(otherwise)} END AS DOUBLE PRECISION)"


def _rank(k: int, n: int) -> str:
    """How many features come before feature ``k`` in the reasons' order: more points lost,
    or as many and listed earlier (``Scorecard.reasons``' stable sort)."""
    terms = [
        f"CASE WHEN {name(f'__lost_{j}')} {'>=' if j < k else '>'} {name(f'__lost_{k}')} THEN 1 ELSE 0 END"
        for j in range(n)
        if j != k
    ]
    return " + ".join(terms) or "0"


def _outputs(features: Sequence[str], id_column: str | None, reasons: int) -> list[str]:
    out = ["score", "pd", *[f"points_{f}" for f in features], *[f"reason_{r + 1}" for r in range(reasons)]]
    if id_column is not None:
        if id_column in out or id_column.startswith("__"):
            raise ValueError(f"id_column {id_column!r} clashes with an output column of the query")
        out.insert(0, id_column)
    long = [c for c in out if len(c.encode()) > PG_NAME_BYTES]
    if long:
        raise ValueError(f"output columns longer than PostgreSQL's {PG_NAME_BYTES} bytes: {long}")
    return out


def select(
    features: Sequence[str],
    bins: Mapping[str, FeatureBins],
    points: Mapping[str, np.ndarray],
    *,
    reference: Mapping[str, float],
    offset: float,
    factor: float,
    table: str,
    id_column: str | None = None,
    reasons: int = 0,
) -> str:
    """The SELECT (see the module's docstring). ``points[f]``: the points of each bin of
    feature ``f`` and, last, of a value with no bin; ``reference[f]``: the points the reason
    codes measure a row's points on ``f`` against (``Scorecard.reference_points``)."""
    if reasons < 0:
        raise ValueError(f"reasons must be 0 or more, got {reasons}")
    _outputs(features, id_column, reasons)
    ident = [name(id_column)] if id_column is not None else []
    pts = [name(f"points_{f}") for f in features]
    lost = [name(f"__lost_{k}") for k in range(len(features))]
    ranks = [name(f"__rank_{k}") for k in range(len(features))]
    keep = lost if reasons else []
    first = [f"{bin_case(bins[f], f, points[f])} AS {p}" for f, p in zip(features, pts, strict=True)]
    if reasons:
        for f, lk in zip(features, lost, strict=True):
            table_ = np.asarray(points[f], dtype=float)
            first.append(f"{bin_case(bins[f], f, reference[f] - table_)} AS {lk}")
    total = " + ".join(pts)
    second = [*ident, *pts, f"{total} AS {name('score')}", *keep]
    if reasons:
        second += [f"{_rank(k, len(features))} AS {ranks[k]}" for k in range(len(features))]
    log_odds = f"({number(offset)} - {name('score')}) / {number(factor)}"
    clamped = f"CASE WHEN {log_odds} > {number(CLAMP)} THEN {number(CLAMP)} "
    clamped += f"WHEN {log_odds} < {number(-CLAMP)} THEN {number(-CLAMP)} ELSE {log_odds} END"
    pd_sql = f"{number(1)} / ({number(1)} + EXP(-({clamped})))"
    third = [*ident, name("score"), f"{pd_sql} AS {name('pd')}", *pts]
    for r in range(reasons):
        whens = [
            f"WHEN {ranks[k]} = {r} AND {lost[k]} > {number(COST)} THEN {text(f)}"
            for k, f in enumerate(features)
        ]
        third.append(f"CASE {' '.join(whens)} ELSE CAST(NULL AS TEXT) END AS {name(f'reason_{r + 1}')}")
    inner = "    SELECT " + ",\n           ".join([*ident, *first]) + f"\n    FROM {table_name(table)}"
    middle = "  SELECT " + ",\n         ".join(second) + f"\n  FROM (\n{inner}\n  ) AS binned"
    outer = "SELECT " + ",\n       ".join(third) + f"\nFROM (\n{middle}\n) AS scored"
    return outer + "\n"
