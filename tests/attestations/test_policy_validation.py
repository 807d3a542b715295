"""The trust policy is validated in full, by the strict reader, before any bundle is judged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestations.errors import PolicyError
from attestations.policy import TrustPolicy
from pipelines.cli import main
from tests.attestations.builders import Ledger, contribution


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return Ledger().policy_dict()


def _with(policy: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(policy)), **changes}


def test_repeated_threshold_cannot_weaken_the_quorum(policy: dict[str, Any]) -> None:
    text = json.dumps(policy).replace('"threshold": 3', '"threshold": 3, "threshold": 1')
    assert text.count('"threshold"') == 2
    with pytest.raises(
        PolicyError, match=r"trust\.json: line 1 column \d+ \(\$\.threshold\): repeated member"
    ):
        TrustPolicy.from_json(text, source="trust.json")


def test_a_bundle_signed_by_one_node_of_four_does_not_verify_under_a_repeated_threshold(
    tmp_path: Path,
) -> None:
    """The reproduced attack, end to end through the CLI: it stops at the policy."""
    led = Ledger()
    led.seal([contribution(0)])
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name, data in led.bundle().items():
        (bundle / name).write_bytes(data)
    trust = tmp_path / "trust.json"
    trust.write_text(
        json.dumps(led.policy_dict()).replace('"threshold": 3', '"threshold": 3, "threshold": 1')
    )
    assert main(["verify", str(bundle), "--trust", str(trust), "--state", str(tmp_path / "s")]) == 2
    assert not (tmp_path / "s" / "verified").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": 5}, "threshold 5 exceeds the 4 distinct nodes with usable keys"),
        ({"threshold": 1.0}, "threshold 1.0 is not an integer"),
        ({"exporters": "social_insurance"}, "exporters is a str, not a list"),
        ({"exporters": {}}, "exporters is a dict, not a list"),
        ({"keys": []}, "threshold 3 exceeds the 0 distinct nodes"),
        ({"chain_id": ""}, "no string chain_id"),
        ({"exporter": []}, "unknown members \\['exporter'\\]"),
    ],
)
def test_unusable_policies_are_refused(policy: dict[str, Any], changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        TrustPolicy.from_dict(_with(policy, **changes))


@pytest.mark.parametrize(
    ("list_name", "edit", "message"),
    [
        ("keys", lambda e: "node-a", r"keys\[1\] is not an object"),
        ("keys", lambda e: [e], r"keys\[1\] is not an object"),
        ("keys", lambda e: {**e, "keyid": 7}, r"keys\[1\] has no non-empty string keyid"),
        ("keys", lambda e: {**e, "node": None}, r"keys\[1\] has no non-empty string node"),
        ("keys", lambda e: {**e, "alg": "rsa"}, r"keys\[1\] alg 'rsa' is not one of"),
        (
            "keys",
            lambda e: {**e, "revoked": "2025-01-01T00:00:00Z"},
            r"keys\[1\] has unknown members \['revoked'\]",
        ),
        ("keys", lambda e: {**e, "revoked_at": 0}, r"keys\[1\] revoked_at is neither a string nor null"),
        ("exporters", lambda e: {**e, "source": "bank"}, r"exporters\[1\] source 'bank' is not one of"),
        ("exporters", lambda e: {**e, "node": "x"}, r"exporters\[1\] has unknown members \['node'\]"),
    ],
)
def test_key_entries_of_the_wrong_shape_are_refused(
    policy: dict[str, Any], list_name: str, edit: Any, message: str
) -> None:
    changed = _with(policy)
    changed[list_name][1] = edit(changed[list_name][1])
    with pytest.raises(PolicyError, match=message):
        TrustPolicy.from_dict(changed)


def test_one_key_cannot_count_for_two_nodes(policy: dict[str, Any]) -> None:
    shared_keyid = _with(policy)
    shared_keyid["keys"][1]["keyid"] = shared_keyid["keys"][0]["keyid"]
    with pytest.raises(PolicyError, match=r"keys\[1\] keyid 'k0' belongs to two nodes"):
        TrustPolicy.from_dict(shared_keyid)
    shared_key = _with(policy)
    shared_key["keys"].append({**shared_key["keys"][0], "keyid": "copy", "node": "node-9"})
    with pytest.raises(PolicyError, match=r"keys\[4\] public key is also another node's"):
        TrustPolicy.from_dict(shared_key)


def test_ignored_entries_are_logged_and_count_no_node(
    policy: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    changed = _with(policy)
    changed["keys"][3]["public_key"] = "not a key"
    parsed = TrustPolicy.from_dict(changed)  # three usable nodes still meet a threshold of 3
    assert len(parsed.ignored) == 1 and "keys[3] ignored: 'k3': public key unusable" in caplog.text
    changed["keys"][2]["not_before"] = None
    with pytest.raises(
        PolicyError, match=r"threshold 3 exceeds the 2 distinct nodes .*\(2 key entries ignored"
    ):
        TrustPolicy.from_dict(changed)


def test_a_deep_policy_is_one_line_not_a_recursion_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text('{"keys": ' + "[" * 100_000)
    bundle = tmp_path / "b"
    bundle.mkdir()
    assert main(["verify", str(bundle), "--trust", str(trust), "--state", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nesting deeper than 64" in err and str(trust) in err


@pytest.mark.parametrize(
    "text",
    [
        '{"chain_id": "c", "hash_alg": "sha256", "threshold": NaN, "keys": []}',
        '{"chain_id": "c", "hash_alg": "sha256", "threshold": 18446744073709551617, "keys": []}',
        '{"chain_id": "c", "hash_alg": "sha256", "threshold": 3, "exporters": "x", "keys": []}',
    ],
)
def test_ingest_refuses_a_bad_policy_with_exit_2_and_one_line(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "trust.json").write_text(text)
    (tmp_path / "landing").mkdir()
    monkeypatch.setenv("SMECREDIT_TRUST_POLICY", str(tmp_path / "trust.json"))
    monkeypatch.setenv("SMECREDIT_LANDING_URI", str(tmp_path / "landing"))
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path / "lake"))
    assert main(["ingest"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("smecredit: error: ") and err.count("\n") == 1 and "Traceback" not in err


# Random documents: a valid policy with one member repeated somewhere (with any value,
# even the same one), or with a value buried under more levels than the reader allows.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


def _objects(value: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        found.append(value)
    for child in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        _objects(child, found)
    return found


def _dump(value: Any, repeat: tuple[int, str, Any] | None, counter: list[int]) -> str:
    """JSON text of ``value``; the object numbered ``repeat[0]`` gets member ``repeat[1]``
    a second time, with value ``repeat[2]``."""
    if isinstance(value, list):
        return "[" + ",".join(_dump(v, repeat, counter) for v in value) + "]"
    if not isinstance(value, dict):
        return json.dumps(value)
    number = counter[0]
    counter[0] += 1
    members = [f"{json.dumps(k)}:{_dump(v, repeat, counter)}" for k, v in value.items()]
    if repeat is not None and repeat[0] == number:
        members.insert(len(members) // 2, f"{json.dumps(repeat[1])}:{json.dumps(repeat[2])}")
    return "{" + ",".join(members) + "}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), extra=json_values)
def test_random_policies_with_a_repeated_member_never_parse(
    policy: dict[str, Any], data: st.DataObject, extra: Any
) -> None:
    doc = _with(policy)
    if data.draw(st.booleans()):  # random structure where policies carry none
        doc["keys"][data.draw(st.integers(0, 3))]["public_key"] = extra
    objects = _objects(doc, [])
    index = data.draw(st.integers(0, len(objects) - 1))
    target = objects[index]
    if not target:
        target["k"] = 1
    name = data.draw(st.sampled_from(sorted(target)))
    value = data.draw(st.sampled_from([target[name], extra]))
    text = _dump(doc, (index, name, value), [0])
    with pytest.raises(PolicyError, match="repeated member name"):
        TrustPolicy.from_json(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), depth=st.integers(65, 100_000), leaf=json_values)
def test_random_policies_nested_too_deeply_never_parse(
    policy: dict[str, Any], data: st.DataObject, depth: int, leaf: Any
) -> None:
    doc = _with(policy)
    objects = _objects(doc, [])
    target = objects[data.draw(st.integers(0, len(objects) - 1))]
    name = data.draw(st.sampled_from([*sorted(target), "extra"]))
    opener, closer = data.draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    marker = "__deep__"
    target[name] = marker
    text = json.dumps(doc).replace(json.dumps(marker), opener * depth + json.dumps(leaf) + closer * depth)
    with pytest.raises(PolicyError, match="nesting deeper than 64"):
        TrustPolicy.from_json(text)
