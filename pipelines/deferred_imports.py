"""Importing a library while the modules of some of its dependencies run only when first used.

Great Expectations imports scipy's statistics and altair's charts at import time, for
expectations and renderers the quality suites never use: 0.9 s of the 1.9 s its import
takes, paid by every ingest process and task. Imported within ``deferred("scipy",
"altair")``, the modules of those packages are created at once but run on first attribute
access (``importlib.util.LazyLoader``), so code that does use them gets them whole, only
later. A package runs when one of its modules is imported (the import reads its path), that
module on first use. Only pure-Python modules are deferred; extension modules load as
usual, and modules imported after the block are imported as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

_PYTHON_SOURCE = (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)


class _Deferring(importlib.abc.MetaPathFinder):
    """Finds modules of ``packages`` as the other finders do, and defers running them."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = frozenset(packages)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.packages:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if isinstance(spec.loader, _PYTHON_SOURCE):
                spec.loader = importlib.util.LazyLoader(spec.loader)
            return spec
        return None


@contextmanager
def deferred(*packages: str) -> Iterator[None]:
    """Within the block, modules of ``packages`` that are imported for the first time run
    on first use instead."""
    finder = _Deferring(packages)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
