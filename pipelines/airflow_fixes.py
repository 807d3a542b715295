"""Workarounds for bugs of the pinned Airflow (3.3.2), each with its evidence. Remove one
when the Airflow it works around is no longer pinned."""

from __future__ import annotations

import functools
from typing import Any


def with_testable_deadline(dag: Any) -> Any:
    """Let ``dag.test()`` (and so ``airflow dags test``) finish for a DAG with a deadline alert,
    leaving the deadline as it is for the scheduler. Returns ``dag``.

    The bug (apache/airflow#73428, fix proposed in apache/airflow#73430, unreleased as of
    3.3.2): ``DAG.test()`` builds its scheduler DAG in memory,
    ``DagSerialization.deserialize_dag(DagSerialization.serialize_dag(self))``
    (airflow/sdk/definitions/dag.py), so ``scheduler_dag.deadline`` holds the *encoded* alerts
    (dicts). Only ``SerializedDagModel.write_dag`` -- the DAG processor's sync to the database
    -- replaces them by the ``deadline_alert`` rows' UUIDs
    (``SerializedDagModel._generate_deadline_uuids`` in airflow/models/serialized_dag.py).
    When the run succeeds, ``DagRun.update_state`` calls ``DeadlineAlertModel.get_by_id`` for
    each entry of ``dag.deadline`` (airflow/models/dagrun.py), and the ``Uuid`` column's bind
    processor fails on a dict: ``AttributeError: 'dict' object has no attribute 'hex'``. The
    run is already marked successful, but ``airflow dags test`` exits 1.

    Under the scheduler nothing is wrong: it reads the DAG from the database, where
    ``deadline`` is the list of UUIDs, creates a ``deadline`` row per run from the
    ``deadline_alert`` rows and fires the callback when the time passes
    (``SchedulerJobRunner``'s deadline loop). ``dag.test()`` has no such loop, so a deadline
    can never be missed in it: the in-process run drops the alert from the DAG object for the
    duration of the call (the copy ``test()`` writes to the database is parsed from the file
    again and keeps it) and puts it back afterwards.
    """
    original = dag.test

    @functools.wraps(original)
    def test(*args: Any, **kwargs: Any) -> Any:
        kept = dag.deadline
        dag.deadline = None
        try:
            return original(*args, **kwargs)
        finally:
            dag.deadline = kept

    dag.test = test
    return dag
