"""``smecredit verify`` end to end: outputs, exit codes, reruns."""

from __future__ import annotations

import json
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
