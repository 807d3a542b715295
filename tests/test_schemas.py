"""The lake's schemas against the verifier's record schema and against docs/lake.md."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from attestations import records
from pipelines import schemas
from pipelines.features.catalogue import FEATURE_NAMES

LAKE_DOC = Path(__file__).resolve().parents[1] / "docs" / "lake.md"
_HEADING = re.compile(r"^#{2,4} `([^`]+)`")
_ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+?) \| (yes|no) \|")
_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "date32": pa.date32(),
    "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
    "list<string>": pa.list_(pa.string()),
    "binary": pa.binary(),
}


def doc_sections(text: str) -> dict[str, list[pa.Field]]:
    """The column tables of the doc, by the code span of the heading above each; a
    ``<feature>`` row stands for every feature in the catalogue's order."""
    sections: dict[str, list[pa.Field]] = {}
    current = ""
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            current = heading.group(1)
            continue
        row = _ROW.match(line)
        if row and current:
            name, kind, null = row.groups()
            names = FEATURE_NAMES if name == "<feature>" else (name,)
            field_type = _TYPES[kind.strip()]
            sections.setdefault(current, []).extend(pa.field(n, field_type, null == "yes") for n in names)
    return sections


def test_record_tables_follow_the_verifiers_record_schema() -> None:
    assert schemas.SOURCES == records.SOURCES
    assert {s: set(k) for s, k in schemas.KINDS.items()} == {s: set(k) for s, k in records.KINDS.items()}
    for kind, body in records.BODIES.items():
        assert [c.name for c in schemas.BODY_COLUMNS[kind]] == list(body), kind
        assert schemas.record_schema(kind).names == [*schemas.ATTESTATION.names, *body]


def test_every_lake_table_is_documented_column_by_column() -> None:
    text = LAKE_DOC.read_text()
    sections = doc_sections(text)
    attestation = sections["verified/<source>/<kind>/"]
    for name, table in schemas.lake_tables().items():
        path = table.path
        if name.startswith("verified."):
            path = "verified/<source>/<kind>/"
            documented = pa.schema([*attestation, *sections[name.split(".", 1)[1]]])
        else:
            documented = pa.schema(sections[path])
        assert documented == table.schema, f"docs/lake.md's {table.path} differs from pipelines/schemas.py"
        by = f"`{table.partitioned_by}`" if table.partitioned_by else "(one file)"
        assert f"| `{path}` | {by} |" in text, f"docs/lake.md's overview does not list {path} by {by}"


def test_the_doc_names_no_table_that_does_not_exist() -> None:
    sections = doc_sections(LAKE_DOC.read_text())
    known = {t.path for t in schemas.lake_tables().values()} | set(schemas.BODY_COLUMNS)
    known.add("verified/<source>/<kind>/")
    assert set(sections) - known == set()


def test_the_simulators_seal_order_holds_the_specs_sources() -> None:
    from pipelines.schemas import SOURCES
    from pipelines.simulate.config import SEAL_ORDER

    assert sorted(SEAL_ORDER) == sorted(SOURCES) and len(SEAL_ORDER) == len(set(SEAL_ORDER))
