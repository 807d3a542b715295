"""``make demo``: the main job end to end on the embedded defaults.

Simulates a small SME economy under ``demo-output/world/`` (its landing zone, trust policy,
the bank's books and the ground truth), drops a tampered copy of one bundle into the landing
zone, runs the ``ingest_attested_records`` DAG in-process through Airflow (``dag.test()``,
SQLite metadata under ``demo-output/airflow-home/``) into ``demo-output/lake/``, and prints
what was verified, quarantined and landed. Rerunning it starts from a fresh lake.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from pipelines.config import DEFAULT_DATA, ENV_LAKE, ENV_LANDING, ENV_TRUST, PROJECT_ROOT


def _airflow_env(home: Path) -> None:
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"


def run_demo(out: Path | None = None, firms: int = 300, months: int = 6) -> int:
    """Run the demo into ``out`` (default ``demo-output/``); return the exit code."""
    from pipelines.cli import build_parser
    from pipelines.simulate import WorldConfig, simulate
    from pipelines.simulate.tamper import tamper_bundle

    out = (out or DEFAULT_DATA).resolve()
    build_parser().print_help()
    started = time.perf_counter()
    world, lake, home = out / "world", out / "lake", out / "airflow-home"
    print(f"\n1/3 simulating {firms} firms over {months} months into {world} ...", flush=True)
    summary = simulate(WorldConfig(firms=firms, months=months, seed=7), world)
    print(f"    {sum(summary.records.values()):,} records in {summary.bundles} signed bundles, "
          f"{summary.applications} loan applications, {summary.defaults} defaults")  # fmt: skip
    victim = max(world.glob("landing/supply_chain/*"), key=lambda p: p.stat().st_size)
    tamper_bundle(victim, victim.with_name(f"{victim.name}-forged-copy"), "edit-record", world)
    print(f"    plus a forged copy of {victim.name} (one record edited, manifest re-signed)")
    shutil.rmtree(lake, ignore_errors=True)
    os.environ.update(
        {ENV_LANDING: str(world / "landing"), ENV_LAKE: str(lake), ENV_TRUST: str(world / "trust.json")}
    )
    _airflow_env(home)
    print(f"2/3 preparing Airflow's metadata database in {home} ...", flush=True)
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import resetdb

    resetdb()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"DAG import error in {path}: {error}")
        return 1
    print("3/3 running the ingest_attested_records DAG (collect, verify, validate, land) ...", flush=True)
    from pipelines.airflow_edge import without_deadline

    run = without_deadline(bag.get_dag("ingest_attested_records")).test()
    print(_summary(lake))
    print(f"DAG run {run.state} in {time.perf_counter() - started:.0f}s. Lake: {lake}; world: {world}")
    return 0 if run.state == "success" else 1


def _summary(lake: Path) -> str:
    import pyarrow.dataset as ds

    if not (lake / "ingest_log").exists():
        return "nothing was ingested"
    log = ds.dataset(str(lake / "ingest_log"), format="parquet", partitioning="hive").to_table().to_pandas()
    reasons: dict[str, int] = {}
    for text in log.quarantined_by_reason:
        for reason, n in json.loads(text).items():
            reasons[reason] = reasons.get(reason, 0) + n
    lines = [
        f"ingested {len(log)} bundles: {log.lines.sum():,} lines = {log.verified.sum():,} verified and "
        f"landed + {log.duplicates.sum():,} duplicates + {log.quarantined.sum():,} quarantined",
        "quarantined by reason: " + (", ".join(f"{k}={v}" for k, v in sorted(reasons.items())) or "none"),
    ]
    for source, group in log.groupby("source"):
        lines.append(f"  {source}: {len(group)} bundles, {group.verified.sum():,} records landed")
    return "\n".join(lines)
