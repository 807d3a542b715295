"""How well the in-loan review and the post-loan alerts do on a simulated world.

    .venv/bin/python benchmarks/quality.py --world demo-output/world --lake demo-output/lake

Reads the reviews, alerts and registry a run wrote into ``--lake`` (``make demo`` writes
them all) and the simulator's ground truth in ``--world/truth``, and prints: the pre-loan
champion's out-of-time figures and observed default rate by grade; per planted misbehaviour,
the review's recall and false-positive rate; for loans that defaulted inside the monitored
window, the share with a critical alert at least 60 days before default, the median lead
time, and critical alerts per 100 active loans per month.
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


if __name__ == "__main__":
    main()
