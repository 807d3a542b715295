"""Post-loan monitoring: a behaviour score and early-warning rules for every active loan,
with an alert lifecycle and an outbox of digests to risk managers.

- ``run``: a day of monitoring (``monitor_day``) and a run of many (``monitor_days``);
- ``loans``: the bank's books for a run, and the loans active on a day;
- ``behaviour``: the behaviour score of every active loan;
- ``rules/``: one function per rule, registered with its hysteresis; ``rules.json`` beside
  this package (or SMECREDIT_MONITOR_RULES) is the catalogue that configures them;
- ``conditions``: every rule on every active loan; ``evidence``: the records behind each;
- ``alerts``: the alert table and its lifecycle (``AlertStatus``, severities), and the
  history of acknowledgements;
- ``digest``, ``digest_html``: a risk manager's digest as text, HTML and webhook JSON;
- ``outbox``: digests to risk managers and their delivery;
- ``backtest``: how early the alerts warned of the defaults that followed.
"""

from pipelines.monitor.alerts import (
    SEVERITIES,
    STATUSES,
    AlertStatus,
    acknowledge,
    acknowledgements_uri,
    alert_id,
    alerts_uri,
    read_acknowledgements,
    read_alerts,
    read_empty,
    update_alerts,
    write_alerts,
)
from pipelines.monitor.behaviour import behaviour_scores, behaviour_uri
from pipelines.monitor.conditions import conditions
from pipelines.monitor.errors import MonitorError
from pipelines.monitor.evidence import EVIDENCE_CAP
from pipelines.monitor.loans import Books, active_loans
from pipelines.monitor.rules import PLEDGE_GRACE_DAYS, REGISTRY, RULES, Catalogue, hysteresis_rules
from pipelines.monitor.run import monitor_day, monitor_days, weekly
from pipelines.schemas import ACKNOWLEDGEMENT_SCHEMA, ALERT_SCHEMA, BEHAVIOUR_SCHEMA

__all__ = [
    "ACKNOWLEDGEMENT_SCHEMA", "ALERT_SCHEMA", "BEHAVIOUR_SCHEMA", "EVIDENCE_CAP", "PLEDGE_GRACE_DAYS",
    "REGISTRY", "RULES", "SEVERITIES", "STATUSES", "AlertStatus", "Books", "Catalogue", "MonitorError",
    "acknowledge", "acknowledgements_uri", "active_loans", "alert_id", "alerts_uri", "behaviour_scores",
    "behaviour_uri", "conditions", "hysteresis_rules", "monitor_day", "monitor_days",
    "read_acknowledgements", "read_alerts", "read_empty", "update_alerts", "weekly", "write_alerts",
]
