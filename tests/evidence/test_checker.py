"""The offline checker (attestations.evidence) on the hand-made loan's pack: it holds, and
every change to any byte of any file fails it, naming the file."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestations.evidence import PackError, check_pack, read_pack, sign_manifest, verify_pack, zip_pack
from attestations.policy import TrustPolicy
from tests.evidence.conftest import write_folder

FILES = (
    "records.jsonl",
    "headers.jsonl",
    "trust.json",
    "loan.json",
    "summary.html",
    "VERIFY.md",
    "manifest.json",
    "manifest.sig",
)


def failed_files(files: dict[str, bytes], trust: TrustPolicy | None = None) -> set[str]:
    return {f.file for f in check_pack(files, trust).failures()}


def test_the_pack_holds_with_its_own_policy_and_with_the_world_s(
    hand_pack: dict[str, bytes], hand_world: Any
) -> None:
    assert set(hand_pack) == set(FILES)
    report = check_pack(hand_pack)
    assert report.ok, [f.line() for f in report.failures()]
    assert report.records == 15 and report.loan_id == "LN-HAND-1"
    world = TrustPolicy.load(hand_world.trust_policy)
    assert check_pack(hand_pack, world).ok


def test_a_policy_with_other_keys_fails_every_header(hand_pack: dict[str, bytes], hand_world: Any) -> None:
    from attestations.dsse import SigningKey

    policy = json.loads(Path(hand_world.trust_policy).read_text())
    for key in policy["keys"]:  # the same key ids and nodes, other keys
        key["public_key"] = SigningKey.generate(key["keyid"], key["alg"]).public_pem()
    report = check_pack(hand_pack, TrustPolicy.from_dict(policy))
    assert not report.ok
    header_failures = [f for f in report.failures() if f.file == "headers.jsonl"]
    assert len(header_failures) == 6 and all("required nodes" in f.detail for f in header_failures)
    assert any(f.file == "records.jsonl" and "no trusted header" in f.detail for f in report.failures())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_single_byte_change_fails_naming_the_file(
    hand_pack: dict[str, bytes], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(FILES))
    original = hand_pack[name]
    at = data.draw(st.integers(0, len(original) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(original)
    changed[at] ^= flip
    files = {**hand_pack, name: bytes(changed)}
    assert name in failed_files(files), f"a change at byte {at} of {name} went unnoticed"


def test_a_record_line_not_byte_identical_to_the_export_fails(
    hand_pack: dict[str, bytes], evidence_key: Any
) -> None:
    lines = hand_pack["records.jsonl"].split(b"\n")
    same = json.dumps(json.loads(lines[0]), indent=None)  # the same members, other bytes
    assert same.encode() != lines[0]
    records = b"\n".join([same.encode(), *lines[1:]])
    assert failed_files({**hand_pack, "records.jsonl": records}) == {"records.jsonl"}
    # Even re-signed by someone else, the pinned bank key catches it.
    from attestations.evidence import file_entry, manifest_bytes
    from pipelines.evidence import load_signing_key, new_key_pem

    manifest = json.loads(hand_pack["manifest.json"])
    manifest["files"] = [
        file_entry(e["path"], records if e["path"] == "records.jsonl" else hand_pack[e["path"]])
        for e in manifest["files"]
    ]
    raw = manifest_bytes(manifest)
    forged = {
        **hand_pack,
        "records.jsonl": records,
        "manifest.json": raw,
        "manifest.sig": sign_manifest(raw, load_signing_key(new_key_pem())),
    }
    assert check_pack(forged).ok  # the signature holds, by the forger's own key ...
    from attestations.evidence import key_fingerprint

    pinned = check_pack(forged, pinned_key=key_fingerprint(evidence_key.public_key()))
    assert {f.file for f in pinned.failures()} == {"manifest.sig"}  # ... which is not the bank's


def test_missing_extra_and_unlisted_files_fail(hand_pack: dict[str, bytes]) -> None:
    without = {k: v for k, v in hand_pack.items() if k != "summary.html"}
    assert "summary.html" in failed_files(without)
    assert failed_files({**hand_pack, "notes.txt": b"hello"}) == {"notes.txt"}
    assert "manifest.sig" in failed_files({k: v for k, v in hand_pack.items() if k != "manifest.sig"})


def test_loan_json_citing_a_record_outside_the_pack_fails(
    hand_pack: dict[str, bytes], evidence_key: Any
) -> None:
    from attestations.evidence import file_entry, manifest_bytes

    loan = json.loads(hand_pack["loan.json"])
    loan["alerts"][0]["records"].append("not-in-the-pack")
    raw_loan = json.dumps(loan).encode()
    manifest = json.loads(hand_pack["manifest.json"])
    manifest["files"] = [
        file_entry(e["path"], raw_loan if e["path"] == "loan.json" else hand_pack[e["path"]])
        for e in manifest["files"]
    ]
    raw = manifest_bytes(manifest)
    files = {
        **hand_pack,
        "loan.json": raw_loan,
        "manifest.json": raw,
        "manifest.sig": sign_manifest(raw, evidence_key),
    }
    report = check_pack(files)
    assert [f.file for f in report.failures()] == ["loan.json"]
    assert "not-in-the-pack" in report.failures()[0].detail


def test_base64_with_ignored_bits_does_not_pass(hand_pack: dict[str, bytes]) -> None:
    envelope = json.loads(hand_pack["manifest.sig"])
    sig = envelope["signatures"][0]["sig"]
    assert sig.endswith("==")
    decoded = base64.b64decode(sig)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for c in alphabet:  # a last character that decodes to the same bytes
        other = sig[:-3] + c + "=="
        if other != sig and base64.b64decode(other) == decoded:
            break
    envelope["signatures"][0]["sig"] = other
    from attestations.canonical import canonicalize

    files = {**hand_pack, "manifest.sig": canonicalize(envelope) + b"\n"}
    assert failed_files(files) == {"manifest.sig"}


def test_folder_and_zip_read_the_same(hand_pack: dict[str, bytes], tmp_path: Path) -> None:
    folder = write_folder(hand_pack, tmp_path / "LN-HAND-1")
    (tmp_path / "LN-HAND-1.zip").write_bytes(zip_pack(hand_pack, "LN-HAND-1"))
    assert read_pack(folder) == read_pack(tmp_path / "LN-HAND-1.zip") == hand_pack
    assert zip_pack(hand_pack, "LN-HAND-1") == (tmp_path / "LN-HAND-1.zip").read_bytes()  # deterministic
    assert verify_pack(tmp_path / "LN-HAND-1.zip").ok
    (tmp_path / "bad.zip").write_bytes(b"PK not really")
    try:
        read_pack(tmp_path / "bad.zip")
    except PackError as exc:
        assert "not a readable zip" in str(exc)
    else:
        raise AssertionError("a broken zip was read")


def test_the_cli_prints_one_line_per_finding_and_sets_the_exit_code(
    hand_pack: dict[str, bytes], hand_world: Any, tmp_path: Path
) -> None:
    folder = write_folder(hand_pack, tmp_path / "pack")
    cli = [sys.executable, "-m", "pipelines.cli", "evidence", "verify"]
    ok = subprocess.run(
        [*cli, str(folder), "--trust", hand_world.trust_policy], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("PASS")
    as_json = subprocess.run([*cli, str(folder), "--json"], capture_output=True, text=True)
    assert all("ok" in json.loads(line) for line in as_json.stdout.splitlines())
    (folder / "loan.json").write_bytes(hand_pack["loan.json"].replace(b"LN-HAND-1", b"LN-HAND-2", 1))
    bad = subprocess.run([*cli, str(folder)], capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL loan.json" in bad.stdout
    missing = subprocess.run([*cli, str(tmp_path / "nope")], capture_output=True, text=True)
    assert missing.returncode == 2 and "neither a pack folder nor a zip" in missing.stderr
    wrong = subprocess.run(
        [*cli, str(folder), "--trust", str(tmp_path / "nope.json")], capture_output=True, text=True
    )
    assert wrong.returncode == 2 and "cannot read trust policy" in wrong.stderr
