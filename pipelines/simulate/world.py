"""Run the world month by month and write it: landing bundles, bank books, ground truth."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.simulate.bank import Bank
from pipelines.simulate.config import INDUSTRIES, REGIONS, WorldConfig
from pipelines.simulate.economy import Economy, Outbox, month_days
from pipelines.simulate.ledger_export import Consortium
from pipelines.simulate.population import SIZE_BANDS, build_population

# The simulator owns these folders under --out and rewrites them on every run.
OUTPUTS = ("landing", "bank", "truth")

TRUTH_CASES = pa.schema([
    ("case_id", pa.string()), ("kind", pa.string()), ("firm_ids", pa.list_(pa.string())),
    ("refs", pa.list_(pa.string())), ("start_on", pa.string()), ("end_on", pa.string()),
])  # fmt: skip


@dataclass(frozen=True)
class WorldSummary:
    """What a run wrote."""

    records: dict[str, int]
    bundles: int
    applications: int
    defaults: int
    planted: dict[str, int]
    seconds: float


def _write(path: Path, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def simulate(cfg: WorldConfig, out: Path, progress: Callable[[str], None] | None = None) -> WorldSummary:
    """Generate the world of ``cfg`` under ``out`` and return what was written."""
    started = time.perf_counter()
    for name in OUTPUTS:
        shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    pop = build_population(cfg)
    outbox = Outbox()
    economy = Economy(cfg, pop, outbox)
    bank = Bank(cfg, economy)
    consortium = Consortium(cfg)
    records: dict[str, int] = {}
    bundles = 0
    for t in range(cfg.months):
        bank.plan(t)
        economy.step(t)
        bank.apply(t)
        bank.perform(t)
        first, last = month_days(cfg, t)
        for day in range(first, last + 1):
            todays = outbox.take(day)
            if todays:
                for source, n in consortium.seal_day(day, todays, out / "landing").items():
                    records[source] = records.get(source, 0) + n
                    bundles += 1
        if progress:
            progress(f"month {t + 1}/{cfg.months}: {sum(records.values()):,} records sealed in {bundles} bundles")
    consortium.write_policy(out / "trust.json")
    _write_books(cfg, out, pop, bank)
    planted = _write_truth(out, economy, pop)
    (out / "world.json").write_text(json.dumps({**asdict(cfg), "start": cfg.start.isoformat()}, indent=1) + "\n")
    defaults = sum(1 for loan in bank.loans if loan.status == "default")
    return WorldSummary(records, bundles, len(bank.applications), defaults, planted, time.perf_counter() - started)


def _write_books(cfg: WorldConfig, out: Path, pop: Any, bank: Bank) -> None:
    bank_dir = out / "bank"
    registry = [
        {"firm_id": fid, "industry": INDUSTRIES[pop.industry[i]], "region": REGIONS[pop.region[i]],
         "size_band": SIZE_BANDS[pop.size[i]], "registered_on": pop.registered_on[i]}
        for i, fid in enumerate(pop.ids)
    ]  # fmt: skip
    _write(bank_dir / "firms.parquet", registry)
    apps = pa.schema([
        ("application_id", pa.string()), ("firm_id", pa.string()), ("applied_on", pa.string()),
        ("amount_fen", pa.int64()), ("term_months", pa.int64()), ("collateral_receipts", pa.list_(pa.string())),
        ("invoice_nos", pa.list_(pa.string())), ("loan_id", pa.string()), ("disbursed_on", pa.string()),
    ])  # fmt: skip
    _write(bank_dir / "applications.parquet", bank.applications, apps)
    perf = pa.schema([
        ("loan_id", pa.string()), ("firm_id", pa.string()), ("month_end", pa.string()),
        ("balance_fen", pa.int64()), ("dpd", pa.int64()), ("status", pa.string()),
    ])  # fmt: skip
    _write(bank_dir / "loan_performance.parquet", bank.performance, perf)
    _write(bank_dir / "risk_managers.parquet", bank.managers)
    port = pa.schema([("loan_id", pa.string()), ("firm_id", pa.string()), ("manager_id", pa.string()), ("assigned_on", pa.string())])
    _write(bank_dir / "portfolio.parquet", bank.portfolio, port)


def _write_truth(out: Path, economy: Economy, pop: Any) -> dict[str, int]:
    cases = list(economy.truth)
    for r, members in enumerate(pop.rings):
        refs = economy.ring_invoices.get(r, [])
        if refs:
            cases.append({"kind": "circular_trade", "firm_ids": [pop.ids[m] for m in members], "refs": refs,
                          "start_on": f"{refs[0][3:7]}-{refs[0][7:9]}-01", "end_on": f"{refs[-1][3:7]}-{refs[-1][7:9]}-28"})  # fmt: skip
    rows = [{"case_id": f"CASE{i:06d}", **c} for i, c in enumerate(cases)]
    _write(out / "truth" / "planted_cases.parquet", rows, TRUTH_CASES)
    health = pa.table({
        "firm_id": [r[0] for r in economy.firm_month], "month": [r[1] for r in economy.firm_month],
        "health": [r[2] for r in economy.firm_month], "flight_started": [bool(r[3]) for r in economy.firm_month],
        "in_flight": [bool(r[4]) for r in economy.firm_month],
    })  # fmt: skip
    (out / "truth").mkdir(parents=True, exist_ok=True)
    pq.write_table(health, out / "truth" / "firm_health.parquet")
    counts: dict[str, int] = {}
    for c in cases:
        counts[c["kind"]] = counts.get(c["kind"], 0) + 1
    return counts
