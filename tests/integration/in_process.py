"""The reference run of the cluster test: the same DAG runs, in the same order and with the same
params, in one process through ``dag.test()`` with a SQLite metadata database; then every DAG
of ``dags/`` once more from the command line, ``airflow dags test <dag_id> -c CONF``, as a
data engineer tries a DAG first.

``python -m tests.integration.in_process SPEC_JSON`` reads ``{"chain": [[dag_id, conf], ...],
"cli": [[dag_id, conf], ...], "out": FOLDER}``. The chain runs against the ``SMECREDIT_*``
locations of its environment, with a local SMTP server for the monitor's digests; the process
exits 1 at the first chain run that does not succeed, and writes ``FOLDER/chain.done`` when
every one has: its lake is then the one to compare with the cluster's. The command-line runs
then work on a copy of that lake (``FOLDER/cli-lake``, so the compared lake stays as the chain
left it), one ``airflow dags test`` process each, on the same metadata database; each one's
exit code and duration go to ``FOLDER/cli.json`` and its output to ``FOLDER/cli-<dag_id>.log``.
It runs in a process of its own because Airflow reads its configuration once, when first
imported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

Runs = list[tuple[str, dict[str, Any]]]


def main(chain: Runs, cli: Runs, out: Path) -> int:
    home = Path(tempfile.mkdtemp(prefix="smecredit-reference-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[2] / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        }
    )
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import resetdb

    from pipelines.demo import sinks

    resetdb()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    with sinks(home) as (smtp_port, _):
        smtp = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": smtp_port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "alerts@smecredit.local"},
        }
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(smtp)
        for dag_id, conf in chain:
            started, cpu = time.monotonic(), time.process_time()
            run = bag.get_dag(dag_id).test(run_conf=conf)
            print(
                f"{dag_id} {conf}: {run.state} in {time.monotonic() - started:.0f} s "
                f"({time.process_time() - cpu:.0f} s of CPU)",
                flush=True,
            )
            if run.state != "success":
                return 1
        (out / "chain.done").touch()
        command_line(cli, out)
    return 0


def command_line(runs: Runs, out: Path) -> None:
    """``airflow dags test`` for each of ``runs`` on a copy of the chain's lake."""
    lake = Path(os.environ["SMECREDIT_LAKE_URI"])
    copy = out / "cli-lake"
    shutil.copytree(lake, copy)
    env = {**os.environ, "SMECREDIT_LAKE_URI": str(copy), "SMECREDIT_MODELS_URI": str(copy / "models")}
    airflow = str(Path(sys.executable).parent / "airflow")
    results = []
    for dag_id, conf in runs:
        started = time.monotonic()
        with (out / f"cli-{dag_id}.log").open("wb") as log:
            code = subprocess.run(
                [airflow, "dags", "test", dag_id, "-c", json.dumps(conf)],
                env=env, stdout=log, stderr=subprocess.STDOUT, check=False,
            ).returncode  # fmt: skip
        seconds = round(time.monotonic() - started, 1)
        print(
            f"airflow dags test {dag_id} -c '{json.dumps(conf)}': exit {code} in {seconds:.0f} s", flush=True
        )
        results.append({"dag_id": dag_id, "conf": conf, "exit": code, "seconds": seconds})
        (out / "cli.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    pairs = {k: [(d, c) for d, c in spec[k]] for k in ("chain", "cli")}
    raise SystemExit(main(pairs["chain"], pairs["cli"], Path(spec["out"])))
