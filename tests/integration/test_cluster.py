"""The pipeline as a bank deploys it: PostgreSQL, Redis, Airflow's api-server, scheduler,
dag-processor, triggerer and two Celery workers, all real processes on loopback ports, driven
only through the REST API. The lake it writes must equal, row for row apart from timestamps,
the lake of the same runs made in one process with ``dag.test()`` on the same world. On the
same cluster: a task that fails its first try and succeeds on retry, a failure callback and a
missed deadline, each observed where a bank's engineer would see it. Beside it, every DAG of
``dags/`` runs once through ``airflow dags test`` from the command line.

Each phase prints its duration (``pytest -s``)."""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cluster import Background, Cluster, ClusterSpec
from pipelines.local_services import LOOPBACK, alive, free_port, port_in_use
from pipelines.simulate import WorldConfig, simulate
from tests.conftest import ROOT

# The stack's start is bounded by its own timeout (900 s); each test by 30 minutes of its own.
pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.timeout(1800, func_only=True)]

# A small world that still trains: loans are applied for and missed more often than in the
# default world, so that 250 firms over 17 months give 236 applications, 59 of them with a
# fully observed 12-month outcome, 6 defaults among the older 70% and 1 among the newest 30%
# (the out-of-time sample): enough for the test's min_bads (3 and 1). The behaviour model
# has too few defaults and is skipped, on both sides alike.
FIRMS, MONTHS, START = 250, 17, date(2024, 1, 1)
WORLD = {"apply_per_firm_year": 1.6, "miss_intercept": -2.6}
LAST = date(2025, 5, 31)  # the last day of the world's 17 months
MIN_BADS = {"min_bads_train": 3, "min_bads_oot": 1}
REVIEW_FROM = LAST - timedelta(days=30)
CHAIN_DAGS = (
    "ingest_attested_records", "build_features", "train_models", "score_pre_loan", "review_in_loan",
    "monitor_post_loan",
)  # fmt: skip
# The runs the test triggers through the API after ingest, with their params (conf).
RUNS: list[tuple[str, dict[str, Any]]] = [
    ("build_features", {"as_of": str(START), "through": str(LAST)}),
    ("train_models", MIN_BADS),
    ("score_pre_loan", {"day": str(START), "through": str(LAST)}),
    ("review_in_loan", {"day": str(REVIEW_FROM), "through": str(LAST)}),
    ("monitor_post_loan", {"day": str(REVIEW_FROM), "through": str(LAST), "every_days": 7}),
]
# Every DAG of dags/ from the command line, on a copy of the reference lake: narrow params, so
# that each run is cheap (the chain above did the bulk of the work).
WEEK = {"day": str(LAST - timedelta(days=6)), "through": str(LAST)}
CLI_RUNS: list[tuple[str, dict[str, Any]]] = [
    ("healthcheck", {}),
    ("ingest_attested_records", {}),  # nothing new to land: a run with the deadline alert, exit 0
    ("build_features", {"as_of": str(LAST), "through": str(LAST)}),
    ("train_models", MIN_BADS),
    ("score_pre_loan", WEEK),
    ("review_in_loan", WEEK),
    ("monitor_post_loan", {"day": str(LAST), "through": str(LAST)}),
    ("assess_portfolio", {"as_of": str(LAST), "through": str(LAST)}),
    ("dispose_defaults", {"day": str(LAST)}),
]
SETTINGS = {
    "SMECREDIT_FEATURE_SHARDS": "1",  # still one mapped task per month end
    "SMECREDIT_INGEST_BATCH": "250",  # 669 bundles: three mapped ingest tasks, one at a time
    "SMECREDIT_DELIVERY_BACKOFF_SECONDS": "5",
}
ALERTS_TO = "data-engineering@bank.example"


