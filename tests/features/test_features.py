"""Point-in-time features: exact values on hand-made rows, no look-ahead, shard invariance."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.cli import main
from pipelines.features import (
    FEATURE_NAMES,
    InputStore,
    VerifiedCache,
    build_snapshot,
    compute_shards,
    dictionary_markdown,
    feature_inputs,
    load_inputs,
    month_end_on_or_before,
    read_snapshot,
    read_verified,
)
from pipelines.features.catalogue import EMPTY
from pipelines.features.compute import compute, month_number
from tests.conftest import ROOT
from tests.lake_rows import land, row, uscc

A, B, C, D = (uscc(i) for i in range(1, 5))
AS_OF = date(2024, 6, 30)


def sale(no: str, seller: str, buyer: str, amount_fen: int, issued: str, sealed: str | None = None) -> dict:
    return row(
        "invoice",
        seller,
        sealed or issued,
        invoice_no=no,
        order_no=f"PO{no}",
        counterparty_id=buyer,
        direction="sale",
        amount_fen=amount_fen,
        tax_fen=amount_fen // 10,
        issued_on=date.fromisoformat(issued),
    )


def waybill(no: str, seller: str, buyer: str, shipped: str) -> dict:
    return row(
        "logistics",
        seller,
        shipped,
        waybill_no=f"WB{no}",
        invoice_no=no,
        counterparty_id=buyer,
        direction="sale",
        shipped_on=date.fromisoformat(shipped),
        delivered_on=None,
        weight_kg=5,
    )


def payment(no: str, seller: str, buyer: str, paid: str, amount_fen: int) -> dict:
    return row(
        "payment",
        buyer,
        paid,
        payment_no=f"PAY{no}",
        invoice_no=no,
        counterparty_id=seller,
        direction="purchase",
        amount_fen=amount_fen,
        paid_on=date.fromisoformat(paid),
    )


def contribution(
    firm: str, period: str, heads: int, sealed: str, paid_share: float = 1.0, **kw: object
) -> dict:
    due = heads * 1000_00
    return row(
        "contribution",
        firm,
        sealed,
        period=period,
        headcount=heads,
        wage_base_fen=heads * 6000_00,
        due_fen=due,
        paid_fen=int(due * paid_share),
        **kw,
    )


def receipt(firm: str, no: str, status: str, pledgee: str | None, sealed: str) -> dict:
    return row(
        "warehouse_receipt",
        firm,
        sealed,
        receipt_no=no,
        warehouse_id="WH-1",
        goods="steel",
        quantity=10,
        unit="t",
        unit_value_fen=1000_00,
        status=status,
        pledgee=pledgee,
    )


def lease(firm: str, no: str, status: str, end: str, sealed: str) -> dict:
    return row(
        "lease",
        firm,
        sealed,
        lease_no=no,
        premises="Unit 1",
        monthly_rent_fen=100_00,
        start_on=date(2022, 1, 1),
        end_on=date.fromisoformat(end),
        status=status,
    )


def features(lake: Path, as_of: date = AS_OF, shards: int = 1) -> pd.DataFrame:
    return compute_shards(load_inputs(str(lake), as_of), as_of, shards).set_index("firm_id")


@pytest.fixture
def trade_lake(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    land(
        lake,
        "invoice",
        [
            sale("I1", A, B, 3_000_000_00, "2024-06-10"),  # round: 3 million CNY
            sale("I2", A, C, 1_000_00, "2024-05-02"),
            sale("I3", A, B, 2_000_00, "2024-02-01"),
            sale("I4", A, C, 5_000_00, "2023-05-01"),  # 14 months back: outside the window
            sale("I5", B, D, 7_000_00, "2024-06-29", sealed="2024-07-02"),  # sealed after the as-of date
        ],
    )
    land(lake, "logistics", [waybill("I2", A, C, "2024-05-03"), waybill("I3", A, B, "2024-02-02")])
    land(lake, "payment", [payment("I3", A, B, "2024-03-02", 2_200_00)])
    return lake


def test_trade_features_are_exact(trade_lake: Path) -> None:
    f = features(trade_lake)
    a = f.loc[A]
    assert a.sales_3m == 3_000_000 + 1_000
    assert a.sales_6m == a.sales_12m == 3_000_000 + 1_000 + 2_000
    assert f.loc[B].purchases_12m == 3_000_000 + 2_000 and f.loc[C].purchases_3m == 1_000
    assert a.customers_12m == 2 and f.loc[B].suppliers_12m == 1
    share_b = 3_002_000 / 3_003_000
    assert a.top_customer_share_12m == pytest.approx(share_b)
    assert a.customer_hhi_12m == pytest.approx(share_b**2 + (1_000 / 3_003_000) ** 2)
    assert a.waybill_match_share_12m == pytest.approx(2 / 3)
    assert a.payment_match_share_12m == 1.0  # only I3 is 60+ days old, and it is paid
    assert a.round_amount_share_12m == pytest.approx(1 / 3)
    # I1 20 days outstanding, I2 59 days, I3 paid after 30 days; weighted by amount.
    dso = (3_000_000 * 20 + 1_000 * 59 + 2_000 * 30) / 3_003_000
    assert a.dso_days_12m == pytest.approx(dso)
    assert a.days_since_last_sale == 20 and a.months_since_last_sale == 0
    assert a.sales_growth_3m == pytest.approx((3_001_000 - 2_000) / (3_003_000 / 2))
    assert B not in f.index or f.loc[B].sales_12m == 0  # I5 was sealed after the as-of date


def test_input_hash_traces_the_exact_records(trade_lake: Path) -> None:
    f = features(trade_lake)
    leaves = feature_inputs(str(trade_lake), A, AS_OF)
    assert len(leaves) == f.loc[A].input_records == 6  # I1-I3, the waybills of I2 and I3, I3's payment
    assert leaves == sorted(leaves)
    assert f.loc[A].input_hash == hashlib.sha256(b"".join(bytes.fromhex(h) for h in leaves)).hexdigest()


def test_receipts_and_leases(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    land(
        lake,
        "warehouse_receipt",
        [
            receipt(A, "R1", "issued", None, "2024-01-05"),
            receipt(A, "R1", "pledged", "BANK-X", "2024-02-05"),
            receipt(A, "R1", "pledged", "BANK-Y", "2024-03-05"),  # pledged twice at once
            receipt(A, "R2", "issued", None, "2024-01-05"),
            receipt(A, "R3", "issued", None, "2024-01-05"),
            receipt(A, "R3", "released", None, "2024-05-05"),
            receipt(A, "R4", "issued", None, "2024-01-05"),
            receipt(A, "R4", "pledged", "BANK-X", "2024-07-05"),  # not known yet
        ],
    )
    land(
        lake,
        "lease",
        [
            lease(A, "L1", "active", "2026-06-30", "2023-01-01"),
            lease(B, "L2", "active", "2025-01-01", "2023-01-01"),
            lease(B, "L2", "terminated", "2024-05-20", "2024-05-20"),
        ],
    )
    f = features(lake)
    a, b = f.loc[A], f.loc[B]
    assert a.receipts_double_pledged == 1
    assert a.receipts_pledged_value == 10_000 and a.receipts_held_value == 20_000
    assert a.receipts_released_value_3m == a.receipts_released_value_12m == 10_000
    assert a.active_leases == 1 and a.months_to_lease_end == pytest.approx(730 / 30.44)
    assert a.no_active_lease == 0 and a.lease_terminated_3m == 0
    assert b.active_leases == 0 and b.no_active_lease == 1 and b.lease_terminated_3m == 1


def test_payroll_features(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    si = [contribution(A, f"2024-{m:02d}", 10, f"2024-{m:02d}-20") for m in range(1, 4)]
    si += [contribution(A, "2024-04", 10, "2024-04-20", paid_share=0.5)]
    si += [contribution(A, "2024-05", 10, "2024-05-20", paid_share=0.0)]
    si += [contribution(A, "2024-06", 14, "2024-06-20", paid_share=0.5)]
    si += [contribution(A, "2024-06", 15, "2024-06-25", paid_share=0.5)]  # a correction: the later wins
    hf = [contribution(A, "2024-06", 12, "2024-06-20")]
    land(lake, "contribution", si, source="social_insurance")
    land(lake, "contribution", hf, source="housing_fund")
    a = features(lake).loc[A]
    assert a.si_headcount == 15 and a.hf_headcount == 12
    assert a.si_headcount_change_3m == pytest.approx(0.5) and a.headcount_jump_3m == 1
    assert a.si_arrears_months_12m == 3 and a.si_arrears_streak == 3
    assert a.si_arrears_amount_12m == pytest.approx(5_000 + 10_000 + 7_500)
    assert a.si_continuity_12m == pytest.approx(6 / 12) and a.hf_continuity_12m == pytest.approx(1 / 12)
    assert a.wage_per_head == 6000
    assert a.si_hf_headcount_gap == pytest.approx(3 / 15)
    assert a.history_months_12m == 6 and a.thin_file == 0


def test_a_firm_without_history_gets_the_documented_empty_values(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    land(lake, "contribution", [contribution(A, "2023-01", 3, "2023-01-20")], source="social_insurance")
    rows = compute_shards(load_inputs(str(lake), AS_OF), AS_OF)
    assert rows.firm_id.tolist() == [] or rows.iloc[0][list(FEATURE_NAMES)].to_dict() == EMPTY
    from pipelines.features.compute import compute

    only, _ = compute(load_inputs(str(lake), AS_OF), AS_OF, pd.Index([D]))
    assert only.iloc[0][list(FEATURE_NAMES)].to_dict() == EMPTY
    assert not only[list(FEATURE_NAMES)].isna().any().any()
    assert only.iloc[0].input_records == 0


LATE = st.dates(min_value=date(2022, 1, 1), max_value=date(2024, 6, 30))
SEAL = st.dates(min_value=date(2024, 7, 1), max_value=date(2025, 6, 30))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(["invoice", "logistics", "payment", "receipt", "lease", "si"]), LATE, SEAL),
        min_size=1,
        max_size=8,
    )
)
def test_records_sealed_after_the_as_of_date_change_nothing(
    trade_lake: Path, tmp_path_factory: pytest.TempPathFactory, late: list[tuple[str, date, date]]
) -> None:
    lake = tmp_path_factory.mktemp("lake") / "lake"
    shutil.copytree(trade_lake, lake)
    before = features(lake)
    for i, (what, business, sealed) in enumerate(late):
        b, s = business.isoformat(), sealed.isoformat()
        if what == "invoice":
            land(
                lake,
                "invoice",
                [{**sale(f"X{i}", A, D, 10_000_00, b), "sealed_at": row("order", A, s)["sealed_at"]}],
            )
        elif what == "logistics":
            land(
                lake, "logistics", [{**waybill("I1", A, B, b), "sealed_at": row("order", A, s)["sealed_at"]}]
            )
        elif what == "payment":
            land(
                lake, "payment", [{**payment("I1", A, B, b, 1), "sealed_at": row("order", A, s)["sealed_at"]}]
            )
        elif what == "receipt":
            land(
                lake,
                "warehouse_receipt",
                [{**receipt(A, "R9", "pledged", "Z", s), "event_time": row("order", A, b)["event_time"]}],
            )
        elif what == "lease":
            land(
                lake,
                "lease",
                [{**lease(A, "L9", "terminated", b, s), "event_time": row("order", A, b)["event_time"]}],
            )
        else:
            land(lake, "contribution", [contribution(A, b[:7], 99, s)], source="social_insurance")
    after = features(lake)
    pd.testing.assert_frame_equal(before, after)


def test_one_shard_and_eight_give_the_same_rows(sim_lake: Path) -> None:
    as_of = date(2024, 8, 31)
    inputs = load_inputs(str(sim_lake), as_of)
    one = compute_shards(inputs, as_of, 1)
    eight = compute_shards(inputs, as_of, 8)
    assert len(one) >= 400
    pd.testing.assert_frame_equal(one, eight)
    assert not one[list(FEATURE_NAMES)].isna().any().any()
    assert np.isfinite(one[list(FEATURE_NAMES)].to_numpy()).all()


def test_a_cache_over_many_days_reads_what_the_lake_gives(credit_world: Path) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    lake = str(credit_world / "lake")
    cache = VerifiedCache(lake, date(2024, 9, 3), date(2025, 2, 11))
    some = pa.array(
        sorted(
            set(read_verified(lake, "supply_chain", "lease", ["firm_id"], AS_OF, None)["firm_id"].to_pylist())
        )[:25]
    )
    for day in (date(2024, 9, 3), date(2024, 12, 31), date(2025, 2, 11), date(2025, 2, 12)):
        calls = [
            ("supply_chain", "invoice", ["firm_id", "amount_fen"], month_number(day) - 11),
            ("supply_chain", "lease", ["lease_no", "status"], None),
            ("social_insurance", "contribution", ["firm_id", "period"], month_number(day) - 6),
        ]
        for source, kind, columns, since in calls:
            for where in (None, pc.field("firm_id").isin(some)):
                want = read_verified(lake, source, kind, columns, day, since, where).sort_by("record_id")
                got = cache(lake, source, kind, columns, day, since, where).sort_by("record_id")
                assert got.num_rows > 0 and got.equals(want), (day, kind, since, where)
    day = date(2025, 1, 17)
    firms = pd.Index(sorted(some.to_pylist()))
    cached, _ = compute(load_inputs(lake, day, InputStore(lake, keep=True)), day, firms)
    direct, _ = compute(load_inputs(lake, day), day, firms)
    pd.testing.assert_frame_equal(cached, direct)


def test_snapshots_are_written_once_per_month_and_rebuilt_in_place(sim_lake: Path) -> None:
    uri, rows = build_snapshot(str(sim_lake), date(2024, 6, 15))  # the month ending on or before
    assert uri.endswith("features/as_of_month=2024-05/part-0.parquet")
    again_uri, again_rows = build_snapshot(str(sim_lake), date(2024, 5, 31), shards=3)
    assert again_uri == uri and again_rows == rows
    files = list((sim_lake / "features").rglob("*.parquet"))
    assert [p.relative_to(sim_lake).as_posix() for p in files] == [
        "features/as_of_month=2024-05/part-0.parquet"
    ]
    snap = read_snapshot(str(sim_lake), date(2024, 5, 31))
    assert (snap.as_of == date(2024, 5, 31)).all() and snap.firm_id.is_unique


def test_month_end_on_or_before() -> None:
    assert month_end_on_or_before(date(2024, 2, 29)) == date(2024, 2, 29)
    assert month_end_on_or_before(date(2024, 3, 30)) == date(2024, 2, 29)
    assert month_end_on_or_before(date(2024, 1, 1)) == date(2023, 12, 31)


def test_cli_builds_a_snapshot_and_prints_the_dictionary(
    sim_lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(sim_lake))
    assert main(["features", "--as-of", "2024-07-31", "--shards", "2"]) == 0
    assert "features as of 2024-07-31" in capsys.readouterr().out
    assert (sim_lake / "features" / "as_of_month=2024-07" / "part-0.parquet").is_file()
    with pytest.raises(SystemExit) as exit_:
        main(["features", "--as-of", "July"])
    assert exit_.value.code == 2
    assert "not a date" in capsys.readouterr().err
    assert main(["features", "--dictionary"]) == 0
    assert capsys.readouterr().out == dictionary_markdown()


def test_the_feature_dictionary_in_docs_is_current() -> None:
    assert (ROOT / "docs" / "features.md").read_text() == dictionary_markdown(), (
        "docs/features.md is stale: run smecredit features --dictionary > docs/features.md"
    )


def test_an_empty_lake_gives_an_empty_snapshot_for_any_shard_count(tmp_path: Path) -> None:
    from pipelines.features import build_shard, merge_shards

    for k in range(3):
        build_shard(str(tmp_path), date(2024, 1, 31), k, 3)
    _, rows = merge_shards(str(tmp_path), date(2024, 1, 31), 3)
    assert rows == 0 and read_snapshot(str(tmp_path), date(2024, 1, 31)).empty
