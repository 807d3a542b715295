"""``make cluster`` / ``make cluster-stop``: the pipeline deployed the way a bank runs Airflow,
on one machine and the loopback interface only.

- PostgreSQL: Airflow's metadata database (``airflow``) and the ledger state database
  (``ledger_state``, exported as ``SMECREDIT_STATE_URI`` for the state store once it lands);
- Redis: the Celery broker;
- Airflow's api-server (REST API and UI on 127.0.0.1:8080), scheduler, dag-processor and
  triggerer, and two Celery workers (``airflow celery worker``, hostnames ``worker-1`` and
  ``worker-2``) with ``AIRFLOW__CORE__EXECUTOR=CeleryExecutor``;
- a local SMTP server that keeps the alert digests the monitor sends (a bank's relay).

Everything it writes lives under one folder (``cluster-output/`` by default): ``postgres/``,
``redis/``, ``airflow-home/`` (configuration, task logs), ``logs/`` (one log per process),
``world/`` (a simulated world, created when there is none: its landing zone is what the ingest
DAG collects), ``lake/``, ``mail/`` and ``cluster.json`` (ports, secrets and process ids).
``env.sh`` there sets the same environment in a shell, for the ``airflow`` command line.

The API and UI accept ``admin``/``admin`` (Airflow's simple auth manager; local use only).
``python -m pipelines.cluster start|stop|status`` is what the Makefile runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.config import (
    ENV_ALERT_EMAILS,
    ENV_BANK,
    ENV_EVIDENCE_KEY,
    ENV_LAKE,
    ENV_LANDING,
    ENV_MODEL_KEY,
    ENV_MODELS,
    ENV_TRUST,
    PROJECT_ROOT,
)
from pipelines.local_services import (
    LOOPBACK,
    Postgres,
    Redis,
    ServiceError,
    alive,
    free_port,
    port_in_use,
    wait_for,
)

ENV_STATE = "SMECREDIT_STATE_URI"  # read by the ledger state store (issue #18) once it lands
ENV_HOSTNAME = "SMECREDIT_HOSTNAME"
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


def hostname() -> str:
    """Airflow's ``hostname_callable`` in the cluster: the name a process was given in
    ``SMECREDIT_HOSTNAME`` (each Celery worker its own, so task instances show which worker
    ran them), else the machine's fully qualified name, as Airflow's default does."""
    return os.environ.get(ENV_HOSTNAME) or socket.getfqdn()


@dataclass(frozen=True)
class ClusterSpec:
    """What to run and how. ``paused`` starts DAGs paused (tests drive runs themselves);
    ``parse_every`` is how often, in seconds, the dag-processor parses each DAG file again;
    ``make_world`` simulates a world of ``firms`` x ``months`` under ``world/`` when there is
    none (a test that brings its own world, written there while the services start, says no);
    ``alert_emails`` receive the task-failure and deadline alerts (on the local SMTP server)."""

    root: Path = PROJECT_ROOT / "cluster-output"
    api_port: int = 8080
    workers: tuple[str, ...] = ("worker-1", "worker-2")
    concurrency: int = 2  # task slots per worker: 2 workers x 2 on a 2-core machine
    paused: bool = False
    parse_every: int = 30
    firms: int = 300
    months: int = 12
    seed: int = 7
    make_world: bool = True
    alert_emails: str = "data-engineering@smecredit.local"
    user: str = "admin"
    password: str = "admin"
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"


class Cluster:
    """Start, check and stop the processes of a ``ClusterSpec``; a state file under its root
    remembers ports, secrets and process ids between commands."""

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self.root = spec.root.resolve()
        self.state_file = self.root / "cluster.json"
        self.state = self._load_state()
        self.postgres = Postgres(self.root / "postgres", int(self.state["postgres_port"]))
        self.redis = Redis(self.root / "redis", int(self.state["redis_port"]))
        self._token: str | None = None

    # ---- state -----------------------------------------------------------------------------

    def _load_state(self) -> dict[str, Any]:
        if self.state_file.is_file():
            state: dict[str, Any] = json.loads(self.state_file.read_text())
            return state
        from cryptography.fernet import Fernet

        return {
            "postgres_port": free_port(),
            "redis_port": free_port(),
            "smtp_port": free_port(),
            "fernet_key": Fernet.generate_key().decode(),
            "jwt_secret": secrets.token_urlsafe(32),
            "api_secret": secrets.token_urlsafe(32),
            "pids": {},
        }

    def _save_state(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(self.state, indent=1) + "\n")
        self.state_file.chmod(0o600)

    # ---- environment -----------------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self.root / "airflow-home"

    def env(self) -> dict[str, str]:
        """The environment every Airflow process of the cluster runs with."""
        s, state, bin_dir = self.spec, self.state, str(Path(sys.executable).parent)
        smtp = {
            "conn_type": "smtp",
            "host": LOOPBACK,
            "port": state["smtp_port"],
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "alerts@smecredit.local"},
        }
        env = {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(len(s.workers) * s.concurrency),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(s.paused),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "pipelines.cluster.hostname",
            "AIRFLOW__CORE__FERNET_KEY": state["fernet_key"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{s.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{s.user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.uri("airflow"),
            "AIRFLOW__CELERY__BROKER_URL": self.redis.uri(0),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.postgres.uri("airflow", "postgresql"),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(s.concurrency),
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(s.api_port),
            "AIRFLOW__API__BASE_URL": s.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": state["api_secret"],
            "AIRFLOW__API_AUTH__JWT_SECRET": state["jwt_secret"],
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",  # one api-server process on a busy machine
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(s.parse_every),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp),
            ENV_LANDING: str(self.root / "world" / "landing"),
            ENV_TRUST: str(self.root / "world" / "trust.json"),
            ENV_BANK: str(self.root / "world" / "bank"),
            ENV_LAKE: str(self.root / "lake"),
            ENV_MODELS: str(self.root / "lake" / "models"),
            ENV_STATE: self.postgres.uri("ledger_state", "postgresql+psycopg"),
            ENV_ALERT_EMAILS: s.alert_emails,
            **self.keys(),
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        return {**env, **s.extra_env}

    def keys(self) -> dict[str, str]:
        """The bank's model-signing and evidence keys, made once under ``secrets/`` (this
        cluster's own, for local use; a bank serves them from its secrets backend), as the
        ``SMECREDIT_*`` variables that name them."""
        from models.signing import ModelKeys
        from pipelines.evidence import write_key

        secrets = self.root / "secrets"
        model_key, evidence_key = secrets / "model-signing-key.pem", secrets / "evidence-key.pem"
        if not model_key.exists():
            secrets.mkdir(parents=True, exist_ok=True)
            model_key.touch(mode=0o600)
            model_key.write_text(ModelKeys.generate().private_pem())
        if not evidence_key.exists():
            write_key(evidence_key)
        return {ENV_MODEL_KEY: str(model_key), ENV_EVIDENCE_KEY: str(evidence_key)}

    def _write_env_sh(self) -> None:
        lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(self.env().items())]
        (self.root / "env.sh").write_text(
            "# source me: the cluster's environment\n" + "\n".join(lines) + "\n"
        )

    # ---- processes -------------------------------------------------------------------------

    def _airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")

    def _spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        log = (self.root / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            list(argv), env=dict(env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.root, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.state["pids"][name] = proc.pid
        self._save_state()

    def _commands(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        """Each long-running process: its command line and the environment it adds."""
        air = self._airflow()
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "mail": (
                [
                    sys.executable,
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    f"{LOOPBACK}:{self.state['smtp_port']}",
                    "-c",
                    "aiosmtpd.handlers.Mailbox",
                    str(self.root / "mail"),
                ],
                {},
            ),
            "api-server": ([air, "api-server", "--host", LOOPBACK, "--port", str(self.spec.api_port)], {}),
            "scheduler": ([air, "scheduler", "--skip-serve-logs"], {}),
            "dag-processor": ([air, "dag-processor"], {}),
            "triggerer": ([air, "triggerer", "--skip-serve-logs"], {}),
        }
        for worker in self.spec.workers:
            argv = [air, "celery", "worker", "--celery-hostname", worker, "--concurrency",
                    str(self.spec.concurrency), "--skip-serve-logs"]  # fmt: skip
            commands[worker] = (argv, {ENV_HOSTNAME: worker})
        return commands

    def running(self) -> list[str]:
        """The names of the cluster's processes that are alive."""
        return [name for name, pid in self.state.get("pids", {}).items() if alive(int(pid))]

    # ---- start -----------------------------------------------------------------------------

    def start(self, say: Callable[[str], None] = print, timeout: float = 600) -> None:
        """Start every service, or leave a healthy running cluster as it is; return when every
        service is healthy (raise ``ServiceError`` otherwise, after stopping what started)."""
        if self.running():
            try:
                self.wait_healthy(timeout=15)
                say(f"the cluster is already running: {self.spec.url}")
                return
            except ServiceError as exc:
                say(f"restarting an unhealthy cluster ({exc})")
                self.stop(say)
        if port_in_use(self.spec.api_port):
            raise ServiceError(f"port {self.spec.api_port} is in use: the api-server cannot listen there")
        try:
            self._start(say, timeout)
        except BaseException:
            self.stop(say)
            raise

    def _start(self, say: Callable[[str], None], timeout: float) -> None:
        """Start in the order the services need each other, overlapping what can overlap: the
        world is simulated while PostgreSQL starts and the metadata is migrated; the
        api-server, scheduler, dag-processor and triggerer start together; the workers once
        the API answers (their task processes report to it)."""
        started = time.monotonic()
        for folder in ("logs", "mail/tmp", "mail/new", "mail/cur", "airflow-home"):  # mail: a Maildir
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._save_state()
        world = Background(lambda: self._ensure_world(say))
        say(f"PostgreSQL on {LOOPBACK}:{self.postgres.port}, Redis on {LOOPBACK}:{self.redis.port}")
        self.redis.start()
        self.postgres.start()
        for database in ("airflow", "ledger_state"):
            self.postgres.create_database(database)
        env = {**os.environ, **self.env()}
        self._write_env_sh()
        (self.home / "passwords.json").write_text(json.dumps({self.spec.user: self.spec.password}) + "\n")
        say("migrating Airflow's metadata database")
        migrate = subprocess.run([self._airflow(), "db", "migrate"], env=env, capture_output=True, text=True)
        if migrate.returncode != 0:
            raise ServiceError(f"airflow db migrate failed: {migrate.stderr.strip()[-1500:]}")
        say(f"metadata database ready after {time.monotonic() - started:.0f} s")
        world.join()  # unpaused DAGs may run as soon as the scheduler starts: the world must be there
        commands = self._commands()
        workers = {name: commands.pop(name) for name in self.spec.workers}
        for name, (argv, extra) in commands.items():
            self._spawn(name, argv, {**env, **extra})
        wait_for(self._api_answers, "the api-server", timeout, every=0.5)
        for name, (argv, extra) in workers.items():
            self._spawn(name, argv, {**env, **extra})
        say(f"started {', '.join(self._commands())}; waiting until every one is healthy")
        self.wait_healthy(timeout=max(30.0, timeout - (time.monotonic() - started)))
        say(f"cluster healthy in {time.monotonic() - started:.0f} s")

    def _ensure_world(self, say: Callable[[str], None]) -> None:
        world = self.root / "world"
        if (world / "trust.json").is_file() or not self.spec.make_world:
            return
        from pipelines.demo import DEMO_WORLD
        from pipelines.simulate import WorldConfig, simulate

        s = self.spec
        say(f"simulating {s.firms} firms over {s.months} months into {world}")
        simulate(WorldConfig(firms=s.firms, months=s.months, seed=s.seed, **DEMO_WORLD), world)  # type: ignore[arg-type]

    # ---- health ----------------------------------------------------------------------------

    def _api_answers(self) -> bool:
        if "api-server" not in self.running():
            raise ServiceError(f"the api-server died; see {self.root / 'logs' / 'api-server.log'}")
        try:
            self.api("GET", "/api/v2/monitor/health", auth=False, retry=False)
        except (OSError, ServiceError):
            return False
        return True

    def health(self) -> dict[str, str]:
        """Each service's state: the api-server's health report (metadata database, scheduler,
        dag-processor, triggerer), each worker (alive and ready, from its log) and the DAGs."""
        report: dict[str, str] = {}
        dead = set(self.state.get("pids", {})) - set(self.running())
        for name in sorted(dead):
            report[name] = "not running"
        try:
            body = self.api("GET", "/api/v2/monitor/health", auth=False, retry=False)
        except (OSError, ServiceError) as exc:
            report["api-server"] = f"not answering ({exc})"
            return report
        for name, entry in body.items():
            report[name] = str(entry.get("status"))
        for worker in self.spec.workers:
            log = self.root / "logs" / f"{worker}.log"
            ready = log.is_file() and f"@{worker} ready." in log.read_text(errors="replace")
            report.setdefault(worker, "healthy" if ready else "starting")
        dags = self.api("GET", "/api/v2/dags?limit=100")
        errors = self.api("GET", "/api/v2/importErrors")
        expected = len(list((PROJECT_ROOT / "dags").glob("*.py")))
        report["dags"] = (
            f"{errors['total_entries']} import errors" if errors["total_entries"]
            else "healthy" if dags["total_entries"] >= expected
            else f"{dags['total_entries']} of {expected} parsed"
        )  # fmt: skip
        return report

    def wait_healthy(self, timeout: float = 300) -> dict[str, str]:
        last: dict[str, str] = {}

        def healthy() -> bool:
            nonlocal last
            last = self.health()
            if any(v == "not running" for v in last.values()):
                raise ServiceError(f"a process died: {last}; see {self.root / 'logs'}")
            return bool(last) and all(v == "healthy" for v in last.values())

        try:
            wait_for(healthy, "the cluster", timeout, every=1)
        except ServiceError as exc:
            raise ServiceError(f"{exc}: {last}") from None
        return last

    # ---- REST API --------------------------------------------------------------------------

    def token(self) -> str:
        """A JWT for /api/v2 from ``POST /auth/token`` with the cluster's user and password."""
        if self._token is None:
            body = self.api(
                "POST",
                "/auth/token",
                {"username": self.spec.user, "password": self.spec.password},
                auth=False,
            )
            self._token = str(body["access_token"])
        return self._token

    def api(self, method: str, path: str, body: Any = None, auth: bool = True, retry: bool = True) -> Any:
        """Call the REST API; return the decoded JSON answer. Errors name the status and body."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.spec.url + path, data=data, method=method, headers=headers)
        tries = 4 if method == "GET" and retry else 1  # a read is safe to repeat when a busy server times out
        for attempt in range(1, tries + 1):
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    raw = answer.read()
                break
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:500]
                raise ServiceError(f"{method} {path}: HTTP {exc.code} {detail}") from None
            except (TimeoutError, ConnectionError, urllib.error.URLError):
                if attempt == tries:
                    raise
                time.sleep(2 * attempt)
        return json.loads(raw) if raw else None

    # ---- stop ------------------------------------------------------------------------------

    def stop(self, say: Callable[[str], None] = print, grace: float = 30) -> None:
        """Stop every process of the cluster (Airflow first, then Redis and PostgreSQL); check
        that no port of the cluster is still in use."""
        pids: dict[str, int] = {k: int(v) for k, v in self.state.get("pids", {}).items()}
        for pid in pids.values():
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        stuck = [name for name, pid in pids.items() if alive(pid)]
        if stuck:
            say(f"killing what did not stop within {grace:.0f} s: {', '.join(stuck)}")
        for pid in pids.values():
            _signal_group(pid, signal.SIGKILL)
        self.redis.stop()
        self.postgres.stop()
        self.state["pids"] = {}
        if self.state_file.is_file():
            self._save_state()
        ports = [self.spec.api_port, self.postgres.port, self.redis.port, int(self.state["smtp_port"])]
        busy = [p for p in ports if port_in_use(p)]
        if busy:
            raise ServiceError(f"ports still in use after stopping: {busy}")
        say(f"the cluster under {self.root} is stopped")


class Background:
    """Run ``work`` in a thread; ``join()`` waits for it and raises what it raised."""

    def __init__(self, work: Callable[[], None]) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # handed to join()
                self._error = exc

        self._thread = threading.Thread(target=run, name="cluster-world", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error

    def join_quietly(self) -> None:
        """Wait for the work to end, whatever it raised (when cleaning up after a failure)."""
        self._thread.join()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pid`` leads (the process and what it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--root", type=Path, default=ClusterSpec.root, help="where everything is written")
    parser.add_argument("--firms", type=int, default=ClusterSpec.firms, help="firms of a new simulated world")
    parser.add_argument("--months", type=int, default=ClusterSpec.months, help="months of a new world")
    args = parser.parse_args(argv)
    cluster = Cluster(ClusterSpec(root=args.root, firms=args.firms, months=args.months))
    try:
        if args.command == "start":
            cluster.start()
            s = cluster.spec
            print(
                f"\nAirflow UI and REST API: {s.url}  (user {s.user}, password {s.password}; local use only)"
            )
            print(f"Airflow CLI against it:  source {cluster.root / 'env.sh'} && airflow dags list")
        elif args.command == "stop":
            cluster.stop()
        else:
            for name, status in cluster.health().items():
                print(f"{name:15} {status}")
    except ServiceError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
