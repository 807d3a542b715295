"""The garbage collector's pace during a long job, and objects held out of its walks
(pipelines.collector)."""

from __future__ import annotations

import gc
import weakref

import pytest

from pipelines.collector import THRESHOLDS, fewer_collections, held_from_collections


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


class Node:
    """A container that can be put in a reference cycle and watched with a weak reference."""

    def __init__(self) -> None:
        self.other: object = None


def test_held_objects_are_not_walked_and_a_held_cycle_is_collected_after_the_block() -> None:
    assert gc.get_freeze_count() == 0
    cycle = Node()
    cycle.other = cycle
    watched = weakref.ref(cycle)
    with held_from_collections() as hold:
        kept = [[i] for i in range(10_000)]
        hold()
        assert gc.get_freeze_count() >= len(kept)
        del cycle
        gc.collect()
        assert watched() is not None  # a cycle held waits for the end of the block
        assert kept[-1] == [9_999]
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert watched() is None


def test_objects_the_process_froze_itself_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with held_from_collections() as hold:
            hold()  # does nothing: the process's own freeze is not this block's to undo
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
