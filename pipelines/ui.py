"""``make ui``: Airflow's web UI over the demo's own Airflow home (``demo-output/airflow-home``,
written by ``make demo``), so the demo's runs, task logs and XComs are there to browse.

It runs ``airflow standalone`` (api-server, scheduler, dag-processor, triggerer) from the
project's virtual environment, with that environment's ``bin`` on ``PATH`` (standalone starts
each component as ``airflow ...``), at most 4 tasks at a time (2-core machines), and the user
``admin`` with password ``admin`` (Airflow's simple auth manager; local use only). DAGs keep the
paused state the demo left them in, so nothing runs until someone unpauses or triggers one.
Ctrl-C stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from pipelines.config import (
    DEFAULT_DATA,
    ENV_BANK,
    ENV_LAKE,
    ENV_LANDING,
    ENV_MODELS,
    ENV_TRUST,
    PROJECT_ROOT,
)
from pipelines.local_services import port_in_use

PORT = 8080


def ui_env(out: Path, base: dict[str, str]) -> dict[str, str]:
    """The environment ``airflow standalone`` runs with over the demo folder ``out``."""
    home = out / "airflow-home"
    bin_dir = str(Path(sys.executable).parent)
    return {
        **base,
        "PATH": f"{bin_dir}:{base.get('PATH', '/usr/bin:/bin')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(PORT),
        ENV_LANDING: str(out / "world" / "landing"),
        ENV_TRUST: str(out / "world" / "trust.json"),
        ENV_BANK: str(out / "world" / "bank"),
        ENV_LAKE: str(out / "lake"),
        ENV_MODELS: str(out / "lake" / "models"),
    }


def main() -> int:
    out = DEFAULT_DATA
    home = out / "airflow-home"
    if not (home / "airflow.db").is_file():
        print(f"no demo Airflow home at {home}: run `make demo` first", file=sys.stderr)
        return 1
    if port_in_use(PORT):
        print(
            f"port {PORT} is in use (a running `make cluster`? `make cluster-stop` stops it)", file=sys.stderr
        )
        return 1
    (home / "passwords.json").write_text(json.dumps({"admin": "admin"}) + "\n")
    env = ui_env(out, dict(os.environ))
    print(
        f"Airflow UI on the demo's runs: http://127.0.0.1:{PORT}  (admin / admin; Ctrl-C stops it)",
        flush=True,
    )
    airflow = str(Path(sys.executable).parent / "airflow")
    # Its own session: on Ctrl-C, `airflow standalone` 3.3.2 stops its components but does
    # not exit itself, so it and what it started are ended here, as a group.
    proc = subprocess.Popen([airflow, "standalone"], env=env, start_new_session=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        print("stopped", flush=True)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
