"""Named points of the ingest's commit protocol where the crash tests kill the process.

``SMECREDIT_TEST_KILL_AT=<point>:<n>`` makes the process SIGKILL itself the n-th time it
reaches ``<point>`` (n defaults to 1): the tests run a real ``smecredit ingest`` this way to
prove that a kill at each step leaves a lake that a rerun completes exactly. Unset (always,
outside the tests), ``reached`` only counts. It is a test seam, not configuration.
"""

from __future__ import annotations

import os
import signal

ENV = "SMECREDIT_TEST_KILL_AT"
POINTS = (
    "claimed",  # a bundle claimed, nothing of it written
    "planned",  # its files recorded as pending, none written yet
    "verified_written",  # its verified partitions written, not its quarantine or log row
    "files_written",  # every file written, the state not committed
    "committed",  # the state committed, the claim not released
)
_seen: dict[str, int] = {}


def reached(point: str) -> None:
    """Count ``point``; die by SIGKILL when ``SMECREDIT_TEST_KILL_AT`` names this visit."""
    _seen[point] = _seen.get(point, 0) + 1
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name == point and _seen[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
