"""The portfolio policy: staging rules, the expected-credit-loss parameters with their macro
scenarios, and the model-monitoring thresholds, read from ``policy.json`` beside this module
(or the file in SMECREDIT_PORTFOLIO_POLICY) and checked before anything is computed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.config import ENV_PORTFOLIO_POLICY
from pipelines.errors import SmecreditError

POLICY = Path(__file__).with_name("policy.json")
ENV_POLICY = ENV_PORTFOLIO_POLICY
RULE_KINDS = {
    "defaulted": (),
    "dpd_90": ("threshold",),
    "credit_impaired": ("alert_rules",),
    "dpd_30": ("threshold",),
    "sicr": ("relative", "absolute"),
    "behaviour_pd": ("threshold",),
    "watch_list": ("severity",),
    "performing": (),
}


class PortfolioError(SmecreditError):
    """A portfolio assessment cannot proceed; the message says why."""


@dataclass(frozen=True)
class Scenario:
    name: str
    weight: float
    pd_multiplier: float
    haircut_addon: float


@dataclass(frozen=True)
class EclParams:
    grades: tuple[str, ...]
    delinquency: tuple[tuple[str, int, float], ...]  # (state, from days past due, prior monthly hazard)
    behaviour_horizon_months: int
    prior_strength: float
    collateral_haircut: float
    unsecured_recovery_prior: float
    recovery_prior_weight: float
    write_off_months: int
    default_annual_rate: float
    scenarios: tuple[Scenario, ...]


@dataclass(frozen=True)
class Policy:
    staging: tuple[dict[str, Any], ...]
    ecl: EclParams
    monitoring: dict[str, Any]
    source: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> Policy:
        """Read and check a policy file.

        Raises:
            PortfolioError: the file is unreadable or breaks a rule (each named).
        """
        where = Path(path) if path else POLICY
        try:
            doc = json.loads(where.read_text())
            e = doc["ecl"]
            scenarios = tuple(
                Scenario(
                    str(s["name"]), float(s["weight"]), float(s["pd_multiplier"]), float(s["haircut_addon"])
                )
                for s in e["scenarios"]
            )
            ecl = EclParams(
                tuple(str(g) for g in e["grades"]),
                tuple(
                    (str(d["name"]), int(d["from_dpd"]), float(d["prior_hazard"]))
                    for d in e.get("delinquency_states", [])
                ),
                int(e["behaviour_horizon_months"]),
                float(e["prior_strength"]),
                float(e["collateral_haircut"]),
                float(e["unsecured_recovery_prior"]),
                float(e["recovery_prior_weight"]),
                int(e["write_off_months"]),
                float(e["default_annual_rate"]),
                scenarios,
            )
            policy = cls(tuple(dict(r) for r in doc["staging"]), ecl, dict(doc["monitoring"]), str(where))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PortfolioError(f"portfolio policy {where} is unreadable: {exc}") from None
        policy.check()
        return policy

    def check(self) -> None:
        where = self.source
        for r in self.staging:
            kind = r.get("rule")
            if kind not in RULE_KINDS:
                raise PortfolioError(f"portfolio policy {where}: unknown staging rule {kind!r}")
            missing = [k for k in (*RULE_KINDS[kind], "stage", "description") if k not in r]
            if missing or r["stage"] not in (1, 2, 3):
                raise PortfolioError(f"portfolio policy {where}: rule {kind} needs {missing or 'stage 1-3'}")
        if not self.staging or self.staging[-1]["rule"] != "performing":
            raise PortfolioError(f"portfolio policy {where}: the last staging rule must be 'performing'")
        names = [s.name for s in self.ecl.scenarios]
        if sorted(names) != ["base", "downside", "upside"]:
            raise PortfolioError(
                f"portfolio policy {where}: scenarios must be base, upside, downside; got {names}"
            )
        weights = [s.weight for s in self.ecl.scenarios]
        if min(weights) < 0 or abs(sum(weights) - 1) > 1e-9:
            raise PortfolioError(f"portfolio policy {where}: scenario weights must be >= 0 and sum to 1")
        if any(s.pd_multiplier <= 0 for s in self.ecl.scenarios):
            raise PortfolioError(f"portfolio policy {where}: pd_multiplier must be positive")
        if not 0 <= self.ecl.collateral_haircut <= 1 or not 0 <= self.ecl.unsecured_recovery_prior <= 1:
            raise PortfolioError(f"portfolio policy {where}: haircut and recovery prior must be within 0-1")
        if self.ecl.write_off_months < 1 or self.ecl.behaviour_horizon_months < 1:
            raise PortfolioError(f"portfolio policy {where}: write_off_months and horizons must be >= 1")
        for key in ("psi_breach", "csi_breach", "jeffreys_level", "min_grade_count", "owner"):
            if key not in self.monitoring:
                raise PortfolioError(f"portfolio policy {where}: monitoring needs {key}")

    def rule(self, kind: str) -> dict[str, Any] | None:
        return next((r for r in self.staging if r["rule"] == kind), None)
