"""``make demo``: the whole job end to end on the embedded defaults, in minutes.

1. simulates an SME economy under ``demo-output/world/`` (landing zone, trust policy, the
   bank's books, the ground truth) and drops a forged copy of one bundle into the landing;
2. prepares Airflow's SQLite metadata database under ``demo-output/airflow-home/``;
3. runs every DAG in order, in-process (``dag.test()``): ingest_attested_records,
   build_features (every month end), train_models, score_pre_loan (every application),
   review_in_loan (the last months' applications: a review reads each application's own
   records, about 0.2 s each) and monitor_post_loan (weekly over the same months), with a
   local SMTP sink and a webhook
   sink that the demo starts and stops itself (what they receive is written under
   ``demo-output/mail/`` and ``demo-output/webhook/``);
4. writes ``demo-output/report.html`` and prints a summary.

The console shows the steps and the summary; Airflow's own logs go to
``demo-output/airflow.log``.

The demo world applies for credit and defaults more often than the default world (see
``DEMO_WORLD``) so that a few thousand firms give a model enough defaults to learn from.
Rerunning it starts from a fresh lake.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from pipelines.config import (
    DEFAULT_DATA,
    ENV_BANK,
    ENV_LAKE,
    ENV_LANDING,
    ENV_MODEL_KEY,
    ENV_MODELS,
    ENV_TRUST,
    PROJECT_ROOT,
)

DEMO_WORLD = {"apply_per_firm_year": 0.4, "miss_intercept": -4.8}
WEBHOOK_KEY = "demo-webhook-key"


def _airflow_env(home: Path) -> None:
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def logs_to(path: Path) -> Iterator[TextIO]:
    """Send everything written to this process's stdout and stderr -- Airflow's logs, whose
    handlers hold on to those streams, and warnings -- to the file ``path``; yield a stream
    to the console for the demo's own progress."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    with path.open("wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield console
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        console.close()


@contextmanager
def sinks(folder: Path) -> Iterator[tuple[int, int]]:
    """A local SMTP server and a webhook receiver writing what they get under ``folder``;
    yields their ports."""
    from aiosmtpd.controller import Controller

    mail, hooks = folder / "mail", folder / "webhook"
    mail.mkdir(parents=True, exist_ok=True)
    hooks.mkdir(parents=True, exist_ok=True)

    class Smtp:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            n = len(list(mail.iterdir()))
            (mail / f"{n:05d}.eml").write_bytes(envelope.content)
            return "250 OK"

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            n = len(list(hooks.iterdir()))
            record = {"headers": dict(self.headers), "body": json.loads(body)}
            (hooks / f"{n:05d}.json").write_text(json.dumps(record, indent=1))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    smtp_port = _free_port()
    controller = Controller(Smtp(), hostname="127.0.0.1", port=smtp_port)
    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    controller.start()
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield smtp_port, int(http.server_address[1])
    finally:
        controller.stop()
        http.shutdown()


def run_demo(
    out: Path | None = None,
    firms: int = 2000,
    months: int = 30,
    world: dict[str, Any] | None = None,
    min_bads: tuple[int, int] | None = None,
    monitor_months: int = 6,
    seed: int = 7,
) -> int:
    """Run the demo into ``out`` (default ``demo-output/``); return the exit code. Progress and
    the summary go to the console; Airflow's own logs (and anything else written to this
    process's stdout and stderr) to ``<out>/airflow.log``. ``min_bads`` (training, out of
    time) defaults to what the world's books give (``pipelines.sizing.fit_thresholds``)."""
    out = (out or DEFAULT_DATA).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with logs_to(out / "airflow.log") as console:
        code = _demo(out, firms, months, world, min_bads, monitor_months, seed, console)
        print(f"Airflow's own log: {out / 'airflow.log'}", file=console, flush=True)
        return code


