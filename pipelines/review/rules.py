"""The in-loan decision table: ``rules.json`` beside this package (or
``SMECREDIT_REVIEW_RULES``) holds the checks' thresholds and the ordered rules that turn the
failed and warned checks and the grade into approve, refer or decline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attestations import strict_json
from pipelines.errors import SmecreditError
from pipelines.review.checks import CHECKS, Check

RULES = Path(__file__).with_name("rules.json")
DECISIONS = ("approve", "refer", "decline")


class ReviewError(SmecreditError):
    """A review cannot run (bad rule table, missing input); the message says why."""


@dataclass(frozen=True)
class Rules:
    thresholds: dict[str, Any]
    decisions: list[dict[str, Any]]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Rules:
        """The rule table at ``path`` (default: the packaged ``rules.json``).

        Raises:
            ReviewError: unreadable, or a rule that names an unknown check or decision.
        """
        where = Path(path) if path else RULES
        try:
            doc = strict_json.load_path(where)
            rules = cls(dict(doc["thresholds"]), list(doc["decisions"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReviewError(f"review rules {where} are unreadable: {exc}") from None
        for rule in rules.decisions:
            if rule.get("decision") not in DECISIONS:
                raise ReviewError(f"review rules {where}: decision must be approve, refer or decline: {rule}")
            when = rule.get("when", {})
            for key in ("failed_any", "warned_any"):
                unknown = set(when.get(key, [])) - set(CHECKS)
                if unknown:
                    raise ReviewError(f"review rules {where}: unknown checks {sorted(unknown)}")
        if not any(r.get("when", {}).get("always") for r in rules.decisions):
            raise ReviewError(
                f"review rules {where}: the last rule must be 'always' so every case is decided"
            )
        return rules

    def decide(self, checks: dict[str, Check], grade: str | None) -> tuple[str, str]:
        failed = {n for n, c in checks.items() if c.result == "fail"}
        warned = {n for n, c in checks.items() if c.result == "warn"}
        for rule in self.decisions:
            when = rule.get("when", {})
            if (
                when.get("always")
                or failed & set(when.get("failed_any", []))
                or warned & set(when.get("warned_any", []))
                or (grade is not None and grade in when.get("grade_in", []))
            ):
                return str(rule["decision"]), str(rule.get("reason", ""))
        raise ReviewError("no review rule matched")  # unreachable: load() demands an 'always' rule
