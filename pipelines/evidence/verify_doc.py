"""VERIFY.md: how to check a pack by hand, with one worked record of the pack itself.

Every step is a Python block that needs only the standard library and ``cryptography``;
run one after another in a single Python session started in the pack's folder, they check
the manifest signature, every file's hash, the worked record's canonical form, leaf hash,
audit path, header and quorum, and assert the values this page prints.
"""

from __future__ import annotations

from typing import Any

from attestations.merkle import leaf_hash

_SHA256 = """H = lambda data: hashlib.sha256(data).digest()  # hash_alg sha256"""
_SM3 = """from cryptography.hazmat.primitives import hashes


def H(data):  # hash_alg sm3 (GB/T 32905-2016)
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()"""

_STEP_FILES = """```python
import base64, hashlib, json
from datetime import datetime
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def pae(payload_type, body):  # DSSE v1 pre-authentication encoding
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


envelope = json.load(open("manifest.sig"))
manifest_bytes = open("manifest.json", "rb").read()
assert base64.b64decode(envelope["payload"]) == manifest_bytes, "manifest.json is not what was signed"
signature = envelope["signatures"][0]
bank_key = serialization.load_pem_public_key(signature["public_key"].encode())
raw = bank_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
fingerprint = "sha256:" + hashlib.sha256(raw).hexdigest()
print("bank evidence key", fingerprint)
assert fingerprint == "{fingerprint}"
bank_key.verify(base64.b64decode(signature["sig"]), pae(envelope["payloadType"], manifest_bytes))
manifest = json.loads(manifest_bytes)
for entry in manifest["files"]:
    data = open(entry["path"], "rb").read()
    assert len(data) == entry["size"], entry["path"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
print("signature holds;", len(manifest["files"]), "files match the manifest")
```"""

_STEP_RECORD = """```python
line = open("records.jsonl", "rb").read().split(b"\\n")[{line_no} - 1]
entry = json.loads(line)
leaf = entry["leaf"].encode("utf-8")
record = json.loads(leaf)
print(record["record_id"], record["kind"], record["event_time"])
assert record["record_id"] == "{record_id}"
canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
assert canonical.encode("utf-8") == leaf, "the leaf is not in canonical form"
{hash_def}
node = H(b"\\x00" + leaf)
print("leaf hash", node.hex())
assert node.hex() == "{leaf_hash}"
```"""

_STEP_PATH = """```python
headers = {{}}
for raw_header in open("headers.jsonl", "rb").read().split(b"\\n"):
    if raw_header:
        parsed = json.loads(raw_header)
        headers[parsed["header"]["height"]] = parsed
block = headers[entry["height"]]
header = block["header"]
fn, sn = entry["index"], header["tree_size"] - 1
for sibling in entry["proof"]:
    sibling = bytes.fromhex(sibling)
    assert sn > 0, "the audit path is longer than the tree allows"
    if fn % 2 == 1 or fn == sn:
        node = H(b"\\x01" + sibling + node)
        while fn % 2 == 0 and fn != 0:
            fn, sn = fn >> 1, sn >> 1
    else:
        node = H(b"\\x01" + node + sibling)
    fn, sn = fn >> 1, sn >> 1
    print("  ", node.hex())
assert sn == 0, "the audit path is shorter than the tree needs"
assert node.hex() == header["root_hash"] == "{root}"
print("the record sits at index", entry["index"], "of block", header["height"])
```"""

_STEP_QUORUM = """```python
trust = json.load(open("trust.json"))  # or, better, the trust policy you hold yourself
assert (header["chain_id"], header["hash_alg"]) == (trust["chain_id"], trust["hash_alg"])
header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
message = pae("application/vnd.sme-ledger.header+json", header_bytes)


def when(text):
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


sealed = when(header["sealed_at"])
nodes = set()
for sig in block["signatures"]:
    for key in trust["keys"]:
        if key["keyid"] != sig["keyid"] or when(key["not_before"]) > sealed:
            continue
        if key.get("not_after") and sealed > when(key["not_after"]):
            continue
        if key.get("revoked_at") and sealed >= when(key["revoked_at"]):
            continue
        public = serialization.load_pem_public_key(key["public_key"].encode())
        try:
            if key["alg"] == "ed25519":
                public.verify(base64.b64decode(sig["sig"]), message)
            else:  # ecdsa-p256-sha256
                public.verify(base64.b64decode(sig["sig"]), message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            continue
        nodes.add(key["node"])
print("signed by", sorted(nodes), "- threshold", trust["threshold"])
assert len(nodes) >= trust["threshold"]
```"""

_STEP_LOAN = """```python
lines = [l for l in open("records.jsonl", "rb").read().split(b"\\n") if l]
ids = {json.loads(json.loads(l)["leaf"])["record_id"] for l in lines}


def cited(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "records" and isinstance(v, list):
                yield from v
            elif k == "record_id" and isinstance(v, str):
                yield v
            else:
                yield from cited(v)
    elif isinstance(value, list):
        for v in value:
            yield from cited(v)


missing = set(cited(json.load(open("loan.json")))) - ids
assert not missing, missing
print(len(ids), "records in the pack; loan.json cites none outside it")
```"""


def repl_ready(markdown: str) -> str:
    """Each Python block with a blank line after every compound statement, so that pasting it
    into the interactive interpreter line by line runs it (the REPL ends a block on a blank
    line only)."""
    out: list[str] = []
    previous = ""
    for line in markdown.split("\n"):
        top = line[:1] not in ("", " ", "`") and not line.startswith(("else", "elif", "except", "finally"))
        if top and previous.startswith(" ") and out and out[-1] != "":
            out.append("")
        out.append(line)
        previous = line if line.strip() else previous
    return "\n".join(out)


