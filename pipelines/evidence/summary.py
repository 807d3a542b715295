"""summary.html: a printable (A4), bilingual account of a pack for a judge or a buyer of the
loan: who borrowed, what was lent, what the chain shows and when it was sealed, how to check
it. Self-contained (no script, no external resource), so it renders the same offline."""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

Record = tuple[int, dict[str, Any], dict[str, Any]]
"""(line number in records.jsonl, the record line, the record)."""

KIND_LABELS = {
    "order": "订单 Order",
    "invoice": "发票 Invoice",
    "logistics": "运单 Waybill",
    "payment": "付款 Payment",
    "warehouse_receipt": "仓单 Warehouse receipt",
    "lease": "租约 Lease",
    "contribution": "缴费 Contribution",
}
SOURCE_LABELS = {
    "supply_chain": "供应链 Supply chain",
    "social_insurance": "社会保险 Social insurance",
    "housing_fund": "住房公积金 Housing fund",
}

STYLE = """@page { size: A4; margin: 16mm 14mm 18mm 14mm; }
body { font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC", sans-serif;
       font-size: 10pt; color: #111; margin: 0; }
h1 { font-size: 16pt; margin: 0 0 4mm 0; } h2 { font-size: 12.5pt; margin: 6mm 0 2mm 0;
     border-bottom: 1px solid #999; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm 0; }
th, td { border: 1px solid #bbb; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; } tr { break-inside: avoid; }
td { white-space: nowrap; } td.n { text-align: right; } td.w, table.facts td { white-space: normal; }
.mono { font-family: monospace; font-size: 8.5pt; }
table.facts th { width: 38%; } .small { font-size: 8pt; } .note { color: #444; }
.annex { break-before: page; }
@media print { body { font-size: 8.5pt; } .small { font-size: 7pt; } }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def cny(fen: Any) -> str:
    """Fen as yuan with two decimals: ``¥1,234.56``."""
    if fen is None:
        return "–"
    value = int(fen)
    return f"{'-' if value < 0 else ''}¥{abs(value) // 100:,}.{abs(value) % 100:02d}"


def _facts(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return f'<table class="facts">{body}</table>'


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    if not rows:
        return '<p class="note">无 None.</p>'
    th = "".join(f"<th>{h}</th>" for h in head)
    tr = "".join("<tr>" + "".join(rows_cell(c) for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><tr>{th}</tr>{tr}</table>'


def rows_cell(cell: str) -> str:
    """A cell: numbers (cells starting with ¥ or a digit) right-aligned, long text wrapped."""
    numeric = cell[:1] == "¥" or cell.replace(",", "").replace(".", "").isdigit()
    cls = "n" if numeric else ("w" if len(cell) > 40 and "<span" not in cell else "")
    return f'<td class="{cls}">{cell}</td>' if cls else f"<td>{cell}</td>"


def _who(facts: dict[str, Any]) -> str:
    b = facts["borrower"]
    return _facts(
        [
            ("统一社会信用代码 Unified Social Credit Code", f'<span class="mono">{_e(b["firm_id"])}</span>'),
            ("行业 Industry", _e(b.get("industry"))),
            ("地区 Region", _e(b.get("region"))),
            ("规模 Size band", _e(b.get("size_band"))),
            ("登记日期 Registered on", _e(b.get("registered_on"))),
        ]
    )


def _loan(facts: dict[str, Any]) -> str:
    app, dis, default = facts["application"], facts["disbursement"], facts["default"]
    review = facts["decision"].get("in_loan_review") or {}
    score = facts["decision"].get("pre_loan_score") or {}
    grade = f"{_e(score.get('grade'))} (PD {score['pd']:.2%})" if score else "–"
    return _facts(
        [
            ("贷款编号 Loan", f'<span class="mono">{_e(facts["loan_id"])}</span>'),
            ("申请 Application", f"{_e(app['application_id'])}, {_e(app['applied_on'])}"),
            ("金额与期限 Amount and term", f"{cny(app['amount_fen'])}, {_e(app['term_months'])} 月 months"),
            ("放款日 Disbursed on", _e(dis["disbursed_on"])),
            ("贷前评级 Pre-loan grade", grade),
            (
                "贷中审查 In-loan review",
                _e(review.get("decision", "–")) + " " + _e(review.get("decision_reason", "")),
            ),
            ("违约日 Default date", f"{_e(default['date'])} ({_e(default['dpd'])} 天逾期 days past due)"),
            ("违约时余额 Balance at default", cny(default["balance_fen"])),
            ("数据截至 Facts as of", _e(facts["as_of"])),
        ]
    )


def _chain(records: list[Record]) -> str:
    by: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        by.setdefault((r[2]["source"], r[2]["kind"]), []).append(r)
    rows = []
    for (source, kind), group in sorted(by.items()):
        events = sorted(r[2]["event_time"] for r in group)
        rows.append(
            [
                SOURCE_LABELS.get(source, _e(source)),
                KIND_LABELS.get(kind, _e(kind)),
                str(len(group)),
                f"{_e(events[0][:10])} – {_e(events[-1][:10])}",
            ]
        )
    return _table(["来源 Source", "类型 Kind", "记录数 Records", "业务时间 Event dates"], rows)


def _invoices(facts: dict[str, Any], records: list[Record]) -> str:
    kinds = {rec["record_id"]: rec["kind"] for _, _, rec in records}
    rows = [
        [
            _e(inv["invoice_no"]),
            "是 yes" if inv["on_chain"] else "否 no",
            ", ".join(KIND_LABELS.get(kinds.get(r, ""), "?") for r in inv["records"]) or "–",
        ]
        for inv in facts["application"]["invoices_offered"]
    ]
    return _table(["发票 Invoice", "已上链 On chain", "链上单据 Documents on chain"], rows)


def _collateral(records: list[Record], sealed: dict[int, str]) -> str:
    rows = []
    for line_no, line, rec in records:
        if rec["kind"] != "warehouse_receipt":
            continue
        b = rec["body"]
        rows.append(
            [
                _e(b["receipt_no"]),
                _e(b["status"]),
                _e(b["pledgee"] or "–"),
                f"{_e(b['goods'])} × {b['quantity']:,} {_e(b['unit'])}",
                cny(b["quantity"] * b["unit_value_fen"]),
                _e(sealed.get(line["height"], "")),
                str(line_no),
            ]
        )
    rows.sort(key=lambda r: (r[0], r[5]))
    head = [
        "仓单 Receipt",
        "状态 Status",
        "质权人 Pledgee",
        "货物 Goods",
        "价值 Value",
        "上链时间 Sealed at",
        "行 Line",
    ]
    return _table(head, rows)


def _contributions(records: list[Record]) -> str:
    by: dict[str, dict[str, dict[str, Any]]] = {}
    for _, _, rec in records:
        if rec["kind"] == "contribution":
            by.setdefault(rec["body"]["period"], {})[rec["source"]] = rec["body"]
    rows = []
    for period, sources in sorted(by.items()):
        si, hf = sources.get("social_insurance"), sources.get("housing_fund")
        rows.append(
            [period]
            + [
                x
                for part in (si, hf)
                for x in (
                    (f"{part['headcount']:,}", cny(part["paid_fen"]), cny(part["due_fen"]))
                    if part
                    else ("–", "–", "–")
                )
            ]
        )
    head = [
        "月份 Period",
        "社保人数 SI headcount",
        "社保实缴 SI paid",
        "社保应缴 SI due",
        "公积金人数 HF headcount",
        "公积金实缴 HF paid",
        "公积金应缴 HF due",
    ]
    return _table(head, rows)


def _alerts(facts: dict[str, Any]) -> str:
    rows = [
        [
            _e(a["rule"]),
            _e(a["severity"]),
            _e(a["opened_on"]),
            _e(a.get("resolved_on") or "–"),
            _e(a["description"]),
            str(len(a["records"])),
        ]
        for a in facts["alerts"]
    ]
    head = [
        "规则 Rule",
        "级别 Severity",
        "开启 Opened",
        "解除 Resolved",
        "说明 Description",
        "引用记录 Records",
    ]
    return _table(head, rows)


def _review(facts: dict[str, Any]) -> str:
    review = facts["decision"].get("in_loan_review")
    if not review:
        return '<p class="note">无贷中审查 No in-loan review on record.</p>'
    rows = [
        [_e(name), _e(check["result"]), _e(check["finding"]), str(len(check["records"]))]
        for name, check in sorted(review["checks"].items())
    ]
    return _table(["检查 Check", "结果 Result", "发现 Finding", "引用记录 Records"], rows)


def _annex(records: list[Record], sealed: dict[int, str]) -> str:
    rows = [
        [
            str(n),
            f'<span class="mono">{_e(rec["record_id"])}</span>',
            KIND_LABELS.get(rec["kind"], _e(rec["kind"])),
            _e(rec["event_time"]),
            _e(sealed.get(line["height"], "")),
            f"{line['height']}/{line['index']}",
        ]
        for n, line, rec in records
    ]
    head = [
        "行 Line",
        "记录 Record id",
        "类型 Kind",
        "业务时间 Event time",
        "上链时间 Sealed at",
        "区块/位置 Block/index",
    ]
    return _table(head, rows, "small")


def summary_html(
    facts: dict[str, Any],
    records: list[Record],
    headers: dict[int, dict[str, Any]],
    chain: tuple[str, str, int],
    fingerprint: str,
) -> str:
    """The page; ``chain`` is (chain id, hash algorithm, quorum threshold)."""
    sealed = {h: hdr["sealed_at"] for h, hdr in headers.items()}
    first, last = (min(sealed.values()), max(sealed.values())) if sealed else ("–", "–")
    kinds = Counter(r[2]["kind"] for r in records)
    title = f"不良贷款证据包 Evidence pack for non-performing loan {_e(facts['loan_id'])}"
    how = _facts(
        [
            ("区块链 Chain", f"{_e(chain[0])}, 哈希 hash {_e(chain[1])}, 门限 quorum {chain[2]}"),
            ("封存时间 Sealed", f"{_e(first)} – {_e(last)}, {len(headers)} 个区块 blocks"),
            ("记录 Records", f"{len(records)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"),
            ("银行证据密钥 Bank evidence key", f'<span class="mono">{_e(fingerprint)}</span>'),
            (
                "核验命令 Check command",
                '<span class="mono">smecredit evidence verify &lt;pack&gt; --trust &lt;trust.json&gt;</span>',
            ),
            (
                "手工核验 By hand",
                "VERIFY.md：仅需 Python 标准库与 cryptography / "
                "Python's standard library and cryptography only",
            ),
        ]
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style></head>
<body data-loan="{_e(facts["loan_id"])}" data-records="{len(records)}">
<h1>{title}</h1>
<p class="note">本文件由银行根据区块链存证记录生成；每一事实均可在 records.jsonl
中找到对应记录，并可独立核验。
This account was written by the bank from chain-attested records; every fact rests on records in
records.jsonl, which anyone can check independently (see “How to check”).</p>
<h2>1. 借款人 Borrower</h2>{_who(facts)}
<h2>2. 贷款 The loan</h2>{_loan(facts)}
<h2>3. 链上记录 What the chain shows</h2>{_chain(records)}
<h3>申请所附发票 Invoices offered with the application</h3>{_invoices(facts, records)}
<h3>质押仓单及其历史 Pledged warehouse receipts and their history</h3>{_collateral(records, sealed)}
<h3>社保与公积金缴费 Social-insurance and housing-fund contributions</h3>{_contributions(records)}
<h2>4. 贷中审查与预警 In-loan review and early-warning alerts</h2>
<h3>贷中审查 In-loan review</h3>{_review(facts)}
<h3>预警 Alerts</h3>{_alerts(facts)}
<h2>5. 如何核验 How to check</h2>{how}
<div class="annex"><h2>附件：记录清单 Annex: the records</h2>{_annex(records, sealed)}</div>
</body></html>
"""
