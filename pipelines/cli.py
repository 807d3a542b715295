"""The ``smecredit`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pipelines.schemas import SOURCES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _fail(message: str, code: int = 2) -> int:
    message = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"smecredit: error: {message}", file=sys.stderr)
    return code


def cmd_verify(args: argparse.Namespace) -> int:
    from attestations.policy import TrustPolicy
    from pipelines.verify_cli import human_line, verify_bundles

    missing = [str(b) for b in args.bundles if not b.is_dir()]
    if missing:
        return _fail(f"not a bundle folder: {', '.join(missing)}")
    policy = TrustPolicy.load(args.trust)
    results = verify_bundles(args.bundles, policy, args.state)
    for result in results:
        print(json.dumps(result.summary(), sort_keys=True) if args.json else human_line(result))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    import json

    from pipelines.config import Settings
    from pipelines.ingest import IngestConfig, ingest

    settings = Settings.from_env()
    cfg = IngestConfig(
        settings.landing_uri,
        settings.lake_uri,
        settings.trust_policy,
        args.max_quality_failure_rate,
        max_bundle_bytes=settings.max_bundle_bytes,
        state_uri=settings.state_uri,
    )
    report = ingest(cfg, sources=args.source or SOURCES, limit=args.limit, batch_size=settings.ingest_batch)
    for row in report.rows:
        keys = (
            "bundle_id",
            "lines",
            "verified",
            "duplicates",
            "quarantined",
            "quarantined_by_reason",
            "validation",
        )
        print(json.dumps({k: row[k] for k in keys}))
    print(f"ingested {len(report.rows)} bundles into {cfg.lake_uri}")
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    from pipelines.config import Settings
    from pipelines.lake import check_writable

    lake = args.lake or Settings.from_env().lake_uri
    print(json.dumps(check_writable(lake)))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from pipelines.simulate import WorldConfig, simulate

    try:
        cfg = WorldConfig(firms=args.firms, months=args.months, seed=args.seed, hash_alg=args.hash_alg)
    except ValueError as exc:
        return _fail(str(exc))
    report = None if args.quiet else (lambda line: print(line, flush=True))
    summary = simulate(cfg, args.out, progress=report)
    records = sum(summary.records.values())
    planted = ", ".join(f"{k}={v}" for k, v in sorted(summary.planted.items())) or "none"
    print(
        f"world of {cfg.firms} firms x {cfg.months} months (seed {cfg.seed}) in {summary.seconds:.1f}s: "
        f"{records:,} records in {summary.bundles} bundles, {summary.applications} loan applications, "
        f"{summary.defaults} defaults; planted: {planted}; written to {args.out}"
    )
    return 0


def cmd_tamper(args: argparse.Namespace) -> int:
    from pipelines.simulate.tamper import tamper_bundle

    if not (args.world / "world.json").is_file():
        return _fail(f"{args.world} is not a simulated world (no world.json)")
    try:
        dest = tamper_bundle(args.bundle, args.dest, args.how, args.world)
    except ValueError as exc:
        return _fail(str(exc))
    print(f"tampered copy ({args.how}) written to {dest}")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from pipelines.features import build_snapshot, dictionary_markdown, month_ends

    if args.dictionary:
        print(dictionary_markdown(), end="")
        return 0
    if args.as_of is None:
        return _fail("give --as-of YYYY-MM-DD (or --dictionary)")
    from pipelines.config import Settings

    lake = Settings.from_env().lake_uri
    for as_of in month_ends(args.as_of, args.through or args.as_of):
        uri, rows = build_snapshot(lake, as_of, shards=args.shards)
        print(f"features as of {as_of}: {rows} firms written to {uri}")
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.config import Settings
    from pipelines.report import write_report

    out = args.out or Path(Settings.from_env().lake_uri).parent / "report.html"
    figures = write_report(Settings.from_env(), str(out))
    print(f"report written to {out}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


def _print_table(frame: object, columns: Sequence[str]) -> None:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    if frame.empty:
        print("(none)")
        return
    with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_colwidth", 60):
        print(frame[list(columns)].to_string(index=False))


def cmd_scores(args: argparse.Namespace) -> int:
    from pipelines.config import Settings
    from pipelines.scoring import read_scores

    scores = read_scores(Settings.from_env().lake_uri)
    if args.firm:
        scores = scores[scores["firm_id"] == args.firm]
    cols = [
        "application_id",
        "firm_id",
        "applied_on",
        "as_of",
        "pd",
        "score",
        "grade",
        "reason_1",
        "reason_2",
    ]
    _print_table(scores.sort_values("applied_on").tail(args.limit), cols)
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from pipelines.config import Settings
    from pipelines.monitor import acknowledge, read_alerts
    from pipelines.monitor.alerts import severity_rank

    lake = Settings.from_env().lake_uri
    if args.ack:
        row = acknowledge(lake, args.ack, args.by)
        print(f"alert {args.ack} ({row['rule']} on loan {row['loan_id']}) acknowledged by {args.by}")
        return 0
    alerts = read_alerts(lake)
    if args.open:
        alerts = alerts[alerts["status"] != "resolved"]
    rank = alerts["severity"].map(lambda s: -severity_rank(s))  # most severe first
    alerts = alerts.assign(_o=rank).sort_values(["_o", "opened_on"])
    cols = [
        "alert_id",
        "severity",
        "rule",
        "loan_id",
        "firm_id",
        "manager_id",
        "status",
        "opened_on",
        "updated_on",
    ]
    _print_table(alerts.head(args.limit), cols)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.config import Settings
    from pipelines.monitor import read_alerts
    from pipelines.review import read_reviews
    from pipelines.scoring import read_scores

    lake = Settings.from_env().lake_uri
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("pre_loan_scores", read_scores(lake)),
        ("in_loan_reviews", read_reviews(lake)),
        ("alerts", read_alerts(lake)),
    ):
        for col in frame.columns:  # list columns as semicolon-separated text for spreadsheets
            is_list = frame[col].dtype == object and bool(
                frame[col].map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any()
            )
            if is_list:
                frame[col] = frame[col].map(lambda v: "; ".join(map(str, v)) if v is not None else "")
        path = args.out / f"{name}.csv"
        frame.to_csv(path, index=False)
        print(f"{len(frame)} rows written to {path}")
    return 0


def cmd_ecl(args: argparse.Namespace) -> int:
    from models.registry import RegistryError
    from pipelines.config import Settings
    from pipelines.features import FeatureError, month_end_on_or_before, month_ends
    from pipelines.portfolio import Policy, PortfolioError, assess_months
    from pipelines.portfolio.views import ecl_summary
    from pipelines.scoring import ScoringError

    settings = Settings.from_env()
    last = args.through or args.as_of
    if last < args.as_of:
        return _fail(f"--through {last} is before --as-of {args.as_of}")
    try:
        policy = Policy.load(Settings.from_env().portfolio_policy or None)
        if not args.read_only:
            for row in assess_months(settings, policy, month_ends(args.as_of, last)):
                print(json.dumps(row))
    except (PortfolioError, ScoringError, FeatureError, RegistryError) as exc:
        return _fail(str(exc), 1)
    print(ecl_summary(settings.lake_uri, month_end_on_or_before(last)))
    return 0


def cmd_model_health(args: argparse.Namespace) -> int:
    from pipelines.config import Settings
    from pipelines.features import month_end_on_or_before
    from pipelines.portfolio.views import health_summary

    as_of = month_end_on_or_before(args.as_of) if args.as_of else None
    print(health_summary(Settings.from_env().lake_uri, as_of))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    return run_demo(
        args.out, firms=args.firms, months=args.months, monitor_months=args.monitor_months, seed=args.seed
    )


def _portfolio_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``ecl`` and ``model-health`` (pipelines/portfolio, docs/portfolio.md)."""
    p = sub.add_parser("ecl", help="assess the book: IFRS 9 stages, expected credit loss, movements")
    p.add_argument("--as-of", type=_date, required=True, help="YYYY-MM-DD: the month end on or before it")
    p.add_argument("--through", type=_date, help="YYYY-MM-DD: every month end up to this one, in order")
    p.add_argument("--read-only", action="store_true", help="print what is stored, assess nothing")
    p.set_defaults(func=cmd_ecl)

    p = sub.add_parser("model-health", help="print the models' monthly health (PSI, CSI, calibration)")
    p.add_argument("--as-of", type=_date, help="YYYY-MM-DD: that month (default: the latest assessed)")
    p.set_defaults(func=cmd_model_health)


