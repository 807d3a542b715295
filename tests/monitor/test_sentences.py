"""Every rule of the catalogue says what it found in a plain sentence: the loan's own figure
and the threshold, in yuan and percentages, never a template word or a raw placeholder."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pipelines import readable
from pipelines.monitor import Catalogue
from pipelines.monitor.rules import REGISTRY, Context

BASE: dict[str, Any] = {
    "loan_id": "L1",
    "firm_id": "91310000MA1FL0001X",
    "manager_id": "RM1",
    "balance_fen": 167416666,
    "dpd": 0,
    "month_end": "2025-02-28",
    "sales_3m": 3000.0,
    "sales_6m": 30000.0,
    "days_since_last_sale": 75,
    "si_arrears_streak": 3,
    "si_arrears_amount_12m": 4500.0,
    "hf_arrears_streak": 4,
    "hf_arrears_amount_12m": 1200.5,
    "si_headcount_change_3m": -0.35,
    "si_headcount": 13,
    "lease_terminated_3m": True,
    "no_active_lease": True,
    "months_to_lease_end": 0.0,
    "model_role": "behaviour champion",
    "behaviour_pd": 0.184,
    "score": 512.0,
    "score_change": -74.0,
    "pd_at_application": 0.021,
}
ROWS = [
    BASE,
    {**BASE, "dpd": 12},
    {**BASE, "dpd": 45},
    {**BASE, "dpd": 75},
    {**BASE, "lease_terminated_3m": False, "no_active_lease": False, "months_to_lease_end": 1.5},
]
EXPECTED = {  # rule: what its sentence must state (the loan's figures, then the threshold)
    "sales_drop": ["80.0%", "CNY 1,000.00 a month", "CNY 5,000.00 a month", "60% line"],
    "no_sales": ["75 days", "60-day line"],
    "si_arrears": ["Social-insurance", "3 months", "CNY 4,500.00", "2-month line"],
    "hf_arrears": ["Housing-fund", "4 months", "CNY 1,200.50", "2-month line"],
    "headcount_down": ["35.0%", "13 insured employees", "30% line"],
    "collateral_coverage": ["0.35 times", "CNY 1,674,166.66", "30% haircut", "1.00 times line", "R2"],
    "lease_flight": ["last 3 months and no active lease remains", "ends in 46 days", "60-day line"],
    "behaviour_pd": ["Behaviour PD 18.4% within 6 months", "15% line", "2.1% at application"],
    "score_worsening": ["512", "74 points", "586 at disbursement", "60-point line"],
    "dpd_1_30": ["12 days past due", "2025-02-28", "1-30 day band"],
    "dpd_31_60": ["45 days past due", "31-60 day band"],
    "dpd_61_90": ["75 days past due", "61-90 day band"],
}
TEMPLATE_WORDS = ("this many", "this share", "this multiple", "at least this", "threshold", "clear_below")


def sentences(open_alerts: frozenset[tuple[str, str]] = frozenset(), **row: Any) -> dict[str, list[str]]:
    """What every rule of the packaged catalogue says about the rows (or one given row)."""
    catalogue = Catalogue.load()
    cover = {"L1": (83708333.0, ["R1", "R2"], ["R2"])}  # after the 30% haircut: 0.35 of the balance
    ctx = Context(catalogue.rules, catalogue.haircut, open_alerts, cover)
    said: dict[str, list[str]] = {}
    for values in [{**BASE, **row}] if row else ROWS:
        for name in catalogue.rules:
            found = REGISTRY[name].test(SimpleNamespace(**values), ctx)
            if found is not None:
                said.setdefault(name, []).append(found["description"])
    return said


def test_every_rule_in_the_catalogue_states_the_loans_figure_and_the_threshold() -> None:
    said = sentences()
    assert set(said) == set(Catalogue.load().rules) == set(EXPECTED)
    for rule, texts in said.items():
        text = " ".join(texts)
        for part in EXPECTED[rule]:
            assert part in text, f"{rule} does not say {part!r}: {text}"
        for sentence in texts:
            assert not any(c in sentence for c in "{}_"), f"{rule} shows a placeholder: {sentence}"
            assert not any(w in sentence for w in TEMPLATE_WORDS), f"{rule} reads as a template: {sentence}"
            assert "nan" not in sentence.split() and "None" not in sentence, sentence
            assert sentence[0].isupper() or sentence[0].isdigit(), sentence


def test_an_alert_held_open_below_its_threshold_says_where_it_clears() -> None:
    held = frozenset({("L1", "behaviour_pd")})
    (text,) = sentences(held, behaviour_pd=0.09)["behaviour_pd"]
    assert "Behaviour PD 9.0% within 6 months" in text
    assert "below the 15% line that opened the alert but not yet below 5%, where it clears" in text
    assert "behaviour_pd" not in sentences(behaviour_pd=0.09)  # not held: no alert below the line


def test_without_a_pre_loan_pd_the_sentence_leaves_it_out() -> None:
    (text,) = sentences(pd_at_application=float("nan"))["behaviour_pd"]
    assert text == "Behaviour PD 18.4% within 6 months, at or above the 15% line"


@pytest.mark.parametrize(
    ("fen", "text"),
    [(167416666, "CNY 1,674,166.66"), (5, "CNY 0.05"), (-12345, "-CNY 123.45"), (None, "unknown amount")],
)
def test_money_reads_in_yuan_with_two_decimals(fen: int | None, text: str) -> None:
    assert readable.money(fen) == text


def test_percentages_lines_counts_and_listings_read_as_people_write_them() -> None:
    assert readable.percent(0.184) == "18.4%" and readable.line(0.15) == "15%"
    assert readable.line(0.025) == "2.5%" and readable.line(1.0) == "100%"
    assert readable.count(1, "month") == "1 month" and readable.count(1234, "day") == "1,234 days"
    assert readable.showing(50, 277) == "showing 50 of 277 (--limit N)"
    assert readable.showing(3, 3) == ""
