"""The tamper suite: a valid bundle, altered one way per case, and the exact outcome.

Cases are named after the attack. Each asserts the counts per reason code and that the
lines the spec says survive are verified; ``builders.verify`` asserts nothing is lost.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from attestations.ledger import KeyGrant, sign_manifest
from attestations.state import MemoryStore
from attestations.verifier import BundleFiles, Verifier
from attestations.verifier.core import CHANGED
from tests.attestations.builders import (
    FIRM,
    PARTNER,
    Ledger,
    contribution,
    edit_lines,
    resign,
    verify,
)


@pytest.fixture
def ledger() -> Ledger:
    """Three blocks of 2, 3 and 2 social-insurance records."""
    led = Ledger()
    led.seal([contribution(0), contribution(1)], "2025-03-02T00:00:00Z")
    led.seal([contribution(2), contribution(3), contribution(4)], "2025-03-02T01:00:00Z")
    led.seal([contribution(5), contribution(6)], "2025-03-02T02:00:00Z")
    return led


def test_untouched_bundle_verifies_completely(ledger: Ledger) -> None:
    result = verify(ledger.policy(), ledger.bundle())
    assert result.summary() == {
        "bundle_id": "b1",
        "lines": 7,
        "verified": 7,
        "duplicates": 0,
        "quarantined": {},
    }
    assert [r.sealed_at for r in result.verified][:3] == ["2025-03-02T00:00:00Z"] * 2 + [
        "2025-03-02T01:00:00Z"
    ]


@pytest.mark.parametrize("hash_alg", ["sha256", "sm3"])
def test_sm3_and_sha256_chains_with_mixed_key_algorithms(hash_alg: str) -> None:
    led = Ledger(hash_alg=hash_alg)
    led.seal([contribution(i) for i in range(5)])
    result = verify(led.policy(), led.bundle())
    assert len(result.verified) == 5


# --- bundle level -------------------------------------------------------------------------


def _drop_manifest(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in f.items() if k != "manifest.json"}


def _wrong_format(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return resign(f, led.exporters["social_insurance"].key, format="sme-ledger-export/2")


def _signed_by_other_source(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return {**f, "manifest.sig": sign_manifest(f["manifest.json"], led.exporters["housing_fund"].key)}


def _garbage_signature(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return {**f, "manifest.sig": b"\x00\xffnot json"}


def _manifest_edited_after_signing(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return {**f, "manifest.json": f["manifest.json"].replace(b'"bundle_id": "b1"', b'"bundle_id": "b2"')}


def _record_count_is_string(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return resign(f, led.exporters["social_insurance"].key, record_count="7")


def _line_appended_without_resigning(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return {**f, "records.jsonl": f["records.jsonl"] + f["records.jsonl"].split(b"\n")[0] + b"\n"}


def _record_count_off_by_one(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return resign(f, led.exporters["social_insurance"].key, record_count=8)


def _height_range_beyond_headers(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return resign(f, led.exporters["social_insurance"].key, last_height=3)


def _headers_file_missing(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in f.items() if k != "headers.jsonl"}


def _manifest_points_to_other_chain(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    return resign(f, led.exporters["social_insurance"].key, chain_id="another-chain")


def _header_claims_sm3(led: Ledger, f: dict[str, bytes]) -> dict[str, bytes]:
    def edit(lines: list[dict[str, Any]]) -> None:
        lines[1]["header"]["hash_alg"] = "sm3"
        lines[1]["signatures"] = led.sign_header(lines[1]["header"])

    return resign(
        {**f, "headers.jsonl": edit_lines(f["headers.jsonl"], edit)}, led.exporters["social_insurance"].key
    )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_drop_manifest, "manifest_invalid"),
        (_wrong_format, "manifest_invalid"),
        (_signed_by_other_source, "manifest_invalid"),
        (_garbage_signature, "manifest_invalid"),
        (_manifest_edited_after_signing, "manifest_invalid"),
        (_record_count_is_string, "manifest_invalid"),
        (_line_appended_without_resigning, "manifest_mismatch"),
        (_record_count_off_by_one, "manifest_mismatch"),
        (_height_range_beyond_headers, "manifest_mismatch"),
        (_headers_file_missing, "manifest_mismatch"),
        (_manifest_points_to_other_chain, "chain_mismatch"),
        (_header_claims_sm3, "chain_mismatch"),
    ],
    ids=lambda v: getattr(v, "__name__", v).strip("_"),
)
def test_bundle_level_tamper_quarantines_every_line(ledger: Ledger, tamper: Any, reason: str) -> None:
    files = tamper(ledger, ledger.bundle())
    result = verify(ledger.policy(), files)
    lines = len([s for s in files["records.jsonl"].split(b"\n") if s])
    assert result.summary()["quarantined"] == {reason: lines}
    assert result.bundle_failure is not None and result.bundle_failure[0] == reason
    assert not result.verified and not result.trusted_headers


def test_policy_without_exporters_invalidates_every_manifest(ledger: Ledger) -> None:
    policy = ledger.policy_dict()
    del policy["exporters"]
    from attestations.policy import TrustPolicy

    result = verify(TrustPolicy.from_dict(policy), ledger.bundle())
    assert result.quarantine_counts() == {"manifest_invalid": 7}


def test_exporter_key_revoked_before_export(ledger: Ledger) -> None:
    policy = ledger.policy_dict()
    for entry in policy["exporters"]:
        entry["revoked_at"] = "2025-03-03T00:00:00Z"  # the export's exported_at: not strictly before
    from attestations.policy import TrustPolicy

    result = verify(TrustPolicy.from_dict(policy), ledger.bundle())
    assert result.quarantine_counts() == {"manifest_invalid": 7}


def test_fork_at_a_trusted_height_is_detected() -> None:
    honest, forked = Ledger(), Ledger()
    honest.seal([contribution(0), contribution(1)])
    forked.seal([contribution(0), contribution(9)])  # same chain id and keys, other history
    store = MemoryStore()
    assert len(verify(honest.policy(), honest.bundle(), store).verified) == 2
    result = verify(honest.policy(), forked.bundle(), store)
    assert result.quarantine_counts() == {"fork_detected": 2}


def test_missing_files_are_a_reason_not_a_crash(ledger: Ledger) -> None:
    result = verify(ledger.policy(), {})
    assert result.lines == 0 and result.bundle_failure is not None
    assert result.bundle_failure[0] == "manifest_invalid"


# --- header level -------------------------------------------------------------------------


def _edit_header(
    led: Ledger, f: dict[str, bytes], position: int, change: Any, nodes: range = range(4)
) -> dict[str, bytes]:
    def edit(lines: list[dict[str, Any]]) -> None:
        change(lines[position]["header"])
        lines[position]["signatures"] = led.sign_header(lines[position]["header"], nodes)

    return resign(
        {**f, "headers.jsonl": edit_lines(f["headers.jsonl"], edit)}, led.exporters["social_insurance"].key
    )


@pytest.mark.parametrize(
    ("position", "change", "nodes", "reason", "first_bad_height"),
    [
        (1, lambda h: h.pop("root_hash"), range(4), "header_invalid", 1),
        (1, lambda h: h.update(extra=1), range(4), "header_invalid", 1),
        (0, lambda h: h.update(prev_hash="1" * 64), range(4), "header_invalid", 0),
        (1, lambda h: h.update(sealed_at="2025-03-02t01:00:00Z"), range(4), "header_invalid", 1),
        (1, lambda h: h.update(tree_size=0), range(4), "header_invalid", 1),
        (2, lambda h: h.update(prev_hash="ab" * 32), range(4), "chain_broken", 2),
        (2, lambda h: h.update(sealed_at="2025-03-01T00:00:00Z"), range(4), "chain_broken", 2),
        (1, lambda h: None, range(2), "header_untrusted", 1),
        (1, lambda h: h.pop("root_hash"), range(0), "header_invalid", 1),
        (2, lambda h: h.update(prev_hash="ab" * 32), range(2), "header_untrusted", 2),
    ],
    ids=[
        "missing-root_hash",
        "extra-member",
        "genesis-prev_hash-not-zero",
        "lowercase-t-in-sealed_at",
        "empty-tree",
        "prev_hash-relinked",
        "sealed_at-goes-back",
        "two-of-four-signatures",
        "invalid-and-unsigned",
        "relinked-and-unsigned",
    ],
)
def test_header_tamper_quarantines_its_block_and_later_ones(
    ledger: Ledger, position: int, change: Any, nodes: range, reason: str, first_bad_height: int
) -> None:
    files = _edit_header(ledger, ledger.bundle(), position, change, nodes)
    result = verify(ledger.policy(), files)
    sizes = [2, 3, 2]
    good = sum(sizes[:first_bad_height])
    assert len(result.verified) == good
    assert result.quarantine_counts() == {reason: 7 - good}
    assert set(result.trusted_headers) == set(range(first_bad_height))


def test_first_failing_header_decides_for_later_blocks(ledger: Ledger) -> None:
    files = _edit_header(ledger, ledger.bundle(), 1, lambda h: None, range(2))
    files = _edit_header(ledger, files, 2, lambda h: h.pop("tree_size"))
    assert verify(ledger.policy(), files).quarantine_counts() == {"header_untrusted": 5}


def test_two_keys_of_one_node_count_once(ledger: Ledger) -> None:
    policy = ledger.policy_dict()
    spare = KeyGrant(ledger.chain.signers[1].key.__class__.from_seed("spare", "ed25519", b"s" * 32), "node-0")
    policy["keys"].append(spare.policy_entry("node"))
    from attestations.canonical import canonicalize
    from attestations.dsse import HEADER_PAYLOAD_TYPE
    from attestations.policy import TrustPolicy

    def edit(lines: list[dict[str, Any]]) -> None:
        sig = spare.key.sign_b64(HEADER_PAYLOAD_TYPE, canonicalize(lines[0]["header"]))
        lines[0]["signatures"] = [
            *lines[0]["signatures"][:2],
            {"keyid": "spare", "sig": sig},
            {"keyid": "nobody", "sig": "AAAA"},
        ]

    files = resign(
        {**(f := ledger.bundle()), "headers.jsonl": edit_lines(f["headers.jsonl"], edit)},
        ledger.exporters["social_insurance"].key,
    )
    assert verify(TrustPolicy.from_dict(policy), files).quarantine_counts() == {"header_untrusted": 7}


@pytest.mark.parametrize(
    ("window", "trusted"),
    [
        ({"revoked_at": "2025-03-02T00:00:00Z"}, False),  # revoked at sealed_at: not before it
        ({"revoked_at": "2025-03-02T00:00:01Z"}, True),
        ({"not_before": "2025-03-02T00:00:01Z"}, False),
        ({"not_after": "2025-03-01T23:59:59Z"}, False),
        ({"not_after": "2025-03-02T00:00:00Z"}, True),
    ],
)
def test_key_windows_are_judged_at_sealed_at(window: dict[str, str], trusted: bool) -> None:
    led = Ledger()
    led.seal([contribution(0)], "2025-03-02T00:00:00Z")
    policy = led.policy_dict()
    for entry in policy["keys"][:2]:  # two of four nodes: the quorum of 3 needs one of them
        entry.update(window)
    from attestations.policy import TrustPolicy

    result = verify(TrustPolicy.from_dict(policy), led.bundle())
    assert (len(result.verified) == 1) is trusted


def test_next_bundle_must_link_to_the_checkpoint() -> None:
    honest, forked = Ledger(), Ledger()
    for led, n in ((honest, 1), (forked, 9)):
        led.seal([contribution(0)])
        led.seal([contribution(n)])
        led.seal([contribution(2)])
    store = MemoryStore()
    assert len(verify(honest.policy(), honest.bundle(last=0), store).verified) == 1
    # forked's block 2 links to its own block 1, which the verifier never trusted; its
    # block 1 is not in this bundle, so the first header does not link to trusted height 1.
    assert len(verify(honest.policy(), honest.bundle(first=1, last=1), store).verified) == 1
    result = verify(honest.policy(), forked.bundle(first=2, last=2), store)
    assert result.quarantine_counts() == {"chain_broken": 1}
    # A bundle starting above every trusted height stands on its signatures alone.
    fresh = MemoryStore()
    assert len(verify(honest.policy(), forked.bundle(first=2, last=2), fresh).verified) == 1


# --- record level -------------------------------------------------------------------------


def _records(led: Ledger, f: dict[str, bytes], raw_lines: list[bytes]) -> dict[str, bytes]:
    return resign(
        {**f, "records.jsonl": b"\n".join(raw_lines) + b"\n"}, led.exporters["social_insurance"].key
    )


def _line(led: Ledger, block: int, position: int, **changes: Any) -> bytes:
    line = led.blocks[block].record_line(position)
    line.update(changes)
    return json.dumps(line).encode()


def test_malformed_lines_are_line_invalid(ledger: Ledger) -> None:
    good = _line(ledger, 0, 0)
    bad = [
        b"not json",
        b"\xff\xfe\x00garbage",
        b"   ",
        b'{"height":0,"index":0,"leaf":"x"}',
        _line(ledger, 0, 1, height="0"),
        _line(ledger, 0, 1, proof="ab"),
        _line(ledger, 0, 1, index=1.0),
        _line(ledger, 0, 1, height=True),
        b"[1,2,3]",
        b'{"height":' + b"9" * 5000 + b"}",
    ]
    result = verify(ledger.policy(), _records(ledger, ledger.bundle(), [good, *bad]))
    assert result.quarantine_counts() == {"line_invalid": len(bad)}
    assert [q.line_no for q in result.quarantined] == list(range(2, len(bad) + 2))
    assert result.quarantined[1].raw == b"\xff\xfe\x00garbage"
    assert len(result.verified) == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"height": 3}, "unknown_block"),
        ({"height": -1}, "unknown_block"),
        ({"index": 2}, "index_out_of_range"),
        ({"index": -1}, "index_out_of_range"),
        ({"index": 1}, "proof_invalid"),
        ({"proof": []}, "proof_invalid"),
        ({"proof": ["AB" * 32]}, "proof_invalid"),
        ({"proof": ["ab" * 31]}, "proof_invalid"),
        ({"proof": ["zz" * 32]}, "proof_invalid"),
        ({"index": 5, "proof": ["zz"]}, "index_out_of_range"),
        ({"height": 9, "index": -4}, "unknown_block"),
    ],
)
def test_record_line_reasons(ledger: Ledger, changes: dict[str, Any], reason: str) -> None:
    files = _records(ledger, ledger.bundle(), [_line(ledger, 0, 0, **changes), _line(ledger, 0, 1)])
    result = verify(ledger.policy(), files)
    assert result.quarantine_counts() == {reason: 1}
    assert [r.line_no for r in result.verified] == [2]


def _bad_record(kind: str) -> bytes:
    from attestations.canonical import canonicalize

    rec = contribution(100)
    if kind == "extra-member":
        rec["note"] = "x"
    elif kind == "source-differs-from-manifest":
        rec["source"] = "housing_fund"
    elif kind == "kind-of-other-source":
        rec["kind"] = "invoice"
    elif kind == "float-money":
        return canonicalize(rec).replace(b'"paid_fen":2496000', b'"paid_fen":2496000.5')
    elif kind == "integer-beyond-2^53":
        return canonicalize(rec).replace(b'"paid_fen":2496000', b'"paid_fen":9007199254740993')
    elif kind == "repeated-member":
        return canonicalize(rec).replace(b'{"body"', b'{"body":1,"body"')
    elif kind == "bad-period":
        rec["body"]["period"] = "2025-13"
    elif kind == "event_time-with-offset":
        rec["event_time"] = "2025-03-01T08:00:00+08:00"
    elif kind == "record_id-too-long":
        rec["record_id"] = "r" * 129
    elif kind == "headcount-is-bool":
        rec["body"]["headcount"] = True
    elif kind == "bad-firm-check-digit":
        rec["firm_id"] = FIRM[:17] + ("0" if FIRM[17] != "0" else "1")
    elif kind == "bad-firm-and-bad-period":
        rec["firm_id"] = FIRM[:17] + ("0" if FIRM[17] != "0" else "1")
        rec["body"]["period"] = "2025-13"
    elif kind == "not-sorted":
        return json.dumps(rec, separators=(",", ":")).encode()
    elif kind == "escaped-ascii":
        return canonicalize(rec).replace(b'"kind"', b'"\\u006bind"')
    elif kind == "bad-firm-and-not-sorted":
        rec["firm_id"] = FIRM[:17] + ("0" if FIRM[17] != "0" else "1")
        return json.dumps(rec, separators=(",", ":")).encode()
    elif kind == "lone-surrogate":
        rec["record_id"] = "\ud800"
        return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
    return canonicalize(rec)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("extra-member", "record_invalid"),
        ("source-differs-from-manifest", "record_invalid"),
        ("kind-of-other-source", "record_invalid"),
        ("float-money", "record_invalid"),
        ("integer-beyond-2^53", "record_invalid"),
        ("repeated-member", "record_invalid"),
        ("bad-period", "record_invalid"),
        ("event_time-with-offset", "record_invalid"),
        ("record_id-too-long", "record_invalid"),
        ("headcount-is-bool", "record_invalid"),
        ("lone-surrogate", "record_invalid"),
        ("bad-firm-check-digit", "firm_id_invalid"),
        ("bad-firm-and-bad-period", "record_invalid"),
        ("not-sorted", "non_canonical"),
        ("escaped-ascii", "non_canonical"),
        ("bad-firm-and-not-sorted", "firm_id_invalid"),
    ],
)
def test_attested_but_invalid_records(kind: str, reason: str) -> None:
    led = Ledger()
    from attestations.canonical import canonicalize

    led.seal_leaves([canonicalize(contribution(0)), _bad_record(kind)])
    result = verify(led.policy(), led.bundle())
    assert result.quarantine_counts() == {reason: 1}
    assert len(result.verified) == 1


def test_supply_chain_bodies_are_checked_member_by_member() -> None:
    led = Ledger()
    order = {
        "record_id": "o1",
        "source": "supply_chain",
        "kind": "order",
        "firm_id": FIRM,
        "event_time": "2025-03-01T08:00:00Z",
        "body": {
            "order_no": "PO1",
            "counterparty_id": PARTNER,
            "direction": "sale",
            "amount_fen": 100,
            "ordered_on": "2025-03-01",
        },
    }
    bad_partner = json.loads(json.dumps(order)) | {"record_id": "o2"}
    bad_partner["body"]["counterparty_id"] = PARTNER[:17] + "X"
    bad_direction = json.loads(json.dumps(order)) | {"record_id": "o3"}
    bad_direction["body"]["direction"] = "gift"
    led.seal([order, bad_partner, bad_direction])
    result = verify(led.policy(), led.bundle(source="supply_chain"))
    assert result.quarantine_counts() == {"record_invalid": 2}
    assert [r.record_id for r in result.verified] == ["o1"]


def test_duplicates_and_conflicts_within_and_across_bundles() -> None:
    led = Ledger()
    changed = contribution(1)
    changed["body"]["paid_fen"] = 0
    led.seal([contribution(0), contribution(1), changed])
    store = MemoryStore()
    first = led.bundle(
        entries=[(led.blocks[0], 0), (led.blocks[0], 1), (led.blocks[0], 0), (led.blocks[0], 2)]
    )
    result = verify(led.policy(), first, store)
    assert (len(result.verified), result.duplicates, result.quarantine_counts()) == (
        2,
        1,
        {"conflicting_record": 1},
    )
    again = verify(led.policy(), first, store)
    assert (len(again.verified), again.duplicates, again.quarantine_counts()) == (
        0,
        3,
        {"conflicting_record": 1},
    )


def _conflicting_bundle() -> tuple[Ledger, dict[str, bytes]]:
    led = Ledger()
    changed = contribution(1)
    changed["body"]["paid_fen"] = 0
    led.seal([contribution(0), contribution(1), changed])
    return led, led.bundle(entries=[(led.blocks[0], 0), (led.blocks[0], 1), (led.blocks[0], 2)])


def test_a_conflicting_line_is_quarantined_with_its_own_bytes() -> None:
    # The verifier does not hold proven lines' bytes; it reads a conflicting one again.
    led, files = _conflicting_bundle()
    result = verify(led.policy(), files)
    (quarantined,) = result.quarantined
    assert quarantined.line_no == 3
    assert quarantined.raw == files["records.jsonl"].split(b"\n")[2]


def test_a_file_that_changes_before_its_conflicts_are_read_again_fails_the_bundle() -> None:
    led, files = _conflicting_bundle()
    reads = iter([files["records.jsonl"], files["records.jsonl"].replace(b"paid_fen", b"paid_fem")])
    bundle = BundleFiles(
        "bundle", files["manifest.json"], files["manifest.sig"], files["headers.jsonl"],
        lambda: io.BytesIO(next(reads, files["records.jsonl"])),
    )  # fmt: skip
    result = Verifier(led.policy(), MemoryStore()).evaluate(bundle)
    assert result.bundle_failure == ("manifest_mismatch", CHANGED)
    assert (len(result.verified), result.quarantine_counts()) == (0, {"manifest_mismatch": 3})


def test_a_duplicate_must_still_be_proven(ledger: Ledger) -> None:
    store = MemoryStore()
    verify(ledger.policy(), ledger.bundle(), store)
    files = _records(ledger, ledger.bundle(), [_line(ledger, 0, 0, proof=["00" * 32])])
    assert verify(ledger.policy(), files, store).quarantine_counts() == {"proof_invalid": 1}


# --- whole-block proofs and the line-by-line path -------------------------------------------


def _all_lines(led: Ledger) -> list[bytes]:
    return [_line(led, b, p) for b, block in enumerate(led.blocks) for p in range(len(block.leaves))]


def test_a_wrong_proof_in_a_complete_block_is_caught(ledger: Ledger) -> None:
    # Every leaf of block 1 is present, so its tree is rebuilt and proofs are compared with
    # the audit paths; one line carries its neighbour's (otherwise valid) path.
    lines = _all_lines(ledger)
    lines[2] = _line(ledger, 1, 0, proof=ledger.blocks[1].record_line(1)["proof"])
    result = verify(ledger.policy(), _records(ledger, ledger.bundle(), lines))
    assert result.quarantine_counts() == {"proof_invalid": 1}
    assert [q.line_no for q in result.quarantined] == [3]
    assert len(result.verified) == 6


def test_blocks_exported_in_part_or_with_repeats_verify_line_by_line(ledger: Ledger) -> None:
    lines = _all_lines(ledger)
    partial = lines[:3] + lines[4:]  # block 1 without its second leaf
    result = verify(ledger.policy(), _records(ledger, ledger.bundle(), partial))
    assert (len(result.verified), result.duplicates, result.quarantine_counts()) == (6, 0, {})
    repeated = [*lines, lines[0], lines[5]]
    result = verify(ledger.policy(), _records(ledger, ledger.bundle(), repeated))
    assert (len(result.verified), result.duplicates, result.quarantine_counts()) == (7, 2, {})
    assert [r.line_no for r in result.verified] == list(range(1, 8))


def test_a_forged_leaf_sends_its_block_line_by_line(ledger: Ledger) -> None:
    # The rebuilt root differs, so no line of the block is proven by comparison; the
    # untouched lines still verify through their own walks.
    forged = contribution(3)
    forged["body"]["paid_fen"] = 1
    lines = _all_lines(ledger)
    lines[3] = _line(ledger, 1, 1, leaf=json.dumps(forged, sort_keys=True, separators=(",", ":")))
    result = verify(ledger.policy(), _records(ledger, ledger.bundle(), lines))
    assert result.quarantine_counts() == {"proof_invalid": 1}
    assert [q.line_no for q in result.quarantined] == [4]
    assert len(result.verified) == 6
