"""How well the in-loan review and the post-loan alerts do on a simulated world.

    .venv/bin/python benchmarks/quality.py --world demo-output/world --lake demo-output/lake

Reads the reviews, alerts and registry a run wrote into ``--lake`` (``make demo`` writes
them all) and the simulator's ground truth in ``--world/truth``, and prints: the pre-loan
champion's out-of-time figures and observed default rate by grade; per planted misbehaviour,
the review's recall and false-positive rate; for loans that defaulted inside the monitored
window, the share with a critical alert at least 60 days before default, the median lead
time, and critical alerts per 100 active loans per month; and, once the portfolio was
assessed (``<lake>/ecl/``), staging effectiveness and the ECL back-test
(``pipelines.portfolio.measures``, docs/portfolio.md).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.registry import Registry  # noqa: E402
from pipelines.monitor import read_alerts  # noqa: E402
from pipelines.monitor.backtest import lead_times  # noqa: E402
from pipelines.portfolio import read_months  # noqa: E402
from pipelines.portfolio.book import BankBooks  # noqa: E402
from pipelines.portfolio.measures import backtest, staging_effectiveness  # noqa: E402
from pipelines.review import read_reviews  # noqa: E402
from pipelines.review.backtest import evaluate  # noqa: E402
from pipelines.scoring import labels, read_bank, read_scores  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--lake", type=Path, required=True)
    args = parser.parse_args()
    bank = str(args.world / "bank")
    pd.set_option("display.width", 160)
    champion = Registry(str(args.lake / "models")).entry()
    m = champion["metrics"]
    print(
        f"champion {champion['model_id']}: trained on {m['train_rows']:.0f} applications, out of time "
        f"{m['oot_rows']:.0f} ({m['bads']:.0f} bads) {m['oot_window']}: AUC {m['auc']:.3f}, "
        f"KS {m['ks']:.3f}, "
        f"Brier {m['brier']:.4f}, HL p {m['hosmer_lemeshow_p']:.3f}, PSI {m['psi_train_vs_oot']:.4f}, "
        f"grades monotone out of time: {m['grades_monotone']}"
    )
    apps = read_bank(bank, "applications")
    perf = read_bank(bank, "loan_performance")
    scores = read_scores(str(args.lake)).merge(labels(apps, perf), on="application_id")
    observed = scores[scores["observed"]]
    by_grade = observed.groupby("grade").agg(
        loans=("bad", "size"), default_rate=("bad", "mean"), mean_pd=("pd", "mean")
    )
    print("observed 12-month default rate by grade (all scored, fully observed applications):")
    print(by_grade.to_string(float_format=lambda v: f"{v:.4f}"))
    reviews = read_reviews(str(args.lake))
    if len(reviews):
        cases = pd.read_parquet(args.world / "truth" / "planted_cases.parquet")
        print(
            f"in-loan review of {len(reviews)} applications: {reviews['decision'].value_counts().to_dict()}"
        )
        print(evaluate(cases, reviews).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    alerts = read_alerts(str(args.lake))
    if len(alerts):
        days = sorted(
            {d if isinstance(d, date) else date.fromisoformat(str(d)) for d in alerts["updated_on"]}
        )
        first = min(d if isinstance(d, date) else date.fromisoformat(str(d)) for d in alerts["opened_on"])
        figures = lead_times(alerts, perf, first, days[-1])
        print(
            f"alerts monitored {first} to {days[-1]}: "
            + ", ".join(f"{k}={v:.3f}" for k, v in figures.items())
        )

    portfolio(bank, args.lake)


def portfolio(bank: str, lake: Path) -> None:
    """Staging effectiveness and the ECL back-test over every assessed month end."""
    ecl = read_months(str(lake), "ecl")
    if not len(ecl):
        print("portfolio: no month assessed (smecredit ecl --as-of D --through D2)")
        return
    books = BankBooks.read(bank)
    eff = staging_effectiveness(ecl, books)
    print(
        f"staging over {ecl['as_of'].nunique()} month ends: of {eff['defaults_scored']} defaults "
        f"assessed three months before, {eff['in_stage_2_or_3_three_months_before']:.1%} "
        "were then in stage 2 or 3 "
        f"(target >= 70%; {eff['ever_in_stage_2_or_3_by_three_months_before']:.1%} in stage 2 or 3 at some "
        f"month end by then); stage 2 share of performing loans: mean "
        f"{eff['stage_2_share_of_performing_mean']:.1%}, max {eff['stage_2_share_of_performing_max']:.1%} "
        f"(target <= 20%); stage reasons {eff['stage_reasons']}"
    )
    test = backtest(ecl, books)
    if len(test):
        print("back-test: 12-month ECL of the performing book against the next 12 months' realised loss")
        print(test.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
        print(
            f"mean ratio {test['ratio'].mean():.3f} (target 0.7-1.3); pooled "
            f"{test['ecl_12m_fen'].sum() / max(test['realised_loss_fen'].sum(), 1):.3f}"
        )


if __name__ == "__main__":
    main()
