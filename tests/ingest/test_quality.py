"""The quality suites' two passes (verdicts of the whole suite, then complete results of the
expectations that failed) decide the same rows, with the same first failing expectation, as
one complete pass of the whole suite."""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest

from pipelines.ingest.quality import _batch_definition, configurations_built_once, validate

FIRM = "91110000100000000A"  # the pattern, not the check character, is what the suite checks


def contributions(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(n)],
            "firm_id": [FIRM] * n,
            "sealed_at": pd.Timestamp("2025-03-02T00:00:00Z"),
            "period": ["2025-02"] * n,
            "headcount": [5] * n,
            "wage_base_fen": [1_000_000] * n,
            "due_fen": [300_000] * n,
            "paid_fen": [300_000] * n,
        }
    )


def one_complete_pass(frame: pd.DataFrame, kind: str) -> tuple[dict[str, str], dict[str, int]]:
    """What the suite decides in one pass with complete results (the reference)."""
    definition, suite = _batch_definition(kind)
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    fmt = {"result_format": "COMPLETE", "unexpected_index_column_names": ["record_id"]}
    failed: dict[str, str] = {}
    counts: dict[str, int] = {}
    for r in batch.validate(suite, result_format=fmt).results:
        if not r.success:
            counts[r.expectation_config.type] = counts.get(r.expectation_config.type, 0) + int(
                r.result["unexpected_count"]
            )
            for row in r.result["unexpected_index_list"]:
                failed.setdefault(str(row["record_id"]), f"quality:{r.expectation_config.type}")
    return failed, counts


def failed_counts(report: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in report["results"]:
        if not r["success"]:
            name = r["expectation_config"]["type"]
            counts[name] = counts.get(name, 0) + int(r["result"]["unexpected_count"])
    return counts


def test_a_clean_frame_passes_in_one_pass() -> None:
    checked = validate(contributions(50), "contribution")
    assert checked.failed == {}
    assert checked.report["success"] and checked.report["rows"] == 50
    assert all(r["success"] for r in checked.report["results"])


def test_two_passes_decide_as_one_complete_pass() -> None:
    frame = contributions(40)
    frame.loc[3, "paid_fen"] = 400_000  # more paid than due
    frame.loc[7, "period"] = "2025-13"  # no such month
    frame.loc[7, "headcount"] = -1  # and a negative headcount: two expectations fail
    frame.loc[11, "firm_id"] = "not a code"
    frame.loc[11, "due_fen"] = 2_000_000  # due above the wage base, beside a bad firm id
    frame.loc[12, "firm_id"] = None
    checked = validate(frame, "contribution")
    reference, counts = one_complete_pass(frame, "contribution")
    assert set(checked.failed) == {"r3", "r7", "r11", "r12"}
    assert checked.failed == reference
    assert failed_counts(checked.report) == counts
    assert not checked.report["success"] and checked.report["rows"] == 40


def test_batches_are_not_fingerprinted() -> None:
    # GX hashes every row of a pandas batch into its batch markers unless told otherwise
    # (pipelines.ingest.quality.FINGERPRINT_BELOW): half the validation's time, for nothing.
    checked = validate(contributions(50), "contribution")
    markers = checked.report["meta"]["batch_markers"]
    assert "ge_load_time" in markers and "pandas_data_fingerprint" not in markers


def gx_expectation_class() -> Any:
    """The class whose ``configuration`` property the memo swaps."""
    return importlib.import_module("great_expectations.expectations.expectation").Expectation


def _without_run_facts(report: dict[str, Any]) -> dict[str, Any]:
    """A suite's results without what differs from run to run (times, run and batch ids)."""
    report = {k: v for k, v in report.items() if k != "meta"}
    for r in report["results"]:
        r["expectation_config"].pop("id", None)
        r["expectation_config"]["kwargs"].pop("batch_id", None)
    return report


def test_configurations_built_once_change_no_result() -> None:
    frame = contributions(30)
    frame.loc[2, "paid_fen"] = 400_000
    frame.loc[5, "period"] = "2025-13"
    frame.loc[8, "firm_id"] = None
    definition, suite = _batch_definition("contribution")
    for fmt in ({"result_format": "BOOLEAN_ONLY"}, {"result_format": "COMPLETE"}):
        batch = definition.get_batch(batch_parameters={"dataframe": frame})
        plain = batch.validate(suite, result_format=fmt)
        with configurations_built_once():
            once = batch.validate(suite, result_format=fmt)
        assert not plain.success
        assert _without_run_facts(once.to_json_dict()) == _without_run_facts(plain.to_json_dict())


def test_configurations_are_built_again_after_the_block() -> None:
    expectation_class = gx_expectation_class()
    rebuilt = expectation_class.__dict__["configuration"]
    _, suite = _batch_definition("contribution")
    expectation = suite.expectations[0]
    with pytest.raises(RuntimeError), configurations_built_once():
        assert expectation.configuration is expectation.configuration
        raise RuntimeError("a validation that fails")
    assert expectation_class.__dict__["configuration"] is rebuilt
    assert expectation.configuration is not expectation.configuration


def test_validations_in_several_threads_decide_alike_and_leave_gx_as_it_was() -> None:
    expectation_class = gx_expectation_class()
    rebuilt = expectation_class.__dict__["configuration"]
    frame = contributions(30)
    frame.loc[4, "headcount"] = -1
    with ThreadPoolExecutor(4) as pool:
        decided = list(pool.map(lambda _: validate(frame.copy(), "contribution").failed, range(8)))
    assert decided == [{"r4": "quality:expect_column_values_to_be_between"}] * 8
    assert expectation_class.__dict__["configuration"] is rebuilt
