"""Unit tests of the small pieces: hashes, canonical JSON, timestamps, USCC, policy, PAE."""

from __future__ import annotations

import hashlib

import pytest

from attestations.canonical import canonicalize, is_canonical, loads_strict
from attestations.dsse import SigningKey, load_public_key, pae
from attestations.errors import CanonicalizationError, PolicyError
from attestations.hashing import hash_function
from attestations.merkle import (
    BlockInclusionVerifier,
    MerkleTree,
    leaf_hash,
    root_hash,
    verify_inclusion,
)
from attestations.policy import TrustPolicy
from attestations.timestamps import is_date, is_period, timestamp_key
from attestations.uscc import check_character, is_valid_uscc, make_uscc


def test_sm3_known_answer() -> None:
    # GB/T 32905-2016 appendix A, example 1
    assert (
        hash_function("sm3")(b"abc").hex()
        == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


def test_unknown_hash_alg_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown hash_alg 'md5'"):
        hash_function("md5")


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert root_hash([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("alg", ["sha256", "sm3"])
def test_proofs_verify_under_both_hashes(alg: str) -> None:
    leaves = [f"leaf {i}".encode() for i in range(11)]
    tree = MerkleTree(leaves, alg)
    for i in range(11):
        assert verify_inclusion(leaf_hash(leaves[i], alg), i, 11, tree.proof(i), tree.root, alg)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h, i, n, p, r: (h[:31], i, n, p, r),  # truncated leaf hash
        lambda h, i, n, p, r: (h, i, n, [*p[:-1], p[-1] + b"\x00"], r),  # 33-byte proof entry
        lambda h, i, n, p, r: (h, i, n, p, r + b"\x00"),  # 33-byte root
        lambda h, i, n, p, r: (h, i, n, [*p, p[0]], r),  # extra proof entry
        lambda h, i, n, p, r: (h, i, n, p[:-1], r),  # missing proof entry
        lambda h, i, n, p, r: (h, i + 1, n, p, r),  # wrong index
        lambda h, i, n, p, r: (h, -1, n, p, r),  # negative index
        lambda h, i, n, p, r: (h, i, n + 1, p, r),  # wrong size
        lambda h, i, n, p, r: (h, True, n, p, r),  # bool is not an index
    ],
    ids=[
        "short-leaf",
        "long-proof-entry",
        "long-root",
        "extra-entry",
        "missing-entry",
        "index+1",
        "index-negative",
        "size+1",
        "bool-index",
    ],
)
def test_tampered_proofs_never_verify(mutate) -> None:  # type: ignore[no-untyped-def]
    leaves = [bytes([i]) for i in range(6)]
    tree = MerkleTree(leaves)
    args = (tree.leaf_hash(4), 4, 6, tree.proof(4), tree.root)
    assert verify_inclusion(*args)
    bad = mutate(*args)
    assert not verify_inclusion(*bad)
    block = BlockInclusionVerifier(bad[4], bad[2])
    block.verify(tree.leaf_hash(5), 5, tree.proof(5))  # warm the memo with a true proof
    assert not block.verify(bad[0], bad[1], bad[3])


def test_block_verifier_agrees_with_the_plain_walk_on_every_leaf() -> None:
    leaves = [bytes([i, i]) for i in range(37)]
    tree = MerkleTree(leaves)
    block = BlockInclusionVerifier(tree.root, 37)
    for i in [*range(37), *range(36, -1, -1)]:
        assert block.verify(tree.leaf_hash(i), i, tree.proof(i))
        assert not block.verify(tree.leaf_hash(i), i, [*tree.proof(i)[:-1], bytes(32)])


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ('{"a":1,"b":[true,null,"x"]}', True),
        ('{"b":1,"a":2}', False),
        ('{"a": 1}', False),
        ('{"a":1.0}', False),
        ('{"a":1e2}', False),
        ('{"a":"\\u00e9"}', False),
        ('{"a":"é"}', True),
        ('{"a":"\\u001f"}', True),
        ('{"a":"\\u001F"}', False),
        ('{"a":1,"a":1}', False),
        ('{"a":9007199254740992}', False),
        ('{"a":NaN}', False),
        ('{"a":"\\ud800"}', False),
        ("[]", True),
    ],
)
def test_is_canonical(text: str, canonical: bool) -> None:
    assert is_canonical(text) is canonical


