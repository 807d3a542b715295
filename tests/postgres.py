"""A throwaway PostgreSQL server for tests: Debian's binaries (``make postgresql`` installs
them), a cluster made with initdb in a temporary folder, listening on a free loopback port
only, stopped (and its folder removed with the test's) at the end. Queries go through
``psql``, so no Python driver is needed; ``url`` gives a SQLAlchemy URL (psycopg 3) for code
that connects itself. Shared by the model tests and the state-store tests (the session
fixture ``postgres_server`` in tests/conftest.py starts one server for all of them)."""

from __future__ import annotations

import glob
import io
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Postgres:
    def __init__(self, bindir: Path, port: int) -> None:
        self.bindir, self.port = bindir, port

    def psql(self, sql: str, stdin: str | None = None) -> str:
        cmd = [str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]
        cmd += ["-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", sql]
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def load(self, table: str, frame: pd.DataFrame, types: dict[str, str]) -> None:
        """``frame`` as a new table of the given column types (NaN and None become NULL)."""
        cols = ", ".join(f'"{c}" {types[c]}' for c in frame.columns)
        self.psql(f'CREATE TABLE "{table}" ({cols})')
        self.psql(
            f"COPY \"{table}\" FROM STDIN WITH (FORMAT csv, HEADER, NULL '\\N')",
            stdin=frame.to_csv(index=False, na_rep="\\N"),
        )

    def create_database(self, name: str) -> str:
        """A new empty database ``name``; its SQLAlchemy URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server (psycopg 3, loopback TCP)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def query(self, sql: str) -> pd.DataFrame:
        out = self.psql(f"COPY ({sql.strip()}) TO STDOUT WITH (FORMAT csv, HEADER)")
        return pd.read_csv(io.StringIO(out))


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A running server whose cluster lives in a new temporary folder (not under pytest's
    own, which only root may enter); stopped and removed on exit."""
    bindir = bin_dir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed: run `make postgresql`")
    as_root = os.geteuid() == 0  # initdb refuses root: the cluster then belongs to "postgres"
    user = "postgres" if as_root else None
    folder = Path(tempfile.mkdtemp(prefix="smecredit-pg-"))
    data, sockets = folder / "data", folder / "run"
    sockets.mkdir(parents=True)
    if as_root:
        shutil.chown(folder, user="postgres")
        shutil.chown(sockets, user="postgres")
    run = {"user": user, "capture_output": True, "text": True, "timeout": 120, "check": True}
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C"], **run)  # fmt: skip
    port = _free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    pg_ctl = str(bindir / "pg_ctl")
    subprocess.run([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"], **run)
    try:
        yield Postgres(bindir, port)
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], **{**run, "check": False})
        shutil.rmtree(folder, ignore_errors=True)
