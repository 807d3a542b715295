"""The assessment end to end on a simulated world: every month's tables, the bridge adding up
month after month, the collateral evidence traced to verified records, model health and its
messages, the CLI, and the DAG through dag.test()."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from pipelines.cli import main
from pipelines.features import month_ends
from pipelines.monitor.outbox import Outbox
from pipelines.portfolio import Policy, assess_months, read_months
from pipelines.portfolio.report import portfolio_section
from tests.airflow_helpers import load_dag, run_dag
from tests.conftest import lake_settings
from tests.monitor.test_monitor import Servers

MONTHS = month_ends(date(2025, 3, 31), date(2025, 8, 31))
pytestmark = pytest.mark.timeout(1800)  # the session fixtures simulate, ingest and train a world


@pytest.fixture(scope="module")
def assessed(credit_world: Path, scored_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("assessed") / "lake"
    shutil.copytree(scored_lake, lake)
    assess_months(lake_settings(lake, credit_world / "world"), Policy.load(), MONTHS)
    return lake


def test_every_month_has_its_tables_and_the_bridge_adds_up(assessed: Path) -> None:
    ecl = read_months(str(assessed), "ecl")
    moves = read_months(str(assessed), "ecl_movements")
    assert sorted(set(pd.to_datetime(ecl.as_of).dt.date)) == MONTHS
    for as_of, rows in moves.groupby("as_of"):
        steps = rows.sort_values("step").set_index("cause")["amount_fen"]
        assert steps["opening"] + steps.drop(["opening", "closing"]).sum() == steps["closing"]
        book = ecl[ecl.as_of == as_of]
        assert steps["closing"] == book["ecl_fen"].sum()
    totals = moves[moves.cause.isin(["opening", "closing"])].pivot(
        index="as_of", columns="cause", values="amount_fen"
    )
    assert (totals["opening"].iloc[1:].to_numpy() == totals["closing"].iloc[:-1].to_numpy()).all()
    assert set(ecl.stage) <= {1, 2, 3} and ecl.loan_id.notna().all() and (ecl.ecl_fen >= 0).all()
    assert ((ecl.stage == 3) == (ecl.pd_12m == 1.0)).all()
    assert (
        (ecl[ecl.status == "default"].stage == 3).all() and (ecl.stage == 3).any() and (ecl.stage == 2).any()
    )
    one, more = ecl[ecl.stage == 1], ecl[ecl.stage > 1]
    assert (one.ecl_fen == one.ecl_12m_fen).all() and (more.ecl_fen == more.ecl_lifetime_fen).all()
    assert (ecl.ecl_12m_fen <= ecl.ecl_lifetime_fen).all()


def test_collateral_value_is_traced_to_verified_records(assessed: Path) -> None:
    ecl = read_months(str(assessed), "ecl")
    secured = ecl[ecl.collateral_value_fen > 0]
    assert len(secured)
    where = assessed / "verified" / "supply_chain" / "warehouse_receipt"
    columns = ["record_id", "leaf_hash", "receipt_no", "status", "pledgee"]
    verified = (
        ds.dataset(str(where), format="parquet", partitioning="hive").to_table(columns=columns).to_pandas()
    )
    by_id = verified.set_index("record_id")
    for row in secured.head(50).itertuples():
        assert (
            len(row.collateral_record_ids)
            == len(row.collateral_leaf_hashes)
            == len(row.collateral_receipts)
            > 0
        )
        for rid, leaf, no in zip(
            row.collateral_record_ids, row.collateral_leaf_hashes, row.collateral_receipts, strict=True
        ):
            rec = by_id.loc[rid]
            assert (rec.leaf_hash, rec.receipt_no, rec.status, rec.pledgee) == (
                leaf,
                no,
                "pledged",
                "SMECREDIT-BANK",
            )


def test_model_health_rows_and_breach_messages(assessed: Path) -> None:
    health = read_months(str(assessed), "model_monitoring")
    assert {"psi", "csi", "missing", "overrides"} <= set(health.metric)
    psi = health[health.metric == "psi"]
    assert (((psi.value > 0.25) & (psi.n >= 100)) == psi.breach).all()
    months = psi.detail.map(lambda d: json.loads(d)["months"])
    assert ((psi.n >= 100) | (months == 6)).all()  # pooled until 100 rows, or six months
    pre_loan = psi[psi.family == "pre_loan"]
    assert (months[pre_loan.index] > 1).any()
    box = Outbox(str(assessed)).read()
    breached = health[health.breach].groupby(["as_of", "model_id"]).size()
    assert len(box[box.manager_id == "MODEL-OWNER"]) == len(breached)


class _Cells(HTMLParser):
    """The cells of an HTML page's tables, row by row (``th`` and ``td`` alike)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _first_table(html: str) -> pd.DataFrame:
    parser = _Cells()
    parser.feed(html)
    header, *rows = parser.tables[0]
    return pd.DataFrame(rows, columns=header)


