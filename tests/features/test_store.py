"""The feature input store: compact months that match the verified rows, compacted once and
again whenever the verified files of their month change, and a cache that cannot lie."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.features import FeatureError, InputStore, load_inputs, read_verified
from pipelines.features.compute import leaf_words, month_number
from pipelines.features.inputs import _key_codes
from pipelines.features.store import KINDS, key_hash, leaves_of
from tests.features.test_features import A, B, C, features, sale
from tests.lake_rows import land

AS_OF = date(2024, 6, 30)


def _lake(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    land(
        lake, "invoice", [sale("I1", A, B, 1_000_00, "2024-05-10"), sale("I2", A, C, 2_000_00, "2024-06-10")]
    )
    return lake


def test_a_month_is_compacted_once_and_again_when_its_files_change(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    first = InputStore(str(lake))
    assert first.read("supply_chain", "invoice", AS_OF, None).num_rows == 2
    assert first.compacted == [
        ("supply_chain", "invoice", 2024 * 12 + 4),
        ("supply_chain", "invoice", 2024 * 12 + 5),
    ]
    again = InputStore(str(lake))
    assert again.read("supply_chain", "invoice", AS_OF, None).num_rows == 2
    assert again.compacted == []  # the stored months are current
    land(lake, "invoice", [sale("I3", A, B, 3_000_00, "2024-05-20")])  # a late bundle for May
    late = InputStore(str(lake))
    assert late.read("supply_chain", "invoice", AS_OF, None).num_rows == 3
    assert late.compacted == [("supply_chain", "invoice", 2024 * 12 + 4)]
    assert features(lake).loc[A].sales_12m == 6_000


def test_a_damaged_or_foreign_store_file_is_compacted_again(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    want = features(lake)
    store = InputStore(str(lake))
    may = Path(store.uri("supply_chain", "invoice", 2024 * 12 + 4))
    may.write_bytes(b"not parquet")
    june = Path(store.uri("supply_chain", "invoice", 2024 * 12 + 5))
    pq.write_table(pa.table({"x": [1]}), june)  # readable, but not a compact month
    assert features(lake).equals(want)
    assert pq.read_schema(may).names == pq.read_schema(june).names
    assert "seller" in pq.read_schema(june).names


def test_compact_months_hold_every_verified_row_sorted_by_leaf(credit_world: Path) -> None:
    lake = str(credit_world / "lake")
    store = InputStore(lake)
    for source, kind in KINDS:
        months = store.months(source, kind)
        assert months, kind
        m = months[len(months) // 2]
        table = store.month(source, kind, m)
        verified = read_verified(lake, source, kind, [], date(2100, 1, 1), m)
        text = f"{m // 12:04d}-{m % 12 + 1:02d}"
        want = [
            h
            for h, sealed in zip(
                verified["leaf_hash"].to_pylist(), verified["sealed_at"].to_pylist(), strict=True
            )
            if sealed.strftime("%Y-%m") == text
        ]
        leaves = leaves_of(table["leaf"])
        assert len(want) > 0 and sorted(bytes(x).hex() for x in leaves) == sorted(want)
        words = leaf_words(leaves)
        assert (np.lexsort(words.T[::-1]) == np.arange(len(words))).all()  # stored in leaf order


def test_an_unreadable_verified_file_is_a_clear_error(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    bad = next((lake / "verified" / "supply_chain" / "invoice").rglob("*.parquet"))
    bad.write_bytes(b"garbage")
    with pytest.raises(FeatureError, match=r"cannot read verified file .*parquet"):
        load_inputs(str(lake), AS_OF)


def test_refresh_compacts_only_what_is_missing_or_stale(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    done = InputStore(str(lake)).refresh([AS_OF], 12)
    assert sorted(done) == [
        ("supply_chain", "invoice", month_number(date(2024, 5, 1))),
        ("supply_chain", "invoice", month_number(AS_OF)),
    ]
    assert InputStore(str(lake)).refresh([AS_OF], 12) == []
    assert InputStore(str(lake)).refresh([date(2024, 5, 31)], 12) == []


def test_the_invoice_key_hash_is_pinned() -> None:
    """Compact months written by earlier runs are matched against new ones: the hash must
    never change silently (a new pandas, say). If this fails, bump ``STORE_VERSION``."""
    hi, lo = key_hash(pa.array(["91310000MA1FL0001X", "A"]), pa.array(["INV-2024-000001", "I1"]))
    assert [int(x) for x in hi] == [4266456867992053931, 17676121565505119472]
    assert [int(x) for x in lo] == [7266437509122664396, 5060172955414754751]


def test_keys_sharing_64_bits_get_different_codes() -> None:
    hi = np.array([7, 7, 9], dtype=np.uint64)
    (codes,), n = _key_codes([(hi, np.array([1, 2, 1], dtype=np.uint64))])
    assert n == 3 and len(set(codes.tolist())) == 3
    (a, b), n = _key_codes(
        [(hi[:2], np.array([1, 1], dtype=np.uint64)), (hi[1:], np.array([1, 4], dtype=np.uint64))]
    )
    assert n == 2 and a.tolist() == [0, 0] and b.tolist() == [0, 1]
