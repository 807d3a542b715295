"""Reading the verified tables point in time: ``read_verified`` and ``VerifiedCache``.

``<lake>/verified/<source>/<kind>/sealed_month=YYYY-MM/`` holds the records that passed
verification (``pipelines.schemas.record_schema``). A stage reads a kind as of a day: the
rows sealed before the end of that day (UTC), whatever their ``event_time``, optionally
from a sealed month on. Features, the in-loan review and the post-loan monitor all read
them here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from pipelines.calendar import micros, month_number, month_start, month_text, sealed_cutoff
from pipelines.lake import filesystem
from pipelines.schemas import record_schema

Reader = Callable[..., pa.Table]
"""``read_verified`` or a stand-in with its signature (``VerifiedCache``)."""
ATTESTATION = ("sealed_at", "height", "index", "leaf_hash", "record_id")
"""The attestation columns a read returns beside the ones asked for (by default)."""
LOOKBACK_MONTHS = 12
"""How far back before its first day a ``VerifiedCache`` keeps rows by default: the
features' window (``pipelines.features.compute.WINDOW``)."""
_MONTH = ds.partitioning(pa.schema([("sealed_month", pa.string())]), flavor="hive")


def _sealed_by(as_of: date, since: int | None, where: pc.Expression | None) -> pc.Expression:
    cond = (pc.field("sealed_month") <= month_text(month_number(as_of))) & (
        pc.field("sealed_at") < pa.scalar(sealed_cutoff(as_of), type=pa.timestamp("us", tz="UTC"))
    )
    if since is not None:
        cond = cond & (pc.field("sealed_month") >= month_text(since))
    return cond if where is None else cond & where


def read_verified(
    lake_uri: str,
    source: str,
    kind: str,
    columns: Sequence[str],
    as_of: date,
    since: int | None,
    where: pc.Expression | None = None,
    attestation: Sequence[str] = ATTESTATION,
) -> pa.Table:
    """Rows of ``kind`` sealed by the end of ``as_of`` (UTC), from sealed month ``since``
    (``month_number``) on, with ``columns`` and the ``attestation`` columns (by default
    ``sealed_at, height, index, leaf_hash, record_id``); ``where`` filters further."""
    wanted = list(dict.fromkeys([*columns, *attestation]))
    data = verified_dataset(lake_uri, source, kind)
    if data is None:
        return record_schema(kind).empty_table().select(wanted)
    return data.to_table(columns=wanted, filter=_sealed_by(as_of, since, where))


def verified_dataset(lake_uri: str, source: str, kind: str) -> ds.Dataset | None:
    """The verified table of ``kind`` as a dataset partitioned by sealed month; None when
    nothing of that kind was ever landed."""
    fs, root = filesystem(lake_uri)
    path = f"{root}/verified/{source}/{kind}"
    if not fs.exists(path):
        return None
    return ds.dataset(path, format="parquet", partitioning=_MONTH, filesystem=fs)


class VerifiedCache:
    """``read_verified`` for a run over many days of one lake (a monitoring backfill): each
    table is read from storage once, for every day up to ``last`` and every window that
    starts no earlier than ``lookback_months`` months before ``first`` (the current month
    counted), and kept sorted by ``sealed_at`` (which sets ``sealed_month``), so a call's
    window is a zero-copy slice that ``where`` then filters. Calls outside that range read
    the lake. Memory grows with the tables read: about what one feature snapshot's inputs
    take, plus the range."""

    def __init__(
        self, lake_uri: str, first: date, last: date, lookback_months: int = LOOKBACK_MONTHS
    ) -> None:
        self.lake_uri, self.last = lake_uri, last
        self.since = month_number(first) - (lookback_months - 1)
        self._tables: dict[tuple[str, str, bool], tuple[pa.Table, np.ndarray]] = {}

    def __call__(
        self,
        lake_uri: str,
        source: str,
        kind: str,
        columns: Sequence[str],
        as_of: date,
        since: int | None,
        where: pc.Expression | None = None,
        attestation: Sequence[str] = ATTESTATION,
    ) -> pa.Table:
        if lake_uri != self.lake_uri or as_of > self.last or (since is not None and since < self.since):
            return read_verified(lake_uri, source, kind, columns, as_of, since, where, attestation)
        key = (source, kind, since is None)
        if key not in self._tables:
            data = verified_dataset(lake_uri, source, kind)
            if data is None:
                return read_verified(lake_uri, source, kind, columns, as_of, since, where, attestation)
            first = None if since is None else self.since
            table = data.to_table(filter=_sealed_by(self.last, first, None)).sort_by("sealed_at")
            self._tables[key] = (table, micros(table["sealed_at"]))
        table, stamps = self._tables[key]
        hi = int(np.searchsorted(stamps, micros(pa.array([sealed_cutoff(as_of)]))[0]))
        lo = 0
        if since is not None:
            lo = int(np.searchsorted(stamps, micros(pa.array([month_start(since)]))[0]))
        part = table.slice(lo, max(hi - lo, 0))
        if where is not None:
            part = part.filter(where)
        return part.select(list(dict.fromkeys([*columns, *attestation])))
