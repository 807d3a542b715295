"""The behaviour score of every active loan on a day:
``<lake>/scores/behaviour/monitored_month=YYYY-MM/day-YYYY-MM-DD.parquet`` (``pipelines.day_partitions``).

The ``behaviour`` champion when one is registered, else the pre-loan champion (named in
``model_role``), with the change of the score since disbursement.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from models.registry import Registry, RegistryError
from pipelines.config import Settings
from pipelines.day_partitions import BEHAVIOUR_SCORES
from pipelines.model_keys import model_keys
from pipelines.monitor.loans import Books
from pipelines.schemas import BEHAVIOUR_SCHEMA as BEHAVIOUR_SCHEMA
from pipelines.scoring.behaviour import COLUMNS as BEHAVIOUR_COLUMNS
from pipelines.scoring.behaviour import months_on_book


def behaviour_scores(
    settings: Settings, books: Books, loans: pd.DataFrame, feats: pd.DataFrame, day: date
) -> pd.DataFrame:
    registry = Registry(settings.models_uri, model_keys(settings))
    try:  # a behaviour champion that is there but refused (unsigned, altered) is an error
        family, role = registry.entry(family="behaviour")["family"], "behaviour champion"
    except RegistryError:
        family, role = "pre_loan", "pre-loan champion (no behaviour model yet)"
    loaded = registry.load(family=family)
    model = loaded.model
    rows = loans[["loan_id", "firm_id", "application_id", "dpd", "disbursed_on"]].merge(
        feats, on="firm_id", how="left"
    )
    rows["dpd"] = rows["dpd"].astype(float)
    rows["months_on_book"] = months_on_book(rows["disbursed_on"], day)
    X = rows[list(BEHAVIOUR_COLUMNS)]
    p_bad = model.predict_proba(X)[:, 1]
    score = model.points(X) if hasattr(model, "points") else np.full(len(rows), np.nan)
    pre = books.scores[["application_id", "score"]].rename(columns={"score": "at_disbursement"})
    rows = rows.assign(pd=p_bad, score=score).merge(pre, on="application_id", how="left")
    return pd.DataFrame(
        {
            "loan_id": rows["loan_id"].astype(str),
            "firm_id": rows["firm_id"].astype(str),
            "day": day,
            "pd": rows["pd"].astype(float),
            "score": rows["score"].astype(float),
            "score_at_disbursement": rows["at_disbursement"].astype(float),
            "score_change": (rows["score"] - rows["at_disbursement"]).astype(float),
            "model_id": loaded.entry["model_id"],
            "model_role": role,
            "feature_row_hash": rows["input_hash"].astype(str),
        }
    )


def behaviour_uri(lake_uri: str, day: date) -> str:
    return BEHAVIOUR_SCORES.uri(lake_uri, day)
