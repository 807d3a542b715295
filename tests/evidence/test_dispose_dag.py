"""The dispose_defaults DAG through dag.test() on the small credit world: a pack for every
loan that turned to default, each verifying offline with the world's trust policy."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from attestations.evidence import verify_pack
from attestations.policy import TrustPolicy
from pipelines.evidence import default_dates, write_key
from tests.airflow_helpers import load_dag, run_dag


@pytest.mark.integration
def test_the_dag_writes_a_verifiable_pack_for_each_default(
    airflow_db: Path, credit_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, lake = credit_world / "world", tmp_path / "lake"
    shutil.copytree(credit_world / "lake", lake)
    for name, value in (
        ("SMECREDIT_LAKE_URI", lake),
        ("SMECREDIT_BANK_URI", world / "bank"),
        ("SMECREDIT_TRUST_POLICY", world / "trust.json"),
        ("SMECREDIT_LANDING_URI", world / "landing"),
    ):
        monkeypatch.setenv(name, str(value))
    write_key(tmp_path / "secrets" / "evidence.pem")
    monkeypatch.setenv("SMECREDIT_EVIDENCE_KEY", str(tmp_path / "secrets" / "evidence.pem"))
    performance = pd.read_parquet(world / "bank" / "loan_performance.parquet")
    day = date.fromisoformat(str(performance["month_end"].max()))
    defaulted = set(default_dates(performance, day)["loan_id"])
    assert len(defaulted) >= 5

    def dag():  # type: ignore[no-untyped-def]
        d = load_dag("dispose_defaults")
        for t in d.tasks:
            t.retries = 0
        return d

    run_dag(dag(), run_conf={"day": day.isoformat()})
    root = lake / "evidence"
    assert {p.name for p in root.iterdir() if p.is_dir()} == defaulted
    assert {p.stem for p in root.glob("*.zip")} == defaulted
    policy = TrustPolicy.load(world / "trust.json")
    for loan in sorted(defaulted):
        report = verify_pack(root / loan, policy)
        assert report.ok, [f.line() for f in report.failures()]
    csv = pd.read_csv(root / "npl_buyer.csv", dtype=str)
    assert set(csv["loan_id"]) == defaulted and csv["pack_sha256"].str.len().eq(64).all()
    created = {
        loan: json.loads((root / loan / "manifest.json").read_text())["created_at"] for loan in defaulted
    }

    run_dag(dag(), run_conf={"day": day.isoformat()})  # nothing new: no pack is rewritten
    assert {
        loan: json.loads((root / loan / "manifest.json").read_text())["created_at"] for loan in defaulted
    } == (created)

    # The key can come from the Airflow connection instead (a secrets backend in production).
    key_pem = (tmp_path / "secrets" / "evidence.pem").read_text()
    monkeypatch.delenv("SMECREDIT_EVIDENCE_KEY")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMECREDIT_EVIDENCE_KEY", json.dumps({"conn_type": "generic", "password": key_pem})
    )
    one = sorted(defaulted)[0]
    shutil.rmtree(root / one)
    run_dag(dag(), run_conf={"day": day.isoformat()})
    assert (
        verify_pack(root / one, policy).ok
        and sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == []
    )
