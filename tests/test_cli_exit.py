"""The ``smecredit`` console script ends without the interpreter's teardown, yet as an
ordinary exit would: its exit code, its flushed output and every exit handler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

RUN = """
import atexit, sys
from pathlib import Path
from pipelines import cli
marker = Path(sys.argv[1])
atexit.register(lambda: marker.write_text("handler ran"))
sys.argv = ["smecredit", *sys.argv[2:]]
cli.run()
"""


def _smecredit(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], str]:
    marker = tmp_path / "marker"
    done = subprocess.run([sys.executable, "-c", RUN, str(marker), *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return done, marker.read_text() if marker.exists() else ""


def test_a_command_that_succeeds_exits_0_with_its_output_and_handlers(tmp_path: Path) -> None:
    done, marker = _smecredit(tmp_path, "healthcheck", "--lake", str(tmp_path / "lake"), "--create")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)  # flushed although stdout is a pipe, not a terminal
    assert marker == "handler ran"


def test_a_command_that_fails_keeps_its_code_and_one_line(tmp_path: Path) -> None:
    done, marker = _smecredit(tmp_path, "healthcheck", "--lake", str(tmp_path / "missing"))
    assert done.returncode == 1
    assert (
        done.stderr.strip().startswith("smecredit: error: the lake root")
        and len(done.stderr.splitlines()) == 1
    )
    assert marker == "handler ran"


def test_the_installed_script_and_module_run_it(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("smecredit")
    for command in ([str(script)], [sys.executable, "-m", "pipelines.cli"]):
        done = subprocess.run([*command, "healthcheck", "--lake", str(tmp_path / "missing")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 1 and "the lake root" in done.stderr


THREADS = """
import sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from pipelines import cli
out = Path(sys.argv[1])

def late(name: str) -> None:
    time.sleep(0.5)
    (out / name).write_text("done")

def command(argv=None) -> int:
    threading.Thread(target=late, args=("thread",)).start()
    ThreadPoolExecutor(max_workers=1).submit(late, "executor")  # never shut down
    return 3

cli.main = command
cli.run()
"""


def test_threads_a_command_leaves_running_end_before_the_process(tmp_path: Path) -> None:
    # As at any interpreter exit: an executor is told to stop once its work is done, and every
    # non-daemon thread is joined, before the process ends.
    done = subprocess.run([sys.executable, "-c", THREADS, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "executor").read_text() == "done"
