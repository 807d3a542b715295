"""The bank's own books: applications, loan performance, the portfolio and its risk managers.

They live apart from the lake, at ``Settings.bank_uri``, one Parquet file a table
(``<bank>/<table>.parquet``), written by the bank's core systems (in the demo, by the
simulator). Every stage that needs them reads them here.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow.parquet as pq

from pipelines.lake import filesystem

TABLES = ("applications", "loan_performance", "portfolio", "risk_managers")
"""The tables the pipeline reads from the books."""


class BooksError(Exception):
    """A table of the bank's books is missing; the message says which and where."""


def read_bank(bank_uri: str, table: str) -> pd.DataFrame:
    """One of the bank's own tables (applications, loan_performance, portfolio, ...).

    Raises:
        BooksError: the table is missing.
    """
    fs, root = filesystem(bank_uri)
    path = f"{root}/{table}.parquet"
    if not fs.exists(path):
        raise BooksError(f"the bank's {table} table is missing at {bank_uri}/{table}.parquet")
    return pq.read_table(io.BytesIO(fs.cat_file(path))).to_pandas()
