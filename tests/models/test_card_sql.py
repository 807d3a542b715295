"""The scorecard's SQL export, run unchanged on SQLite (standard library), DuckDB and a real
PostgreSQL server, against ``points()``, ``predict_proba()`` and ``reasons()`` on rows with
missing values (NULL and NaN), special codes (seen and never seen in training), categories
never seen, infinities, a quote in a category and a space in a feature's name."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import duckdb
import numpy as np
import pandas as pd
import pytest

from models.scorecard import Scorecard
from tests.models.postgres import Postgres, bin_dir, postgres
from tests.models.test_scorecard import credit_data

TYPES = {"id": "INTEGER", "income": "DOUBLE PRECISION", "utilisation": "DOUBLE PRECISION"}
TYPES |= {"sector name": "TEXT", "employees": "INTEGER", "noise": "DOUBLE PRECISION"}


def applicants(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = credit_data(n, seed)
    rng = np.random.default_rng(seed + 100)
    X = X.rename(columns={"sector": "sector name"})
    X["sector name"] = X["sector name"].replace({"food": "farmers' co-op"})
    X["employees"] = pd.array(rng.integers(1, 200, n), dtype="Int64")
    X.loc[rng.random(n) < 0.04, "income"] = -9999.0
    X.loc[rng.random(n) < 0.05, "sector name"] = "not reported"
    X.loc[rng.random(n) < 0.03, "sector name"] = None
    X.loc[rng.random(n) < 0.05, "employees"] = -1
    return X, y


@pytest.fixture(scope="module")
def card() -> Scorecard:
    X, y = applicants(4000, 0)
    card = Scorecard(
        special_codes={"income": [-9999, -8888], "sector name": ["not reported"], "employees": [-1]},
        user_splits={"utilisation": [0.25, 0.5, 0.75]},
        iv_threshold=0.0,
    ).fit(X, y)
    assert {"income", "utilisation", "sector name"} <= set(card.features_)
    return card


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Rows to score: fresh applicants plus the edge cases, each with an id."""
    X, _ = applicants(600, 5)
    edge = X.iloc[:8].copy()
    edge["income"] = [np.nan, -9999.0, -8888.0, np.inf, -np.inf, 0.0, 1e12, 20000.0]
    edge["sector name"] = [
        "never seen",
        None,
        "not reported",
        "steel",
        "farmers' co-op",
        "",
        "rare",
        "retail",
    ]
    edge["employees"] = pd.array([None, -1, 0, 5, 199, 1000, 1, 2], dtype="Int64")
    edge["utilisation"] = [0.25, 0.5, 0.75, np.nan, -1.0, 2.0, 0.2499999, 0.75000001]
    out = pd.concat([X, edge], ignore_index=True)
    return out.assign(id=np.arange(len(out)))[["id", *X.columns]]


def expected(card: Scorecard, rows: pd.DataFrame) -> pd.DataFrame:
    X = rows.drop(columns="id")
    matrix = card._points_matrix(X)
    out = pd.DataFrame({"score": card.points(X), "pd": card.predict_proba(X)[:, 1]}, index=rows["id"])
    for k, f in enumerate(card.features_):
        out[f"points_{f}"] = matrix[:, k]
    reasons = card.reasons(X, n=4).set_axis(rows["id"])
    return out.join(reasons)


def compare(card: Scorecard, rows: pd.DataFrame, got: pd.DataFrame) -> None:
    want = expected(card, rows)
    got = got.set_index("id").sort_index()
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    for col in want.columns:
        if col.startswith("reason_"):
            a = want[col].astype(object).where(want[col].notna(), None).tolist()
            b = got[col].astype(object).where(got[col].notna(), None).tolist()
            assert a == b, col
        else:
            np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=0, atol=1e-9)


def sqlite_run(rows: pd.DataFrame, sql: str) -> pd.DataFrame:
    with sqlite3.connect(":memory:") as con:
        rows.to_sql("applications", con, index=False)
        return pd.read_sql(sql, con)


def duckdb_run(rows: pd.DataFrame, sql: str, then: str = "") -> pd.DataFrame:
    """``sql`` on ``rows`` (pandas' NaN arrive as NULL), after the statement ``then``."""
    con = duckdb.connect()
    try:
        con.register("frame", rows)
        con.execute("CREATE TABLE applications AS SELECT * FROM frame")
        if then:
            con.execute(then)
        return con.execute(sql).df()
    finally:
        con.close()


NAN_ROW = pd.DataFrame({"id": [100000], "income": [np.nan], "sector name": ["x"]})
INSERT_NAN = "INSERT INTO applications (id, income, \"sector name\") VALUES (100000, 'NaN', 'x')"


@pytest.fixture(scope="module")
def server() -> Iterator[Postgres]:
    if bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (make postgresql installs it)")
    with postgres() as pg:
        yield pg


def test_sql_export_equals_the_card_on_sqlite(card: Scorecard, rows: pd.DataFrame) -> None:
    sql = card.to_sql("applications", id_column="id", reasons=4)
    compare(card, rows, sqlite_run(rows, sql))


def test_sql_export_equals_the_card_on_duckdb_with_nan(card: Scorecard, rows: pd.DataFrame) -> None:
    sql = card.to_sql("applications", id_column="id", reasons=4)
    got = duckdb_run(rows, sql, then=INSERT_NAN.replace("'NaN'", "'NaN'::DOUBLE"))
    compare(card, pd.concat([rows, NAN_ROW], ignore_index=True), got)


def test_sql_export_equals_the_card_on_postgresql(
    card: Scorecard, rows: pd.DataFrame, server: Postgres
) -> None:
    server.load("applications", rows, TYPES)
    server.psql(INSERT_NAN)
    sql = card.to_sql("applications", id_column="id", reasons=4)
    compare(card, pd.concat([rows, NAN_ROW], ignore_index=True), server.query(sql))
    schema = server.query("SELECT * FROM (" + sql + ") AS q LIMIT 0")
    assert list(schema.columns)[:3] == ["id", "score", "pd"]


@pytest.mark.parametrize("run", [sqlite_run, duckdb_run])
def test_without_id_or_reasons_and_on_a_card_with_a_forced_peak(
    run: Callable[[pd.DataFrame, str], pd.DataFrame],
) -> None:
    X, y = credit_data(3000, 4)
    card = Scorecard(monotonic_trend={"utilisation": "peak"}, allow_turn=True).fit(X, y)
    frame = X.iloc[:300]
    got = run(frame, card.to_sql("applications"))
    assert list(got.columns) == ["score", "pd", *[f"points_{f}" for f in card.features_]]
    # no id: the rows come back in no promised order, so compare the sorted scores
    np.testing.assert_allclose(
        np.sort(got["score"].to_numpy()), np.sort(card.points(frame)), rtol=0, atol=1e-9
    )


def test_sql_export_refuses_what_it_cannot_write(card: Scorecard) -> None:
    with pytest.raises(ValueError, match="clashes with an output column"):
        card.to_sql("applications", id_column="score")
    with pytest.raises(ValueError, match=r"table must be a table name or schema\.table"):
        card.to_sql("")
    with pytest.raises(ValueError, match="reasons must be 0 or more"):
        card.to_sql("applications", reasons=-1)
    assert 'FROM "bank"."applications"' in card.to_sql("bank.applications")