def test_canonicalize_sorts_keys_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16, which sorts before U+FB01 (as JCS requires),
    # though its code point is larger.
    assert canonicalize({"\ufb01": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb01":1}'.encode()


@pytest.mark.parametrize("value", [{1: "a"}, {"a": object()}, 2**53, float("nan"), {"a": "\udc00"}])
def test_canonicalize_refuses_non_json(value: object) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize(value)


def test_loads_strict_names_the_repeated_member() -> None:
    with pytest.raises(CanonicalizationError, match="repeated member name 'k'"):
        loads_strict('{"k":1,"k":2}')


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2025-03-01T08:00:00Z", True),
        ("2025-03-01T08:00:00.123Z", True),
        ("2024-02-29T00:00:00Z", True),
        ("2025-12-31T23:59:60Z", True),
        ("0000-01-01T00:00:00Z", True),
        ("2025-02-29T00:00:00Z", False),
        ("2025-03-01t08:00:00Z", False),
        ("2025-03-01T08:00:00z", False),
        ("2025-03-01T08:00:00+00:00", False),
        ("2025-03-01T08:00:60Z", False),
        ("2025-03-01T24:00:00Z", False),
        ("2025-03-01 08:00:00Z", False),
        ("2025-03-01T08:00Z", False),
        ("２025-03-01T08:00:00Z", False),
    ],
)
def test_timestamps(text: str, valid: bool) -> None:
    assert (timestamp_key(text) is not None) is valid


def test_timestamp_order_includes_fractions_and_leap_seconds() -> None:
    keys = [
        timestamp_key(t)
        for t in [
            "2025-12-31T23:59:59Z",
            "2025-12-31T23:59:59.5Z",
            "2025-12-31T23:59:60Z",
            "2026-01-01T00:00:00Z",
        ]
    ]
    assert keys == sorted(keys)  # type: ignore[type-var]
    assert timestamp_key("2025-01-01T00:00:00.50Z") == timestamp_key("2025-01-01T00:00:00.5Z")


def test_dates_and_periods() -> None:
    assert is_date("2024-02-29") and not is_date("2023-02-29") and not is_date("2023-2-01")
    assert is_period("2025-12") and not is_period("2025-13") and not is_period("2025-1")


def test_uscc_check_character() -> None:
    # A code published by the national registry (Tencent Technology (Shenzhen)).
    assert is_valid_uscc("9144030071526726XG")
    assert not is_valid_uscc("9144030071526726XH")
    assert not is_valid_uscc("9144030071526726xg")  # lower case is outside the code set
    assert not is_valid_uscc("914403007152672IXG")  # I is outside the code set
    assert is_valid_uscc(make_uscc("91110000MA0000001"))
    with pytest.raises(ValueError, match="expected 17 characters"):
        check_character("123")


def test_pae_matches_the_dsse_spec_example() -> None:
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_public_key_must_fit_its_alg() -> None:
    ed = SigningKey.generate("k", "ed25519")
    with pytest.raises(ValueError, match="does not fit alg"):
        load_public_key(ed.public_pem(), "ecdsa-p256-sha256")


def _policy(**changes: object) -> dict:  # type: ignore[type-arg]
    key = SigningKey.generate("k1", "ed25519")
    base = {
        "chain_id": "c",
        "hash_alg": "sha256",
        "threshold": 1,
        "keys": [
            {
                "keyid": "k1",
                "node": "n1",
                "alg": "ed25519",
                "public_key": key.public_pem(),
                "not_before": "2025-01-01T00:00:00Z",
            }
        ],
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"chain_id": None}, "no string chain_id"),
        ({"hash_alg": "md5"}, "hash_alg 'md5'"),
        ({"threshold": 0}, "threshold 0"),
        ({"threshold": True}, "threshold True"),
        ({"keys": {}}, "no keys list"),
    ],
)
def test_unusable_policies_are_refused(changes: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(PolicyError, match=message):
        TrustPolicy.from_dict(_policy(**changes))


def test_unusable_key_entries_are_ignored_and_listed() -> None:
    entries = _policy()["keys"]
    broken = [
        {**entries[0], "keyid": "no-not-before", "not_before": None},
        {
            **entries[0],
            "keyid": "bad-pem",
            "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        },
        {**entries[0], "keyid": "wrong-alg", "alg": "ecdsa-p256-sha256"},
    ]
    policy = TrustPolicy.from_dict(_policy(keys=[*entries, *broken]))
    assert set(policy.keys) == {"k1"}
    assert len(policy.ignored) == 3
    assert policy.exporters is None


def test_a_key_on_a_curve_the_library_lacks_is_a_value_error() -> None:
    """A PEM whose curve OID is unknown (one changed byte) is refused as a bad key, never an
    UnsupportedAlgorithm traceback (found by the evidence pack's single-byte test)."""
    import base64

    import pytest
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from attestations.dsse import load_public_key

    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    oid = bytes.fromhex("06082a8648ce3d030107")  # prime256v1
    assert oid in der
    bad = der.replace(oid, bytes.fromhex("06081a8648ce3d030107"))
    body = base64.encodebytes(bad).decode().replace("\n", "")
    pem = "-----BEGIN PUBLIC KEY-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem += "\n-----END PUBLIC KEY-----\n"
    with pytest.raises(ValueError):
        load_public_key(pem, "ecdsa-p256-sha256")
