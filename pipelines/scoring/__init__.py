"""Pre-loan scoring: training sets from the bank's books and the feature snapshots, model
training with out-of-time validation, and the daily score table.

- ``labels``: bad = 90+ days past due within 12 months of disbursement, and observed or not;
- ``inputs``: the snapshot a row is scored on (the last month end before its day) joined in;
- ``training``: the scorecard and the challenger, validated out of time and registered;
- ``scores``: the daily score table and its reader;
- ``behaviour``: the behaviour model of running loans (imported by its own name).

The bank's books are read by ``pipelines.books``, dates by ``pipelines.calendar``; both are
re-exported here for the callers that import them from this package.
"""

from pipelines.books import read_bank
from pipelines.calendar import as_date
from pipelines.schemas import SCORE_REASONS as REASONS
from pipelines.schemas import SCORE_SCHEMA
from pipelines.scoring.errors import ScoringError
from pipelines.scoring.inputs import features_as_of, join_features, with_features
from pipelines.scoring.labels import BAD_DPD, LABEL_MONTHS, labels
from pipelines.scoring.scores import application_days, read_scores, score_days, score_uri
from pipelines.scoring.training import (
    FAMILY,
    Sample,
    TrainingResult,
    train,
    training_set,
    validate_and_register,
)

__all__ = [
    "BAD_DPD",
    "FAMILY",
    "LABEL_MONTHS",
    "REASONS",
    "SCORE_SCHEMA",
    "Sample",
    "ScoringError",
    "TrainingResult",
    "application_days",
    "as_date",
    "features_as_of",
    "join_features",
    "labels",
    "read_bank",
    "read_scores",
    "score_days",
    "score_uri",
    "train",
    "training_set",
    "validate_and_register",
    "with_features",
]
