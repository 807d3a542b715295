"""Portfolio risk: IFRS 9 stages, expected credit loss from the chain's evidence, the
movement bridge, and the health of the models between retrains (docs/portfolio.md)."""

from pipelines.portfolio.assess import assess_month, assess_months, measure, migration_at
from pipelines.portfolio.book import BankBooks, add_months, loans_at, unsecured_recovery_rate
from pipelines.portfolio.ecl import expected_loss, scenario_curves, term_pds
from pipelines.portfolio.health import assess_models, notify_breaches
from pipelines.portfolio.migration import cumulative_default, migration_matrix, stressed, transition_counts
from pipelines.portfolio.movements import CAUSES, bridge, loan_movements
from pipelines.portfolio.policy import ENV_POLICY, Policy, PortfolioError, Scenario
from pipelines.portfolio.staging import assign_stages, open_alerts_at
from pipelines.portfolio.tables import read_month, read_months
from pipelines.schemas import ECL_SCHEMA, MONITORING_SCHEMA, MOVEMENT_SCHEMA

__all__ = [
    "CAUSES",
    "ECL_SCHEMA",
    "ENV_POLICY",
    "MONITORING_SCHEMA",
    "MOVEMENT_SCHEMA",
    "BankBooks",
    "Policy",
    "PortfolioError",
    "Scenario",
    "add_months",
    "assess_models",
    "assess_month",
    "assess_months",
    "assign_stages",
    "bridge",
    "cumulative_default",
    "expected_loss",
    "loan_movements",
    "loans_at",
    "measure",
    "migration_at",
    "migration_matrix",
    "notify_breaches",
    "open_alerts_at",
    "read_month",
    "read_months",
    "scenario_curves",
    "stressed",
    "term_pds",
    "transition_counts",
    "unsecured_recovery_rate",
]
