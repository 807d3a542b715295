"""The rule registry: one function per rule, its hysteresis declared with it, the catalogue
checked against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.monitor import RULES, Catalogue, MonitorError
from pipelines.monitor.rules import REGISTRY, hysteresis_rules


def test_the_packaged_catalogue_runs_every_registered_rule() -> None:
    assert list(Catalogue.load().rules) == [r["rule"] for r in json.loads(RULES.read_text())["rules"]]
    assert set(Catalogue.load().rules) == set(REGISTRY)


def test_hysteresis_is_declared_by_the_rules_that_fire_at_or_above_their_threshold() -> None:
    assert hysteresis_rules() == {
        "sales_drop",
        "no_sales",
        "si_arrears",
        "hf_arrears",
        "headcount_down",
        "score_worsening",
        "behaviour_pd",
    }
    for rule in REGISTRY.values():
        assert rule.test.__doc__, f"rule {rule.name} is not documented"


def test_a_catalogue_naming_an_unknown_rule_is_refused(tmp_path: Path) -> None:
    doc = json.loads(RULES.read_text())
    doc["rules"].append({"rule": "sales_dorp", "severity": "warning", "threshold": 1, "description": "typo"})
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(MonitorError, match="unknown rule sales_dorp"):
        Catalogue.load(bad)
