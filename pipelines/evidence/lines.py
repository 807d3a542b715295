"""The original export lines of landed records, byte for byte, from the landing zone.

Each verified row in the lake sits in a file named after the bundle it was landed from
(``part-<bundle_key>.parquet``, ``pipelines.lake.bundle_key``), and the ingest log holds that
bundle's location. The bundle's ``records.jsonl`` line at the row's height and index is
copied as it is, once the bundle's files are shown to be those its exporter signed (the
manifest's signature under the trust policy, its SHA-256 digests) and the line's leaf to be
the record the lake holds (same id, same leaf hash); the bundle's ``headers.jsonl`` line of
that height comes with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson
import pandas as pd
import pyarrow.dataset as ds

from attestations.dsse import MANIFEST_PAYLOAD_TYPE, pae
from attestations.hashing import sha256_hex
from attestations.merkle import leaf_hash
from attestations.policy import TrustPolicy
from attestations.timestamps import timestamp_key
from pipelines.evidence.select import EvidenceError
from pipelines.lake import bundle_key, filesystem


@dataclass(frozen=True)
class SourceLine:
    """A record line as its bundle holds it, and where."""

    raw: bytes
    bundle_uri: str
    bundle_id: str
    line_no: int
    height: int
    index: int


def bundle_locations(lake_uri: str) -> dict[str, str]:
    """Every ingested bundle's key (as in the landed file names) and its location."""
    fs, root = filesystem(lake_uri)
    if not fs.exists(f"{root}/ingest_log"):
        return {}
    log = ds.dataset(f"{root}/ingest_log", format="parquet", partitioning="hive", filesystem=fs)
    table = log.to_table(columns=["bundle_id", "bundle_uri"])
    pairs = zip(table["bundle_id"].to_pylist(), table["bundle_uri"].to_pylist(), strict=True)
    return {bundle_key(bid, uri): uri for bid, uri in pairs}


def _key_of(landed_file: str) -> str:
    name = landed_file.rsplit("/", 1)[-1]
    if not (name.startswith("part-") and name.endswith(".parquet")):
        raise EvidenceError(f"landed file {landed_file} is not named part-<bundle>.parquet")
    return name[len("part-") : -len(".parquet")]


def locate(logged_uri: str, landing_uri: str) -> str:
    """Where a bundle is now: where the ingest log says, or, when the landing zone has moved,
    the same ``<source>/<folder>`` under ``landing_uri`` (its exporter's signature is checked
    either way, so a bundle found elsewhere is still the one exported)."""
    fs, path = filesystem(logged_uri)
    if fs.exists(f"{path}/records.jsonl") or not landing_uri:
        return logged_uri
    return f"{landing_uri.rstrip('/')}/{'/'.join(path.rstrip('/').split('/')[-2:])}"


def _read(uri: str, name: str) -> bytes:
    fs, root = filesystem(uri)
    try:
        return bytes(fs.cat_file(f"{root}/{name}"))
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"cannot read {name} of bundle {uri}: {exc}") from None