def test_the_report_section_reads_as_a_risk_manager_reads(assessed: Path, credit_world: Path) -> None:
    html, figures = portfolio_section(lake_settings(assessed, credit_world / "world"))
    ecl = read_months(str(assessed), "ecl")
    latest = ecl[pd.to_datetime(ecl.as_of).dt.date == MONTHS[-1]]
    assert figures["ecl_yuan"] == round(int(latest["ecl_fen"].sum()) / 100)
    by_stage = _first_table(html)
    assert list(by_stage.columns) == ["Stage", "Loans", "Exposure (CNY)", "Provision (CNY)", "Coverage"]
    assert by_stage["Loans"].astype(int).sum() == len(latest)
    provision = by_stage["Provision (CNY)"].str.replace(",", "").astype(int).sum()
    assert abs(provision - int(latest["ecl_fen"].sum()) / 100) <= len(by_stage)  # each row rounded
    assert all(c.endswith("%") for c in by_stage["Coverage"])
    assert "_fen" not in html and "{'" not in html  # no raw column names, no Python dict


def test_cli_ecl_and_model_health(
    assessed: Path, credit_world: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(assessed))
    monkeypatch.setenv("SMECREDIT_BANK_URI", str(credit_world / "world" / "bank"))
    assert main(["ecl", "--as-of", "2025-08-31", "--read-only"]) == 0
    out = capsys.readouterr().out
    assert "ECL at 2025-08-31" in out and "by stage" in out and "movements (yuan)" in out
    assert main(["model-health"]) == 0
    assert "model health at 2025-08-31" in capsys.readouterr().out
    assert main(["ecl", "--as-of", "2025-08-31", "--through", "2025-01-31"]) == 2
    assert "before --as-of" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_date:
        main(["ecl", "--as-of", "31/08/2025"])
    assert bad_date.value.code == 2 and "not a date" in capsys.readouterr().err
    monkeypatch.setenv("SMECREDIT_PORTFOLIO_POLICY", str(assessed / "nope.json"))
    assert main(["ecl", "--as-of", "2025-08-31"]) == 1
    assert "unreadable" in capsys.readouterr().err


@pytest.fixture
def servers() -> Iterator[Servers]:
    with Servers() as s:
        yield s


@pytest.mark.integration
def test_assess_portfolio_dag(
    airflow_db: Path,
    credit_world: Path,
    scored_lake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    servers: Servers,
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(scored_lake, lake)
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": servers.smtp_port,
        "extra": {
            "disable_ssl": True,
            "disable_tls": True,
            "from_email": "risk@bank.example",
            "retry_limit": 1,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(lake))
    monkeypatch.setenv("SMECREDIT_BANK_URI", str(credit_world / "world" / "bank"))
    monkeypatch.setenv("SMECREDIT_MODELS_URI", str(lake / "models"))
    dag = load_dag("assess_portfolio")
    for t in dag.tasks:
        t.retries = 0
    run_dag(dag, run_conf={"as_of": "2025-05-31", "through": "2025-07-31"})
    months = sorted(p.name for p in (lake / "ecl").iterdir())
    assert months == ["as_of_month=2025-05", "as_of_month=2025-06", "as_of_month=2025-07"]
    assert len(list((lake / "ecl_movements").iterdir())) == 3
    box = Outbox(str(lake)).read()
    assert (box.status == "sent").all() and len(servers.mails) == len(box)
