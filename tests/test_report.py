"""The HTML report: built from the lake, opened in headless Chromium, key numbers shown."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.report import write_report
from tests.conftest import lake_settings


def render(page: Path, tmp_path: Path) -> str:
    """The DOM of ``page`` after load, as headless Chromium sees it."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (make test installs it with apt)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run([chromium, *flags], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_report_renders_in_chromium_with_the_key_numbers(
    scored_lake: Path, credit_world: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(scored_lake, lake)
    settings = lake_settings(lake, credit_world / "world")
    figures = write_report(settings, tmp_path / "report.html")
    dom = render(tmp_path / "report.html", tmp_path)
    assert 'data-rendered="ok"' in dom, re.findall(r'data-errors="[^"]*"', dom)
    # the score distribution and the reasons; a chart of one bar (quarantine) is a sentence now
    assert int(re.search(r'data-images="(\d+)"', dom).group(1)) >= 2  # type: ignore[union-attr]
    for key in ("bundles", "verified", "quarantined", "scored"):
        shown = re.search(rf'data-key="{key}">([^<]+)<', dom)
        assert shown and shown.group(1) == str(figures[key]), key
    assert "Grades and observed default rates" in dom and "Models (out-of-time validation)" in dom


def test_terminal_tables_and_csv_export(
    scored_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(scored_lake))
    from pipelines.scoring import read_scores

    firm = read_scores(str(scored_lake)).firm_id.iloc[0]
    assert main(["scores", "--firm", firm]) == 0
    out = capsys.readouterr().out
    assert firm in out and "grade" in out
    assert main(["alerts", "--open"]) == 0
    assert "(none)" in capsys.readouterr().out
    assert main(["alerts", "--ack", "nope", "--by", "Tester"]) == 1  # no such alert
    assert main(["export", "--out", str(tmp_path / "csv")]) == 0
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == [
        "alerts.csv",
        "in_loan_reviews.csv",
        "pre_loan_scores.csv",
    ]
    header = (tmp_path / "csv" / "pre_loan_scores.csv").read_text().splitlines()[0]
    assert header.startswith("application_id,firm_id,applied_on,as_of,pd,score,grade,reason_1")
