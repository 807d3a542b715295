"""In-loan review: check what an application claims against what the chain attests, then
decide by the rule table.

Everything is judged as of the end of the application day (UTC): only records sealed by
then count. Each check (``checks/``, one module each, documented there) gives ``pass``,
``warn`` or ``fail`` with a plain-language finding, figures and evidence (record ids and
leaf hashes of the attested records used): ``collateral`` (with the double pledge),
``receivables`` (with double financing), ``trade_authenticity``, ``circular_trade``,
``headcount`` and ``data_freshness``.

- ``view``: the attested rows a batch of applications needs, and each one's slice;
- ``rules``: the decision table (``rules.json`` or ``SMECREDIT_REVIEW_RULES``), the first
  matching rule decides;
- ``run``: the review of days, its table and its reader;
- ``backtest``: recall and false positives against the simulator's planted cases.
"""

from pipelines.review.checks import CHECKS, RESULTS, Case, Check
from pipelines.review.rules import RULES, ReviewError, Rules
from pipelines.review.run import Reviewer, read_reviews, review_days, review_uri, run
from pipelines.review.view import WINDOW_MONTHS, ChainView, load_view
from pipelines.schemas import REVIEW_SCHEMA

__all__ = [
    "CHECKS",
    "RESULTS",
    "REVIEW_SCHEMA",
    "RULES",
    "WINDOW_MONTHS",
    "Case",
    "ChainView",
    "Check",
    "ReviewError",
    "Reviewer",
    "Rules",
    "load_view",
    "read_reviews",
    "review_days",
    "review_uri",
    "run",
]