def _demo(
    out: Path,
    firms: int,
    months: int,
    world: dict[str, Any] | None,
    min_bads: tuple[int, int] | None,
    monitor_months: int,
    seed: int,
    console: TextIO,
) -> int:
    from pipelines.simulate import WorldConfig, simulate
    from pipelines.simulate.tamper import tamper_bundle

    show = functools.partial(print, file=console, flush=True)
    started = time.perf_counter()
    world_dir, lake, home = out / "world", out / "lake", out / "airflow-home"
    steps = 11
    say = _progress(started, steps, console)
    say(1, f"simulating {firms:,} firms over {months} months into {world_dir}")
    cfg = WorldConfig(firms=firms, months=months, seed=seed, **(world if world is not None else DEMO_WORLD))
    summary = simulate(cfg, world_dir)
    show(f"      {sum(summary.records.values()):,} records in {summary.bundles} signed bundles, "
          f"{summary.applications} loan applications, {summary.defaults} defaults")  # fmt: skip
    min_bads = _thresholds(world_dir / "bank", min_bads, show)
    if min_bads is None:
        return 1
    victim = max(world_dir.glob("landing/supply_chain/*"), key=lambda p: p.stat().st_size)
    tamper_bundle(victim, victim.with_name(f"{victim.name}-forged-copy"), "edit-record", world_dir)
    show(f"      plus a forged copy of {victim.name} (one record edited, manifest re-signed)")
    for old in (lake, home, out / "mail", out / "webhook", out / "report.html", out / "secrets"):
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    os.environ.update(
        {
            ENV_LANDING: str(world_dir / "landing"),
            ENV_LAKE: str(lake),
            ENV_TRUST: str(world_dir / "trust.json"),
            ENV_BANK: str(world_dir / "bank"),
            ENV_MODELS: str(lake / "models"),
            "SMECREDIT_FEATURE_SHARDS": "1",
            "SMECREDIT_DELIVERY_BACKOFF_SECONDS": "5",
        }
    )
    show(f"      model-signing key {_demo_model_key(out)} (the demo's own; production keeps it secret)")
    _airflow_env(home)
    say(2, f"preparing Airflow's metadata database in {home}")
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import resetdb

    resetdb()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            show(f"DAG import error in {path}: {error}")
        return 1
    first = cfg.start
    last = date(
        first.year + (first.month - 1 + months) // 12, (first.month - 1 + months) % 12 + 1, 1
    ) - timedelta(days=1)
    _evidence_key(out / "secrets" / "evidence-key.pem")
    runs = _dag_runs(first, last, min_bads, monitor_months)
    if not _run_dags(bag, runs, out, say, show):
        return 1
    say(steps, "writing the report")
    from pipelines.config import Settings
    from pipelines.report import write_report

    figures = write_report(Settings.from_env(), out / "report.html")
    show(_summary(lake, out, figures))
    if not _packs_verify(Settings.from_env(), last, world_dir / "trust.json", show):
        return 1
    show(f"demo finished in {time.perf_counter() - started:.0f}s. World: {world_dir}; lake: {lake}; "
          f"report: {out / 'report.html'}")  # fmt: skip
    return 0


def _thresholds(
    bank: Path, given: tuple[int, int] | None, show: Callable[[str], None]
) -> tuple[int, int] | None:
    """The training thresholds for this world, said before the long work: how many defaults
    its books will give the models, what that means, and the thresholds that fit (``given``
    when the caller chose them). None (having said why) when there is too little to train."""
    from pipelines.sizing import SizingError, fit_thresholds, is_thin, measure_books

    size = measure_books(str(bank))
    show(f"      the models will learn from {size.line()}")
    if given is not None:
        chosen = given
    else:
        try:
            chosen = fit_thresholds(size)
        except SizingError:
            show("stopping before ingest: train_models would fail on this world")
            return None
    if is_thin(chosen):
        show(f"      training thresholds: {chosen[0]} defaults in training, {chosen[1]} out of time")
    return chosen


def _dag_runs(
    first: date, last: date, min_bads: tuple[int, int], monitor_months: int
) -> list[tuple[str, str, dict[str, Any]]]:
    """The DAGs the demo runs, in order, each with what it does and its params."""
    monitor_from = max(first + timedelta(days=90), last - timedelta(days=30 * monitor_months))
    span = {"day": str(first), "through": str(last)}
    return [
        ("ingest_attested_records", "collect, verify, validate (GX) and land every bundle", {}),
        ("build_features", "point-in-time features for every month end",
         {"as_of": span["day"], "through": span["through"]}),
        ("train_models", "train, validate out of time and register the scorecard and challenger",
         {"min_bads_train": min_bads[0], "min_bads_oot": min_bads[1]}),
        ("score_pre_loan", "score every application", span),
        ("review_in_loan", f"review the applications from {monitor_from} against the chain",
         {"day": str(monitor_from), "through": str(last)}),
        ("monitor_post_loan", f"monitor active loans weekly from {monitor_from}",
         {"day": str(monitor_from), "through": str(last), "every_days": 7}),
        ("assess_portfolio", "IFRS 9 stages, expected credit loss, movements and model health per month end",
         {"as_of": span["day"], "through": span["through"]}),
        ("dispose_defaults", "an evidence pack for every loan that turned to default", {"day": str(last)}),
    ]  # fmt: skip


def _run_dags(
    bag: Any,
    runs: list[tuple[str, str, dict[str, Any]]],
    out: Path,
    say: Callable[[int, str], None],
    show: Callable[[str], None],
) -> bool:
    """Run each DAG through ``dag.test()`` with the local mail and webhook sinks up; False
    (having said so) when one does not succeed."""
    from pipelines.airflow_edge import without_deadline

    with sinks(out) as (smtp_port, hook_port):
        conn = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": smtp_port,
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": "alerts@smecredit.example",
                "retry_limit": 1,
            },
        }
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(conn)
        os.environ["SMECREDIT_WEBHOOK_URL"] = f"http://127.0.0.1:{hook_port}/alerts"
        os.environ["SMECREDIT_WEBHOOK_KEY"] = WEBHOOK_KEY
        for step, (dag_id, what, conf) in enumerate(runs, start=3):
            say(step, f"{dag_id}: {what}")
            run = without_deadline(bag.get_dag(dag_id)).test(run_conf=conf)
            if run.state != "success":
                show(f"DAG {dag_id} ended {run.state}; stopping. Lake: {os.environ[ENV_LAKE]}")
                return False
    return True


