"""Configuration, built once at the edge (CLI or DAG task) and passed down as arguments."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT / "demo-output"

ENV_LANDING = "SMECREDIT_LANDING_URI"
ENV_LAKE = "SMECREDIT_LAKE_URI"
ENV_TRUST = "SMECREDIT_TRUST_POLICY"
ENV_BANK = "SMECREDIT_BANK_URI"
ENV_MODELS = "SMECREDIT_MODELS_URI"
ENV_BANK_NAME = "SMECREDIT_BANK_NAME"
ENV_REVIEW_RULES = "SMECREDIT_REVIEW_RULES"
ENV_MODEL_KEY = "SMECREDIT_MODEL_SIGNING_KEY"


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads and writes. Every location is a URI or a local path."""

    landing_uri: str
    lake_uri: str
    trust_policy: str
    bank_uri: str = str(DEFAULT_DATA / "world" / "bank")
    models_uri: str = str(DEFAULT_DATA / "lake" / "models")
    bank_name: str = "SMECREDIT-BANK"  # how this bank is named as pledgee on chain
    review_rules: str = ""  # the in-loan rule table; empty: the packaged rules.json
    # the model-signing key: PEM text or a PEM file's path (pipelines.model_keys); a secret
    model_signing_key: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``SMECREDIT_*`` variables, defaulting to folders under ``demo-output/`` (the model
        registry defaults to ``<lake>/models``)."""
        env = os.environ if env is None else env
        lake = env.get(ENV_LAKE) or str(DEFAULT_DATA / "lake")
        return cls(
            landing_uri=env.get(ENV_LANDING) or str(DEFAULT_DATA / "world" / "landing"),
            lake_uri=lake,
            trust_policy=env.get(ENV_TRUST) or str(DEFAULT_DATA / "world" / "trust.json"),
            bank_uri=env.get(ENV_BANK) or str(DEFAULT_DATA / "world" / "bank"),
            models_uri=env.get(ENV_MODELS) or f"{lake.rstrip('/')}/models",
            bank_name=env.get(ENV_BANK_NAME) or "SMECREDIT-BANK",
            review_rules=env.get(ENV_REVIEW_RULES) or "",
            model_signing_key=env.get(ENV_MODEL_KEY) or "",
        )
