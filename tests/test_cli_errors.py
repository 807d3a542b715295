"""The command line as a data engineer meets it: every bad argument, bad setting and missing
folder is one line on stderr and a non-zero exit, never a traceback nor an empty answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main

MISSING_LAKE = [
    ["scores"],
    ["scores", "--firm", "91330000MA0000000X"],
    ["alerts", "--open"],
    ["alerts", "--ack", "some-alert", "--by", "bob"],
    ["export", "--out", "{tmp}/csv"],
    ["report"],
    ["ecl", "--as-of", "2025-01-31"],
    ["model-health"],
    ["features", "--as-of", "2025-01-31"],
    ["train"],
    ["score", "--day", "2025-01-02"],
    ["review", "--day", "2025-01-02"],
    ["monitor", "--day", "2025-01-02"],
]

BAD_ARGUMENTS = [
    (["features", "--as-of", "2025-03-31", "--shards", "0"], "--shards: not a positive whole number"),
    (["features", "--as-of", "2025-03-31", "--shards", "four"], "--shards: not a positive whole number"),
    (["features", "--as-of", "2025-03-31", "--through", "2025-01-31"], "--through 2025-01-31 is before"),
    (["ecl", "--as-of", "2025-03-31", "--through", "2025-01-31"], "--through 2025-01-31 is before"),
    (["score", "--day", "2025-03-01", "--through", "2025-02-01"], "--through 2025-02-01 is before --day"),
    (["review", "--day", "2025-03-01", "--through", "2025-02-01"], "--through 2025-02-01 is before --day"),
    (["monitor", "--day", "2025-03-01", "--every-days", "0"], "--every-days: not a positive whole number"),
    (["train", "--oot-share", "0.9"], "--oot-share: not a share between 0.1 and 0.5"),
    (["train", "--min-bads-train", "0"], "--min-bads-train: not a positive whole number"),
    (["scores", "--limit", "-3"], "--limit: not a positive whole number"),
    (["ingest", "--limit", "many"], "--limit: not a positive whole number"),
    (["ingest", "--max-quality-failure-rate", "5"], "not a rate between 0 and 1"),
    (["score", "--day", "2025-02-30"], "not a date (YYYY-MM-DD)"),
    (["demo", "--firms", "0"], "--firms: not a positive whole number"),
]


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every SMECREDIT_* location pointing at a folder that does not exist."""
    for name, folder in (("LAKE", "lake"), ("LANDING", "landing"), ("BANK", "bank")):
        monkeypatch.setenv(f"SMECREDIT_{name}_URI", str(tmp_path / folder))
    monkeypatch.delenv("SMECREDIT_MODELS_URI", raising=False)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("smecredit"), err
    return lines[0]


@pytest.mark.parametrize("argv", MISSING_LAKE, ids=lambda a: " ".join(a))
def test_a_missing_lake_is_one_line_and_exit_1(nowhere: Path, capsys, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(capsys, [a.format(tmp=nowhere) for a in argv])
    assert code == 1 and out == ""
    assert _one_line(err) == (
        f"smecredit: error: the lake {nowhere / 'lake'} does not exist (set SMECREDIT_LAKE_URI)"
    )
    assert not (nowhere / "lake").exists() and not (nowhere / "csv").exists()


def test_missing_bank_books_and_landing_zone(nowhere: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (nowhere / "lake").mkdir()
    code, _, err = _run(capsys, ["train"])
    assert code == 1 and "the bank's books" in _one_line(err) and "SMECREDIT_BANK_URI" in err
    code, out, err = _run(capsys, ["ingest"])
    assert code == 1 and "ingested" not in out
    assert _one_line(err) == (
        f"smecredit: error: the landing zone {nowhere / 'landing'} does not exist (set SMECREDIT_LANDING_URI)"
    )


def test_healthcheck_creates_a_lake_root_only_when_asked(nowhere: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(capsys, ["healthcheck"])
    assert code == 1 and "give --create to make it" in _one_line(err)
    assert not (nowhere / "lake").exists()
    code, out, _ = _run(capsys, ["healthcheck", "--create"])
    assert code == 0 and '"status": "writable"' in out and (nowhere / "lake").is_dir()
    assert _run(capsys, ["healthcheck"])[0] == 0


@pytest.mark.parametrize(("argv", "message"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_a_bad_argument_is_one_line_and_exit_2(  # type: ignore[no-untyped-def]
    nowhere: Path, capsys, argv: list[str], message: str
) -> None:
    code, out, err = _run(capsys, argv)
    assert code == 2 and out == ""
    assert message in _one_line(err)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMECREDIT_FEATURE_SHARDS", "four"),
        ("SMECREDIT_INGEST_BATCH", "2.5"),
        ("SMECREDIT_FEATURE_SHARDS", "-1"),
    ],
)
def test_a_bad_setting_stops_every_command_that_reads_settings(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch, capsys, name: str, value: str
) -> None:  # type: ignore[no-untyped-def]
    (nowhere / "lake").mkdir()
    monkeypatch.setenv(name, value)
    for argv in (["features", "--as-of", "2025-01-31"], ["scores"], ["healthcheck"]):
        code, _, err = _run(capsys, argv)
        assert code == 1
        assert _one_line(err) == f"smecredit: error: {name}={value!r} is not a positive whole number"


def test_the_console_script_prints_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, as a person runs it: a bad setting is one line, exit 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMECREDIT")}
    env |= {"SMECREDIT_LAKE_URI": str(tmp_path), "SMECREDIT_FEATURE_SHARDS": "four"}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "features", "--as-of", "2025-01-31"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "smecredit: error: SMECREDIT_FEATURE_SHARDS='four' is not a positive whole number\n"
