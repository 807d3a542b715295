"""Property tests: no single-byte change to any file lets an altered record through."""

from __future__ import annotations

from functools import cache
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestations.ledger import KeyGrant
from attestations.verifier import BundleResult, Verifier
from tests.attestations.builders import Ledger, contribution, resign, verify

FILES = ("manifest.json", "manifest.sig", "headers.jsonl", "records.jsonl")


@cache
def _world() -> tuple[Ledger, dict[str, bytes], frozenset[tuple[str, bytes, int, int]]]:
    led = Ledger()
    led.seal([contribution(i) for i in range(3)], "2025-03-02T00:00:00Z")
    led.seal([contribution(i) for i in range(3, 8)], "2025-03-02T01:00:00Z")
    files = led.bundle()
    result = verify(led.policy(), files)
    assert len(result.verified) == 8
    genuine = frozenset((r.record_id, r.leaf_hash, r.height, r.index) for r in result.verified)
    return led, files, genuine


def _mutate(data: bytes, position: int, value: int) -> bytes:
    position %= len(data)
    new = value if value != data[position] else (value + 1) % 256
    return data[:position] + bytes([new]) + data[position + 1 :]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    file=st.sampled_from(FILES),
    position=st.integers(min_value=0),
    value=st.integers(0, 255),
    resigned=st.booleans(),
)
def test_single_byte_changes_never_verify_an_altered_record(
    file: str, position: int, value: int, resigned: bool
) -> None:
    led, files, genuine = _world()
    changed = {**files, file: _mutate(files[file], position, value)}
    if resigned and file in ("headers.jsonl", "records.jsonl"):
        # The exporter itself forges: the manifest matches the altered files.
        changed = resign(changed, led.exporters["social_insurance"].key)
    result = verify(led.policy(), changed)
    for r in result.verified:
        assert (r.record_id, r.leaf_hash, r.height, r.index) in genuine
    assert result.lines == len(result.verified) + result.duplicates + len(result.quarantined)
    # Proving whole blocks at once decides every line exactly as the line-by-line walk does.
    with mock.patch.object(Verifier, "_audit_paths", return_value=None):
        reference = verify(led.policy(), changed)
    assert _outcomes(result) == _outcomes(reference)


def _outcomes(result: BundleResult) -> list[tuple[object, ...]]:
    return sorted(
        [(r.line_no, "verified", r.record_id, r.leaf_hash) for r in result.verified]
        + [(n, "duplicate") for n in result.duplicate_lines]
        + [(q.line_no, q.reason, q.detail) for q in result.quarantined]
    )


def test_a_policy_grant_helper_matches_its_owner_member() -> None:
    led, _, _ = _world()
    grant: KeyGrant = led.exporters["supply_chain"]
    assert grant.policy_entry("source")["source"] == "supply_chain"


_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@st.composite
def _leaf_texts(draw: st.DrawFn) -> tuple[str, bool]:
    """A contribution record rendered canonically or in one of several non-canonical ways."""
    import json

    from attestations.canonical import canonicalize

    record = contribution(draw(st.integers(0, 10**6)))
    record["record_id"] = draw(_text)
    record["body"]["headcount"] = draw(st.integers(-(2**60), 2**60))
    style = draw(st.sampled_from(["canonical", "ascii", "unsorted", "spaced"]))
    if style == "canonical":
        try:
            return canonicalize(record).decode("utf-8"), True
        except Exception:
            return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False), False
    options = {
        "ascii": {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": True},
        "unsorted": {"separators": (",", ":"), "ensure_ascii": False},
        "spaced": {"sort_keys": True, "ensure_ascii": False},
    }[style]
    return json.dumps(record, **options), False  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(_leaf_texts())
def test_fast_path_never_accepts_what_the_reference_path_rejects(case: tuple[str, bool]) -> None:
    from attestations.verifier import _fast_record, _judge_record

    leaf, canonical = case
    leaf_bytes = leaf.encode("utf-8", "surrogatepass")
    fast = _fast_record(leaf_bytes, "social_insurance")
    reference = _judge_record(leaf, leaf_bytes, "social_insurance")
    if fast is not None:
        assert fast == reference
    if canonical and isinstance(reference, dict):
        assert fast is not None, "a canonical valid record should take the fast path"
