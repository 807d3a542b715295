"""``make demo``: what the system does so far, end to end, on generated data.

It writes a signed `sme-ledger-export/1` bundle with the consortium writer (4 nodes,
threshold 3, Ed25519 and ECDSA keys mixed), verifies it, verifies a tampered copy, runs
the verifier again to show that nothing is verified twice, and checks that every DAG
imports under Airflow.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from pipelines.config import DEFAULT_DATA, PROJECT_ROOT


def _airflow_env(home: Path) -> None:
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")


def check_dags(home: Path) -> dict[str, list[str]]:
    """Import every DAG file under Airflow; return DAG ids and import errors."""
    _airflow_env(home)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    return {"dags": sorted(bag.dag_ids), "errors": [f"{k}: {v}" for k, v in bag.import_errors.items()]}


def run_demo(out: Path | None = None) -> int:
    """Run the demo into ``out`` (default ``demo-output/``); return the exit code."""
    from attestations.policy import TrustPolicy
    from pipelines.cli import build_parser
    from pipelines.sample import tamper_record_body, write_sample_world
    from pipelines.verify_cli import human_line, verify_bundles

    out = out or DEFAULT_DATA
    build_parser().print_help()
    print()
    started = time.perf_counter()
    world = out / "sample"
    shutil.rmtree(world, ignore_errors=True)
    bundles, trust = write_sample_world(world, firms=40, months=6, seed=7)
    tampered = tamper_record_body(bundles[0], world / "tampered" / bundles[0].name)
    policy = TrustPolicy.load(trust)
    print(f"wrote {len(bundles)} signed bundles and 1 tampered copy under {world}")
    for label, batch in (("first run", [*bundles, tampered]), ("rerun", bundles)):
        print(f"verify, {label}:")
        for result in verify_bundles(batch, policy, world / "state"):
            print("  " + human_line(result))
    dags = check_dags(out / "airflow-home")
    print(f"DAGs importing cleanly: {', '.join(dags['dags'])}")
    for error in dags["errors"]:
        print(f"DAG import error: {error}")
    print(f"done in {time.perf_counter() - started:.1f}s; verifier state in {world / 'state'}")
    return 1 if dags["errors"] else 0