def _walk(leaf: bytes, index: int, size: int, proof: list[str], hash_alg: str) -> list[str]:
    """The running hash after each audit path entry (RFC 9162 2.1.3.2)."""
    from attestations.hashing import hash_function

    h = hash_function(hash_alg)
    node, fn, sn, out = leaf_hash(leaf, hash_alg), index, size - 1, []
    for p in proof:
        sibling = bytes.fromhex(p)
        if fn % 2 == 1 or fn == sn:
            node = h(b"\x01" + sibling + node)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = h(b"\x01" + node + sibling)
        fn, sn = fn >> 1, sn >> 1
        out.append(node.hex())
    return out


def verify_markdown(
    loan_id: str,
    worked: tuple[int, dict[str, Any], dict[str, Any]],
    header: dict[str, Any],
    hash_alg: str,
    fingerprint: str,
    counts: tuple[int, int],
) -> str:
    """VERIFY.md for a pack; ``worked`` is (line number, record line, record) of the record
    the page works through, ``header`` the header of its block."""
    line_no, line, record = worked
    leaf = line["leaf"].encode("utf-8")
    steps = _walk(leaf, line["index"], header["tree_size"], line["proof"], hash_alg)
    rows = "\n".join(
        f"| {i} | `{p[:16]}…` | `{s}` |" for i, (p, s) in enumerate(zip(line["proof"], steps, strict=True), 1)
    )
    values = {
        "fingerprint": fingerprint,
        "line_no": line_no,
        "record_id": record["record_id"],
        "hash_def": _SHA256 if hash_alg == "sha256" else _SM3,
        "leaf_hash": leaf_hash(leaf, hash_alg).hex(),
        "root": header["root_hash"],
    }
    page = _PAGE.format(
        loan_id=loan_id,
        records=counts[0],
        headers=counts[1],
        kind=record["kind"],
        firm=record["firm_id"],
        height=line["height"],
        index=line["index"],
        tree_size=header["tree_size"],
        sealed_at=header["sealed_at"],
        hash_alg=hash_alg,
        steps=rows or "| – | (a block of one record: the leaf hash is the root) | |",
        step_files=_STEP_FILES.format(**values),
        step_record=_STEP_RECORD.format(**values),
        step_path=_STEP_PATH.format(**values),
        step_quorum=_STEP_QUORUM,
        step_loan=_STEP_LOAN,
        **{k: values[k] for k in ("fingerprint", "line_no", "record_id", "leaf_hash", "root")},
    )
    return repl_ready(page)


_PAGE = """# Checking evidence pack {loan_id} by hand / 手工核验证据包

This pack holds {records} attested records (`records.jsonl`, each line copied byte for byte
from the ledger export it came in) and the {headers} signed block headers they sit in
(`headers.jsonl`). Every step below is a block of Python that needs nothing but Python 3's
standard library and the `cryptography` package (`pip install cryptography`). Start
`python3` in this folder and paste the blocks one after another: each prints what it found
and stops with an `AssertionError` or `InvalidSignature` when something does not hold.
The whole pack is checked at once by `smecredit evidence verify <this folder> --trust <policy>`.

The formats are public: the ledger export is `sme-ledger-export/1` (RFC 9162 Merkle trees,
RFC 8785 canonical JSON, DSSE v1 signatures); `manifest.json` lists every other file with
its SHA-256; `manifest.sig` is a DSSE envelope over `manifest.json` signed with the bank's
Ed25519 evidence key, whose fingerprint is `{fingerprint}` (compare it with the one the bank
publishes).

## 1. The files are those the bank signed / 文件完整性与银行签名

{step_files}

## 2. One record, worked through / 逐条核验一条记录

Line {line_no} of `records.jsonl` is record `{record_id}`, a `{kind}` record about firm
`{firm}`, at index {index} of block {height} (a block of {tree_size} records sealed at
{sealed_at}; the chain hashes with `{hash_alg}`).

a. The leaf is the record's RFC 8785 canonical JSON (records hold only strings and whole
numbers under ASCII member names, for which Python's sorted compact JSON is exactly
RFC 8785), and the leaf hash is `H(0x00 || leaf bytes)`:

{step_record}

b. The audit path (`proof`) leads from the leaf hash to the block's `root_hash`, walked as
RFC 9162 section 2.1.3.2 says (`0x01 || left || right` at each step):

| step | sibling | running hash |
|---|---|---|
{steps}

{step_path}

## 3. The block header is signed by a quorum of the consortium / 区块头的共识签名

The header's bytes are its canonical JSON; each node signs
`PAE("application/vnd.sme-ledger.header+json", header bytes)`. A signature counts when it
verifies with a key the trust policy lists for that key id, valid when the block was sealed
(`not_before <= sealed_at <= not_after`, and before `revoked_at`); distinct nodes must reach
the policy's `threshold`. Use the trust policy you hold yourself where you can: the pack's
`trust.json` is the one the bank verified under.

{step_quorum}

## 4. Every fact of loan.json rests on records of the pack / 事实与记录对应

{step_loan}

Repeat steps 2 and 3 for any other line of `records.jsonl` by changing the line number:
the expected values above belong to line {line_no} only (leaf hash `{leaf_hash}`, root
`{root}`).
"""
