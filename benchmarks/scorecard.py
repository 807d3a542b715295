"""Our Scorecard against optbinning's Scorecard and scorecardpy on a public data set.

    make bench-scorecard       # creates .bench-venv with the peers, then runs this

The peers (optbinning, scorecardpy) are installed only in that separate environment, never
as dependencies. Data: ``scorecardpy.germancredit()`` (1,000 applicants, 20 attributes,
30 % bad). Ten stratified 70/30 splits (seeds 0-9); every library fits on the same training
rows and is scored by AUC on the same test rows. Ours runs twice: with its defaults (monotonic
numeric bins) and with ``allow_turn=True``. Reported: median test AUC and median fit
time per library, side by side in one run, and the mean paired AUC difference per split
between ours and each peer with its standard error (the splits share their test rows).

The fit-time ratio printed last is optbinning's median over ours (defaults): the target is
at least 5x. The WoE prior (``woe_prior``) and the analyst's controls (``user_splits``,
``monotonic_trend``, ``special_codes``, ``fixed_bins``) are all at their defaults here.

    .venv/bin/python benchmarks/scorecard.py --world demo-output

runs, in the project's own environment instead, the pre-loan scorecard on a simulated world
(its lake and bank books, as ``make demo`` leaves them): trained on the oldest 70 % of the
labelled applications and scored on the newest 30 % (out of time), as the ``train_models``
DAG does; reported: the out-of-time AUC, the spread of each feature's points, and how often
the most frequent first reason code comes first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.scorecard import Scorecard  # noqa: E402

warnings.filterwarnings("ignore")


def load() -> tuple[pd.DataFrame, np.ndarray]:
    import scorecardpy as sc

    data = sc.germancredit()
    y = (data.pop("creditability").astype(str) == "bad").astype(int).to_numpy()
    for col in data.columns:
        if not pd.api.types.is_numeric_dtype(data[col]):
            data[col] = data[col].astype(str)
    return data, y


def ours(Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame) -> np.ndarray:
    model = Scorecard().fit(Xtr, ytr)
    return np.asarray(model.predict_proba(Xte)[:, 1])


def ours_turn(Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame) -> np.ndarray:
    """Numeric bins may turn once (peak or valley) when that holds more information value,
    as optbinning's automatic trend does."""
    model = Scorecard(allow_turn=True).fit(Xtr, ytr)
    return np.asarray(model.predict_proba(Xte)[:, 1])


def optbinning(Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame) -> np.ndarray:
    from optbinning import BinningProcess
    from optbinning import Scorecard as OptScorecard

    process = BinningProcess(variable_names=list(Xtr.columns))
    card = OptScorecard(
        binning_process=process,
        estimator=LogisticRegression(max_iter=1000),
        scaling_method="min_max",
        scaling_method_params={"min": 300, "max": 850},
    )
    card.fit(Xtr, ytr)
    return np.asarray(card.predict_proba(Xte)[:, 1])


def scorecardpy(Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame) -> np.ndarray:
    import scorecardpy as sc

    train = Xtr.assign(y=ytr)
    bins = sc.woebin(train, y="y", print_step=0)
    woe_train = sc.woebin_ply(train, bins, print_step=0)
    woe_test = sc.woebin_ply(Xte, bins, print_step=0)
    cols = [c for c in woe_train.columns if c != "y"]
    lr = LogisticRegression(max_iter=1000).fit(woe_train[cols], ytr)
    return np.asarray(lr.predict_proba(woe_test[cols])[:, 1])


def main() -> None:
    X, y = load()
    libraries: dict[str, Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], np.ndarray]] = {
        "smecredit Scorecard": ours,
        "smecredit allow_turn": ours_turn,
        "optbinning Scorecard": optbinning,
        "scorecardpy woebin + LR": scorecardpy,
    }
    results: dict[str, dict[str, list[float]]] = {k: {"auc": [], "seconds": []} for k in libraries}
    splits = StratifiedShuffleSplit(n_splits=10, test_size=0.3, random_state=0)
    for train_idx, test_idx in splits.split(X, y):
        Xtr, Xte = X.iloc[train_idx].reset_index(drop=True), X.iloc[test_idx].reset_index(drop=True)
        ytr, yte = y[train_idx], y[test_idx]
        for name, fit in libraries.items():
            started = time.perf_counter()
            p = fit(Xtr, ytr, Xte)
            results[name]["seconds"].append(time.perf_counter() - started)
            results[name]["auc"].append(roc_auc_score(yte, p))
    print(f"germancredit: {len(X)} rows, {X.shape[1]} attributes, {y.mean():.0%} bad; 10 splits 70/30")
    print(f"{'library':<26}{'median AUC':>12}{'mean AUC':>10}{'min AUC':>10}{'median fit+score s':>20}")
    for name, r in results.items():
        print(
            f"{name:<26}{statistics.median(r['auc']):>12.4f}{statistics.mean(r['auc']):>10.4f}"
            f"{min(r['auc']):>10.4f}{statistics.median(r['seconds']):>20.3f}"
        )
    ratio = statistics.median(results["optbinning Scorecard"]["seconds"]) / statistics.median(
        results["smecredit Scorecard"]["seconds"]
    )
    print(f"fit + score time, optbinning over smecredit Scorecard (defaults): {ratio:.1f}x (target: 5x)")
    for own in ("smecredit Scorecard", "smecredit allow_turn"):
        mine = np.array(results[own]["auc"])
        for name, r in results.items():
            if not name.startswith("smecredit"):
                diff = mine - np.array(r["auc"])
                se = diff.std(ddof=1) / np.sqrt(len(diff))
                print(f"paired AUC difference, {own} - {name}: {diff.mean():+.4f} (standard error {se:.4f})")


def world(folder: Path) -> None:
    """The pre-loan scorecard on a simulated world, out of time (see the module's docstring)."""
    from pipelines.features import FEATURE_NAMES
    from pipelines.scoring import training_set

    data = training_set(str(folder / "lake"), str(folder / "world" / "bank"))
    cut = int(len(data) * 0.7)
    train, test = data.iloc[:cut], data.iloc[cut:]
    X_train, X_test = train[list(FEATURE_NAMES)], test[list(FEATURE_NAMES)]
    started = time.perf_counter()
    card = Scorecard().fit(X_train, train["bad"].to_numpy())
    seconds = time.perf_counter() - started
    auc = roc_auc_score(test["bad"], card.predict_proba(X_test)[:, 1])
    bads = int(train["bad"].sum()), int(test["bad"].sum())
    print(
        f"world {folder}: {len(train)} training rows ({bads[0]} bad), {len(test)} out of time ({bads[1]} bad)"
    )
    print(f"fit {seconds:.2f} s; out-of-time AUC {auc:.4f}; {len(card.features_)} features")
    table = card.points_table()
    spread = table.groupby("feature")["points"].agg(lambda p: p.max() - p.min()).sort_values(ascending=False)
    print("points spread (best bin minus worst) per feature:", spread.round(1).to_dict())
    for name, X in (("out of time", X_test), ("all labelled", data[list(FEATURE_NAMES)])):
        first = card.reasons(X)["reason_1"].value_counts()
        top, count = first.index[0], int(first.iloc[0])
        print(f"reason_1 on {name}: {top} first for {count} of {len(X)} ({count / len(X):.0%})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, help="a make-demo output folder (lake/, world/bank/)")
    args = parser.parse_args()
    if args.world:
        world(args.world)
    else:
        main()
