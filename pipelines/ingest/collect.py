"""Collecting bundles: which are in the landing zone, which are not ingested yet, in which
order, in which batches; and reading a bundle's files and the trust policy."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from attestations.errors import PolicyError
from attestations.policy import TrustPolicy
from attestations.verifier import BundleFiles
from pipelines.ingest.config import IngestConfig
from pipelines.ingest.state import ingest_state
from pipelines.lake import filesystem
from pipelines.landing import DEFAULT_MAX_BUNDLE_BYTES, Unreadable, bundle_reader, list_entries
from pipelines.ledger_state import StateStore
from pipelines.schemas import SOURCES


def list_bundles(landing_uri: str, source: str) -> list[str]:
    """Every entry of ``<landing>/<source>/`` (``<date>/`` bundle folders), with the links and
    files that ``read_bundle`` then refuses, so that each is accounted for (``pipelines.landing``)."""
    return [entry.uri for entry in list_entries(landing_uri, source)]


def _landing_root(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 2)[0]


def read_bundle(
    uri: str, landing_uri: str | None = None, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES
) -> BundleFiles:
    """The four files of a bundle at a path or URI, read only as ``pipelines.landing``
    allows (the landing root defaults to the folder two levels up); on a local file system
    the two JSONL files are streamed as the verifier reads them, which may then raise
    ``Unreadable`` too (a file swapped for a link in between).

    Raises:
        Unreadable: a file is a link or a special file, lies outside the landing root, or
            the bundle holds more than ``max_bytes``; nothing was read.
    """
    reader = bundle_reader(landing_uri or _landing_root(uri), uri, max_bytes)
    return BundleFiles.from_reader(uri, reader, reader.open if reader.local else None)


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
    return TrustPolicy.from_json(data, source=uri)


def _first_height(uri: str) -> tuple[float, str]:
    try:  # only the manifest is read, safely; the size limit is checked when the bundle is
        manifest = orjson.loads(bundle_reader(_landing_root(uri), uri, 1 << 62)("manifest.json"))
        return float(manifest["first_height"]), uri
    except (Unreadable, OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return float("inf"), uri  # the verifier will say what is wrong with it


def in_height_order(uris: Sequence[str]) -> list[str]:
    """Bundles ordered by their first height (a bundle with no readable manifest last)."""
    return [uri for _, uri in sorted(map(_first_height, uris))]


def pending(cfg: IngestConfig, store: StateStore, sources: Sequence[str] = SOURCES) -> list[str]:
    """Bundles not yet ingested, in height order."""
    done = store.bundle_runs()
    return in_height_order([u for s in sources for u in list_bundles(cfg.landing_uri, s) if u not in done])


def pending_bundles(cfg: IngestConfig, sources: Sequence[str] = SOURCES) -> list[str]:
    """Bundles of ``sources`` not yet ingested, without changing the lake (for collect tasks)."""
    policy = load_policy(cfg.trust_policy)
    with ingest_state(cfg, policy.chain_id) as store:
        return pending(cfg, store, sources)


def plan_batches(uris: Sequence[str], batch_size: int) -> list[list[str]]:
    """Split bundles, in height order, into batches of at most ``batch_size``."""
    ordered = in_height_order(sorted(set(uris)))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
