"""Configuration, built once at the edge (CLI or DAG task) and passed down as arguments."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT / "demo-output"

ENV_LANDING = "SMECREDIT_LANDING_URI"
ENV_LAKE = "SMECREDIT_LAKE_URI"
ENV_TRUST = "SMECREDIT_TRUST_POLICY"


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads and writes. Every location is a URI or a local path."""

    landing_uri: str
    lake_uri: str
    trust_policy: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``SMECREDIT_*`` variables, defaulting to folders under ``demo-output/``."""
        env = os.environ if env is None else env
        return cls(
            landing_uri=env.get(ENV_LANDING) or str(DEFAULT_DATA / "world" / "landing"),
            lake_uri=env.get(ENV_LAKE) or str(DEFAULT_DATA / "lake"),
            trust_policy=env.get(ENV_TRUST) or str(DEFAULT_DATA / "world" / "trust.json"),
        )
