"""The garbage collector's pace during a long job (pipelines.collector)."""

from __future__ import annotations

import gc

import pytest

from pipelines.collector import THRESHOLDS, fewer_collections


def _collections(allocations: int) -> int:
    """How many collections (of any generation) ``allocations`` containers cost."""
    before = sum(g["collections"] for g in gc.get_stats())
    kept = [[i] for i in range(allocations)]
    assert len(kept) == allocations
    return sum(g["collections"] for g in gc.get_stats()) - before


def test_the_block_collects_less_often_and_the_process_keeps_its_pace() -> None:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        usual = _collections(200_000)
        with fewer_collections():
            assert gc.get_threshold() == THRESHOLDS
            slower = _collections(200_000)
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*saved)
    assert usual >= 200_000 // 700 - 1
    assert slower <= 200_000 // THRESHOLDS[0] + 1


def test_the_pace_is_put_back_when_the_block_fails() -> None:
    saved = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == saved
