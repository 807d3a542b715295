"""``smecredit verify`` end to end: outputs, exit codes, reruns."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.sample import tamper_record_body, write_sample_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path, Path]:
    folder = tmp_path_factory.mktemp("world")
    bundles, trust = write_sample_world(folder, firms=5, months=2, seed=3)
    tampered = tamper_record_body(bundles[0], folder / "tampered")
    return bundles, trust, tampered


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:  # type: ignore[type-arg]
    code = main(["verify", *args])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()] if "--json" in args and code == 0 else []
    return code, rows, err


def test_verify_prints_one_json_line_per_bundle_and_reruns_as_duplicates(
    world, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    bundles, trust, tampered = world
    args = [*map(str, bundles), str(tampered), "--trust", str(trust), "--state", str(tmp_path), "--json"]
    code, rows, _ = _run(capsys, *args)
    assert code == 0
    assert [(r["lines"], r["verified"], r["duplicates"]) for r in rows] == [
        (10, 10, 0),
        (10, 10, 0),
        (10, 0, 0),
    ]
    assert rows[2]["quarantined"] == {"manifest_mismatch": 10}
    code, again, _ = _run(capsys, *args)
    assert [(r["verified"], r["duplicates"]) for r in again] == [(0, 10), (0, 10), (0, 0)]
    verified = sorted((tmp_path / "verified").glob("*.jsonl"))
    assert sum(len(p.read_text().splitlines()) for p in verified) == 20
    quarantine = [
        json.loads(line)
        for p in (tmp_path / "quarantine").glob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert len(quarantine) == 10 and {q["reason"] for q in quarantine} == {"manifest_mismatch"}
    assert all(q["raw"].startswith('{"height"') for q in quarantine)
    with sqlite3.connect(tmp_path / "ledger-state.sqlite") as db:
        assert db.execute("SELECT count(*) FROM verified_record").fetchone() == (20,)


@pytest.mark.parametrize(
    ("policy_text", "message"),
    [
        ("{not json", "trust policy is not JSON"),
        ('{"chain_id": "c", "hash_alg": "sha256", "keys": []}', "threshold None"),
    ],
)
def test_unusable_policy_is_a_one_line_error(
    world, tmp_path: Path, capsys, policy_text: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    bundles, _, _ = world
    trust = tmp_path / "trust.json"
    trust.write_text(policy_text)
    code, _, err = _run(capsys, str(bundles[0]), "--trust", str(trust), "--state", str(tmp_path / "s"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_missing_policy_and_missing_bundle_are_one_line_errors(world, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bundles, trust, _ = world
    code, _, err = _run(
        capsys, str(bundles[0]), "--trust", str(tmp_path / "absent.json"), "--state", str(tmp_path)
    )
    assert code == 2 and "cannot read trust policy" in err
    code, _, err = _run(capsys, str(tmp_path / "nope"), "--trust", str(trust), "--state", str(tmp_path))
    assert code == 2 and "not a bundle folder" in err


def test_missing_arguments_exit_2(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        main(["verify"])
    assert exc.value.code == 2


def test_help_lists_the_subcommands(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("verify", "healthcheck", "demo"):
        assert command in out


def test_demo_runs(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "manifest_mismatch=240" in out and "240 duplicates" in out and "healthcheck" in out


def test_a_crash_between_outputs_and_commit_loses_nothing(world, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from attestations.policy import TrustPolicy
    from attestations.state import SqliteStore
    from pipelines.verify_cli import verify_bundles

    bundles, trust, _ = world
    policy = TrustPolicy.load(trust)
    real_commit = SqliteStore.commit

    def crash(self, chain_id, result):  # type: ignore[no-untyped-def]
        raise OSError("disk vanished")

    monkeypatch.setattr(SqliteStore, "commit", crash)
    with pytest.raises(OSError, match="disk vanished"):
        verify_bundles(bundles[:1], policy, tmp_path)
    monkeypatch.setattr(SqliteStore, "commit", real_commit)
    results = verify_bundles(bundles, policy, tmp_path)
    assert [len(r.verified) for r in results] == [10, 10]
    rows = [
        json.loads(line)
        for p in (tmp_path / "verified").glob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert len(rows) == 20 and len({r["record_id"] for r in rows}) == 20
    again = verify_bundles(bundles, policy, tmp_path)
    assert [r.duplicates for r in again] == [10, 10]
    rows = [
        json.loads(line)
        for p in (tmp_path / "verified").glob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert len(rows) == 20
