"""The pack builder on the hand-made world: exactly the expected records, byte for byte from
the export, facts that cite them, an atomic rewrite, the buyer's CSV, a VERIFY.md that works
in a fresh interpreter and a summary that prints on A4."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from attestations.evidence import verify_pack
from attestations.policy import TrustPolicy
from pipelines.evidence import EvidenceError, build_packs, pending_defaults, write_packs
from tests.evidence import handmade
from tests.evidence.conftest import write_folder


def ids(files: dict[str, bytes]) -> list[str]:
    lines = [json.loads(line) for line in files["records.jsonl"].split(b"\n") if line]
    return [json.loads(line["leaf"])["record_id"] for line in lines]


def own_copy(hand_world: Any, tmp_path: Path) -> Any:
    """Settings on a private copy of the hand world's lake (the lake's ingest log still
    names the bundles of the shared landing zone, which is only read)."""
    root = Path(hand_world.lake_uri).parent
    shutil.copytree(root, tmp_path / "world", ignore=shutil.ignore_patterns("evidence"))
    new = tmp_path / "world"
    return replace(
        hand_world,
        landing_uri=str(new / "landing"),
        lake_uri=str(new / "lake"),
        trust_policy=str(new / "trust.json"),
        bank_uri=str(new / "bank"),
    )


def test_the_pack_holds_exactly_the_records_behind_the_loan(hand_pack: dict[str, bytes]) -> None:
    found = ids(hand_pack)
    assert len(found) == len(set(found))
    assert set(found) == handmade.EXPECTED and not set(found) & handmade.OUTSIDE


def test_each_line_is_byte_identical_to_its_export_line(hand_pack: dict[str, bytes], hand_world: Any) -> None:
    landing = Path(hand_world.landing_uri)
    exported = {
        line for f in landing.glob("*/*/records.jsonl") for line in f.read_bytes().split(b"\n") if line
    }
    headers = {
        line for f in landing.glob("*/*/headers.jsonl") for line in f.read_bytes().split(b"\n") if line
    }
    assert all(line in exported for line in hand_pack["records.jsonl"].split(b"\n") if line)
    assert all(line in headers for line in hand_pack["headers.jsonl"].split(b"\n") if line)
    manifest = json.loads(hand_pack["manifest.json"])
    for entry in manifest["provenance"]:
        bundle = landing / entry["bundle"] / "records.jsonl"
        line = bundle.read_bytes().split(b"\n")[entry["bundle_line"] - 1]
        assert line == hand_pack["records.jsonl"].split(b"\n")[entry["line"] - 1]


def test_the_facts_cite_the_records_that_support_them(hand_pack: dict[str, bytes]) -> None:
    loan = json.loads(hand_pack["loan.json"])
    assert loan["loan_id"] == handmade.LOAN and loan["default"]["date"] == "2024-06-30"
    assert loan["default"]["balance_fen"] == 9_166_666 and loan["default"]["dpd"] == 90
    invoice = loan["application"]["invoices_offered"][0]
    assert invoice["invoice_no"] == "INV-1" and set(invoice["records"]) == {
        "inv-1",
        "ord-1",
        "way-1",
        "pay-1",
    }
    receipt = loan["application"]["receipts_offered"][0]
    assert set(receipt["records"]) == {"wr-1-issued", "wr-1-pledged", "wr-1-released"}
    assert loan["decision"]["in_loan_review"]["checks"]["receivables"]["records"] == ["inv-9"]
    alert = loan["alerts"][0]
    assert alert["records"] == ["lease-1"] and alert["resolved_on"] == "2024-07-01"
    assert alert["other_evidence"] == [{"bank_books": "loan_performance", "loan_id": handmade.LOAN}]
    assert [p["status"] for p in loan["performance"]][-1] == "default"


def test_verify_md_works_step_by_step_in_a_fresh_interpreter(
    hand_pack: dict[str, bytes], tmp_path: Path
) -> None:
    folder = write_folder(hand_pack, tmp_path / "pack")
    text = hand_pack["VERIFY.md"].decode()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 5 and not re.search(r"^\s*(from|import) (attestations|pipelines)", text, re.M)
    driver = (
        "import code, re, sys\n"
        "console = code.InteractiveConsole()\n"
        "errors = []\n"
        "console.write = lambda data: (errors.append(data), sys.stderr.write(data))\n"
        "for block in re.findall(r'```python\\n(.*?)```', open('VERIFY.md').read(), re.S):\n"
        "    more = False\n"
        "    for line in block.split('\\n'):\n"
        "        more = console.push(line)\n"
        "    if more:\n"
        "        console.push('')\n"
        "sys.exit(1 if errors else 0)\n"
    )  # the interactive interpreter's rules: a compound statement ends at a blank line
    done = subprocess.run([sys.executable, "-I", "-c", driver], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "signed by ['node-0', 'node-1', 'node-2', 'node-3']" in done.stdout
    assert "15 records in the pack; loan.json cites none outside it" in done.stdout
    (folder / "records.jsonl").write_bytes(hand_pack["records.jsonl"].replace(b"WR-1", b"WR-7", 1))
    broken = subprocess.run([sys.executable, "-I", "-c", driver], cwd=folder, capture_output=True, text=True)
    assert broken.returncode == 1 and "records.jsonl" in broken.stderr


def test_write_packs_writes_folder_zip_and_csv_and_rewrites_atomically(
    hand_world: Any, evidence_key: Any, tmp_path: Path
) -> None:
    settings = own_copy(hand_world, tmp_path)
    assert pending_defaults(settings, handmade.AS_OF) == [handmade.LOAN]
    assert pending_defaults(settings, handmade.AS_OF.replace(month=5)) == []  # not yet defaulted then
    first = write_packs(settings, evidence_key, handmade.AS_OF)
    assert first["written"] == 1 and first["loans"] == [handmade.LOAN]
    root = Path(settings.lake_uri) / "evidence"
    policy = TrustPolicy.load(settings.trust_policy)
    assert (
        verify_pack(root / handmade.LOAN, policy).ok and verify_pack(root / f"{handmade.LOAN}.zip", policy).ok
    )
    assert pending_defaults(settings, handmade.AS_OF) == []
    assert write_packs(settings, evidence_key, handmade.AS_OF)["written"] == 0  # already there
    again = write_packs(settings, evidence_key, handmade.AS_OF, rewrite=True)
    assert again["written"] == 1
    assert sorted(p.name for p in root.iterdir()) == [handmade.LOAN, f"{handmade.LOAN}.zip", "npl_buyer.csv"]
    csv = pd.read_csv(root / "npl_buyer.csv", dtype=str)
    assert list(csv.columns[:7]) == [
        "loan_id",
        "borrower_firm_id",
        "balance_fen",
        "balance_cny",
        "default_date",
        "records",
        "pack_sha256",
    ]
    row = csv.iloc[0]
    assert (row.loan_id, row.borrower_firm_id, row.default_date) == (
        handmade.LOAN,
        handmade.FIRM,
        "2024-06-30",
    )
    assert row.balance_fen == "9166666" and row.records == "15"
    import hashlib

    assert row.pack_sha256 == hashlib.sha256((root / f"{handmade.LOAN}.zip").read_bytes()).hexdigest()


def test_a_landing_zone_changed_after_export_is_refused(
    hand_world: Any, evidence_key: Any, tmp_path: Path
) -> None:
    settings = handmade.build(tmp_path / "world")  # its own: the lake logs where bundles were
    bundle = next(Path(settings.landing_uri).glob("supply_chain/2024-02-03/records.jsonl"))
    lines = bundle.read_bytes().split(b"\n")
    lines[1] = json.dumps(json.loads(lines[1]), indent=None).encode()  # same record, other bytes
    bundle.write_bytes(b"\n".join(lines))
    with pytest.raises(EvidenceError, match="differs from what its exporter signed"):
        list(build_packs(settings, evidence_key, handmade.AS_OF, [handmade.LOAN]))
    shutil.rmtree(bundle.parent)
    with pytest.raises(EvidenceError, match="cannot read"):
        list(build_packs(settings, evidence_key, handmade.AS_OF, [handmade.LOAN]))


def test_a_loan_that_has_not_defaulted_is_refused(hand_world: Any, evidence_key: Any) -> None:
    with pytest.raises(EvidenceError, match="has not turned to default"):
        list(build_packs(hand_world, evidence_key, handmade.AS_OF, ["LN-NOPE"]))
    with pytest.raises(EvidenceError, match="has not turned to default"):
        list(build_packs(hand_world, evidence_key, handmade.AS_OF.replace(month=3), [handmade.LOAN]))


def test_the_cli_writes_a_pack(hand_world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.cli import main
    from pipelines.evidence import write_key

    settings = own_copy(hand_world, tmp_path)
    for name, value in (
        ("LANDING", settings.landing_uri),
        ("LAKE", settings.lake_uri),
        ("TRUST_POLICY", settings.trust_policy),
        ("BANK", settings.bank_uri),
    ):
        monkeypatch.setenv(
            f"SMECREDIT_{name}_URI" if name != "TRUST_POLICY" else "SMECREDIT_TRUST_POLICY", value
        )
    monkeypatch.setenv("SMECREDIT_EVIDENCE_KEY", str(tmp_path / "nokey.pem"))
    out = tmp_path / "out" / handmade.LOAN
    args = ["evidence", "--loan", handmade.LOAN, "--out", str(out), "--as-of", "2024-12-31"]
    assert main(args) == 1  # no key file
    write_key(tmp_path / "key.pem")
    monkeypatch.setenv("SMECREDIT_EVIDENCE_KEY", str(tmp_path / "key.pem"))
    assert main(args) == 0
    assert main(["evidence", "verify", str(out), "--trust", settings.trust_policy]) == 0
    assert main(["evidence", "verify", f"{out}.zip"]) == 0
    assert main(["evidence", "--loan", "LN-NOPE", "--out", str(tmp_path / "x")]) == 1
    assert main(["evidence", "--loan", handmade.LOAN]) == 2


def test_the_cli_writes_every_pending_pack_as_the_dag_does(
    hand_world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main
    from pipelines.evidence import write_key

    settings = own_copy(hand_world, tmp_path)
    monkeypatch.setenv("SMECREDIT_LANDING_URI", settings.landing_uri)
    monkeypatch.setenv("SMECREDIT_LAKE_URI", settings.lake_uri)
    monkeypatch.setenv("SMECREDIT_TRUST_POLICY", settings.trust_policy)
    monkeypatch.setenv("SMECREDIT_BANK_URI", settings.bank_uri)
    write_key(tmp_path / "key.pem")
    monkeypatch.setenv("SMECREDIT_EVIDENCE_KEY", str(tmp_path / "key.pem"))
    root = Path(settings.lake_uri) / "evidence"
    pending = ["evidence", "--pending", "--as-of", "2024-12-31"]
    assert main(pending) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{handmade.LOAN}: {root}/{handmade.LOAN}/ and {root}/{handmade.LOAN}.zip"
    assert out.splitlines()[-1].startswith("1 evidence pack written as of 2024-12-31 (1 in ")
    assert main(["evidence", "verify", str(root / handmade.LOAN), "--trust", settings.trust_policy]) == 0
    assert list(pd.read_csv(root / "npl_buyer.csv", dtype=str)["loan_id"]) == [handmade.LOAN]
    capsys.readouterr()
    assert main(pending) == 0  # nothing new
    assert capsys.readouterr().out.startswith("0 evidence packs written")
    assert main([*pending, "--rewrite"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("1 evidence pack written")
    for wrong in (["--loan", handmade.LOAN], ["--out", str(tmp_path / "x")]):
        assert main([*pending, *wrong]) == 2
        assert "give no --loan or --out" in capsys.readouterr().err
    assert main(["evidence", "--rewrite", "--loan", handmade.LOAN, "--out", str(tmp_path / "x")]) == 2
    assert "--rewrite goes with --pending" in capsys.readouterr().err
    monkeypatch.setenv("SMECREDIT_BANK_URI", str(tmp_path / "no-bank"))
    assert main(pending) == 1
    assert capsys.readouterr().err.strip().endswith("does not exist (set SMECREDIT_BANK_URI)")


def test_the_summary_is_bilingual_and_prints_on_a4(hand_pack: dict[str, bytes], tmp_path: Path) -> None:
    page = hand_pack["summary.html"].decode()
    assert "@page { size: A4" in page
    for label in (
        "借款人 Borrower",
        "贷款 The loan",
        "链上记录 What the chain shows",
        "如何核验 How to check",
    ):
        assert label in page
    assert "<script" not in page and "http" not in page.replace("https://", "")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (make test installs it with apt)")
    (tmp_path / "summary.html").write_bytes(hand_pack["summary.html"])
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--no-pdf-header-footer",
        f"--print-to-pdf={tmp_path / 'summary.pdf'}",
        (tmp_path / "summary.html").as_uri(),
    ]
    subprocess.run([chromium, *flags], capture_output=True, timeout=120, check=True)
    pdf = (tmp_path / "summary.pdf").read_bytes()
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert boxes and all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in boxes)


def test_a_loan_whose_pack_cannot_be_built_does_not_stop_the_others(
    hand_world: Any, evidence_key: Any, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from attestations.uscc import make_uscc

    settings = own_copy(hand_world, tmp_path)
    bank = Path(settings.bank_uri)
    nobody = make_uscc("91500000MA0000009")  # a firm the chain knows nothing of
    for table, extra in (
        (
            "applications",
            {
                "application_id": "APP-HAND-2",
                "loan_id": "LN-HAND-0",
                "firm_id": nobody,
                "collateral_receipts": [],
                "invoice_nos": [],
            },
        ),
        ("loan_performance", {"loan_id": "LN-HAND-0", "firm_id": nobody}),
    ):
        t = pq.read_table(bank / f"{table}.parquet")
        rows = t.to_pylist()
        rows.append({**rows[-1], **extra})
        pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), bank / f"{table}.parquet")
    with pytest.raises(EvidenceError, match="1 of 2 packs not built: loan LN-HAND-0: no attested record"):
        write_packs(settings, evidence_key, handmade.AS_OF)
    assert (Path(settings.lake_uri) / "evidence" / handmade.LOAN / "manifest.json").is_file()
