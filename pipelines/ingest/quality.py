"""Data-quality suites (Great Expectations 1.x), derived from ``pipelines.schemas``.

GX is imported lazily: its import costs seconds and DAG files must parse fast. Every
expectation names the rows it rejects by ``record_id``, so failing rows go to the
quarantine with the reason ``quality:<expectation>`` and the others land.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import pandas as pd

from pipelines.deferred_imports import deferred
from pipelines.schemas import BODY_COLUMNS

USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{18}$"
PERIOD_PATTERN = r"^[0-9]{4}-(?:0[1-9]|1[0-2])$"
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
FULL_LISTS = ("unexpected_list", "unexpected_index_list", "unexpected_index_query")


# GX fingerprints every pandas batch below this many bytes (an MD5 of pandas' hash of every
# row, kept in the result's batch markers), and fetches a validated batch twice: half the
# time of a suite on a window's rows, for an identifier nothing here reads. 0 turns it off.
FINGERPRINT_BELOW = 0


# Imported by GX for expectations and renderers the suites never use (pipelines.deferred_imports).
UNUSED_BY_THE_SUITES = ("scipy", "altair")


@cache
def _gx() -> Any:
    # Imported and set up once, on first use (it takes seconds), and typed loosely: suites are
    # built from data.
    with deferred(*UNUSED_BY_THE_SUITES):
        gx = importlib.import_module("great_expectations")
    engine: Any = importlib.import_module("great_expectations.execution_engine.pandas_execution_engine")
    engine.HASH_THRESHOLD = FINGERPRINT_BELOW  # its only setting: a module constant, read per batch
    return gx


_ONE_MEMO_AT_A_TIME = threading.RLock()


@contextmanager
def configurations_built_once() -> Iterator[None]:
    """Within the block, each GX expectation builds its configuration once.

    GX 1.x rebuilds an expectation's configuration (a pydantic ``dict()``, a class name turned
    to snake case, a new ``ExpectationConfiguration``) at every read of the property, and its
    validator reads it once per argument of each expectation: about 80 builds per expectation
    and validation, 40% of a suite's run on a window. Nothing changes an expectation during a
    validation, so the first build is kept for the block (by object: the memo holds each
    object, so no id is reused) and dropped after it.

    The property is the class's: blocks in several threads of a process take turns (else one
    could put back another's memo for good), and GX used from another thread outside such a
    block meanwhile would see the memo too (nothing in this project does)."""
    cls = importlib.import_module("great_expectations.expectations.expectation").Expectation
    with _ONE_MEMO_AT_A_TIME:
        rebuilt = cls.__dict__["configuration"]
        built: dict[int, tuple[Any, Any]] = {}

        def configuration(self: Any) -> Any:
            held = built.get(id(self))
            if held is None:
                held = built[id(self)] = (self, rebuilt.fget(self))
            return held[1]

        cls.configuration = property(configuration, doc=rebuilt.__doc__)
        try:
            yield
        finally:
            cls.configuration = rebuilt


@dataclass
class QualityResult:
    """Rows that failed (record id -> first failing expectation) and the GX result as JSON."""

    failed: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def _expectations(kind: str) -> list[Any]:
    exp = _gx().expectations
    out: list[Any] = [
        exp.ExpectColumnValuesToNotBeNull(column=c) for c in ("record_id", "firm_id", "sealed_at")
    ]
    out.append(exp.ExpectColumnValuesToMatchRegex(column="firm_id", regex=USCC_PATTERN))
    for col in BODY_COLUMNS[kind]:
        if not col.nullable:
            out.append(exp.ExpectColumnValuesToNotBeNull(column=col.name))
        if col.non_negative:
            out.append(exp.ExpectColumnValuesToBeBetween(column=col.name, min_value=0))
        if col.allowed:
            out.append(exp.ExpectColumnValuesToBeInSet(column=col.name, value_set=list(col.allowed)))
        if col.uscc:
            out.append(exp.ExpectColumnValuesToMatchRegex(column=col.name, regex=USCC_PATTERN))
        if str(col.type) == "date32[day]":
            out.append(
                exp.ExpectColumnValuesToBeBetween(column=col.name, min_value=EARLIEST, max_value=LATEST)
            )
    pair = exp.ExpectColumnPairValuesAToBeGreaterThanB
    if kind == "contribution":
        out.append(exp.ExpectColumnValuesToMatchRegex(column="period", regex=PERIOD_PATTERN))
        out.append(pair(column_A="due_fen", column_B="paid_fen", or_equal=True))
        out.append(pair(column_A="wage_base_fen", column_B="due_fen", or_equal=True))
    if kind == "invoice":
        out.append(pair(column_A="amount_fen", column_B="tax_fen", or_equal=True))
    if kind == "logistics":
        out.append(
            pair(
                column_A="delivered_on",
                column_B="shipped_on",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
        )
        # A waybill can reach the chain before its invoice (seal lags differ): reported, and
        # watched over time, but the row still lands.
        out.append(
            exp.ExpectColumnValuesToBeInSet(
                column="invoice_known",
                value_set=[True],
                meta={"quarantine": False, "checks": "waybill refers to an invoice"},
            )
        )
    if kind == "lease":
        out.append(pair(column_A="end_on", column_B="start_on", or_equal=True))
    return out


@cache
def _batch_definition(kind: str) -> tuple[Any, Any]:
    gx = _gx()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    config = importlib.import_module("great_expectations.data_context.types.base").ProgressBarsConfig
    context.variables.progress_bars = config(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas(f"lake_{kind}").add_dataframe_asset(kind)
    suite = gx.ExpectationSuite(name=f"verified_{kind}", expectations=_expectations(kind))
    return asset.add_batch_definition_whole_dataframe("bundle"), suite


def _key(expectation_type: str, kwargs: dict[str, Any]) -> str:
    # An expectation's identity within a suite: its type and arguments (GX adds batch_id to
    # the arguments of a result's configuration).
    args = {k: v for k, v in kwargs.items() if k != "batch_id"}
    return f"{expectation_type}:{json.dumps(args, sort_keys=True, default=str)}"


def _failed_suite(kind: str, keys: set[str]) -> Any:
    """A suite of ``kind``'s expectations whose identity is among ``keys``."""
    chosen = [e for e in _expectations(kind) if _key(e.expectation_type, e.configuration.kwargs) in keys]
    return _gx().ExpectationSuite(name=f"verified_{kind}_failed", expectations=chosen)