def _evidence_key(path: Path) -> None:
    """Make the bank's evidence signing key (a secret) and point SMECREDIT_EVIDENCE_KEY at it."""
    from pipelines.evidence import write_key

    write_key(path)
    os.environ["SMECREDIT_EVIDENCE_KEY"] = str(path)


def _packs_verify(settings: Any, last: date, trust: Path, show: Callable[[str], None]) -> bool:
    """Every loan that turned to default has a pack, and each passes ``smecredit evidence
    verify --trust <the world's trust.json>``; one line says so (or names what fails)."""
    import contextlib
    import io

    from pipelines.cli import main
    from pipelines.evidence import default_dates, evidence_root
    from pipelines.scoring import read_bank

    defaulted = list(default_dates(read_bank(settings.bank_uri, "loan_performance"), last)["loan_id"])
    root, failed = evidence_root(settings.lake_uri), []
    for loan in defaulted:
        with contextlib.redirect_stdout(io.StringIO()) as said, contextlib.redirect_stderr(said):
            code = main(["evidence", "verify", f"{root}/{loan}", "--trust", str(trust)])
        if code != 0:
            failed.append(f"{loan}: {said.getvalue().strip().splitlines()[-1]}")
    show(f"  evidence: {len(defaulted)} defaulted loans, {len(defaulted) - len(failed)} packs pass "
         f"smecredit evidence verify --trust {trust}" + "".join(f"\n    {f}" for f in failed))  # fmt: skip
    return not failed


def _demo_model_key(out: Path) -> str:
    """A fresh Ed25519 model-signing key in ``out/model-signing-key.pem`` (owner-only), named
    by SMECREDIT_MODEL_SIGNING_KEY for the run; its key id."""
    from models.signing import ModelKeys

    keys, path = ModelKeys.generate(), out / "model-signing-key.pem"
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_text(keys.private_pem())
    os.environ[ENV_MODEL_KEY] = str(path)
    return f"{keys.keyid} in {path}"


def _progress(started: float, steps: int, console: TextIO) -> Callable[[int, str], None]:
    def say(step: int, text: str) -> None:
        print(
            f"\n[{step}/{steps} +{time.perf_counter() - started:.0f}s] {text} ...", file=console, flush=True
        )

    return say


def _summary(lake: Path, out: Path, figures: dict[str, Any]) -> str:
    import pyarrow.dataset as ds

    from models.registry import Registry, RegistryError

    log = ds.dataset(str(lake / "ingest_log"), format="parquet", partitioning="hive").to_table().to_pandas()
    reasons: dict[str, int] = {}
    for text in log.quarantined_by_reason:
        for reason, n in json.loads(text).items():
            reasons[reason] = reasons.get(reason, 0) + n
    snapshots = len(list((lake / "features").glob("as_of_month=*")))
    mails = len(list((out / "mail").glob("*.eml")))
    posts = len(list((out / "webhook").glob("*.json")))
    try:
        champion = Registry(str(lake / "models")).entry()
        model = f"{champion['model_id']} (out-of-time AUC {champion['metrics']['auc']:.3f})"
        if champion["metrics"].get("thin_data"):
            model += f"; thin data: trained with min_bads {champion['metrics']['min_bads']}"
    except RegistryError as exc:
        model = f"none ({exc})"
    lines = [
        "",
        "summary",
        f"  verified: {len(log)} bundles, {log.lines.sum():,} lines = {log.verified.sum():,} verified + "
        f"{log.duplicates.sum():,} duplicates + {log.quarantined.sum():,} quarantined "
        f"({', '.join(f'{k}={v}' for k, v in sorted(reasons.items())) or 'none'})",
        f"  features: {snapshots} monthly snapshots under {lake / 'features'}",
        f"  model: {model}",
        f"  scored: {figures.get('scored', 0)} applications; reviewed: {figures.get('approve', 0)} approve, "
        f"{figures.get('refer', 0)} refer, {figures.get('decline', 0)} decline",
        f"  alerts: {figures.get('alerts', 0)} raised, {figures.get('open_alerts', 0)} open; "
        f"{figures.get('messages_sent', 0)} digests delivered: {mails} emails in {out / 'mail'}, "
        f"{posts} signed webhook posts in {out / 'webhook'}",
        f"  evidence packs: {figures.get('evidence_packs', 0)} under {lake / 'evidence'} "
        f"(buyer's list {lake / 'evidence' / 'npl_buyer.csv'})",
        f"  report: {out / 'report.html'}",
    ]
    return "\n".join(lines)
