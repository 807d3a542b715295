"""Feature arithmetic: per-firm aggregates of the attested records available at an as-of date.

Everything is vectorised over firms and records. Firm ids, invoice keys, receipt and lease
numbers arrive as integer codes (``load_inputs`` encodes them), each record as its row in
one array of leaf hashes; aggregates are ``np.bincount`` and ufunc reductions over firm
positions; the only Python loops run over the 12 months of a window, and one ``hashlib`` call
per firm digests its input records. The inputs are already cut to what was sealed by the as-of date;
this module looks at the chain order only to pick the latest status or correction.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from pipelines.calendar import DAYS_PER_MONTH, month_number
from pipelines.features.catalogue import EMPTY, FEATURE_NAMES, FEATURE_SET_VERSION

WINDOW = 12  # months
EPOCH = date(1970, 1, 1)
ROUND_FEN = 1_000_000  # 10,000 CNY
JUMP = 0.25
LEAF = 32  # bytes of a SHA-256 leaf hash
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()

Frame = dict[str, np.ndarray]
_RANKS = threading.Lock()
_HEX = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype="S2")


def day_number(d: date) -> int:
    return (d - EPOCH).days


def shard_hash(values: pd.Series) -> np.ndarray:
    """A stable 64-bit hash per firm id (the same on every machine and run)."""
    hashed: np.ndarray = pd.util.hash_pandas_object(values.astype(object), index=False).to_numpy()
    return hashed


def leaf_words(leaves: np.ndarray) -> np.ndarray:
    """(n, 32) leaf bytes as (n, 4) big-endian words: their order is the leaves' byte order."""
    return np.ascontiguousarray(leaves).view(">u8").astype(np.uint64)


def leaf_order(leaves: np.ndarray) -> np.ndarray:
    """The row order that sorts (n, 32) leaf bytes in byte order."""
    order: np.ndarray = np.lexsort(leaf_words(leaves).T[::-1])
    return order


def take(frame: Frame, mask: np.ndarray) -> Frame:
    if mask.dtype == bool and mask.all():
        return frame
    return {k: v[mask] for k, v in frame.items()}


def rows(frame: Frame) -> int:
    return len(next(iter(frame.values()))) if frame else 0


FRAMES = ("invoices", "waybills", "payments", "receipts", "leases", "si", "hf")
"""The record frames of ``Inputs``."""


@dataclass(frozen=True)
class Inputs:
    """The attested rows a snapshot is built from, as columns of numpy arrays.

    ``firms`` holds every firm id named by a row, sorted; firm columns (``seller``, ``buyer``,
    ``firm``) are positions in it, ``hashes`` its ``shard_hash``. ``day`` columns are days
    since 1970-01-01, ``month`` columns year * 12 + month - 1, ``order`` the position on chain,
    ``row`` the record's row in ``leaves`` (its leaf hash, 32 bytes). Frames and columns:

    - invoices: seller, buyer, key, amount_fen, day, month, order, row
    - waybills, payments: seller, key, day, row (``key`` codes seller and invoice number,
      shared with invoices; ``n_keys`` codes in all)
    - receipts: firm, receipt, status (0 issued, 1 pledged, 2 released), pledgee (-1: none),
      value_fen, month, order, row
    - leases: firm, lease, terminated (0/1), end_day, month, order, row
    - si, hf: firm, month, headcount, wage_base_fen, due_fen, paid_fen, order, row
    """

    firms: np.ndarray
    hashes: np.ndarray
    n_keys: int
    invoices: Frame
    waybills: Frame
    payments: Frame
    receipts: Frame
    leases: Frame
    si: Frame
    hf: Frame
    leaves: np.ndarray = field(default_factory=lambda: np.zeros((0, LEAF), dtype=np.uint8))
    """(records, 32) bytes: the leaf hash of each row."""
    cache: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    """Computed once and shared by every shard of these inputs (``ranks``)."""

    def ranks(self) -> tuple[np.ndarray, np.ndarray]:
        """The rank of each row's leaf hash in byte order, and the row of each rank."""
        with _RANKS:
            if "rank" not in self.cache:
                self._rank()
        return self.cache["rank"], self.cache["by_rank"]

    def _rank(self) -> None:
        n = len(self.leaves)
        first = np.ascontiguousarray(self.leaves[:, :8]).view(">u8").ravel().astype(np.uint64)
        by_rank = np.argsort(first, kind="stable")  # rows come in runs sorted by leaf
        ordered = first[by_rank]
        if n > 1 and (ordered[1:] == ordered[:-1]).any():  # leaves sharing 8 bytes: all 32
            by_rank = leaf_order(self.leaves)
        rank = np.empty(n, dtype=np.int64)
        rank[by_rank] = np.arange(n)
        self.cache["rank"], self.cache["by_rank"] = rank, by_rank.astype(np.int64)

    def shard(self, k: int, n: int) -> Inputs:
        """The rows that shard ``k`` of ``n`` needs: a trade row goes to the shards of both
        its seller and its buyer; every other row to its firm's shard."""
        if n == 1:
            return self
        mine = self.hashes % n == k
        out: dict[str, Frame] = {}
        for name in FRAMES:
            frame = getattr(self, name)
            if name == "invoices":
                out[name] = take(frame, mine[frame["seller"]] | mine[frame["buyer"]])
            elif name in ("waybills", "payments"):
                out[name] = take(frame, mine[frame["seller"]])
            else:
                out[name] = take(frame, mine[frame["firm"]])
        return replace(self, **out)  # type: ignore[arg-type]

    def codes_of_shard(self, k: int, n: int) -> np.ndarray:
        return np.flatnonzero(self.hashes % n == k)


