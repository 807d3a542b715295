"""The pipeline as a bank deploys it: PostgreSQL, Redis, Airflow's api-server, scheduler,
dag-processor, triggerer and two Celery workers, all real processes on loopback ports, driven
only through the REST API. The lake it writes must equal, row for row apart from timestamps,
the lake of the same runs made in one process with ``dag.test()`` on the same world."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cluster import Cluster, ClusterSpec
from pipelines.local_services import LOOPBACK, alive, free_port, port_in_use
from pipelines.simulate import WorldConfig, simulate
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.timeout(1800)]

FIRMS, MONTHS, START = 400, 20, date(2024, 1, 1)
WORLD = {"apply_per_firm_year": 0.8, "miss_intercept": -3.5}
LAST = date(2025, 8, 31)  # the last day of the world's 20 months
REVIEW_FROM = LAST - timedelta(days=90)
CHAIN_DAGS = (
    "ingest_attested_records", "build_features", "train_models", "score_pre_loan", "review_in_loan",
    "monitor_post_loan",
)  # fmt: skip
# The runs the test triggers through the API after ingest, with their params (conf).
RUNS: list[tuple[str, dict[str, Any]]] = [
    ("build_features", {"as_of": str(START), "through": str(LAST)}),
    ("train_models", {"min_bads_train": 5, "min_bads_oot": 3}),
    ("score_pre_loan", {"day": str(START), "through": str(LAST)}),
    ("review_in_loan", {"day": str(REVIEW_FROM), "through": str(LAST)}),
    ("monitor_post_loan", {"day": str(REVIEW_FROM), "through": str(LAST), "every_days": 7}),
]
SETTINGS = {"SMECREDIT_FEATURE_SHARDS": "2", "SMECREDIT_DELIVERY_BACKOFF_SECONDS": "5"}


@pytest.fixture(scope="module")
def world() -> Iterator[Path]:
    # Not under pytest's tmp_path: PostgreSQL runs as the postgres user, who cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="smecredit-cluster-test-"))
    root.chmod(0o755)
    simulate(WorldConfig(firms=FIRMS, months=MONTHS, seed=11, start=START, **WORLD), root / "world")  # type: ignore[arg-type]
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(world: Path) -> Iterator[Cluster]:
    """The cluster on free ports, DAGs paused until the test drives them. The dag-processor
    parses each file once (``parse_every``), so the time schedules the test switches off
    stay off (see ``_drive_only_by_api``)."""
    root = world / "cluster"
    shutil.copytree(world / "world", root / "world")
    spec = ClusterSpec(root=root, api_port=free_port(), paused=True, parse_every=3600, extra_env=SETTINGS)
    made = Cluster(spec)
    started = time.monotonic()
    try:
        made.start(say=lambda text: print(f"[cluster +{time.monotonic() - started:.0f}s] {text}"))
        yield made
    finally:
        pids = dict(made.state["pids"])
        ports = [spec.api_port, made.postgres.port, made.redis.port, int(made.state["smtp_port"])]
        made.stop()
        assert not [name for name, pid in pids.items() if alive(int(pid))], "processes left running"
        assert not [p for p in ports if port_in_use(p)], "ports left in use"


def _drive_only_by_api(cluster: Cluster) -> None:
    """Unpause the chain's DAGs with their time schedules switched off, so that every run is
    one the test starts through the API or an Asset event starts. A DAG with ``catchup=False``
    gets a run for its latest cron time as soon as it is unpaused; the scheduler creates
    those from ``dag.next_dagrun_create_after``, which only a parse of the DAG file or a
    scheduled run sets again (the dag-processor of this cluster parses each file once)."""
    import psycopg2

    with psycopg2.connect(
        host=LOOPBACK, port=cluster.postgres.port, user="airflow", password="airflow", dbname="airflow"
    ) as conn, conn.cursor() as cur:  # fmt: skip
        cur.execute(
            "UPDATE dag SET next_dagrun_create_after = NULL WHERE dag_id = ANY(%s)", (list(CHAIN_DAGS),)
        )
    conn.close()
    for dag_id in CHAIN_DAGS:
        assert cluster.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})["is_paused"] is False


def _trigger(cluster: Cluster, dag_id: str, conf: dict[str, Any]) -> str:
    run = cluster.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
    return str(run["dag_run_id"])


def _wait(cluster: Cluster, dag_id: str, run_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = cluster.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(2)
    raise AssertionError(f"{dag_id} run {run_id} not finished after {timeout:.0f} s")


def _asset_triggered(cluster: Cluster, dag_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = cluster.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?run_type=asset_triggered")["dag_runs"]
        if runs:
            return _wait(cluster, dag_id, runs[0]["dag_run_id"])
        time.sleep(2)
    raise AssertionError(f"no Asset-triggered run of {dag_id} after {timeout:.0f} s")


def _all(cluster: Cluster, path: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = cluster.api("GET", f"{path}{'&' if '?' in path else '?'}limit=100&offset={len(items)}")
        items += page[key]
        if not page[key] or len(items) >= page["total_entries"]:
            return items


@pytest.fixture
def reference(world: Path, cluster: Cluster) -> Iterator[subprocess.Popen[bytes]]:
    """The same runs in one process (``dag.test()``) on a copy of the same world, started once
    the cluster is up and run beside it (the cluster's ingest batches run one at a time and
    leave a core idle). Its lake is ``world / "reference" / "lake"``, its log beside it."""
    root = world / "reference"
    shutil.copytree(world / "world", root / "world")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SMECREDIT"))}
    env.update(SETTINGS)
    env.update(
        {
            "SMECREDIT_LANDING_URI": str(root / "world" / "landing"),
            "SMECREDIT_TRUST_POLICY": str(root / "world" / "trust.json"),
            "SMECREDIT_BANK_URI": str(root / "world" / "bank"),
            "SMECREDIT_LAKE_URI": str(root / "lake"),
            "SMECREDIT_MODELS_URI": str(root / "lake" / "models"),
        }
    )
    # As in the cluster: ingest, the build_features run its Assets start (no params), the
    # API's runs, and the review_in_loan run that the pre-loan scores' Asset starts.
    runs = [("ingest_attested_records", {}), ("build_features", {}), *RUNS[:3], ("review_in_loan", {})]
    runs += RUNS[3:]
    with (root / "run.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.in_process", json.dumps(runs)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _finish_reference(proc: subprocess.Popen[bytes], log: Path, timeout: float = 1200) -> None:
    proc.wait(timeout=timeout)
    tail = log.read_text(errors="replace")[-4000:]
    assert proc.returncode == 0, f"the in-process reference run failed:\n{tail}"


VOLATILE_SUFFIXES = ("_at", "_seconds")  # when something ran and how long it took


def _tables(lake: Path, root: Path) -> dict[str, pa.Table]:
    """Every Parquet table of the lake, partition values as columns, volatile columns dropped,
    paths under ``root`` (where the world and lake of this run live) made relative to it, rows
    in a canonical order. A table is a folder path with its partition folders removed."""
    parts: dict[str, list[pa.Table]] = {}
    for path in sorted(lake.rglob("*.parquet")):
        rel = path.relative_to(lake).parts
        name = "/".join(p for p in rel[:-1] if "=" not in p)
        table = pq.read_table(path, partitioning=None)
        for part in (p for p in rel[:-1] if "=" in p):
            key, value = part.split("=", 1)
            if key not in table.column_names:  # some tables also keep their partition column
                table = table.append_column(key, pa.array([value] * len(table), pa.string()))
        keep = [c for c in table.column_names if c == "sealed_at" or not c.endswith(VOLATILE_SUFFIXES)]
        table = table.select(keep)
        for i, field in enumerate(table.schema):
            if pa.types.is_dictionary(field.type):  # compared (and sorted) by value
                table = table.set_column(i, field.name, table[field.name].cast(field.type.value_type))
        parts.setdefault(name, []).append(_relative(table, root))
    tables = {}
    for name, pieces in parts.items():
        table = pa.concat_tables(pieces, promote_options="permissive")
        sortable = [c for c in table.column_names if not pa.types.is_nested(table.schema.field(c).type)]
        tables[name] = table.sort_by([(c, "ascending") for c in sortable])
    return tables


def _relative(table: pa.Table, root: Path) -> pa.Table:
    import pyarrow.compute as pc

    for i, name in enumerate(table.column_names):
        if pa.types.is_string(table.schema.field(name).type):
            column = pc.replace_substring(table[name], f"{root}/", "")
            table = table.set_column(i, name, column)
    return table


def _differences(got: dict[str, pa.Table], expected: dict[str, pa.Table]) -> list[str]:
    """One line per lake table that differs: its row counts, or the columns that differ."""
    out = []
    for name, want in sorted(expected.items()):
        have = got[name]
        if have.num_rows != want.num_rows or have.column_names != want.column_names:
            out.append(f"{name}: {have.num_rows} rows of {have.column_names}")
            out.append(f"{name}: expected {want.num_rows} rows of {want.column_names}")
        elif not have.equals(want):
            columns = [c for c in want.column_names if not have[c].equals(want[c])]
            out.append(f"{name}: columns {columns} differ")
    return out


def test_the_cluster_runs_the_chain_through_the_rest_api_like_dag_test(
    cluster: Cluster, world: Path, reference: subprocess.Popen[bytes]
) -> None:
    started = time.monotonic()
    token = cluster.token()
    assert token.count(".") == 2, "POST /auth/token did not return a JWT"
    _drive_only_by_api(cluster)

    ingest = _wait(cluster, "ingest_attested_records", _trigger(cluster, "ingest_attested_records", {}))
    assert ingest["state"] == "success", ingest
    built = _asset_triggered(cluster, "build_features")
    assert built["state"] == "success", built
    for dag_id, conf in RUNS:
        if dag_id == "review_in_loan":  # the pre-loan scores' Asset starts a review of its own first
            assert _asset_triggered(cluster, "review_in_loan")["state"] == "success"
        run = _wait(cluster, dag_id, _trigger(cluster, dag_id, conf))
        assert run["state"] == "success", run
        assert run["conf"] == conf
    print(f"cluster runs took {time.monotonic() - started:.0f} s")

    runs = _all(cluster, "/api/v2/dags/~/dagRuns", "dag_runs")
    assert {r["dag_id"] for r in runs} == set(CHAIN_DAGS)
    assert len(runs) == 2 + len(RUNS) + 1, [(r["dag_id"], r["run_type"]) for r in runs]
    assert all(r["state"] == "success" for r in runs), [(r["dag_id"], r["state"]) for r in runs]
    tis = _all(cluster, "/api/v2/dags/~/dagRuns/~/taskInstances", "task_instances")
    ran = [ti for ti in tis if ti["state"] == "success"]
    assert {ti["hostname"] for ti in ran} == {"worker-1", "worker-2"}, {ti["hostname"] for ti in tis}
    assert {ti["task_id"] for ti in tis if ti["map_index"] >= 0} >= {"collect", "shard", "merge"}

    waited = time.monotonic()
    _finish_reference(reference, world / "reference" / "run.log")
    print(f"waited {time.monotonic() - waited:.0f} s more for the in-process reference run")
    expected = _tables(world / "reference" / "lake", world / "reference")
    got = _tables(cluster.root / "lake", cluster.root)
    assert sorted(got) == sorted(expected)
    assert not _differences(got, expected), _differences(got, expected)
    assert list((cluster.root / "mail" / "new").iterdir()), (
        "no alert digest reached the cluster's SMTP server"
    )
