"""The reference run of the cluster test: the same DAG runs, in the same order and with the same
params, in one process through ``dag.test()`` with a SQLite metadata database.

``python -m tests.integration.in_process RUNS_JSON`` runs the list ``[[dag_id, conf], ...]``
against the ``SMECREDIT_*`` locations of its environment, with a local SMTP server for the
monitor's digests; it exits 1 at the first run that does not succeed. It runs in a process of
its own because Airflow reads its configuration once, when first imported."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main(runs: list[tuple[str, dict[str, object]]]) -> int:
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
        for dag_id, conf in runs:
            run = bag.get_dag(dag_id).test(run_conf=conf)
            print(f"{dag_id} {conf}: {run.state}", flush=True)
            if run.state != "success":
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main([(d, c) for d, c in json.loads(sys.argv[1])]))