def _sym_growth(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    total = a + b
    return np.where(total > 0, (a - b) / np.where(total > 0, total / 2, 1), 0.0)


def _rel_change(now: np.ndarray, then: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(now) & ~np.isnan(then)
    safe_then = np.where(ok, then, 1.0)
    return np.where(ok, (np.where(ok, now, 0) - safe_then) / np.maximum(safe_then, 1), 0.0)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), empty)


def _last_per(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Indices of the last row (by ``order``) of each distinct ``group``."""
    idx = np.lexsort((order, group))
    g = group[idx]
    last = np.ones(len(idx), dtype=bool)
    last[:-1] = g[1:] != g[:-1]
    return np.asarray(idx[last])


class _Builder:
    def __init__(self, inputs: Inputs, codes: np.ndarray, as_of: date) -> None:
        self.inputs = inputs
        self.n = len(codes)
        self.local = np.full(len(inputs.firms) + 1, -1, dtype=np.int64)  # the last slot: unknown
        self.local[codes[codes >= 0]] = np.flatnonzero(codes >= 0)
        self.today = day_number(as_of)
        self.month = month_number(as_of)
        self.out: dict[str, np.ndarray] = {}
        self.trace_pos: list[np.ndarray] = []
        self.trace_row: list[np.ndarray] = []
        self.active = np.zeros((self.n, WINDOW), dtype=bool)  # months with any activity
        self.sales_growth_3m = np.zeros(self.n)
        self.si_known = np.full((self.n, WINDOW), np.nan)

    def pos(self, firm_codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.local[firm_codes])

    def count(self, pos: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(pos, weights=weights, minlength=self.n).astype(float)

    def keep_trace(self, pos: np.ndarray, row: np.ndarray) -> None:
        self.trace_pos.append(pos)
        self.trace_row.append(row)

    def monthly(self, pos: np.ndarray, k: np.ndarray, weights: np.ndarray) -> np.ndarray:
        flat = np.bincount(pos * WINDOW + k, weights=weights, minlength=self.n * WINDOW)
        return flat.reshape(self.n, WINDOW)

    # -- trade -----------------------------------------------------------------------

    def trade(self) -> None:
        inv = self.inputs.invoices
        k_all = self.month - inv["month"]
        inv = take(inv, (k_all >= 0) & (k_all < WINDOW) & (inv["day"] <= self.today))
        k = (self.month - inv["month"]).astype(np.int64)
        amount = inv["amount_fen"].astype(float)
        out = self.out
        for side, role, other_role in (("sales", "seller", "buyer"), ("purchases", "buyer", "seller")):
            pos = self.pos(inv[role])
            mine = pos >= 0
            p, kk, amt = pos[mine], k[mine], amount[mine]
            self.keep_trace(p, inv["row"][mine])
            by_month = self.monthly(p, kk, amt / 100)
            self.active |= by_month > 0
            for n in (3, 6, 12):
                out[f"{side}_{n}m"] = by_month[:, :n].sum(axis=1)
            other = inv[other_role][mine].astype(np.int64)
            pair = p.astype(np.int64) * (len(self.inputs.firms) + 1) + other
            uniq, inverse = np.unique(pair, return_inverse=True)
            pair_sum = np.bincount(inverse, weights=amt)
            pair_pos = (uniq // (len(self.inputs.firms) + 1)).astype(np.int64)
            distinct = self.count(pair_pos)
            if side == "purchases":
                out["suppliers_12m"] = distinct
                continue
            out["customers_12m"] = distinct
            sales = by_month.sum(axis=1) * 100  # fen
            share = pair_sum / np.where(sales[pair_pos] > 0, sales[pair_pos], 1)
            out["customer_hhi_12m"] = self.count(pair_pos, share**2)
            top = np.zeros(self.n)
            np.maximum.at(top, pair_pos, share)
            out["top_customer_share_12m"] = top
            a3, b3 = by_month[:, :3].sum(axis=1), by_month[:, 3:6].sum(axis=1)
            a6, b6 = by_month[:, :6].sum(axis=1), by_month[:, 6:12].sum(axis=1)
            out["sales_growth_3m"] = _sym_growth(a3, b3)
            out["sales_growth_6m"] = _sym_growth(a6, b6)
            out["sales_volatility_12m"] = _ratio(by_month.std(axis=1), by_month.mean(axis=1), 0.0)
            self._matching(take(inv, mine), p, amt)
            n_inv = self.count(p)
            out["round_amount_share_12m"] = _ratio(self.count(p, (amt % ROUND_FEN == 0) * 1.0), n_inv, 0.0)
            last = np.full(self.n, np.iinfo(np.int64).min)
            np.maximum.at(last, p, inv["day"][mine].astype(np.int64))
            has_sale = last > np.iinfo(np.int64).min
            out["days_since_last_sale"] = np.where(has_sale, np.minimum(366, self.today - last), 366.0)
            has = by_month > 0
            out["months_since_last_sale"] = np.where(has.any(axis=1), has.argmax(axis=1), WINDOW).astype(
                float
            )
            self.sales_growth_3m = out["sales_growth_3m"]

    def _matching(self, sales: Frame, pos: np.ndarray, amount: np.ndarray) -> None:
        out, today, n_keys = self.out, self.today, self.inputs.n_keys
        bills = take(self.inputs.waybills, self.inputs.waybills["day"] <= today)
        pays = take(self.inputs.payments, self.inputs.payments["day"] <= today)
        has_bill = np.zeros(n_keys + 1, dtype=bool)
        has_bill[bills["key"]] = True
        first_paid = np.full(n_keys + 1, np.inf)
        np.minimum.at(first_paid, pays["key"], pays["day"].astype(float))
        keys = sales["key"]
        billed = has_bill[keys]
        paid_day = first_paid[keys]
        paid = np.isfinite(paid_day)
        issued = sales["day"].astype(float)
        n_inv = self.count(pos)
        out["waybill_match_share_12m"] = _ratio(self.count(pos, billed * 1.0), n_inv, 1.0)
        mature = issued <= today - 60
        out["payment_match_share_12m"] = _ratio(
            self.count(pos, (paid & mature) * 1.0), self.count(pos, mature * 1.0), 1.0
        )
        outstanding = np.where(paid, paid_day, today) - issued
        out["dso_days_12m"] = _ratio(self.count(pos, amount * outstanding), self.count(pos, amount), 0.0)
        used = np.zeros(n_keys + 1, dtype=bool)
        used[keys] = True
        for frame in (bills, pays):
            hit = take(frame, used[frame["key"]])
            hp = self.pos(hit["seller"])
            self.keep_trace(hp[hp >= 0], hit["row"][hp >= 0])

    # -- receipts and leases ---------------------------------------------------------------

    def assets(self) -> None:
        out = self.out
        rec = self.inputs.receipts
        p_all = self.pos(rec["firm"])
        rec, p_all = take(rec, p_all >= 0), p_all[p_all >= 0]
        self.keep_trace(p_all, rec["row"])
        idx = np.lexsort((rec["order"], rec["receipt"]))
        r = take(rec, idx)
        pr = p_all[idx]
        same = np.zeros(len(idx), dtype=bool)
        same[1:] = r["receipt"][1:] == r["receipt"][:-1]
        prev_status = np.concatenate([[-1], r["status"][:-1]])
        prev_pledgee = np.concatenate([[-1], r["pledgee"][:-1]])
        double = same & (r["status"] == 1) & (prev_status == 1) & (r["pledgee"] != prev_pledgee)
        twice = (
            np.unique(np.stack([pr[double], r["receipt"][double]]), axis=1)
            if double.any()
            else np.zeros((2, 0))
        )
        out["receipts_double_pledged"] = self.count(twice[0].astype(np.int64))
        latest = take(rec, _last_per(rec["receipt"], rec["order"])) if rows(rec) else rec
        lp = self.pos(latest["firm"])
        value = latest["value_fen"] / 100
        status = latest["status"]
        k = self.month - latest["month"]
        out["receipts_held_value"] = self.count(lp, value * (status == 0))
        out["receipts_pledged_value"] = self.count(lp, value * (status == 1))
        released = status == 2
        out["receipts_released_value_3m"] = self.count(lp, value * (released & (k < 3)))
        out["receipts_released_value_12m"] = self.count(lp, value * (released & (k < WINDOW)))

        lease = self.inputs.leases
        lpos = self.pos(lease["firm"])
        lease, lpos = take(lease, lpos >= 0), lpos[lpos >= 0]
        self.keep_trace(lpos, lease["row"])
        k = self.month - lease["month"]
        ended = (lease["terminated"] == 1) & (k < 3) & (k >= 0)
        out["lease_terminated_3m"] = (self.count(lpos, ended * 1.0) > 0) * 1.0
        latest = take(lease, _last_per(lease["lease"], lease["order"])) if rows(lease) else lease
        lp = self.pos(latest["firm"])
        active = (latest["terminated"] == 0) & (latest["end_day"] >= self.today)
        out["active_leases"] = self.count(lp, active * 1.0)
        months_left = np.zeros(self.n)
        np.maximum.at(months_left, lp[active], (latest["end_day"][active] - self.today) / DAYS_PER_MONTH)
        out["months_to_lease_end"] = months_left
        out["no_active_lease"] = (out["active_leases"] == 0) * 1.0

    # -- social insurance and housing fund ----------------------------------------------------

    def payroll(self) -> None:
        out = self.out
        for prefix in ("si", "hf"):
            frame: Frame = getattr(self.inputs, prefix)
            k_all = self.month - frame["month"]
            frame = take(frame, (k_all >= 0) & (k_all < WINDOW))
            pos = self.pos(frame["firm"])
            frame, pos = take(frame, pos >= 0), pos[pos >= 0]
            if rows(frame):  # a correction (a later record of the same firm and period) wins
                keep = _last_per(pos.astype(np.int64) * 100_000 + frame["month"], frame["order"])
                frame, pos = take(frame, keep), pos[keep]
            self.keep_trace(pos, frame["row"])
            k = (self.month - frame["month"]).astype(np.int64)
            filed = np.zeros((self.n, WINDOW), dtype=bool)
            filed[pos, k] = True
            self.active |= filed
            heads = np.full((self.n, WINDOW), np.nan)
            heads[pos, k] = frame["headcount"]
            wage = np.full((self.n, WINDOW), np.nan)
            wage[pos, k] = _ratio(frame["wage_base_fen"] / 100, frame["headcount"].astype(float), 0.0)
            short = np.maximum(0, frame["due_fen"] - frame["paid_fen"])
            late = np.zeros((self.n, WINDOW), dtype=bool)
            late[pos, k] = short > 0
            # Each month carries the newest filing up to it (columns run newest first).
            known = pd.DataFrame(heads[:, ::-1]).ffill(axis=1).to_numpy()[:, ::-1]
            now = known[:, 0]
            out[f"{prefix}_headcount"] = np.nan_to_num(now)
            out[f"{prefix}_headcount_change_3m"] = _rel_change(now, known[:, 3])
            out[f"{prefix}_headcount_change_6m"] = _rel_change(now, known[:, 6])
            out[f"{prefix}_arrears_months_12m"] = late.sum(axis=1).astype(float)
            out[f"{prefix}_arrears_amount_12m"] = self.count(pos, short / 100)
            streak = np.zeros(self.n)
            broken = np.zeros(self.n, dtype=bool)
            for m in range(WINDOW):
                streak += filed[:, m] & late[:, m] & ~broken
                broken |= filed[:, m] & ~late[:, m]
            out[f"{prefix}_arrears_streak"] = streak
            out[f"{prefix}_continuity_12m"] = filed.sum(axis=1) / WINDOW
            if prefix == "si":
                self.si_known = known
                wage_known = pd.DataFrame(wage[:, ::-1]).ffill(axis=1).to_numpy()[:, ::-1]
                out["wage_per_head"] = np.nan_to_num(wage_known[:, 0])
        out["headcount_jump_3m"] = (out["si_headcount_change_3m"] >= JUMP) * 1.0

    def cross(self) -> None:
        out = self.out
        si = out["si_headcount"]
        out["si_hf_headcount_gap"] = (si - out["hf_headcount"]) / np.maximum(si, 1)
        out["sales_per_employee_12m"] = out["sales_12m"] / np.maximum(si, 1)
        heads = np.nan_to_num(self.si_known)
        out["headcount_vs_sales_growth_3m"] = _sym_growth(heads[:, 0], heads[:, 3]) - self.sales_growth_3m
        months = self.active.sum(axis=1).astype(float)
        out["history_months_12m"] = months
        out["thin_file"] = (months < 6) * 1.0

    def trace(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (firm position, row) a feature row was built from, unique, sorted by firm
        position and then by the row's leaf hash."""
        if not self.trace_pos:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        pos = np.concatenate(self.trace_pos).astype(np.int64, copy=False)
        row = np.concatenate(self.trace_row).astype(np.int64, copy=False)
        if not len(pos):
            return pos, row
        rank, by_rank = self.inputs.ranks()
        bits = max(1, len(by_rank).bit_length())
        key = (pos << bits) | rank[row]
        key.sort()
        keep = np.ones(len(key), dtype=bool)
        keep[1:] = key[1:] != key[:-1]
        key = key[keep]
        return key >> bits, by_rank[key & ((1 << bits) - 1)]

    def digests(self, pos: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per firm: how many input records, and the SHA-256 of their leaf hashes (32 bytes
        each) in byte order, concatenated (one hashlib call per firm over one buffer)."""
        records = np.bincount(pos, minlength=self.n).astype(np.int64)
        words = np.ascontiguousarray(self.inputs.leaves).view(np.uint64)  # 4 per leaf, bytes as they are
        buffer = np.take(words, row, axis=0).reshape(-1).view(np.uint8).data
        ends = np.cumsum(records) * LEAF
        starts = ends - records * LEAF
        digests = [
            hashlib.sha256(buffer[s:e]).hexdigest() if e > s else EMPTY_DIGEST
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
        ]
        return records, np.array(digests, dtype=object)


def leaf_hex(leaves: np.ndarray) -> np.ndarray:
    """(n, 32) leaf bytes as lowercase hex strings."""
    if not len(leaves):
        return np.zeros(0, dtype=object)
    text = np.ascontiguousarray(_HEX[leaves]).view(f"S{2 * LEAF}").ravel()
    return text.astype(str).astype(object)


def compute(
    inputs: Inputs, as_of: date, firms: Sequence[str] | pd.Index | None = None, with_inputs: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The feature rows of ``firms`` (default: every firm the inputs name) as of ``as_of``,
    sorted by ``firm_id``, and, with ``with_inputs``, the (``firm_id``, ``leaf_hash``) pairs
    each was built from."""
    if firms is None:
        ids = inputs.firms
        codes = np.arange(len(ids))
    else:
        ids = np.array(sorted({str(f) for f in firms}), dtype=object)
        found = (
            np.searchsorted(inputs.firms, ids) if len(inputs.firms) else np.zeros(len(ids), dtype=np.int64)
        )
        found = np.minimum(found, max(len(inputs.firms) - 1, 0))
        hit = (inputs.firms[found] == ids) if len(inputs.firms) else np.zeros(len(ids), dtype=bool)
        codes = np.where(hit, found, -1)
    return compute_codes(inputs, as_of, ids, codes, with_inputs)


def compute_codes(
    inputs: Inputs, as_of: date, ids: np.ndarray, codes: np.ndarray, with_inputs: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """As ``compute``, for firm ``ids`` whose codes in ``inputs.firms`` are ``codes`` (-1: none)."""
    b = _Builder(inputs, np.asarray(codes, dtype=np.int64), as_of)
    b.trade()
    b.assets()
    b.payroll()
    b.cross()
    pos, row = b.trace()
    records, digests = b.digests(pos, row)
    columns: dict[str, object] = {
        "firm_id": pd.Series(ids, dtype="str"),
        "as_of": pd.Series([as_of] * b.n, dtype=object),
    }
    for name in FEATURE_NAMES:
        columns[name] = np.asarray(b.out.get(name, np.full(b.n, EMPTY[name])), dtype=float)
    columns["input_records"] = records
    columns["input_hash"] = pd.Series(digests, dtype="str")
    columns["feature_set_version"] = FEATURE_SET_VERSION
    table = pd.DataFrame(columns)
    if not with_inputs:
        return table, None
    used = pd.DataFrame(
        {"firm_id": np.asarray(ids, dtype=object)[pos], "leaf_hash": leaf_hex(inputs.leaves[row])}
    )
    return table, used
