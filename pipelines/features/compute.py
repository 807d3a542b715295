"""Feature arithmetic: per-firm aggregates of the attested records available at an as-of date.

Everything is vectorised over firms: each firm gets a row position, and aggregates are
``np.bincount`` or pandas group-bys over those positions; the only loops run over the 12
months of a window. The inputs (``Inputs``) are already cut to what was sealed by the
as-of date; this module never looks at ``sealed_at`` itself except to order corrections.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from datetime import date

import numpy as np
import pandas as pd

from pipelines.features.catalogue import EMPTY, FEATURE_NAMES, FEATURE_SET_VERSION

WINDOW = 12  # months
EPOCH = date(1970, 1, 1)
ROUND_FEN = 1_000_000  # 10,000 CNY
JUMP = 0.25


def day_number(d: date) -> int:
    return (d - EPOCH).days


def month_number(d: date) -> int:
    return d.year * 12 + d.month - 1


def shard_hash(values: pd.Series) -> np.ndarray:
    """A stable 64-bit hash per firm id (the same on every machine and run)."""
    hashed: np.ndarray = pd.util.hash_pandas_object(values.astype(object), index=False).to_numpy()
    return hashed


@dataclass(frozen=True)
class Inputs:
    """The attested rows a snapshot is built from, one frame per role.

    Frames and their columns (``day`` columns are days since 1970-01-01, ``month`` columns
    year * 12 + month - 1, ``h_*`` columns ``shard_hash`` of a firm column, ``order`` the
    position of the record on chain):

    - invoices: seller, buyer, key, amount_fen, day, month, leaf_hash, h_seller, h_buyer
    - waybills, payments: seller, key, day, leaf_hash, h_seller
    - receipts: firm_id, receipt_no, status, pledgee, value_fen, month, order, leaf_hash, h_firm
    - leases: firm_id, lease_no, status, end_day, day, month, order, leaf_hash, h_firm
    - si, hf: firm_id, month, headcount, wage_base_fen, due_fen, paid_fen, order, leaf_hash, h_firm
    """

    invoices: pd.DataFrame
    waybills: pd.DataFrame
    payments: pd.DataFrame
    receipts: pd.DataFrame
    leases: pd.DataFrame
    si: pd.DataFrame
    hf: pd.DataFrame

    def shard(self, k: int, n: int) -> Inputs:
        """The rows that shard ``k`` of ``n`` needs: a trade row goes to the shards of both
        its seller and its buyer; every other row to its firm's shard."""
        if n == 1:
            return self
        out = {}
        for f in fields(self):
            frame: pd.DataFrame = getattr(self, f.name)
            if f.name == "invoices":
                keep = (frame["h_seller"].to_numpy() % n == k) | (frame["h_buyer"].to_numpy() % n == k)
            elif f.name in ("waybills", "payments"):
                keep = frame["h_seller"].to_numpy() % n == k
            else:
                keep = frame["h_firm"].to_numpy() % n == k
            out[f.name] = frame[keep]
        return replace(self, **out)

    def firms(self) -> pd.Index:
        """Every firm named by a row, as a sorted index."""
        parts = [self.invoices["seller"], self.invoices["buyer"]]
        parts += [getattr(self, name)["firm_id"] for name in ("receipts", "leases", "si", "hf")]
        ids = pd.concat([p.astype(object) for p in parts], ignore_index=True)
        return pd.Index(pd.unique(ids)).sort_values()


def _sym_growth(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    total = a + b
    return np.where(total > 0, (a - b) / np.where(total > 0, total / 2, 1), 0.0)


def _rel_change(now: np.ndarray, then: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(now) & ~np.isnan(then)
    safe_then = np.where(ok, then, 1.0)
    return np.where(ok, (np.where(ok, now, 0) - safe_then) / np.maximum(safe_then, 1), 0.0)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), empty)


