"""What a killed run leaves behind, removed by the next run.

An ingest run keeps the verifier's state in a local folder ``smecredit-state-<pid>-*`` in the
temporary directory and uploads it through a temporary ``.tmp-<name>-*`` object beside its
target in the lake. A run killed in between (SIGKILL, OOM, a lost worker) leaves both
forever. The next run removes:

- the temporary folders whose process is gone (folders of the older ``smecredit-state-*``
  form without a process id once they are a day old);
- in the lake's ``state/`` folder, the temporary objects of the chain it is about to write
  (runs of one chain never overlap: the ingest DAG allows one active run), and any other
  temporary object more than an hour old.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from typing import Any

from pipelines.lake import filesystem

STATE_DIR_PREFIX = "smecredit-state-"
OLD_DIR_AGE = 86_400.0
OLD_TMP_AGE = 3_600.0
_PID = re.compile(rf"{STATE_DIR_PREFIX}(\d+)-")

log = logging.getLogger(__name__)


def state_dir_prefix() -> str:
    """The prefix of this process's temporary state folders."""
    return f"{STATE_DIR_PREFIX}{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep_state_dirs(tmp_root: str | None = None, now: float | None = None) -> list[str]:
    """Remove the temporary state folders of dead runs; the paths removed."""
    root, now = tmp_root or tempfile.gettempdir(), time.time() if now is None else now
    removed = []
    for entry in os.scandir(root):
        if not entry.name.startswith(STATE_DIR_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        match = _PID.match(entry.name)
        if match is not None:
            stale = not _alive(int(match.group(1)))
        else:
            stale = now - entry.stat(follow_symlinks=False).st_mtime > OLD_DIR_AGE
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    if removed:
        log.warning("removed %d temporary state folders of killed runs: %s", len(removed), ", ".join(removed))
    return removed


def _modified(fs: Any, path: str) -> float | None:
    try:
        return float(fs.modified(path).timestamp())
    except (NotImplementedError, OSError, AttributeError, ValueError):
        return None


def sweep_lake_tmp(folder_uri: str, target_name: str, now: float | None = None) -> list[str]:
    """Remove, in the lake folder ``folder_uri``, the temporary objects written for
    ``target_name`` and any temporary object older than an hour; the paths removed."""
    fs, folder = filesystem(folder_uri)
    if not fs.exists(folder):
        return []
    now = time.time() if now is None else now
    mine = f".tmp-{target_name}-"
    removed = []
    for path in fs.glob(f"{folder}/.tmp-*"):
        name = str(path).rsplit("/", 1)[-1]
        modified = _modified(fs, str(path))
        if name.startswith(mine) or (modified is not None and now - modified > OLD_TMP_AGE):
            fs.rm(str(path))
            removed.append(str(path))
    if removed:
        log.warning("removed %d temporary lake objects of killed runs: %s", len(removed), ", ".join(removed))
    return removed
