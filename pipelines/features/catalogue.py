"""The feature dictionary: every feature's name, group, unit, value for a firm without
history, and meaning. ``docs/features.md`` is generated from here (``smecredit features
--dictionary``) and a test keeps the two equal."""

from __future__ import annotations

from dataclasses import dataclass

FEATURE_SET_VERSION = "2"


@dataclass(frozen=True)
class Feature:
    name: str
    group: str
    unit: str
    empty: float  # the value of a firm with no attested record in the window
    description: str


_TRADE = "trade"
_ASSETS = "receipts and leases"
_PAYROLL = "social insurance and housing fund"
_CROSS = "cross-source consistency"
_HISTORY = "history"

FEATURES: tuple[Feature, ...] = (
    *(
        Feature(
            f"sales_{n}m",
            _TRADE,
            "CNY",
            0.0,
            f"Sale invoices (net of tax) issued in the last {n} calendar months, the as-of month included.",
        )
        for n in (3, 6, 12)
    ),
    *(
        Feature(
            f"purchases_{n}m",
            _TRADE,
            "CNY",
            0.0,
            f"Invoices naming the firm as buyer, issued in the last {n} calendar months.",
        )
        for n in (3, 6, 12)
    ),
    Feature(
        "sales_growth_3m",
        _TRADE,
        "ratio",
        0.0,
        "Symmetric growth of the last 3 months' sales against the 3 before: (a - b) / ((a + b) / 2), "
        "in [-2, 2]; 0 when both are 0.",
    ),
    Feature(
        "sales_growth_6m",
        _TRADE,
        "ratio",
        0.0,
        "Symmetric growth of the last 6 months' sales against the 6 before, as above.",
    ),
    Feature(
        "sales_volatility_12m",
        _TRADE,
        "ratio",
        0.0,
        "Coefficient of variation (population standard deviation / mean) of the 12 monthly sales; "
        "0 without sales.",
    ),
    Feature("customers_12m", _TRADE, "count", 0.0, "Distinct buyers on the last 12 months' sale invoices."),
    Feature(
        "suppliers_12m", _TRADE, "count", 0.0, "Distinct sellers on the last 12 months' purchase invoices."
    ),
    Feature(
        "customer_hhi_12m",
        _TRADE,
        "ratio",
        0.0,
        "Herfindahl index of sales by buyer over 12 months (1 = one customer); 0 without sales.",
    ),
    Feature(
        "top_customer_share_12m",
        _TRADE,
        "ratio",
        0.0,
        "Largest buyer's share of the last 12 months' sales; 0 without sales.",
    ),
    Feature(
        "dso_days_12m",
        _TRADE,
        "days",
        0.0,
        "Days sales outstanding: amount-weighted days from issue to payment over the last 12 months' "
        "sale invoices, an invoice unpaid at the as-of date counting the days up to it.",
    ),
    Feature(
        "waybill_match_share_12m",
        _TRADE,
        "ratio",
        1.0,
        "Share of the last 12 months' sale invoices with an attested waybill; 1 without sales.",
    ),
    Feature(
        "payment_match_share_12m",
        _TRADE,
        "ratio",
        1.0,
        "Share of sale invoices issued 60 days to 12 months before the as-of date with an attested "
        "payment; 1 without such invoices.",
    ),
    Feature(
        "round_amount_share_12m",
        _TRADE,
        "ratio",
        0.0,
        "Share of the last 12 months' sale invoices whose amount is a whole multiple of 10,000 CNY.",
    ),
    Feature(
        "days_since_last_sale",
        _TRADE,
        "days",
        366.0,
        "Days from the newest sale invoice to the as-of date, capped at 366.",
    ),
    Feature(
        "months_since_last_sale",
        _TRADE,
        "months",
        12.0,
        "Calendar months from the newest sale invoice's month to the as-of month, 12 when none in a year.",
    ),
    Feature(
        "receipts_held_value",
        _ASSETS,
        "CNY",
        0.0,
        "Value (quantity x unit value) of the firm's warehouse receipts whose latest status is issued.",
    ),
    Feature(
        "receipts_pledged_value",
        _ASSETS,
        "CNY",
        0.0,
        "Value of the firm's warehouse receipts whose latest status is pledged (to any pledgee).",
    ),
    Feature(
        "receipts_released_value_3m",
        _ASSETS,
        "CNY",
        0.0,
        "Value of receipts released (goods out of the warehouse) in the last 3 months.",
    ),
    Feature(
        "receipts_released_value_12m",
        _ASSETS,
        "CNY",
        0.0,
        "Value of receipts released in the last 12 months.",
    ),
    Feature(
        "receipts_double_pledged",
        _ASSETS,
        "count",
        0.0,
        "Receipts ever pledged to a second pledgee while a pledge to another was in force.",
    ),
    Feature(
        "active_leases", _ASSETS, "count", 0.0, "Leases whose latest status is active and not yet ended."
    ),
    Feature(
        "months_to_lease_end",
        _ASSETS,
        "months",
        0.0,
        "Months (30.44 days) from the as-of date to the end of the firm's longest-running active "
        "lease; 0 without one.",
    ),
    Feature(
        "lease_terminated_3m",
        _ASSETS,
        "flag",
        0.0,
        "1 if a lease of the firm was terminated in the last 3 months.",
    ),
    Feature("no_active_lease", _ASSETS, "flag", 1.0, "1 if the firm has no active lease at the as-of date."),
    *(
        f
        for prefix, name in (("si", "social-insurance"), ("hf", "housing-fund"))
        for f in (
            Feature(
                f"{prefix}_headcount",
                _PAYROLL,
                "people",
                0.0,
                f"Headcount of the newest {name} filing of the last 12 months.",
            ),
            Feature(
                f"{prefix}_headcount_change_3m",
                _PAYROLL,
                "ratio",
                0.0,
                f"Relative change of the {name} headcount over 3 months: (now - then) / max(then, 1), "
                "each month carrying the newest filing up to it.",
            ),
            Feature(
                f"{prefix}_headcount_change_6m",
                _PAYROLL,
                "ratio",
                0.0,
                f"Relative change of the {name} headcount over 6 months, as above.",
            ),
            Feature(
                f"{prefix}_arrears_months_12m",
                _PAYROLL,
                "months",
                0.0,
                f"Periods of the last 12 with a {name} contribution paid short of what was due.",
            ),
            Feature(
                f"{prefix}_arrears_amount_12m",
                _PAYROLL,
                "CNY",
                0.0,
                f"Sum of {name} contributions due but not paid over the last 12 periods.",
            ),
            Feature(
                f"{prefix}_arrears_streak",
                _PAYROLL,
                "months",
                0.0,
                f"Consecutive newest {name} filings in arrears.",
            ),
            Feature(
                f"{prefix}_continuity_12m",
                _PAYROLL,
                "ratio",
                0.0,
                f"Share of the last 12 periods with a {name} filing.",
            ),
        )
    ),
    Feature(
        "wage_per_head",
        _PAYROLL,
        "CNY",
        0.0,
        "Monthly social-insurance wage base per head of the newest filing.",
    ),
    Feature(
        "headcount_jump_3m",
        _PAYROLL,
        "flag",
        0.0,
        "1 if the social-insurance headcount rose by 25 % or more in 3 months.",
    ),
    Feature(
        "si_hf_headcount_gap",
        _CROSS,
        "ratio",
        0.0,
        "(social-insurance headcount - housing-fund headcount) / max(social-insurance headcount, 1).",
    ),
    Feature(
        "sales_per_employee_12m",
        _CROSS,
        "CNY",
        0.0,
        "Last 12 months' sales per social-insurance head (per 1 when nobody is insured).",
    ),
    Feature(
        "headcount_vs_sales_growth_3m",
        _CROSS,
        "ratio",
        0.0,
        "Symmetric growth of the social-insurance headcount over 3 months minus `sales_growth_3m` "
        "(growth in heads that trade does not show), in [-4, 4].",
    ),
    Feature(
        "history_months_12m",
        _HISTORY,
        "months",
        0.0,
        "Months of the last 12 with any attested sale, purchase or contribution of the firm.",
    ),
    Feature(
        "thin_file",
        _HISTORY,
        "flag",
        1.0,
        "1 if the firm has fewer than 6 months of history in the last 12: its other features rest "
        "on little evidence.",
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
EMPTY: dict[str, float] = {f.name: f.empty for f in FEATURES}

# Columns of every feature row besides the features.
KEY_COLUMNS = ("firm_id", "as_of")
TRACE_COLUMNS = ("input_records", "input_hash", "feature_set_version")


def dictionary_markdown() -> str:
    """``docs/features.md``: the feature dictionary as a Markdown page."""
    lines = [
        "# Feature dictionary",
        "",
        "<!-- Generated by `smecredit features --dictionary` from pipelines/features/catalogue.py;"
        " edit there. -->",
        "",
        f"Feature set version {FEATURE_SET_VERSION}. One row per firm and as-of month end in "
        "`<lake>/features/as_of_month=YYYY-MM/`. A record counts only if its block was sealed on or "
        "before the as-of date (`sealed_at`), whatever its `event_time`; windows of n months are the "
        "n calendar months ending with the as-of month, by the record's business date (issue, "
        "payment or period). Amounts are in CNY. The *empty* column is the value of a firm without "
        "attested records in the window; `thin_file` flags such rows.",
        "",
        "Every row also carries `input_records` (how many attested records it was built from) and "
        "`input_hash`: the SHA-256 of those records' leaf hashes (32 bytes each), sorted and "
        "concatenated, so that a score can be traced to the exact records "
        "(`pipelines.features.feature_inputs` lists them in that order, in hex).",
        "",
    ]
    group = None
    for f in FEATURES:
        if f.group != group:
            group = f.group
            lines += ["", f"## {group[0].upper()}{group[1:]}", "", "| feature | unit | empty | meaning |"]
            lines.append("|---|---|---|---|")
        lines.append(f"| `{f.name}` | {f.unit} | {f.empty:g} | {f.description} |")
    return "\n".join(lines) + "\n"
