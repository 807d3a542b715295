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

TRUTH_CASES = pa.schema(
    [
        ("case_id", pa.string()),
        ("kind", pa.string()),
        ("firm_ids", pa.list_(pa.string())),
        ("refs", pa.list_(pa.string())),
        ("start_on", pa.string()),
        ("end_on", pa.string()),
    ]
)


@dataclass(frozen=True)
class WorldSummary:
    """What a run wrote."""

    records: dict[str, int]
    bundles: int
    applications: int
    defaults: int
    planted: dict[str, int]
    seconds: float


class TableSink:
    """Appends each month's rows to a Parquet file as a row group: memory stays bounded
    however long the world runs. The file appears under its name only when closed."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.schema = path, schema
        self._tmp = path.with_name(f".{path.name}.tmp")
        self._writer = pq.ParquetWriter(self._tmp, schema)

    def append(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._writer.write_table(pa.Table.from_pylist(rows, schema=self.schema))

    def close(self) -> None:
        self._writer.close()
        self._tmp.replace(self.path)


SCHEMAS = {
    "bank/firms": pa.schema(
        [
            ("firm_id", pa.string()),
            ("industry", pa.string()),
            ("region", pa.string()),
            ("size_band", pa.string()),
            ("registered_on", pa.string()),
        ]
    ),
    "bank/applications": pa.schema(
        [
            ("application_id", pa.string()),
            ("firm_id", pa.string()),
            ("applied_on", pa.string()),
            ("amount_fen", pa.int64()),
            ("term_months", pa.int64()),
            ("collateral_receipts", pa.list_(pa.string())),
            ("invoice_nos", pa.list_(pa.string())),
            ("loan_id", pa.string()),
            ("disbursed_on", pa.string()),
            ("annual_rate", pa.float64()),
        ]
    ),
    "bank/loan_performance": pa.schema(
        [
            ("loan_id", pa.string()),
            ("firm_id", pa.string()),
            ("month_end", pa.string()),
            ("balance_fen", pa.int64()),
            ("dpd", pa.int64()),
            ("status", pa.string()),
        ]
    ),
    "bank/recoveries": pa.schema(
        [
            ("loan_id", pa.string()),
            ("month_end", pa.string()),
            ("amount_fen", pa.int64()),
            ("source", pa.string()),
        ]
    ),
    "bank/risk_managers": pa.schema(
        [("manager_id", pa.string()), ("name", pa.string()), ("email", pa.string()), ("region", pa.string())]
    ),
    "bank/portfolio": pa.schema(
        [
            ("loan_id", pa.string()),
            ("firm_id", pa.string()),
            ("manager_id", pa.string()),
            ("assigned_on", pa.string()),
        ]
    ),
    "truth/planted_cases": TRUTH_CASES,
    "truth/firm_health": pa.schema(
        [
            ("firm_id", pa.string()),
            ("month", pa.string()),
            ("health", pa.float64()),
            ("flight_started", pa.bool_()),
            ("in_flight", pa.bool_()),
        ]
    ),
}


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
    sinks = {name: TableSink(out / f"{name}.parquet", schema) for name, schema in SCHEMAS.items()}
    records: dict[str, int] = {}
    bundles = defaults = applications = 0
    for t in range(cfg.months):
        bank.plan(t)
        economy.step(t)
        bank.apply(t)
        bank.perform(t)
        bank.recover(t)
        first, last = month_days(cfg, t)
        for day in range(first, last + 1):
            todays = outbox.take(day)
            if todays:
                for source, n in consortium.seal_day(day, todays, out / "landing").items():
                    records[source] = records.get(source, 0) + n
                    bundles += 1
        applications += len(bank.applications)
        defaults += sum(1 for row in bank.performance if row["status"] == "default")
        for name, rows in (
            ("bank/applications", bank.applications),
            ("bank/loan_performance", bank.performance),
            ("bank/recoveries", bank.recoveries),
            ("bank/portfolio", bank.portfolio),
            ("truth/firm_health", economy.firm_month),
        ):
            sinks[name].append(rows)
            rows.clear()
        bank.loans = [loan for loan in bank.loans if loan.status not in ("default", "repaid")]
        if progress:
            progress(
                f"month {t + 1}/{cfg.months}: {sum(records.values()):,} records sealed in {bundles} bundles"
            )
    consortium.write_policy(out / "trust.json")
    sinks["bank/firms"].append(
        [
            {
                "firm_id": fid,
                "industry": INDUSTRIES[pop.industry[i]],
                "region": REGIONS[pop.region[i]],
                "size_band": SIZE_BANDS[pop.size[i]],
                "registered_on": pop.registered_on[i],
            }
            for i, fid in enumerate(pop.ids)
        ]
    )
    sinks["bank/risk_managers"].append(bank.managers)
    planted = _truth_cases(economy, pop)
    sinks["truth/planted_cases"].append(planted)
    for sink in sinks.values():
        sink.close()
    (out / "world.json").write_text(
        json.dumps({**asdict(cfg), "start": cfg.start.isoformat()}, indent=1) + "\n"
    )
    kinds: dict[str, int] = {}
    for case in planted:
        kinds[case["kind"]] = kinds.get(case["kind"], 0) + 1
    return WorldSummary(records, bundles, applications, defaults, kinds, time.perf_counter() - started)


def _truth_cases(economy: Economy, pop: Any) -> list[dict[str, Any]]:
    cases = list(economy.truth)
    for r, members in enumerate(pop.rings):
        refs = economy.ring_invoices.get(r, [])
        if refs:
            cases.append(
                {
                    "kind": "circular_trade",
                    "firm_ids": [pop.ids[m] for m in members],
                    "refs": refs,
                    "start_on": f"{refs[0][3:7]}-{refs[0][7:9]}-01",
                    "end_on": f"{refs[-1][3:7]}-{refs[-1][7:9]}-28",
                }
            )
    return [{"case_id": f"CASE{i:06d}", **c} for i, c in enumerate(cases)]
