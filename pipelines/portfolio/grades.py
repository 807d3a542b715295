"""The behaviour grade of every running loan at a month end: the behaviour champion's PD
(default within its horizon) on the month end's feature snapshot, the loan's days past due
and months on book, put on the master scale. Until a behaviour model is registered the
pre-loan champion stands in (its model id says so)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from models.metrics import grade
from models.registry import Loaded, Registry, RegistryError
from models.signing import ModelKeys
from pipelines.portfolio.policy import PortfolioError
from pipelines.scoring import join_features
from pipelines.scoring.behaviour import COLUMNS, months_on_book


def champion(models_uri: str, model_id: str | None = None, keys: ModelKeys | None = None) -> Loaded:
    """The model that grades loans: ``model_id`` if given, else the behaviour champion, else
    the pre-loan champion; ``keys`` is the bank's model-signing key the registry checks
    every model's signature with.

    Raises:
        PortfolioError: no model is registered.
    """
    registry = Registry(models_uri, keys)
    try:
        if model_id:
            return registry.load(model_id)
        try:
            return registry.load(family="behaviour")
        except RegistryError:
            return registry.load(family="pre_loan")
    except RegistryError as exc:
        raise PortfolioError(f"no model to grade loans with: {exc}") from None


def behaviour_rows(lake_uri: str, loans: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """``loans`` with the features of their firm at ``as_of``, ``dpd`` and ``months_on_book``."""
    rows = join_features(lake_uri, loans[["loan_id", "firm_id", "dpd", "disbursed_on"]].assign(as_of=as_of))
    rows["dpd"] = rows["dpd"].astype(float)
    rows["months_on_book"] = months_on_book(rows["disbursed_on"], as_of)
    return rows


def grade_loans(rows: pd.DataFrame, model: Loaded) -> pd.DataFrame:
    """``loan_id, behaviour_pd, grade, model_id`` for the feature rows of ``behaviour_rows``."""
    if not len(rows):
        return pd.DataFrame(
            {
                "loan_id": pd.Series(dtype=str),
                "behaviour_pd": pd.Series(dtype=float),
                "grade": pd.Series(dtype=str),
                "model_id": pd.Series(dtype=str),
            }
        )
    p = np.asarray(model.model.predict_proba(rows[list(COLUMNS)])[:, 1], dtype=float)
    return pd.DataFrame(
        {
            "loan_id": rows["loan_id"].to_numpy(),
            "behaviour_pd": p,
            "grade": grade(p),
            "model_id": model.entry["model_id"],
        }
    )
