"""PostgreSQL and Redis servers run for real on the loopback interface, each in a folder of its
own on a port of its own: the metadata database and Celery broker of the local cluster
(``pipelines.cluster``) and of the tests that start one. Debian's ``postgresql`` and
``redis-server`` packages provide the programs (``make cluster`` installs them).

PostgreSQL refuses to run as root; when this process is root, the server runs as the
``postgres`` system user, who then owns the data folder."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import SmecreditError

LOOPBACK = "127.0.0.1"


class ServiceError(SmecreditError, RuntimeError):
    """A local service could not be found, started or stopped."""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something accepts connections on ``127.0.0.1:port``."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((LOOPBACK, port)) == 0


def wait_for(check: object, what: str, timeout: float, every: float = 0.25) -> None:
    """Call ``check()`` until it returns true; raise ``ServiceError`` after ``timeout`` s."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(every)


def postgres_bin(name: str) -> str:
    """The path of PostgreSQL's program ``name`` (initdb, pg_ctl, psql): Debian keeps them in
    /usr/lib/postgresql/<version>/bin, off the PATH; the newest version wins."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for folder in versions:
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"PostgreSQL's {name} not found: install Debian's postgresql (make cluster does)")
    return found


def _as_postgres_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server whose data lives in ``folder``, listening on 127.0.0.1:``port`` only.
    The superuser is ``user`` with password ``password`` (scram-sha-256 on TCP)."""

    folder: Path
    port: int
    user: str = "airflow"
    password: str = "airflow"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def uri(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*_as_postgres_user(), *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ServiceError(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def init(self) -> None:
        """Create the cluster in ``folder`` unless it is there already."""
        if (self.data / "PG_VERSION").is_file():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._own(self.folder)
        secret = self.folder / "pwfile"
        secret.write_text(self.password + "\n")
        self._own(secret)
        try:
            self._run(
                postgres_bin("initdb"), "-D", str(self.data), "-U", self.user, f"--pwfile={secret}",
                "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--no-locale",
            )  # fmt: skip
        finally:
            secret.unlink(missing_ok=True)

    def start(self, timeout: float = 60) -> None:
        """Start the server (initialising the cluster first when needed); wait until it accepts
        connections. The Unix socket lives in ``folder``, not in /var/run."""
        if port_in_use(self.port):
            raise ServiceError(f"port {self.port} is already in use: cannot start PostgreSQL there")
        self.init()
        options = (
            f"-c listen_addresses={LOOPBACK} -p {self.port} -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            postgres_bin("pg_ctl"), "start", "-D", str(self.data), "-w", "-t", str(int(timeout)),
            "-l", str(self.folder / "postgres.log"), "-o", options,
        )  # fmt: skip
        wait_for(lambda: port_in_use(self.port), f"PostgreSQL on port {self.port}", timeout)

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it exists."""
        env = {**os.environ, "PGPASSWORD": self.password}
        psql = [postgres_bin("psql"), "-h", LOOPBACK, "-p", str(self.port), "-U", self.user, "-d", "postgres"]
        exists = subprocess.run(
            [*psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if exists.returncode != 0:
            raise ServiceError(f"psql failed: {exists.stderr.strip()[-500:]}")
        if exists.stdout.strip() != "1":
            made = subprocess.run(
                [*psql, "-c", f'CREATE DATABASE "{name}"'],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if made.returncode != 0:
                raise ServiceError(f"could not create database {name}: {made.stderr.strip()[-500:]}")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").is_file()

    def stop(self, timeout: float = 60) -> None:
        """Stop the server (fast shutdown: open sessions are ended); nothing if it is not running."""
        if not self.running():
            return
        self._run(
            postgres_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", str(int(timeout))
        )


@dataclass(frozen=True)
class Redis:
    """A Redis server on 127.0.0.1:``port`` only, no persistence, its log and pid in ``folder``."""

    folder: Path
    port: int

    def uri(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    @property
    def pidfile(self) -> Path:
        return self.folder / "redis.pid"

    def start(self, timeout: float = 30) -> None:
        """Start redis-server in the background; wait until it answers PING."""
        program = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(program).is_file():
            raise ServiceError("redis-server not found: install Debian's redis-server (make cluster does)")
        if port_in_use(self.port):
            raise ServiceError(f"port {self.port} is already in use: cannot start Redis there")
        self.folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                program, "--bind", LOOPBACK, "--port", str(self.port), "--dir", str(self.folder),
                "--save", "", "--appendonly", "no", "--daemonize", "yes", "--protected-mode", "yes",
                "--pidfile", str(self.pidfile), "--logfile", str(self.folder / "redis.log"),
            ],
            check=True, capture_output=True,
        )  # fmt: skip
        wait_for(self.ping, f"Redis on port {self.port}", timeout)

    def ping(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 30) -> None:
        """Stop the server; nothing if it is not running."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pidfile.unlink(missing_ok=True)
            return
        wait_for(lambda: not alive(pid), f"Redis (pid {pid}) to stop", timeout)
        self.pidfile.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
