"""``smecredit verify`` end to end: outputs, exit codes, reruns."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.simulate import WorldConfig, simulate
from pipelines.simulate.tamper import tamper_bundle


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path, Path]:
    """Two bundles of 10 lines (contributions of 10 firms) and a truncated copy of the first."""
    folder = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(firms=10, months=1, seed=3), folder)
    bundles = [folder / "landing" / s / "2024-01-20" for s in ("social_insurance", "housing_fund")]
    assert [len((b / "records.jsonl").read_bytes().splitlines()) for b in bundles] == [10, 10]
    tampered = tamper_bundle(bundles[0], folder / "tampered", "truncate", folder)
    return bundles, folder / "trust.json", tampered


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
    assert all(q["raw"].startswith('{"height"') for q in quarantine[:-1])
    with sqlite3.connect(tmp_path / "ledger-state.sqlite") as db:
        assert db.execute("SELECT count(*) FROM verified_record").fetchone() == (20,)


@pytest.mark.parametrize(
    ("policy_text", "message"),
    [
        ("{not json", "trust policy is not strict JSON"),
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


@pytest.mark.integration
@pytest.mark.timeout(1500)  # eleven DAGs end to end; 5 min alone, more beside other work
def test_demo_runs_the_main_job_end_to_end(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    # Its own process: the demo points Airflow at its own metadata database.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SMECREDIT"))}
    code = (
        "import sys; from pathlib import Path; from pipelines.demo import run_demo; "
        "raise SystemExit(run_demo(Path(sys.argv[1]), 400, 20, "
        "{'apply_per_firm_year': 0.8, 'miss_intercept': -3.5}, (5, 3), 3))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1400,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "demo finished" in done.stdout
    assert "proof_invalid=1" in done.stdout
    assert "[error" not in done.stdout + done.stderr, "Airflow logs belong in airflow.log, not the console"
    assert "DagRun Finished" in (tmp_path / "airflow.log").read_text()
    for produced in (
        "report.html",
        "lake/features",
        "lake/models/manifest.json",
        "lake/alerts/alerts.parquet",
    ):
        assert (tmp_path / produced).exists(), produced
    # every month end assessed, from the one on or before the first day (an empty book) to the last
    assert len(list((tmp_path / "lake" / "ecl").glob("as_of_month=*"))) == 21
    assert list((tmp_path / "mail").glob("*.eml")), "no alert digest reached the demo's SMTP sink"
    assert list((tmp_path / "webhook").glob("*.json")), "no alert digest reached the demo's webhook sink"
    assert (tmp_path / "lake" / "ingest_log").is_dir() and (
        tmp_path / "airflow-home" / "airflow.db"
    ).is_file()


def _copy(bundle: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for file in bundle.iterdir():
        (dest / file.name).write_bytes(file.read_bytes())
    return dest


def _quarantine_rows(state: Path) -> list[dict]:  # type: ignore[type-arg]
    return [
        json.loads(line)
        for p in sorted((state / "quarantine").glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]


@pytest.mark.parametrize("case", ["outside_link", "dev_zero", "fifo", "folder_link", "inside_link"])
def test_verify_refuses_what_the_collector_refuses_and_goes_on(
    world, tmp_path: Path, capsys, case: str
) -> None:  # type: ignore[no-untyped-def]
    """The operator path applies the landing checks: a link (to a file or a folder, inside
    or outside), a device or a FIFO is refused before any byte is read, with one line, a
    ``bundle_unreadable`` quarantine entry and exit 1; the other bundles are verified."""
    bundles, trust, _ = world
    bad = _copy(bundles[0], tmp_path / "in" / "bad")
    secret = tmp_path / "secret.jsonl"
    secret.write_bytes((bundles[0] / "records.jsonl").read_bytes())
    if case == "outside_link":
        (bad / "records.jsonl").unlink()
        (bad / "records.jsonl").symlink_to(secret)
    elif case == "dev_zero":
        (bad / "headers.jsonl").unlink()
        (bad / "headers.jsonl").symlink_to("/dev/zero")
    elif case == "fifo":
        (bad / "headers.jsonl").unlink()
        os.mkfifo(bad / "headers.jsonl")
    elif case == "inside_link":
        (bad / "records.jsonl").rename(bad / "elsewhere.jsonl")
        (bad / "records.jsonl").symlink_to(bad / "elsewhere.jsonl")
    else:
        bad = tmp_path / "in" / "linked"
        bad.symlink_to(tmp_path / "in" / "bad", target_is_directory=True)
    state = tmp_path / "state"
    args = [str(bad), str(bundles[1]), "--trust", str(trust), "--state", str(state)]
    code, _, err = _run(capsys, *args, "--json")
    out = capsys.readouterr().out
    assert code == 1 and len(err.strip().splitlines()) == 1 and "bundle_unreadable" in err
    code = main(["verify", *args, "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and out == ""  # the first run's lines were read by _run
    assert "bundle_unreadable" in rows[0] and rows[0]["lines"] == 0
    assert (rows[1]["lines"], rows[1]["verified"] + rows[1]["duplicates"]) == (10, 10)
    refusals = [q for q in _quarantine_rows(state) if q["reason"] == "bundle_unreadable"]
    assert len(refusals) == 1 and refusals[0]["line_no"] == 0 and refusals[0]["raw"] == ""
    with sqlite3.connect(state / "ledger-state.sqlite") as db:
        names = {
            n
            for (n,) in db.execute(
                "SELECT DISTINCT b.bundle_name FROM verified_record v JOIN bundle b USING (bundle_no)"
            )
        }
    assert names == {str(bundles[1].resolve())}, "nothing of the refused bundle is remembered"


def test_verify_checks_the_size_limit_before_reading_and_lands_the_bundle_once_fixed(
    world, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    bundles, trust, _ = world
    size = sum(f.stat().st_size for f in bundles[0].iterdir())
    args = [str(bundles[0]), "--trust", str(trust), "--state", str(tmp_path)]
    monkeypatch.setenv("SMECREDIT_MAX_BUNDLE_BYTES", str(size - 1))
    code, _, err = _run(capsys, *args)
    assert code == 1 and "SMECREDIT_MAX_BUNDLE_BYTES" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("SMECREDIT_MAX_BUNDLE_BYTES", str(size))
    code, rows, err = _run(capsys, *args, "--json")
    assert code == 0 and err == "" and rows[0]["verified"] == 10
    assert {q["reason"] for q in _quarantine_rows(tmp_path)} == set(), "the refusal is replaced"


def test_verify_human_line_names_the_refusal(world, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bundles, trust, _ = world
    bad = _copy(bundles[0], tmp_path / "bad")
    (bad / "manifest.json").unlink()
    (bad / "manifest.json").symlink_to(bundles[0] / "manifest.json")
    code = main(["verify", str(bad), "--trust", str(trust), "--state", str(tmp_path / "s")])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.strip().endswith("manifest.json is a symbolic link: refused, never followed")
    assert "refused (bundle_unreadable)" in out and err.startswith("smecredit: error: refused")
