"""Configuration, built once at the edge (CLI or DAG task) and passed down as arguments.

``Settings`` is the only configuration object. Its fields come from ``SMECREDIT_*`` variables
(``Settings.from_env``); in Airflow tasks, ``pipelines.airflow_edge.settings()`` lets an
Airflow Variable of the same name override each, read when the task runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import SmecreditError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT / "demo-output"

ENV_LANDING = "SMECREDIT_LANDING_URI"
ENV_LAKE = "SMECREDIT_LAKE_URI"
ENV_TRUST = "SMECREDIT_TRUST_POLICY"
ENV_BANK = "SMECREDIT_BANK_URI"
ENV_MODELS = "SMECREDIT_MODELS_URI"
ENV_BANK_NAME = "SMECREDIT_BANK_NAME"
ENV_REVIEW_RULES = "SMECREDIT_REVIEW_RULES"
ENV_MONITOR_RULES = "SMECREDIT_MONITOR_RULES"
ENV_FEATURE_SHARDS = "SMECREDIT_FEATURE_SHARDS"
ENV_INGEST_BATCH = "SMECREDIT_INGEST_BATCH"
ENV_DELIVERY_BACKOFF = "SMECREDIT_DELIVERY_BACKOFF_SECONDS"
ENV_ALERT_EMAILS = "SMECREDIT_ALERT_EMAILS"
ENV_WEBHOOK_URL = "SMECREDIT_WEBHOOK_URL"
ENV_WEBHOOK_KEY = "SMECREDIT_WEBHOOK_KEY"
ENV_EVIDENCE_KEY = "SMECREDIT_EVIDENCE_KEY"
ENV_PORTFOLIO_POLICY = "SMECREDIT_PORTFOLIO_POLICY"
ENV_MODEL_KEY = "SMECREDIT_MODEL_SIGNING_KEY"
ENV_MAX_BUNDLE_BYTES = "SMECREDIT_MAX_BUNDLE_BYTES"
ENV_STATE_URI = "SMECREDIT_STATE_URI"

ENV_NAMES = (
    ENV_LANDING,
    ENV_LAKE,
    ENV_TRUST,
    ENV_BANK,
    ENV_MODELS,
    ENV_BANK_NAME,
    ENV_REVIEW_RULES,
    ENV_MONITOR_RULES,
    ENV_FEATURE_SHARDS,
    ENV_INGEST_BATCH,
    ENV_DELIVERY_BACKOFF,
    ENV_ALERT_EMAILS,
    ENV_WEBHOOK_URL,
    ENV_WEBHOOK_KEY,
    ENV_EVIDENCE_KEY,
    ENV_PORTFOLIO_POLICY,
    ENV_MODEL_KEY,
    ENV_MAX_BUNDLE_BYTES,
    ENV_STATE_URI,
)
"""Every variable ``Settings`` reads, in the order of the README's configuration table."""


class ConfigError(SmecreditError):
    """A configuration variable has a value that cannot be used; the message names it."""


def _number(env: Mapping[str, str], name: str, default: float, whole: bool) -> float:
    """A whole number of at least 1, or a number of at least 0 (a delay), from ``env``."""
    text = env.get(name) or ""
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = -1
    if whole and not value >= 1:
        raise ConfigError(f"{name}={text!r} is not a positive whole number")
    if not whole and not 0 <= value < float("inf"):
        raise ConfigError(f"{name}={text!r} is not a number of seconds, 0 or more")
    return value


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads and writes, and how it runs. Every location is a URI or a
    local path."""

    landing_uri: str
    lake_uri: str
    trust_policy: str
    bank_uri: str = str(DEFAULT_DATA / "world" / "bank")
    models_uri: str = str(DEFAULT_DATA / "lake" / "models")
    bank_name: str = "SMECREDIT-BANK"  # how this bank is named as pledgee on chain
    review_rules: str = ""  # the in-loan rule table; empty: the packaged rules.json
    monitor_rules: str = ""  # the early-warning rule catalogue; empty: the packaged rules.json
    feature_shards: int = 4  # firm_id hash shards per feature snapshot
    ingest_batch: int = 200  # bundles per ingest task
    delivery_backoff_seconds: float = 60.0  # first retry delay of a refused message
    alert_emails: str = ""  # recipients of task-failure and deadline alerts, comma-separated
    webhook_url: str = ""  # the alert webhook; empty: email only
    webhook_key: str = field(default="", repr=False)  # the webhook's HMAC key (a secret)
    evidence_key: str = field(default="", repr=False)  # Ed25519 PEM, or a path to one (a secret)
    portfolio_policy: str = ""  # staging, ECL and model-health policy; empty: the packaged policy.json
    # the model-signing key, PEM text or a PEM file's path (pipelines.model_keys): a secret
    model_signing_key: str = field(default="", repr=False)
    max_bundle_bytes: int = 1 << 30  # a bundle's files, checked before they are read
    # the ingest state store (SQLAlchemy URL); empty: <lake>/state/ledger-state.sqlite, local lakes only
    state_uri: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``SMECREDIT_*`` variables, defaulting to folders under ``demo-output/`` (the model
        registry defaults to ``<lake>/models``).

        Raises:
            ConfigError: a count is not a positive whole number, or a delay not 0 or more.
        """
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
            monitor_rules=env.get(ENV_MONITOR_RULES) or "",
            feature_shards=int(_number(env, ENV_FEATURE_SHARDS, 4, whole=True)),
            ingest_batch=int(_number(env, ENV_INGEST_BATCH, 200, whole=True)),
            delivery_backoff_seconds=_number(env, ENV_DELIVERY_BACKOFF, 60.0, whole=False),
            alert_emails=env.get(ENV_ALERT_EMAILS) or "",
            webhook_url=env.get(ENV_WEBHOOK_URL) or "",
            webhook_key=env.get(ENV_WEBHOOK_KEY) or "",
            evidence_key=env.get(ENV_EVIDENCE_KEY) or "",
            portfolio_policy=env.get(ENV_PORTFOLIO_POLICY) or "",
            model_signing_key=env.get(ENV_MODEL_KEY) or "",
            max_bundle_bytes=int(_number(env, ENV_MAX_BUNDLE_BYTES, 1 << 30, whole=True)),
            state_uri=env.get(ENV_STATE_URI) or "",
        )