def cmd_evidence(args: argparse.Namespace) -> int:
    if args.action == "verify":
        return cmd_evidence_verify(args)
    if not args.loan or not args.out:
        return _fail("give --loan LOAN_ID --out DIR to write a pack (or: evidence verify DIR)")
    from datetime import UTC, datetime

    from attestations.errors import PolicyError
    from pipelines.config import Settings
    from pipelines.evidence import EvidenceError, build_packs, load_signing_key, write_pack

    settings = Settings.from_env()
    as_of = args.as_of or datetime.now(UTC).date()
    try:
        key = load_signing_key(settings.evidence_key)
        for _, files in build_packs(settings, key, as_of, [args.loan]):
            digest = write_pack(str(args.out), files)
    except (EvidenceError, PolicyError) as exc:
        return _fail(str(exc), 1)
    print(f"evidence pack of loan {args.loan} written to {args.out} and {args.out}.zip (SHA-256 {digest})")
    return 0


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    from attestations.errors import PolicyError
    from attestations.evidence import PackError, verify_pack
    from attestations.policy import TrustPolicy

    try:
        trust = TrustPolicy.load(args.trust) if args.trust else None
        report = verify_pack(args.pack, trust, args.key_fingerprint)
    except (PolicyError, PackError) as exc:
        return _fail(str(exc))
    for finding in report.findings:
        print(json.dumps(finding.to_dict(), ensure_ascii=False) if args.json else finding.line())
    verdict = f"{len(report.failures())} findings failed" if not report.ok else "every check holds"
    summary = {"pack": str(args.pack), "loan_id": report.loan_id, "ok": report.ok, "records": report.records}
    print(json.dumps(summary) if args.json else f"{'PASS' if report.ok else 'FAIL'} {args.pack}: {verdict}")
    return 0 if report.ok else 1


