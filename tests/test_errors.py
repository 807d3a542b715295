"""One exception base: every error ``pipelines`` raises on purpose is a ``SmecreditError`` with a
one-line message, and the CLI prints each as one line with a non-zero exit."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import pipelines
from pipelines.cli import main
from pipelines.errors import IngestError, SmecreditError


def test_every_pipelines_exception_derives_from_the_base() -> None:
    found = {}
    for info in pkgutil.walk_packages(pipelines.__path__, "pipelines."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{info.name}.{name}"] = obj
    assert {"FeatureError", "IngestError", "MonitorError", "ReviewError", "ScoringError"} <= {
        name.rsplit(".", 1)[1] for name in found
    }
    outside = [name for name, cls in found.items() if not issubclass(cls, SmecreditError)]
    assert outside == []


def test_old_import_paths_still_work() -> None:
    from pipelines.features import FeatureError
    from pipelines.ingest import IngestError as FromIngest
    from pipelines.monitor import MonitorError
    from pipelines.review import ReviewError
    from pipelines.scoring import ScoringError

    assert FromIngest is IngestError
    assert all(issubclass(c, SmecreditError) for c in (FeatureError, MonitorError, ReviewError, ScoringError))


def test_a_message_is_one_line() -> None:
    assert str(IngestError("bundle b1:\n  counts do not add up\n")) == "bundle b1: counts do not add up"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_a_failed_step_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, err = _run(capsys, "healthcheck", "--lake", str(blocker / "lake"))
    assert code == 1 and err.startswith("smecredit: error: ") and len(err.strip().splitlines()) == 1


def test_a_bad_setting_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMECREDIT_INGEST_BATCH", "many")
    code, err = _run(capsys, "healthcheck")
    assert code == 1
    assert err == "smecredit: error: SMECREDIT_INGEST_BATCH='many' is not a positive whole number\n"


def test_an_unusable_policy_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "landing").mkdir()  # a landing zone that exists: the policy is what fails
    monkeypatch.setenv("SMECREDIT_LANDING_URI", str(tmp_path / "landing"))
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("SMECREDIT_TRUST_POLICY", str(tmp_path / "absent.json"))
    code, err = _run(capsys, "ingest")
    assert code == 2 and "smecredit: error: cannot read trust policy" in err
