"""Lake I/O behind fsspec URIs: a local folder by default, object storage in production."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

import fsspec


def safe_name(text: str) -> str:
    """``text`` with everything but letters, digits, ``.``, ``_`` and ``-`` made ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def bundle_key(bundle_id: str, uri: str) -> str:
    """A file-name-safe name for a bundle's output files, unique per bundle location (two
    sources' bundles of one day may share an id or folder name, never a path)."""
    return f"{safe_name(bundle_id)[:80] or 'bundle'}-{hashlib.sha256(uri.encode()).hexdigest()[:10]}"


def filesystem(uri: str) -> tuple[Any, str]:
    """The fsspec file system of ``uri`` and the path inside it."""
    fs, path = fsspec.core.url_to_fs(uri)
    return fs, str(path).rstrip("/")


def _write_atomic(uri: str, write: Callable[[Any], object]) -> None:
    fs, path = filesystem(uri)
    parent, name = path.rsplit("/", 1)
    fs.makedirs(parent, exist_ok=True)
    # Named after its target, so that the next writer of the target can remove what a killed
    # writer left (pipelines.leftovers).
    tmp = f"{parent}/.tmp-{safe_name(name)[:100]}-{uuid.uuid4().hex}"
    with fs.open(tmp, "wb") as out:
        write(out)
    fs.mv(tmp, path)


def write_atomic(uri: str, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``uri``, then move it into place.

    On a local disk the move is an atomic rename; on object stores a single PUT is atomic
    already, and the temporary object is what makes a crashed writer leave no partial file.
    """
    _write_atomic(uri, lambda out: out.write(data))


def write_parquet(uri: str, table: Any) -> None:
    """Write a pyarrow ``table`` as one Parquet file at ``uri``, atomically, streamed to the
    temporary file rather than built in memory first. Binary columns (raw quarantined lines,
    which may be hundreds of megabytes) get no statistics and no dictionary: Parquet would
    copy each value several times for its min/max and dictionary pages."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    binary = [f.name for f in table.schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
    plain: Any = [n for n in table.schema.names if n not in binary] if binary else True
    _write_atomic(uri, lambda out: pq.write_table(table, out, write_statistics=plain, use_dictionary=plain))


def read_parquet_files(uri: str, pattern: str, schema: Any) -> Any:
    """Every Parquet file under ``uri`` whose path matches the glob ``pattern``, in path
    order, as one pyarrow table of ``schema`` (empty when there are none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, root = filesystem(uri)
    files = sorted(fs.glob(f"{root}/{pattern}"))
    if not files:
        return schema.empty_table()
    return pa.concat_tables([pq.read_table(pa.BufferReader(fs.cat_file(f)), schema=schema) for f in files])


def check_writable(lake_uri: str) -> dict[str, str]:
    """Write, read back and delete a probe object under ``lake_uri``.

    Raises:
        OSError: the lake cannot be written or the probe does not read back intact.
    """
    probe_uri = f"{lake_uri.rstrip('/')}/_healthcheck/probe-{uuid.uuid4().hex}"
    payload = uuid.uuid4().bytes
    write_atomic(probe_uri, payload)
    fs, probe = filesystem(probe_uri)
    try:
        with fs.open(probe, "rb") as f:
            if f.read() != payload:
                raise OSError(f"lake probe {probe_uri} did not read back what was written")
    finally:
        fs.rm(probe)
    return {"lake_uri": lake_uri, "status": "writable"}
