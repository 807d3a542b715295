"""The rule catalogue: which registered rules run, with their thresholds, severities,
descriptions and the next step a risk manager takes on an alert of each
(``pipelines/monitor/rules.json``, or the file in ``SMECREDIT_MONITOR_RULES``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attestations import strict_json
from pipelines.monitor.alerts import SEVERITIES
from pipelines.monitor.errors import MonitorError
from pipelines.monitor.rules.registry import REGISTRY, hysteresis_rules

RULES = Path(__file__).parents[1] / "rules.json"
"""The packaged catalogue."""


@dataclass(frozen=True)
class Catalogue:
    haircut: float
    rules: dict[str, dict[str, Any]]
    """Per rule that runs, in the catalogue's order: its entry."""

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalogue:
        """The catalogue at ``path`` (default: the packaged ``rules.json``).

        Raises:
            MonitorError: unreadable, a rule that is not registered, or an entry without
                severity, threshold, description and next_step, or with a ``clear_below`` it
                cannot have.
        """
        where = Path(path) if path else RULES
        try:
            doc = strict_json.load_path(where)
            rules = {r["rule"]: dict(r) for r in doc["rules"]}
            catalogue = cls(float(doc["collateral_haircut"]), rules)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MonitorError(f"monitor rules {where} are unreadable: {exc}") from None
        held = hysteresis_rules()
        for name, r in rules.items():
            if name not in REGISTRY:
                raise MonitorError(
                    f"monitor rules {where}: unknown rule {name} (known: {', '.join(sorted(REGISTRY))})"
                )
            missing = [k for k in ("threshold", "description", "next_step") if not str(r.get(k, "")).strip()]
            if r.get("severity") not in SEVERITIES or missing:
                raise MonitorError(
                    f"monitor rules {where}: rule {name} needs severity ({', '.join(SEVERITIES)}), "
                    "threshold, description and next_step (what a risk manager does next)"
                )
            if "clear_below" in r and name not in held:
                raise MonitorError(
                    f"monitor rules {where}: rule {name} cannot have clear_below "
                    f"(only rules that fire at or above their threshold: {', '.join(sorted(held))})"
                )
            if "clear_below" in r and not float(r["clear_below"]) <= float(r["threshold"]):
                raise MonitorError(f"monitor rules {where}: rule {name} has clear_below above its threshold")
        return catalogue
