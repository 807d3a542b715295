"""Collecting bundles: which are in the landing zone, which are not ingested yet, in which
order, in which batches; and reading a bundle's files and the trust policy."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from attestations.errors import PolicyError
from attestations.policy import TrustPolicy
from attestations.state import SqliteStore
from attestations.verifier import BundleFiles
from pipelines.ingest.config import IngestConfig
from pipelines.ingest.state import lake_state
from pipelines.lake import filesystem
from pipelines.schemas import SOURCES


def list_bundles(landing_uri: str, source: str) -> list[str]:
    """Every bundle folder of ``source`` in the landing zone (``<landing>/<source>/<date>/``)."""
    fs, root = filesystem(landing_uri)
    found = fs.glob(f"{root}/{source}/*/manifest.json") + fs.glob(f"{root}/{source}/*/records.jsonl")
    folders = sorted({str(p).rsplit("/", 1)[0] for p in found})
    protocol = landing_uri.split("://", 1)[0] + "://" if "://" in landing_uri else ""
    return [f"{protocol}{f}" for f in folders]


def read_bundle(uri: str) -> BundleFiles:
    """The four files of a bundle at a path or URI."""
    fs, root = filesystem(uri)
    return BundleFiles.from_reader(uri, lambda name: bytes(fs.cat_file(f"{root}/{name}")))


def load_policy(uri: str) -> TrustPolicy:
    """Read the trust policy from a path or URI.

    Raises:
        PolicyError: unreadable or unusable.
    """
    fs, path = filesystem(uri)
    try:
        data = fs.cat_file(path)
    except (OSError, ValueError) as exc:
        raise PolicyError(f"cannot read trust policy {uri}: {exc}") from None
    return TrustPolicy.from_json(data)


def _first_height(uri: str) -> tuple[float, str]:
    fs, root = filesystem(uri)
    try:
        manifest = orjson.loads(fs.cat_file(f"{root}/manifest.json"))
        return float(manifest["first_height"]), uri
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return float("inf"), uri  # the verifier will say what is wrong with it


def in_height_order(uris: Sequence[str]) -> list[str]:
    """Bundles ordered by their first height (a bundle with no readable manifest last)."""
    return [uri for _, uri in sorted(map(_first_height, uris))]


def pending(cfg: IngestConfig, store: SqliteStore, sources: Sequence[str] = SOURCES) -> list[str]:
    """Bundles not yet ingested, in height order."""
    done = store.bundle_runs()
    return in_height_order([u for s in sources for u in list_bundles(cfg.landing_uri, s) if u not in done])


def pending_bundles(cfg: IngestConfig, sources: Sequence[str] = SOURCES) -> list[str]:
    """Bundles of ``sources`` not yet ingested, without changing the lake (for collect tasks)."""
    policy = load_policy(cfg.trust_policy)
    with lake_state(cfg.lake_uri, policy.chain_id, commit=False) as store:
        return pending(cfg, store, sources)


def plan_batches(uris: Sequence[str], batch_size: int) -> list[list[str]]:
    """Split bundles, in height order, into batches of at most ``batch_size``."""
    ordered = in_height_order(sorted(set(uris)))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