def _run(batch: Any, suite: Any, result_format: dict[str, Any]) -> Any:
    """GX's validation of ``batch`` by ``suite``, each configuration built once."""
    with configurations_built_once():
        return batch.validate(suite, result_format=result_format)


def validate(frame: pd.DataFrame, kind: str) -> QualityResult:
    """Run the suite of ``kind`` on verified rows of that kind.

    Two passes: the whole suite for its verdicts only (GX's ``BOOLEAN_ONLY``, about half the
    cost of the complete results on a window of 100,000 rows), then the expectations that
    failed again with complete results, which name the failing rows. The report holds the
    verdict of each expectation that passed and the counts and partial lists of each that
    failed."""
    if frame.empty:
        return QualityResult(report={"success": True, "skipped": "no rows"})
    definition, suite = _batch_definition(kind)
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    verdicts = _run(batch, suite, {"result_format": "BOOLEAN_ONLY"})
    report = verdicts.to_json_dict()
    report["rows"] = len(frame)
    keys = [_key(r.expectation_config.type, r.expectation_config.kwargs) for r in verdicts.results]
    failing = {k for k, r in zip(keys, verdicts.results, strict=True) if not r.success}
    out = QualityResult(report=report)
    if not failing:
        return out
    result = _run(
        batch,
        _failed_suite(kind, failing),
        {"result_format": "COMPLETE", "unexpected_index_column_names": ["record_id"]},
    )
    order = {k: i for i, k in enumerate(keys)}  # the first failing expectation as the suite orders them
    checked = sorted(
        ((_key(r.expectation_config.type, r.expectation_config.kwargs), r) for r in result.results),
        key=lambda pair: order[pair[0]],
    )
    for _, r in checked:
        quarantines = (r.expectation_config.meta or {}).get("quarantine") is not False
        if not r.success and quarantines:
            name = r.expectation_config.type
            for row in r.result.get("unexpected_index_list") or []:
                out.failed.setdefault(str(row["record_id"]), f"quality:{name}")
        # The report keeps the counts and GX's partial lists (up to 20 values); the complete
        # lists, one entry per failing row, would cost more to serialise than the validation
        # itself on a busy day, and every quarantined row is in the quarantine table.
        for key in FULL_LISTS:
            r.result.pop(key, None)
    detailed = {k: r.to_json_dict() for k, r in checked}
    report["results"] = [detailed.get(k, r) for k, r in zip(keys, report["results"], strict=True)]
    return out
