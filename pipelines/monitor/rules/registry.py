"""The post-loan rule registry: one function per rule, registered under its name with
whether it has hysteresis. ``rules.json`` (the catalogue) only configures them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Condition = dict[str, Any]
"""A rule that holds for a loan: loan, firm, manager, rule, severity, description, figures
and the kind of evidence to attach (``evidence_kind``)."""
Cover = dict[str, tuple[float, list[str], list[str]]]
"""Per loan with collateral: pledged value now, receipts offered, receipts lost."""
Sentence = Callable[[dict[str, Any], dict[str, Any]], str]
"""What a rule says in plain language: given the figures of a condition and the rule's
catalogue entry, one sentence with the loan's own figure and the threshold."""


@dataclass(frozen=True)
class Context:
    """What a rule reads beside the loan's row (its features, behaviour score and books)."""

    specs: dict[str, dict[str, Any]]
    """Each rule's entry of the catalogue: threshold, severity, description, ..."""
    haircut: float
    """The collateral haircut (``collateral_haircut`` of the catalogue)."""
    open_alerts: frozenset[tuple[str, str]] = frozenset()
    """The (loan, rule) pairs with an open or acknowledged alert."""
    cover: Cover = field(default_factory=dict)

    def level(self, row: Any, rule: str) -> float:
        """``rule``'s threshold, or its ``clear_below`` while the loan's alert of it is open."""
        spec = self.specs[rule]
        held = "clear_below" in spec and (row.loan_id, rule) in self.open_alerts
        return float(spec["clear_below"] if held else spec["threshold"])

    def hit(
        self,
        row: Any,
        rule: str,
        value: float,
        figures: dict[str, Any],
        evidence: str,
        severity: str | None = None,
    ) -> Condition:
        """``rule`` holds for ``row``'s loan at ``value``; critical at ``critical_at`` when set.
        Its description is the rule's sentence with these figures."""
        spec = self.specs[rule]
        if severity is None:
            critical = "critical_at" in spec and value >= float(spec["critical_at"])
            severity = "critical" if critical else spec["severity"]
        figures = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()}
        return {
            "loan_id": row.loan_id,
            "firm_id": row.firm_id,
            "manager_id": row.manager_id,
            "rule": rule,
            "severity": severity,
            "description": REGISTRY[rule].says(figures, spec),
            "figures": figures,
            "evidence_kind": evidence,
        }


RuleFunction = Callable[[Any, Context], Condition | None]
"""A rule: given a loan's row (``itertuples``) and the context, its condition or None."""


@dataclass(frozen=True)
class Rule:
    name: str
    test: RuleFunction
    hysteresis: bool
    """It fires at or above its threshold, so it may have a ``clear_below``: an open alert
    then holds down to that level instead of resolving and reopening around the threshold."""
    says: Sentence
    """The rule's plain-language sentence (its ``description`` in the alert table)."""


REGISTRY: dict[str, Rule] = {}


def rule(name: str, *, hysteresis: bool, says: Sentence) -> Callable[[RuleFunction], RuleFunction]:
    """Register the decorated function as the rule ``name``, which ``says`` what it found."""

    def register(test: RuleFunction) -> RuleFunction:
        if name in REGISTRY:
            raise ValueError(f"monitor rule {name} is registered twice")
        REGISTRY[name] = Rule(name, test, hysteresis, says)
        return test

    return register


def held(value: float, spec: dict[str, Any], unit: Callable[[float], str]) -> str:
    """How ``value`` stands against a rule that fires at or above its threshold: "at or above
    the 15% line", or, for an open alert held by ``clear_below``, "below the 15% line but not
    yet below 5%, where the open alert clears"."""
    threshold = float(spec["threshold"])
    if value >= threshold or "clear_below" not in spec:
        return f"at or above the {unit(threshold)} line"
    return (
        f"below the {unit(threshold)} line that opened the alert but not yet below "
        f"{unit(float(spec['clear_below']))}, where it clears"
    )


def hysteresis_rules() -> frozenset[str]:
    """The rules that may have a ``clear_below``."""
    return frozenset(r.name for r in REGISTRY.values() if r.hysteresis)