@dataclass
class Stack:
    """What the module's tests share: the folder, the running cluster and the reference run."""

    root: Path
    cluster: Cluster
    reference: subprocess.Popen[bytes]
    started: float

    def say(self, text: str) -> None:
        print(f"[+{time.monotonic() - self.started:.0f}s] {text}", flush=True)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The world, simulated while the cluster starts on free ports (DAGs paused until the
    tests drive them; the dag-processor parses each file once, ``parse_every``, so the time
    schedules the tests switch off stay off: see ``_unpause``); the reference run starts in
    the background as soon as the world and the cluster's keys are there. Everything is
    stopped afterwards, and no process or port may be left."""
    # Not under pytest's tmp_path: PostgreSQL runs as the postgres user, who cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="smecredit-cluster-test-"))
    root.chmod(0o755)
    spec = ClusterSpec(
        root=root / "cluster", api_port=free_port(), paused=True, parse_every=3600, make_world=False,
        alert_emails=ALERTS_TO, extra_env=SETTINGS,
    )  # fmt: skip
    made, started = Cluster(spec), time.monotonic()
    keys = made.keys()  # the same model-signing and evidence keys on both sides
    procs: list[subprocess.Popen[bytes]] = []  # the reference run, started once the world is there

    def world_then_reference() -> None:
        _world(root, made.root / "world")
        procs.append(_start_reference(root, keys))
        print(f"[+{time.monotonic() - started:.0f}s] world simulated, reference run started", flush=True)

    world = Background(world_then_reference)
    try:
        made.start(
            say=lambda text: print(f"[cluster +{time.monotonic() - started:.0f}s] {text}", flush=True),
            timeout=900,
        )
        world.join()
        yield Stack(root, made, procs[0], started)
    finally:
        world.join_quietly()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        pids = dict(made.state["pids"])
        ports = [spec.api_port, made.postgres.port, made.redis.port, int(made.state["smtp_port"])]
        made.stop()
        print(f"[+{time.monotonic() - started:.0f}s] cluster stopped", flush=True)
        assert not [name for name, pid in pids.items() if alive(int(pid))], "processes left running"
        assert not [p for p in ports if port_in_use(p)], "ports left in use"
        shutil.rmtree(root, ignore_errors=True)


def _world(root: Path, cluster_world: Path) -> None:
    world = root / "world"
    simulate(WorldConfig(firms=FIRMS, months=MONTHS, seed=11, start=START, **WORLD), world)  # type: ignore[arg-type]
    shutil.copytree(world, cluster_world)
    shutil.copytree(world, root / "reference" / "world")


def _start_reference(root: Path, keys: dict[str, str]) -> subprocess.Popen[bytes]:
    """The same runs in one process (``dag.test()``) on a copy of the same world, with the
    cluster's keys, run beside the cluster (whose ingest batches run one at a time and leave
    a core idle); then ``airflow dags test`` for every DAG. Its lake is ``reference/lake``,
    its log ``reference/run.log``."""
    ref = root / "reference"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SMECREDIT"))}
    env.update(SETTINGS)
    env.update(keys)
    env.update(
        {
            "SMECREDIT_LANDING_URI": str(ref / "world" / "landing"),
            "SMECREDIT_TRUST_POLICY": str(ref / "world" / "trust.json"),
            "SMECREDIT_BANK_URI": str(ref / "world" / "bank"),
            "SMECREDIT_LAKE_URI": str(ref / "lake"),
            "SMECREDIT_MODELS_URI": str(ref / "lake" / "models"),
        }
    )
    # As in the cluster: ingest, the build_features run its Assets start (no params), the
    # API's runs, and the review_in_loan run that the pre-loan scores' Asset starts.
    chain = [("ingest_attested_records", {}), ("build_features", {}), *RUNS[:3], ("review_in_loan", {})]
    chain += RUNS[3:]
    spec = {"chain": chain, "cli": CLI_RUNS, "out": str(ref)}
    with (ref / "run.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.in_process", json.dumps(spec)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _unpause(cluster: Cluster, dag_ids: tuple[str, ...]) -> None:
    """Unpause DAGs with their time schedules switched off, so that every run is one a test
    starts through the API or an Asset event starts. A DAG with ``catchup=False`` gets a run
    for its latest cron time as soon as it is unpaused; the scheduler creates those from
    ``dag.next_dagrun_create_after``, which only a parse of the DAG file or a scheduled run
    sets again (the dag-processor of this cluster parses each file once)."""
    with _db(cluster) as conn, conn.cursor() as cur:
        cur.execute("UPDATE dag SET next_dagrun_create_after = NULL WHERE dag_id = ANY(%s)", (list(dag_ids),))
    for dag_id in dag_ids:
        assert cluster.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})["is_paused"] is False


def _db(cluster: Cluster) -> Any:
    import psycopg2

    return psycopg2.connect(
        host=LOOPBACK, port=cluster.postgres.port, user="airflow", password="airflow", dbname="airflow"
    )


def _trigger(cluster: Cluster, dag_id: str, conf: dict[str, Any], logical_date: str | None = None) -> str:
    body = {"logical_date": logical_date, "conf": conf}
    return str(cluster.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"])


def _until(what: str, check: Any, timeout: float, every: float = 1.0) -> Any:
    """Call ``check()`` every ``every`` s until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"{what} after {timeout:.0f} s")


