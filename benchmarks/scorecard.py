"""Our Scorecard against optbinning's Scorecard and scorecardpy on a public data set.

    make bench-scorecard       # creates .bench-venv with the peers, then runs this

The peers (optbinning, scorecardpy) are installed only in that separate environment, never
as dependencies. Data: ``scorecardpy.germancredit()`` (1,000 applicants, 20 attributes,
30 % bad). Ten stratified 70/30 splits (seeds 0-9); every library fits on the same training
rows and is scored by AUC on the same test rows. Ours runs twice: with its defaults (monotonic
numeric bins) and with ``allow_turn=True``. Reported: median test AUC and median fit
time per library, side by side in one run, and the mean paired AUC difference per split
between ours and each peer with its standard error (the splits share their test rows).
"""

from __future__ import annotations

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
    for own in ("smecredit Scorecard", "smecredit allow_turn"):
        mine = np.array(results[own]["auc"])
        for name, r in results.items():
            if not name.startswith("smecredit"):
                diff = mine - np.array(r["auc"])
                se = diff.std(ddof=1) / np.sqrt(len(diff))
                print(f"paired AUC difference, {own} - {name}: {diff.mean():+.4f} (standard error {se:.4f})")


if __name__ == "__main__":
    main()