class _Builder:
    def __init__(self, firms: pd.Index, as_of: date) -> None:
        self.firms = firms
        self.n = len(firms)
        self.today = day_number(as_of)
        self.month = month_number(as_of)
        self.out: dict[str, np.ndarray] = {}
        self.trace: list[pd.DataFrame] = []
        self.active = np.zeros((self.n, WINDOW), dtype=bool)  # months with any activity
        self.sales_growth_3m = np.zeros(self.n)
        self.si_known = np.full((self.n, WINDOW), np.nan)

    def pos(self, ids: pd.Series) -> np.ndarray:
        return np.asarray(self.firms.get_indexer(ids.astype(object)))

    def count(self, pos: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(pos, weights=weights, minlength=self.n).astype(float)

    def keep_trace(self, pos: np.ndarray, leaf_hash: pd.Series) -> None:
        self.trace.append(pd.DataFrame({"pos": pos, "leaf_hash": leaf_hash.to_numpy(dtype=object)}))

    def monthly(self, pos: np.ndarray, k: np.ndarray, weights: np.ndarray) -> np.ndarray:
        flat = np.bincount(pos * WINDOW + k, weights=weights, minlength=self.n * WINDOW)
        return flat.reshape(self.n, WINDOW)

    # -- trade -----------------------------------------------------------------------

    def trade(self, inputs: Inputs) -> None:
        inv = inputs.invoices
        k_all = self.month - inv["month"].to_numpy()
        inv = inv[(k_all >= 0) & (k_all < WINDOW) & (inv["day"].to_numpy() <= self.today)]
        k = (self.month - inv["month"].to_numpy()).astype(np.int64)
        amount = inv["amount_fen"].to_numpy().astype(float)
        out = self.out
        for side, role in (("sales", "seller"), ("purchases", "buyer")):
            pos = self.pos(inv[role])
            mine = pos >= 0
            p, kk, amt = pos[mine], k[mine], amount[mine]
            self.keep_trace(p, inv["leaf_hash"][mine])
            by_month = self.monthly(p, kk, amt / 100)
            self.active |= by_month > 0
            for n in (3, 6, 12):
                out[f"{side}_{n}m"] = by_month[:, :n].sum(axis=1)
            other = inv["buyer" if role == "seller" else "seller"][mine].astype(object)
            pairs = pd.DataFrame({"pos": p, "other": other.to_numpy(), "amount": amt})
            pair_sum = pairs.groupby(["pos", "other"], sort=False)["amount"].sum().reset_index()
            distinct = self.count(pair_sum["pos"].to_numpy())
            if side == "purchases":
                out["suppliers_12m"] = distinct
                continue
            out["customers_12m"] = distinct
            sales = by_month.sum(axis=1) * 100  # fen
            share = pair_sum["amount"].to_numpy() / sales[pair_sum["pos"].to_numpy()]
            out["customer_hhi_12m"] = self.count(pair_sum["pos"].to_numpy(), share**2)
            top = pd.Series(share).groupby(pair_sum["pos"].to_numpy()).max()
            out["top_customer_share_12m"] = np.zeros(self.n)
            out["top_customer_share_12m"][top.index.to_numpy()] = top.to_numpy()
            a3, b3 = by_month[:, :3].sum(axis=1), by_month[:, 3:6].sum(axis=1)
            a6, b6 = by_month[:, :6].sum(axis=1), by_month[:, 6:12].sum(axis=1)
            out["sales_growth_3m"] = _sym_growth(a3, b3)
            out["sales_growth_6m"] = _sym_growth(a6, b6)
            mean = by_month.mean(axis=1)
            out["sales_volatility_12m"] = _ratio(by_month.std(axis=1), mean, 0.0)
            self._matching(inputs, inv[mine], p, amt)
            n_inv = self.count(p)
            out["round_amount_share_12m"] = _ratio(self.count(p, (amt % ROUND_FEN == 0) * 1.0), n_inv, 0.0)
            last = pd.Series(inv["day"][mine].to_numpy()).groupby(p).max()
            days = np.full(self.n, 366.0)
            days[last.index.to_numpy()] = np.minimum(366, self.today - last.to_numpy())
            out["days_since_last_sale"] = days
            has = by_month > 0
            first_k = np.where(has.any(axis=1), has.argmax(axis=1), WINDOW)
            out["months_since_last_sale"] = first_k.astype(float)
            self.sales_growth_3m = out["sales_growth_3m"]

    def _matching(self, inputs: Inputs, sales: pd.DataFrame, pos: np.ndarray, amount: np.ndarray) -> None:
        out, today = self.out, self.today
        keys = sales["key"]
        waybills = inputs.waybills[inputs.waybills["day"].to_numpy() <= today]
        payments = inputs.payments[inputs.payments["day"].to_numpy() <= today]
        billed = keys.isin(waybills["key"]).to_numpy()
        first_paid = payments.groupby("key")["day"].min()
        paid_day = keys.map(first_paid).to_numpy(dtype=float)
        paid = ~np.isnan(paid_day)
        issued = sales["day"].to_numpy()
        n_inv = self.count(pos)
        out["waybill_match_share_12m"] = _ratio(self.count(pos, billed * 1.0), n_inv, 1.0)
        mature = issued <= today - 60
        out["payment_match_share_12m"] = _ratio(
            self.count(pos, (paid & mature) * 1.0), self.count(pos, mature * 1.0), 1.0
        )
        outstanding = np.where(paid, paid_day, today) - issued
        out["dso_days_12m"] = _ratio(self.count(pos, amount * outstanding), self.count(pos, amount), 0.0)
        used = set(keys)
        for frame in (waybills, payments):
            hit = frame[frame["key"].isin(used).to_numpy()]
            hp = self.pos(hit["seller"])
            self.keep_trace(hp[hp >= 0], hit["leaf_hash"][hp >= 0])

    # -- receipts and leases ---------------------------------------------------------------

    def assets(self, inputs: Inputs) -> None:
        out = self.out
        rec = inputs.receipts.sort_values("order", kind="stable")
        pos_all = self.pos(rec["firm_id"])
        rec, pos_all = rec[pos_all >= 0], pos_all[pos_all >= 0]
        self.keep_trace(pos_all, rec["leaf_hash"])
        prev_status = rec.groupby("receipt_no")["status"].shift()
        prev_pledgee = rec.groupby("receipt_no")["pledgee"].shift()
        double = (
            (rec["status"] == "pledged")
            & (prev_status == "pledged")
            & (rec["pledgee"].fillna("") != prev_pledgee.fillna(""))
        ).to_numpy(dtype=bool)
        twice = pd.DataFrame({"pos": pos_all[double], "no": rec["receipt_no"][double].to_numpy(dtype=object)})
        out["receipts_double_pledged"] = self.count(twice.drop_duplicates()["pos"].to_numpy())
        latest = rec.drop_duplicates("receipt_no", keep="last")
        lp = self.pos(latest["firm_id"])
        value = latest["value_fen"].to_numpy().astype(float) / 100
        status = latest["status"].to_numpy(dtype=object)
        k = self.month - latest["month"].to_numpy()
        out["receipts_held_value"] = self.count(lp, value * (status == "issued"))
        out["receipts_pledged_value"] = self.count(lp, value * (status == "pledged"))
        released = status == "released"
        out["receipts_released_value_3m"] = self.count(lp, value * (released & (k < 3)))
        out["receipts_released_value_12m"] = self.count(lp, value * (released & (k < WINDOW)))

        lease = inputs.leases.sort_values("order", kind="stable")
        lpos = self.pos(lease["firm_id"])
        lease, lpos = lease[lpos >= 0], lpos[lpos >= 0]
        self.keep_trace(lpos, lease["leaf_hash"])
        k = self.month - lease["month"].to_numpy()
        ended = (lease["status"] == "terminated").to_numpy(dtype=bool) & (k < 3) & (k >= 0)
        out["lease_terminated_3m"] = (self.count(lpos, ended * 1.0) > 0) * 1.0
        latest = lease.drop_duplicates("lease_no", keep="last")
        lp = self.pos(latest["firm_id"])
        end_day = latest["end_day"].to_numpy()
        active = (latest["status"] == "active").to_numpy(dtype=bool) & (end_day >= self.today)
        out["active_leases"] = self.count(lp, active * 1.0)
        months_left = pd.Series((end_day[active] - self.today) / 30.44).groupby(lp[active]).max()
        out["months_to_lease_end"] = np.zeros(self.n)
        out["months_to_lease_end"][months_left.index.to_numpy()] = months_left.to_numpy()
        out["no_active_lease"] = (out["active_leases"] == 0) * 1.0

    # -- social insurance and housing fund ----------------------------------------------------

    def payroll(self, inputs: Inputs) -> None:
        out = self.out
        for prefix in ("si", "hf"):
            frame: pd.DataFrame = getattr(inputs, prefix)
            k_all = self.month - frame["month"].to_numpy()
            frame = frame[(k_all >= 0) & (k_all < WINDOW)].sort_values("order", kind="stable")
            frame = frame.drop_duplicates(["firm_id", "month"], keep="last")  # a correction wins
            pos = self.pos(frame["firm_id"])
            frame, pos = frame[pos >= 0], pos[pos >= 0]
            self.keep_trace(pos, frame["leaf_hash"])
            k = (self.month - frame["month"].to_numpy()).astype(np.int64)
            filed = np.zeros((self.n, WINDOW), dtype=bool)
            filed[pos, k] = True
            self.active |= filed
            heads = np.full((self.n, WINDOW), np.nan)
            heads[pos, k] = frame["headcount"].to_numpy()
            wage = np.full((self.n, WINDOW), np.nan)
            wage[pos, k] = _ratio(
                frame["wage_base_fen"].to_numpy() / 100, frame["headcount"].to_numpy().astype(float), 0.0
            )
            short = np.maximum(0, frame["due_fen"].to_numpy() - frame["paid_fen"].to_numpy())
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

    def frame(self, as_of: date) -> pd.DataFrame:
        table = pd.DataFrame(
            {
                "firm_id": pd.Series(self.firms, dtype="str"),
                "as_of": pd.Series([as_of] * self.n, dtype=object),
            }
        )
        for name in FEATURE_NAMES:
            table[name] = self.out.get(name, np.full(self.n, EMPTY[name])).astype(float)
        trace = self.inputs()
        counts = trace.groupby("pos").size()
        joined = trace.groupby("pos")["leaf_hash"].agg("\n".join)
        records = np.zeros(self.n, dtype=np.int64)
        records[counts.index.to_numpy()] = counts.to_numpy()
        digests = np.full(self.n, hashlib.sha256(b"").hexdigest(), dtype=object)
        digests[joined.index.to_numpy()] = [hashlib.sha256(s.encode()).hexdigest() for s in joined]
        table["input_records"] = records
        table["input_hash"] = pd.Series(digests, dtype="str")
        table["feature_set_version"] = FEATURE_SET_VERSION
        return table

    def inputs(self) -> pd.DataFrame:
        """Every (firm position, leaf hash) a row was built from, unique and sorted."""
        trace = (
            pd.concat(self.trace, ignore_index=True)
            if self.trace
            else pd.DataFrame(columns=["pos", "leaf_hash"])
        )
        trace = trace.astype({"pos": np.int64, "leaf_hash": object})
        return trace.drop_duplicates().sort_values(["pos", "leaf_hash"], kind="stable")


def compute(inputs: Inputs, as_of: date, firms: pd.Index | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The feature rows of ``firms`` (default: every firm the inputs name) as of ``as_of``,
    sorted by ``firm_id``, and the (``firm_id``, ``leaf_hash``) pairs each was built from."""
    universe = inputs.firms() if firms is None else pd.Index(firms).sort_values()
    b = _Builder(universe, as_of)
    b.trade(inputs)
    b.assets(inputs)
    b.payroll(inputs)
    b.cross()
    table = b.frame(as_of)
    trace = b.inputs()
    used = pd.DataFrame(
        {"firm_id": universe.to_numpy()[trace["pos"].to_numpy()], "leaf_hash": trace["leaf_hash"].to_numpy()}
    )
    return table, used