def _exported(uri: str, policy: TrustPolicy) -> tuple[bytes, bytes]:
    """The bundle's records.jsonl and headers.jsonl, once their bytes are shown to be those
    its exporter signed: the manifest's signature holds under ``policy`` and its SHA-256
    digests match both files.

    Raises:
        EvidenceError: the bundle is gone, or changed since its export.
    """
    manifest_raw, sig_raw = _read(uri, "manifest.json"), _read(uri, "manifest.sig")
    records, headers = _read(uri, "records.jsonl"), _read(uri, "headers.jsonl")
    try:
        manifest, sig = orjson.loads(manifest_raw), orjson.loads(sig_raw)
        exported_at = timestamp_key(manifest["exported_at"])
        signed = exported_at is not None and policy.exporter_signed(
            pae(MANIFEST_PAYLOAD_TYPE, manifest_raw),
            manifest["source"],
            exported_at,
            sig["keyid"],
            sig["sig"],
        )
        digests = (manifest["records_sha256"], manifest["headers_sha256"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise EvidenceError(f"bundle {uri}: its manifest is unreadable") from None
    if not signed:
        raise EvidenceError(f"bundle {uri}: its manifest no longer bears a valid exporter signature")
    if digests != (sha256_hex(records), sha256_hex(headers)):
        raise EvidenceError(
            f"bundle {uri}: records.jsonl or headers.jsonl differs from what its exporter signed "
            "(the landing zone was changed after export)"
        )
    return records, headers


def _positions(records: bytes) -> dict[tuple[int, int], tuple[int, bytes]]:
    """(height, index) -> (line number, raw line) of every well-formed line."""
    out: dict[tuple[int, int], tuple[int, bytes]] = {}
    for n, raw in enumerate(records.split(b"\n"), start=1):
        if not raw:
            continue
        try:
            line = orjson.loads(raw)
            out.setdefault((int(line["height"]), int(line["index"])), (n, raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return out


def _headers(headers: bytes, heights: set[int]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for raw in headers.split(b"\n"):
        if not raw:
            continue
        try:
            height = orjson.loads(raw)["header"]["height"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
        if height in heights:
            out.setdefault(int(height), raw)
    return out


def _checked(raw: bytes, record_id: str, expected_hash: str, hash_alg: str, where: str) -> None:
    try:
        leaf = orjson.loads(raw)["leaf"].encode("utf-8")
        rid = orjson.loads(leaf)["record_id"]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, UnicodeEncodeError):
        raise EvidenceError(f"{where} is no longer a record line") from None
    if rid != record_id or leaf_hash(leaf, hash_alg).hex() != expected_hash:
        raise EvidenceError(
            f"{where} is not byte-identical to what was verified and landed as {record_id}: "
            "the landing zone was changed after ingest"
        )


def original_lines(
    rows: pd.DataFrame, locations: dict[str, str], policy: TrustPolicy, landing_uri: str = ""
) -> tuple[dict[str, SourceLine], dict[int, bytes]]:
    """The export line of every record in ``rows`` (by record id) and the header line of
    every height they sit at, reading each bundle once and only from files whose bytes its
    exporter signed.

    Raises:
        EvidenceError: a bundle is gone from the landing zone or its line no longer matches
            the landed record.
    """
    lines: dict[str, SourceLine] = {}
    headers: dict[int, bytes] = {}
    unique = rows.drop_duplicates("record_id")
    for landed_file, group in unique.groupby("__filename", sort=True):
        key = _key_of(str(landed_file))
        logged = locations.get(key)
        if logged is None:
            raise EvidenceError(f"no ingested bundle has the key {key} (landed file {landed_file})")
        uri = locate(logged, landing_uri)
        records, header_lines = _exported(uri, policy)
        positions = _positions(records)
        wanted_heights = {int(h) for h in group["height"]} - set(headers)
        if wanted_heights:
            headers.update(_headers(header_lines, wanted_heights))
        for row in group.itertuples(index=False):
            found = positions.get((int(row.height), int(row.index)))
            where = f"bundle {uri} at height {row.height} index {row.index}"
            if found is None:
                raise EvidenceError(f"{where}: no such line; the landing zone was changed after ingest")
            _checked(found[1], str(row.record_id), str(row.leaf_hash), policy.hash_alg, where)
            lines[str(row.record_id)] = SourceLine(
                found[1], uri, str(row.bundle_id), found[0], int(row.height), int(row.index)
            )
    missing = _missing(headers, (line.height for line in lines.values()))
    if missing:
        raise EvidenceError(f"no header line for heights {missing[:5]} in the bundles of their records")
    return lines, headers


def _missing(headers: dict[int, bytes], heights: Iterable[int]) -> list[int]:
    return sorted(set(heights) - set(headers))