def _add_evidence(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``evidence --loan LOAN_ID --out DIR`` and ``evidence verify DIR``."""
    p = sub.add_parser("evidence", help="write a defaulted loan's evidence pack, or verify one offline")
    p.add_argument("--loan", metavar="LOAN_ID", help="the defaulted loan")
    p.add_argument("--out", type=Path, metavar="DIR", help="the pack folder to write (and DIR.zip)")
    p.add_argument("--as-of", type=_date, help="YYYY-MM-DD: records sealed by this day (default today)")
    p.set_defaults(func=cmd_evidence, action=None)
    actions = p.add_subparsers(dest="action", metavar="verify", parser_class=_Parser)
    v = actions.add_parser("verify", help="check a pack offline: signature, hashes, quorum, proofs")
    v.add_argument("pack", type=Path, metavar="DIR", help="the pack folder (or its .zip)")
    v.add_argument("--trust", type=Path, help="a trust policy you hold (takes precedence over the pack's)")
    v.add_argument("--key-fingerprint", help="the bank evidence key's sha256:... fingerprint to insist on")
    v.add_argument("--json", action="store_true", help="one JSON object per finding")


def _ledger_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``verify``, ``ingest``, ``simulate``, ``tamper`` and ``healthcheck``: the chain side."""
    p = sub.add_parser("verify", help="verify ledger export bundles against a trust policy")
    p.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE_DIR")
    p.add_argument("--trust", required=True, type=Path, help="trust policy JSON")
    p.add_argument("--state", required=True, type=Path, help="folder for checkpoints and outputs")
    p.add_argument("--json", action="store_true", help="print one JSON object per bundle")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("ingest", help="collect, verify, validate and land pending bundles (no scheduler)")
    p.add_argument("--source", action="append", choices=list(SOURCES))
    p.add_argument("--limit", type=int, default=None, help="at most this many bundles")
    p.add_argument("--max-quality-failure-rate", type=float, default=0.05)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("simulate", help="generate a simulated SME economy with signed ledger exports")
    p.add_argument("--firms", type=int, default=2000)
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hash-alg", default="sha256", choices=["sha256", "sm3"])
    p.add_argument(
        "--out", type=Path, required=True, help="world folder (landing/, bank/, truth/, trust.json)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_simulate)

    from pipelines.simulate.tamper import TAMPERS

    p = sub.add_parser("tamper", help="write a tampered copy of a simulated bundle")
    p.add_argument("bundle", type=Path, metavar="BUNDLE_DIR")
    p.add_argument("dest", type=Path, metavar="DEST_DIR")
    p.add_argument("--how", required=True, choices=sorted(TAMPERS))
    p.add_argument("--world", required=True, type=Path, help="the world the bundle belongs to")
    p.set_defaults(func=cmd_tamper)

    p = sub.add_parser("healthcheck", help="check that the lake root accepts an atomic write")
    p.add_argument("--lake", help="lake URI (default: SMECREDIT_LAKE_URI)")
    p.set_defaults(func=cmd_healthcheck)


def _reading_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``features``, ``report``, ``scores``, ``alerts`` and ``export``: building and reading tables."""
    p = sub.add_parser("features", help="build the feature snapshot of the month ending on or before a date")
    p.add_argument("--as-of", type=_date, help="YYYY-MM-DD: the month end on or before it is built")
    p.add_argument("--through", type=_date, help="YYYY-MM-DD: also build every month end up to this one")
    p.add_argument("--shards", type=int, default=1, help="firm_id hash shards (same rows for any count)")
    p.add_argument("--dictionary", action="store_true", help="print the feature dictionary (Markdown)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("report", help="write the self-contained HTML report for analysts and risk managers")
    p.add_argument("--out", type=Path, help="HTML file (default: report.html beside the lake)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("scores", help="print pre-loan scores")
    p.add_argument("--firm", help="only this firm (its USCC)")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_scores)

    p = sub.add_parser("alerts", help="print post-loan alerts, or acknowledge one")
    p.add_argument("--open", action="store_true", help="only open or acknowledged alerts")
    p.add_argument("--ack", metavar="ALERT_ID", help="acknowledge this alert")
    p.add_argument("--by", default="risk-manager", help="who acknowledges (with --ack)")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("export", help="write the score, review and alert tables to CSV")
    p.add_argument("--out", type=Path, required=True, help="folder for the CSV files")
    p.set_defaults(func=cmd_export)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(prog="smecredit", description="SME credit pipeline on chain-attested records.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    _ledger_commands(sub)
    _reading_commands(sub)
    _portfolio_commands(sub)
    _add_evidence(sub)

    p = sub.add_parser("demo", help="run the main job end to end on generated data")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: demo-output/)")
    p.add_argument(
        "--firms", type=_positive, default=2000, help="firms in the simulated world (default 2000)"
    )
    p.add_argument("--months", type=_positive, default=30, help="months of history (default 30)")
    p.add_argument(
        "--monitor-months",
        type=_positive,
        default=6,
        help="months reviewed and monitored at the end (default 6)",
    )
    p.add_argument("--seed", type=int, default=7, help="the world's random seed (default 7)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smecredit`` console script.

    Exit 0 on success; 2 with a one-line error for bad arguments or an unusable trust policy
    (``AttestationError``); 1 with a one-line error when a step fails (``SmecreditError``, or
    an ``OSError`` reading or writing a file).
    """
    from attestations.errors import AttestationError
    from pipelines.errors import SmecreditError

    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except AttestationError as exc:
        return _fail(str(exc), 2)
    except (SmecreditError, OSError) as exc:
        return _fail(str(exc), 1)
    return code


if __name__ == "__main__":
    sys.exit(main())
