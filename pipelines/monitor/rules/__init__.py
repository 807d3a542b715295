"""The post-loan early-warning rules: one function per rule, each registered with its name
and whether it has hysteresis (``registry.rule``), grouped by what they watch. The
catalogue (``rules.json``) says which run and configures them."""

from pipelines.monitor.rules.catalogue import RULES, Catalogue
from pipelines.monitor.rules.collateral import (
    PLEDGE_GRACE_DAYS,
    collateral_coverage,
    coverage,
    receipt_status,
)
from pipelines.monitor.rules.contributions import headcount_down, hf_arrears, si_arrears
from pipelines.monitor.rules.dpd import dpd_1_30, dpd_31_60, dpd_61_90
from pipelines.monitor.rules.lease import lease_flight
from pipelines.monitor.rules.model import behaviour_pd, score_worsening
from pipelines.monitor.rules.registry import REGISTRY, Condition, Context, Rule, hysteresis_rules, rule
from pipelines.monitor.rules.trade import no_sales, sales_drop

__all__ = [
    "PLEDGE_GRACE_DAYS",
    "REGISTRY",
    "RULES",
    "Catalogue",
    "Condition",
    "Context",
    "Rule",
    "behaviour_pd",
    "collateral_coverage",
    "coverage",
    "dpd_1_30",
    "dpd_31_60",
    "dpd_61_90",
    "headcount_down",
    "hf_arrears",
    "hysteresis_rules",
    "lease_flight",
    "no_sales",
    "receipt_status",
    "rule",
    "sales_drop",
    "score_worsening",
    "si_arrears",
]
