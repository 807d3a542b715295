"""The cyclic garbage collector's pace during a long data job.

CPython starts a collection of its youngest generation every 700 container allocations and
walks everything older every few of those. A job that builds and drops hundreds of thousands
of rows a window (ingest: parsed records, Arrow and pandas frames, Great Expectations'
results) spent about a tenth of its time walking the same live objects again (a month of the
50,000-firm world: 2.8 s of 27 s, 1.7-1.9 s of it in eight full collections of the whole
heap). Reference counting frees almost all of it; the collector is only for cycles, which
are still collected, every 50,000 allocations instead of 700.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# (first generation, second, third): a young collection every 50,000 container allocations,
# a middle one every 20 of those and the old generation every 10 middle ones (and only when
# CPython's own rule, a quarter of it new since the last, also holds).
THRESHOLDS = (50_000, 20, 10)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with the collector at ``THRESHOLDS``; the process's own thresholds are
    put back on the way out, whatever happens."""
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def held_from_collections() -> Iterator[Callable[[], None]]:
    """A block whose ``hold()`` keeps every object alive at that moment out of later
    collections (``gc.freeze``), until the block ends (``gc.unfreeze``).

    A judged bundle's records (a few container objects each, hundreds of thousands of them)
    would otherwise be walked by the first collection after it, only to be found alive:
    0.12 s of a 300,000-record bundle's 4.6 s in ``smecredit verify``. Held objects are
    still freed as soon as nothing refers to them; only a garbage cycle alive at a ``hold()``
    waits for the end of the block, when everything held goes back to the oldest generation,
    which only a full collection walks. So it suits a block that makes no garbage cycles
    (the verifier's); ingest, whose quality suites and Parquet writes make some every window,
    grew by 120 MB over three months with it and does not use it. When the process has frozen
    objects of its own already, ``hold()`` does nothing: they are not this block's to let go.
    """
    ours = gc.get_freeze_count() == 0
    try:
        yield gc.freeze if ours else lambda: None
    finally:
        if ours:
            gc.unfreeze()