def _wait(cluster: Cluster, dag_id: str, run_id: str, timeout: float = 900) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run: dict[str, Any] = cluster.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return run if run["state"] in ("success", "failed") else None

    return dict(_until(f"{dag_id} run {run_id} not finished", finished, timeout))


def _asset_triggered(cluster: Cluster, dag_id: str, timeout: float = 300) -> dict[str, Any]:
    def started() -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns?run_type=asset_triggered"
        return list(cluster.api("GET", path)["dag_runs"])

    runs = _until(f"no Asset-triggered run of {dag_id}", started, timeout)
    return _wait(cluster, dag_id, runs[0]["dag_run_id"])


def _all(cluster: Cluster, path: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = cluster.api("GET", f"{path}{'&' if '?' in path else '?'}limit=100&offset={len(items)}")
        items += page[key]
        if not page[key] or len(items) >= page["total_entries"]:
            return items


def _finish_reference(proc: subprocess.Popen[bytes], log: Path, timeout: float = 1200) -> None:
    proc.wait(timeout=timeout)
    tail = log.read_text(errors="replace")[-4000:]
    assert proc.returncode == 0, f"the in-process reference run failed:\n{tail}"


def _subjects(maildir: Path) -> list[str]:
    """The subjects of the messages the cluster's SMTP server received."""
    out = []
    for path in sorted((maildir / "new").iterdir()):
        message = email.message_from_bytes(path.read_bytes())
        out.append(str(make_header(decode_header(message["Subject"] or ""))))
    return out


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


def test_the_cluster_runs_the_chain_through_the_rest_api_like_dag_test(stack: Stack) -> None:
    cluster = stack.cluster
    token = cluster.token()
    assert token.count(".") == 2, "POST /auth/token did not return a JWT"
    _unpause(cluster, CHAIN_DAGS)

    ingest = _wait(cluster, "ingest_attested_records", _trigger(cluster, "ingest_attested_records", {}))
    assert ingest["state"] == "success", ingest
    stack.say("ingest_attested_records done")
    built = _asset_triggered(cluster, "build_features")
    assert built["state"] == "success", built
    stack.say("build_features (Asset-triggered) done")
    for dag_id, conf in RUNS:
        if dag_id == "review_in_loan":  # the pre-loan scores' Asset starts a review of its own first
            assert _asset_triggered(cluster, "review_in_loan")["state"] == "success"
            stack.say("review_in_loan (Asset-triggered) done")
        run = _wait(cluster, dag_id, _trigger(cluster, dag_id, conf))
        assert run["state"] == "success", run
        assert run["conf"] == conf
        stack.say(f"{dag_id} {conf} done")

    runs = _all(cluster, "/api/v2/dags/~/dagRuns", "dag_runs")
    assert {r["dag_id"] for r in runs} == set(CHAIN_DAGS)
    assert len(runs) == 2 + len(RUNS) + 1, [(r["dag_id"], r["run_type"]) for r in runs]
    assert all(r["state"] == "success" for r in runs), [(r["dag_id"], r["state"]) for r in runs]
    tis = _all(cluster, "/api/v2/dags/~/dagRuns/~/taskInstances", "task_instances")
    ran = [ti for ti in tis if ti["state"] == "success"]
    assert {ti["hostname"] for ti in ran} == {"worker-1", "worker-2"}, {ti["hostname"] for ti in tis}
    assert {ti["task_id"] for ti in tis if ti["map_index"] >= 0} >= {"collect", "ingest", "shard", "merge"}
    # a digest's subject: "<day>: 7 loans to look at, 7 alerts (2 critical), for <manager>"
    digests = [s for s in _subjects(cluster.root / "mail") if " to look at, " in s]
    assert digests, f"no alert digest reached the cluster's SMTP server: {_subjects(cluster.root / 'mail')}"

    ref = stack.root / "reference"
    _until(
        "the in-process reference chain has not finished",
        lambda: (ref / "chain.done").is_file() or stack.reference.poll() is not None,
        timeout=1200,
    )
    assert (ref / "chain.done").is_file(), (ref / "run.log").read_text(errors="replace")[-4000:]
    stack.say("the in-process reference chain is done")
    expected = _tables(ref / "lake", ref)
    got = _tables(cluster.root / "lake", cluster.root)
    assert sorted(got) == sorted(expected)
    assert not _differences(got, expected), _differences(got, expected)
    stack.say(f"{len(got)} lake tables equal")


def test_retries_failure_callbacks_and_the_deadline_alert_under_the_scheduler(stack: Stack) -> None:
    """Three runs at once, each a fault a bank meets:

    - the lake refuses writes when ``healthcheck`` first probes it (its ``_healthcheck``
      folder is blocked by a file), then recovers: the task fails its first try and succeeds
      on its retry, one ``retry_delay`` later;
    - ``train_models`` is asked for more defaults than the world has: it fails at once (no
      retry: more tries would not add defaults) and its ``on_failure_callback`` mails the
      alert recipients;
    - a daily ingest run for a day whose deadline (``DEADLINE_HOURS`` after its logical date)
      has already passed: the scheduler records the missed deadline and a worker runs its
      callback, which mails the alert recipients (the run itself succeeds: nothing new lands).
    """
    cluster, mail = stack.cluster, stack.cluster.root / "mail"
    _unpause(cluster, ("healthcheck",))
    blocker = cluster.root / "lake" / "_healthcheck"
    shutil.rmtree(blocker, ignore_errors=True)
    blocker.write_text("storage outage\n")
    health = _trigger(cluster, "healthcheck", {})
    train = _trigger(cluster, "train_models", {**MIN_BADS, "min_bads_train": 100_000})
    late = (datetime.now(UTC) - timedelta(hours=31)).isoformat()
    ingest = _trigger(cluster, "ingest_attested_records", {}, logical_date=late)

    probe = f"/api/v2/dags/healthcheck/dagRuns/{health}/taskInstances/lake_writable"
    _until(
        "healthcheck's first try has not failed",
        lambda: cluster.api("GET", probe)["state"] == "up_for_retry",
        600,
    )
    blocker.unlink()  # the storage is back before the retry
    stack.say("healthcheck's first try failed; the lake is writable again")

    assert _wait(cluster, "train_models", train)["state"] == "failed"
    tries = cluster.api("GET", f"/api/v2/dags/train_models/dagRuns/{train}/taskInstances/train/tries")
    assert [t["state"] for t in tries["task_instances"]] == ["failed"], tries
    assert _wait(cluster, "ingest_attested_records", ingest)["state"] == "success"
    assert _wait(cluster, "healthcheck", health)["state"] == "success"
    tries = cluster.api("GET", f"{probe}/tries")
    assert [(t["try_number"], t["state"]) for t in tries["task_instances"]] == [(1, "failed"), (2, "success")]
    stack.say("healthcheck succeeded on its retry; train_models failed without retrying")

    with _db(cluster) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT d.missed, d.deadline_time < r.end_date FROM deadline d"
            " JOIN dag_run r ON r.id = d.dagrun_id"
            " WHERE r.dag_id = 'ingest_attested_records' AND r.run_id = %s",
            (ingest,),
        )
        rows = cur.fetchall()
    assert rows == [(True, True)], f"the ingest run's deadline row: {rows}"

    def alerted() -> list[str]:
        subjects = _subjects(mail)
        wanted = (
            "[smecredit] train_models.train failed",
            "[smecredit] ingest_attested_records missed its deadline",
        )
        return subjects if all(w in subjects for w in wanted) else []

    subjects = _until(f"no failure or deadline alert mailed: {_subjects(mail)}", alerted, 300)
    assert "[smecredit] healthcheck.lake_writable failed" not in subjects, "a retried try is not a failure"
    for path in sorted((mail / "new").iterdir()):
        message = email.message_from_bytes(path.read_bytes())
        if "train_models.train failed" in str(message["Subject"]):
            assert message["To"] == ALERTS_TO
            body = message.get_payload(decode=True)
            assert isinstance(body, bytes) and b"too few defaults to train" in body, body
    stack.say("the failure callback and the deadline callback mailed their alerts")


def test_airflow_dags_test_exits_0_for_every_dag(stack: Stack) -> None:
    """``airflow dags test <dag_id>`` from the command line, for every DAG of ``dags/``, on a
    copy of the reference lake (run beside the cluster by the reference process)."""
    ref = stack.root / "reference"
    _finish_reference(stack.reference, ref / "run.log", timeout=1500)
    results = json.loads((ref / "cli.json").read_text())
    stack.say(
        "airflow dags test: "
        + ", ".join(f"{r['dag_id']} exit {r['exit']} ({r['seconds']:.0f} s)" for r in results)
    )
    assert {r["dag_id"] for r in results} == {p.stem for p in (ROOT / "dags").glob("*.py")}
    failed = {
        r["dag_id"]: (ref / f"cli-{r['dag_id']}.log").read_text(errors="replace")[-3000:]
        for r in results
        if r["exit"]
    }
    assert not failed, failed
