"""Acknowledgements are a history (who, when, note); ``smecredit alerts`` needs ``--by``,
shows the last acknowledgement, one alert in full, and says how many it left out."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.monitor import read_acknowledgements, read_alerts, update_alerts, write_alerts


def cond(loan: str, severity: str = "warning") -> dict[str, Any]:
    return {
        "loan_id": loan,
        "firm_id": f"F-{loan}",
        "manager_id": "RM1",
        "rule": "si_arrears",
        "severity": severity,
        "description": f"Social-insurance contributions in arrears 3 months running ({loan})",
        "figures": {"months": 3},
        "evidence": [{"record_id": "si-1", "leaf_hash": "ab" * 32}],
    }


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    found = [cond("L1"), cond("L2", "critical"), cond("L3")]
    alerts, _ = update_alerts(pd.DataFrame(), found, date(2025, 3, 2))
    write_alerts(str(tmp_path), alerts)
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path))
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["alerts", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def alert_of(lake: Path, loan: str) -> str:
    frame = read_alerts(str(lake))
    return str(frame.loc[frame.loan_id == loan, "alert_id"].iloc[0])


def test_two_people_acknowledge_and_both_are_kept(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    aid = alert_of(lake, "L1")
    code, out, _ = run(capsys, "--ack", aid, "--by", "alice", "--note", "called the owner; paying Friday")
    assert code == 0 and out.strip().endswith("acknowledged by alice (acknowledgement 1 of this alert)")
    code, out, _ = run(capsys, "--ack", aid, "--by", "bob")
    assert code == 0 and "acknowledged by bob (acknowledgement 2 of this alert)" in out
    history = read_acknowledgements(str(lake))
    assert list(history.acknowledged_by) == ["alice", "bob"]
    assert history.note.iloc[0] == "called the owner; paying Friday" and pd.isna(history.note.iloc[1])
    assert history.acknowledged_at.is_monotonic_increasing and (history.alert_id == aid).all()
    row = read_alerts(str(lake)).set_index("alert_id").loc[aid]
    assert row.status == "acknowledged" and row.acknowledged_by == "bob"  # the table shows the last one
    assert row.acknowledged_at == history.acknowledged_at.iloc[1]
    code, out, _ = run(capsys, "--show", aid)
    assert code == 0 and "acknowledged by alice at " in out and "UTC: called the owner; paying Friday" in out
    assert "acknowledged by bob at " in out
    assert "evidence: 1 attested record, newest first (record id, leaf hash)" in out
    assert f"    si-1  {'ab' * 32}" in out
    code, out, _ = run(capsys, "--open")
    (line,) = [x for x in out.splitlines() if x.startswith(aid)]
    assert " bob 20" in line  # the last acknowledgement: who and when


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ack", "{aid}"], "--ack needs --by NAME: who acknowledges the alert"),
        (["--ack", "{aid}", "--by", "  "], "--ack needs --by NAME: who acknowledges the alert"),
        (["--by", "alice"], "--by and --note go with --ack ALERT_ID"),
        (["--ack", "nope", "--by", "alice"], "no alert nope"),
        (["--show", "nope"], "no alert nope"),
    ],
)
def test_acknowledging_without_a_name_is_a_one_line_error(
    lake: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    aid = alert_of(lake, "L1")
    code, out, err = run(capsys, *[a.format(aid=aid) for a in argv])
    assert code != 0 and out == "" and err == f"smecredit: error: {message}\n"
    assert read_acknowledgements(str(lake)).empty and (read_alerts(str(lake)).status == "open").all()


def test_a_listing_says_how_many_it_left_out(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--open", "--limit", "2")
    lines = out.splitlines()
    assert code == 0 and lines[-1] == "showing 2 of 3 alerts (--limit N)"
    assert lines[1].split()[1] == "critical"  # most severe first
    code, out, _ = run(capsys)
    assert "showing" not in out and "(L3)" in out


def test_a_lake_that_does_not_exist_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path / "missing"))
    code, out, err = run(capsys, "--open")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("smecredit: error: the lake ") and "does not exist" in err
    assert not (tmp_path / "missing").exists()


def test_an_acknowledgement_made_while_a_run_works_is_not_lost(lake: Path) -> None:
    from datetime import UTC, datetime

    from pipelines.monitor import acknowledge
    from pipelines.monitor.alerts import acknowledged_since

    started = datetime.now(UTC)
    stale = read_alerts(str(lake))  # what the run read before the acknowledgements
    l1, l2 = alert_of(lake, "L1"), alert_of(lake, "L2")
    acknowledge(str(lake), l1, "alice", "on it")
    acknowledge(str(lake), l2, "bob")
    history = read_acknowledgements(str(lake))
    rows = [r for r in stale.to_dict("records") if r["alert_id"] == l2]
    written = acknowledged_since(stale, history, started, [(rows[0], "escalated")]).set_index("alert_id")
    assert written.loc[l1, "status"] == "acknowledged" and written.loc[l1, "acknowledged_by"] == "alice"
    assert written.loc[l1, "acknowledgement_note"] == "on it"
    assert written.loc[l2, "status"] == "open"  # escalated by the run: needs a new acknowledgement
    later = acknowledged_since(stale, history, datetime.now(UTC), [])
    assert (later.status == "open").all()  # acknowledgements from before the run are in what it read


def test_an_acknowledgement_waits_while_a_run_holds_the_alerts(lake: Path) -> None:
    import threading

    from pipelines.monitor import acknowledge
    from pipelines.monitor.alerts import alerts_locked

    l1 = alert_of(lake, "L1")
    done = threading.Event()

    def ack() -> None:
        acknowledge(str(lake), l1, "alice")
        done.set()

    with alerts_locked(str(lake)):  # as monitor_day holds it while it reads or writes the alerts
        worker = threading.Thread(target=ack)
        worker.start()
        assert not done.wait(1.0)
        assert read_acknowledgements(str(lake)).empty
    worker.join(60)
    assert done.is_set() and list(read_acknowledgements(str(lake)).acknowledged_by) == ["alice"]
    assert read_alerts(str(lake)).set_index("alert_id").loc[l1, "status"] == "acknowledged"


def test_a_run_that_finds_the_alerts_written_by_another_run_writes_nothing(lake: Path) -> None:
    from datetime import UTC, datetime

    from pipelines.monitor.alerts import commit_alerts, monitored_through
    from pipelines.monitor.errors import MonitorError

    started = datetime.now(UTC)
    read = read_alerts(str(lake))  # what two runs of the next day read
    seen = monitored_through(read)
    assert seen == date(2025, 3, 2)
    mine, events = update_alerts(read, [cond("L1", "critical"), cond("L2", "critical")], date(2025, 3, 3))
    theirs, _ = update_alerts(read, [cond("L1")], date(2025, 3, 3))
    commit_alerts(str(lake), theirs, [], started, seen)  # the other run writes first
    assert monitored_through(read_alerts(str(lake))) == date(2025, 3, 3)
    before = (lake / "alerts" / "alerts.parquet").read_bytes()
    with pytest.raises(MonitorError, match="another monitoring run wrote the alerts"):
        commit_alerts(str(lake), mine, events, started, seen)
    assert (lake / "alerts" / "alerts.parquet").read_bytes() == before  # nothing written
    rerun, events = update_alerts(read_alerts(str(lake)), [cond("L1")], date(2025, 3, 3))
    written = commit_alerts(str(lake), rerun, events, started, date(2025, 3, 3))  # the day again
    assert len(written) == len(read_alerts(str(lake)))
