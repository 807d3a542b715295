"""The ``smecredit`` command line."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import threading
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
    from pipelines.verify_cli import human_line, is_refused, verify_bundles

    missing = [str(b) for b in args.bundles if not b.is_dir()]
    if missing:
        return _fail(f"not a bundle folder: {', '.join(missing)}")
    policy = TrustPolicy.load(args.trust)
    results = verify_bundles(args.bundles, policy, args.state)
    for result in results:
        print(json.dumps(result.summary(), sort_keys=True) if args.json else human_line(result))
    refused = [f"{r.bundle_id}: {r.bundle_failure[1]}" for r in results if is_refused(r) and r.bundle_failure]
    return _fail(f"refused (bundle_unreadable): {'; '.join(refused)}", 1) if refused else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    import json

    from pipelines.config import Settings
    from pipelines.ingest import IngestConfig, ingest

    if args.progress:
        import logging

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(message)s"))
        logging.getLogger("pipelines.ingest").addHandler(handler)
        logging.getLogger("pipelines.ingest").setLevel(logging.INFO)
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
    if not args.create and not _exists(lake):
        return _fail(f"the lake root {lake} does not exist (give --create to make it)", 1)
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
    if args.through is not None and args.through < args.as_of:
        return _fail(f"--through {args.through} is before --as-of {args.as_of}")
    from pipelines.config import Settings

    settings = Settings.from_env()
    shards = args.shards or settings.feature_shards
    for as_of in month_ends(args.as_of, args.through or args.as_of):
        uri, rows = build_snapshot(settings.lake_uri, as_of, shards=shards)
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
    from pipelines.listing import percent, table_text, whole
    from pipelines.readable import showing
    from pipelines.scoring import read_scores

    scores = read_scores(Settings.from_env().lake_uri)
    if args.firm:
        scores = scores[scores["firm_id"] == args.firm]
        if scores.empty:
            return _fail(f"no pre-loan score for firm {args.firm}", 1)
        print(_firm_scores(scores.sort_values("applied_on")))
        return 0
    cols = ["application_id", "firm_id", "applied_on", "as_of", "pd", "score", "grade"]
    cols += ["reason_1", "reason_2"]
    shown = scores.sort_values("applied_on").tail(args.limit)
    print(table_text(shown, cols, {"pd": percent, "score": whole}))
    print(showing(len(shown), len(scores), "scores, the latest applications") or f"{len(scores):,} scores")
    return 0


def _alerts_listing(alerts: object, limit: int) -> None:
    """The alerts as a table, most severe first, with the last acknowledgement and the
    rule's sentence, and a line saying how many were left out."""
    import pandas as pd

    from pipelines.monitor.alerts import severity_rank
    from pipelines.readable import showing

    assert isinstance(alerts, pd.DataFrame)
    rank = alerts["severity"].map(lambda s: -severity_rank(s))  # most severe first
    frame = alerts.assign(_o=rank).sort_values(["_o", "opened_on", "alert_id"])
    at = pd.to_datetime(frame["acknowledged_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M")
    acked = frame["acknowledged_by"].where(frame["acknowledged_by"].notna(), "")
    frame = frame.assign(last_ack=(acked + " " + at.fillna("")).str.strip().replace("", "-"))
    cols = ["alert_id", "severity", "rule", "loan_id", "status", "opened_on", "last_ack"]
    shown = frame.head(limit).astype({"opened_on": str})
    if shown.empty:
        print("(none)")
        return
    widths = {c: max([len(c), *shown[c].astype(str).map(len)]) for c in cols}
    for i, row in enumerate([dict(zip(cols, cols, strict=True)), *shown.to_dict("records")]):
        print("  ".join(f"{row[c]!s:<{widths[c]}}" for c in cols).rstrip())
        if i:  # the rule's sentence under its alert
            print(f"    {row['description']}")
    note = showing(min(limit, len(frame)), len(frame), "alerts")
    if note:
        print(note)


def _alert_detail(lake: str, alert_id: str) -> int:
    """One alert in full: its sentence, figures, every evidence record, every acknowledgement."""
    from pipelines.monitor import EVIDENCE_CAP, read_acknowledgements, read_alerts
    from pipelines.monitor.digest import evidence_lines

    alerts = read_alerts(lake)
    match = alerts[alerts["alert_id"] == alert_id]
    if match.empty:
        return _fail(f"no alert {alert_id}", 1)
    a = match.iloc[0]
    print(f"alert {a['alert_id']}: {a['severity']} {a['rule']} on loan {a['loan_id']} (firm {a['firm_id']})")
    print(f"  {a['status']}; opened {a['opened_on']}, last seen {a['updated_on']}")
    print(f"  {a['description']}.")
    print(f"  stored figures (money in fen, shares as fractions): {a['figures']}")
    evidence = evidence_lines(json.loads(a["evidence"]), alert_id, shown=EVIDENCE_CAP)
    print(f"  evidence: {evidence.head}")
    for label, value in evidence.items:
        print(f"    {label}  {value}")
    history = read_acknowledgements(lake)
    for h in history[history["alert_id"] == alert_id].itertuples(index=False):
        note = f": {h.note}" if isinstance(h.note, str) and h.note else ""
        print(f"  acknowledged by {h.acknowledged_by} at {h.acknowledged_at:%Y-%m-%d %H:%M} UTC{note}")
    return 0


def _firm_scores(scores: object) -> str:
    """Each of a firm's scores with every reason code the table holds, each with its statement
    (the applicant's own figure against the average applicant), else the dictionary's meaning."""
    import re

    import pandas as pd

    from pipelines.features.catalogue import FEATURES
    from pipelines.listing import percent, whole

    assert isinstance(scores, pd.DataFrame)
    meaning = {f.name: f.description for f in FEATURES}
    reasons = [c for c in scores.columns if re.fullmatch(r"reason_\d+", c)]
    lines = []
    for row in scores.itertuples(index=False):
        r = row._asdict()
        lines.append(
            f"{r['application_id']} by {r['firm_id']} applied {r['applied_on']} "
            f"(features as of {r['as_of']}): score "
            f"{whole(r['score'])}, PD {percent(r['pd'])}, grade {r['grade']} (model {r['model_id']})"
        )
        for k, col in enumerate(reasons, start=1):
            code = r[col]
            if code:
                said = r.get(f"{col}_statement") or meaning.get(code)  # the applicant's own figure
                lines.append(f"  reason {k}: {code}" + (f" -- {said}" if said else ""))
    return "\n".join(lines)


def cmd_alerts(args: argparse.Namespace) -> int:
    from pipelines.config import Settings
    from pipelines.lake import filesystem
    from pipelines.monitor import acknowledge, read_alerts

    settings = Settings.from_env()
    lake = settings.lake_uri
    if not args.ack and (args.by is not None or args.note is not None):
        return _fail("--by and --note go with --ack ALERT_ID")
    if args.ack and not (args.by or "").strip():
        return _fail("--ack needs --by NAME: who acknowledges the alert")
    fs, root = filesystem(lake)
    if not fs.exists(root):
        return _fail(f"no lake at {lake} (SMECREDIT_LAKE_URI)", 1)
    if args.show:
        return _alert_detail(lake, args.show)
    if args.ack:
        row = acknowledge(lake, args.ack, args.by, args.note, state=settings.state_uri)
        print(
            f"alert {args.ack} ({row['rule']} on loan {row['loan_id']}) acknowledged by "
            f"{row['acknowledged_by']} (acknowledgement {row['acknowledgements']} of this alert)"
        )
        return 0
    alerts = read_alerts(lake)
    if args.open:
        alerts = alerts[alerts["status"] != "resolved"]
    _alerts_listing(alerts, args.limit)
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
    if args.pending:
        return cmd_evidence_pending(args)
    if args.rewrite:
        return _fail("--rewrite goes with --pending")
    if not args.loan or not args.out:
        return _fail(
            "give --loan LOAN_ID --out DIR for one loan's pack, or --pending for every defaulted loan's "
            "(or: evidence verify DIR)"
        )
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


def cmd_evidence_pending(args: argparse.Namespace) -> int:
    """``evidence --pending``: what the dispose_defaults DAG does, without a scheduler."""
    if args.loan or args.out:
        return _fail("--pending writes every defaulted loan's pack into the lake: give no --loan or --out")
    from datetime import UTC, datetime

    from attestations.errors import PolicyError
    from pipelines.config import Settings
    from pipelines.evidence import EvidenceError, evidence_root, load_signing_key, write_packs

    missing = _missing(("lake", "bank"))
    if missing:
        return _fail(missing, 1)
    settings = Settings.from_env()
    as_of = args.as_of or datetime.now(UTC).date()
    try:
        done = write_packs(settings, load_signing_key(settings.evidence_key), as_of, args.rewrite)
    except (EvidenceError, PolicyError) as exc:
        return _fail(str(exc), 1)
    root = evidence_root(settings.lake_uri)
    for loan in done["loans"]:
        print(f"{loan}: {root}/{loan}/ and {root}/{loan}.zip")
    print(
        f"{done['written']} evidence pack{'' if done['written'] == 1 else 's'} written as of {as_of} "
        f"({done['packs']} in {root}; the buyer's list: {root}/npl_buyer.csv)"
    )
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
    """``evidence --loan LOAN_ID --out DIR``, ``evidence --pending`` and ``evidence verify DIR``."""
    p = sub.add_parser("evidence", help="write a defaulted loan's evidence pack, or verify one offline")
    p.add_argument("--loan", metavar="LOAN_ID", help="the defaulted loan")
    p.add_argument("--out", type=Path, metavar="DIR", help="the pack folder to write (and DIR.zip)")
    p.add_argument("--as-of", type=_date, help="YYYY-MM-DD: records sealed by this day (default today)")
    p.add_argument(
        "--pending",
        action="store_true",
        help="write the pack of every loan defaulted by --as-of that has none, into <lake>/evidence/ "
        "(as the dispose_defaults DAG), and the buyer's list",
    )
    p.add_argument("--rewrite", action="store_true", help="with --pending: rewrite every pack")
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
    p.add_argument("--limit", type=_positive, default=None, help="at most this many bundles")
    p.add_argument("--max-quality-failure-rate", type=_rate, default=0.05, help="0-1 (default 0.05)")
    p.add_argument("--progress", action="store_true", help="a timestamped line per window on stderr")
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
    p.add_argument("--create", action="store_true", help="create the lake root when it does not exist")
    p.set_defaults(func=cmd_healthcheck)


def _reading_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``features``, ``report``, ``scores``, ``alerts`` and ``export``: building and reading tables."""
    p = sub.add_parser("features", help="build the feature snapshot of the month ending on or before a date")
    p.add_argument("--as-of", type=_date, help="YYYY-MM-DD: the month end on or before it is built")
    p.add_argument("--through", type=_date, help="YYYY-MM-DD: also build every month end up to this one")
    p.add_argument(
        "--shards",
        type=_positive,
        help="firm_id hash shards (same rows for any count; default SMECREDIT_FEATURE_SHARDS)",
    )
    p.add_argument("--dictionary", action="store_true", help="print the feature dictionary (Markdown)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("report", help="write the self-contained HTML report for analysts and risk managers")
    p.add_argument("--out", type=Path, help="HTML file (default: report.html beside the lake)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("scores", help="print pre-loan scores")
    p.add_argument("--firm", help="only this firm (its USCC): every score with all its reasons")
    p.add_argument("--limit", type=_positive, default=50, help="the latest N applications (default 50)")
    p.set_defaults(func=cmd_scores)

    p = sub.add_parser("alerts", help="print post-loan alerts, show one, or acknowledge one")
    p.add_argument("--open", action="store_true", help="only open or acknowledged alerts")
    p.add_argument("--show", metavar="ALERT_ID", help="one alert in full: evidence and acknowledgements")
    p.add_argument("--ack", metavar="ALERT_ID", help="acknowledge this alert (needs --by)")
    p.add_argument("--by", metavar="NAME", help="who acknowledges (required with --ack)")
    p.add_argument("--note", metavar="TEXT", help="what was done, kept with the acknowledgement")
    p.add_argument("--limit", type=_positive, default=50, help="at most this many alerts (default 50)")
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("export", help="write the score, review and alert tables to CSV")
    p.add_argument("--out", type=Path, required=True, help="folder for the CSV files")
    p.set_defaults(func=cmd_export)


def _run_days(args: argparse.Namespace) -> list[date] | str:
    """The days of ``--day``/``--through`` (default: yesterday, as a scheduled run), or the
    one-line reason they are unusable."""
    from datetime import timedelta

    from pipelines import steps

    first = args.day or date.today() - timedelta(days=1)
    if args.through is not None and args.through < first:
        return f"--through {args.through} is before --day {first}"
    return steps.days_from(first, args.through)


def cmd_train(args: argparse.Namespace) -> int:
    from pipelines import steps
    from pipelines.config import Settings
    from pipelines.scoring import ScoringError
    from pipelines.sizing import measure_books

    settings = Settings.from_env()
    params = {
        "oot_share": args.oot_share,
        "min_bads_train": args.min_bads_train,
        "min_bads_oot": args.min_bads_oot,
    }
    print(f"training data: {measure_books(settings.bank_uri, args.oot_share).line()}", flush=True)
    result = steps.train(settings, params)
    thin = " (thin data: trained below the standard thresholds)" if result["thin_data"] else ""
    print(
        f"champion {result['champion']}: out-of-time AUC {result['oot_auc']:.3f} on {result['oot_rows']:,} "
        f"applications, trained on {result['train_rows']:,}{thin}"
    )
    print(f"challenger {result['challenger']}: out-of-time AUC {result['challenger_oot_auc']:.3f}")
    if args.no_behaviour:
        return 0
    try:
        behaviour = steps.train_behaviour(settings, params)
    except ScoringError as exc:  # as the DAG skips its task: the monitor keeps the pre-loan model
        print(f"behaviour model not trained ({exc}); the monitor keeps using the pre-loan model")
        return 0
    print(f"behaviour {behaviour['behaviour']}: out-of-time AUC {behaviour['oot_auc']:.3f}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from pipelines import steps
    from pipelines.config import Settings

    wanted = _run_days(args)
    if isinstance(wanted, str):
        return _fail(wanted)
    settings = Settings.from_env()
    days = steps.scoring_days(settings, wanted)
    scored = steps.score(settings, days)
    print(f"scored {scored:,} applications of {len(days)} days ({days[0]} to {days[-1]}) "
          f"into {settings.lake_uri.rstrip('/')}/scores/pre_loan")  # fmt: skip
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from pipelines import steps
    from pipelines.config import Settings

    days = _run_days(args)
    if isinstance(days, str):
        return _fail(days)
    settings = Settings.from_env()
    counts = steps.review(settings, days)
    print(f"reviewed {counts['reviewed']:,} applications of {counts['days']} days ({days[0]} to {days[-1]}) "
          f"into {settings.lake_uri.rstrip('/')}/reviews/in_loan")  # fmt: skip
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from pipelines import steps
    from pipelines.config import Settings

    days = _run_days(args)
    if isinstance(days, str):
        return _fail(days)
    for summary in steps.monitor(Settings.from_env(), days, args.every_days):
        print(json.dumps(summary))
    if args.no_deliver:
        print("digests left in the outbox (--no-deliver)")
        return 0
    from pipelines.airflow_edge import deliver_outbox

    try:
        counts = deliver_outbox()
    except RuntimeError as exc:  # refused messages stay pending with a backoff
        return _fail(str(exc), 1)
    print("delivered: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def _step_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``train``, ``score``, ``review`` and ``monitor``: the DAGs' steps without a scheduler
    (pipelines/steps.py: the same calls, params and defaults as the DAG tasks)."""
    from pipelines.steps import TRAIN_DEFAULTS

    p = sub.add_parser("train", help="train, validate out of time and register the models (train_models)")
    p.add_argument(
        "--oot-share",
        type=_share,
        default=TRAIN_DEFAULTS["oot_share"],
        help="newest share of applications held out of time, 0.1-0.5 (default 0.3)",
    )
    p.add_argument(
        "--min-bads-train",
        type=_positive,
        default=TRAIN_DEFAULTS["min_bads_train"],
        help="defaults needed in training (default 20)",
    )
    p.add_argument(
        "--min-bads-oot",
        type=_positive,
        default=TRAIN_DEFAULTS["min_bads_oot"],
        help="defaults needed out of time (default 5)",
    )
    p.add_argument("--no-behaviour", action="store_true", help="train the pre-loan models only")
    p.set_defaults(func=cmd_train)
    for name, dag, what, func in (
        ("score", "score_pre_loan", "score the applications of a day or range", cmd_score),
        ("review", "review_in_loan", "review scored applications against the chain and decide", cmd_review),
        ("monitor", "monitor_post_loan", "behaviour scores and alerts; deliver digests", cmd_monitor),
    ):
        p = sub.add_parser(name, help=f"{what} ({dag})")
        p.add_argument("--day", type=_date, help="YYYY-MM-DD: first day (default: yesterday)")
        p.add_argument("--through", type=_date, help="YYYY-MM-DD: last day (default: --day)")
        p.set_defaults(func=func)
    p.add_argument("--every-days", type=_positive, default=1, help="monitor every n-th day of the range")
    p.add_argument("--no-deliver", action="store_true", help="leave the digests in the outbox")  # fmt: skip


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"not a share between 0.1 and 0.5: {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"not a rate between 0 and 1: {text!r}")
    return value


def _exists(uri: str) -> bool:
    from pipelines.lake import filesystem

    fs, path = filesystem(uri)
    return bool(fs.exists(path))


# What each command reads and must find there before it starts (a missing folder is a
# one-line error, never an empty answer).
_NEEDS: dict[str, tuple[str, ...]] = {
    "ingest": ("landing",),
    "features": ("lake",),
    "train": ("lake", "bank"),
    "score": ("lake", "bank"),
    "review": ("lake", "bank"),
    "monitor": ("lake", "bank"),
    "report": ("lake",),
    "scores": ("lake",),
    "alerts": ("lake",),
    "export": ("lake",),
    "ecl": ("lake", "bank"),
    "model-health": ("lake",),
}


def _missing_location(args: argparse.Namespace) -> str | None:
    """Why ``args.command`` cannot start: a location it reads does not exist."""
    needs = _NEEDS.get(args.command, ())
    if not needs or getattr(args, "dictionary", False):
        return None
    return _missing(needs)


def _missing(needs: Sequence[str]) -> str | None:
    """Why a command that reads ``needs`` (``lake``, ``landing``, ``bank``) cannot start."""
    from pipelines.config import ENV_BANK, ENV_LAKE, ENV_LANDING, Settings

    s = Settings.from_env()
    where = {
        "lake": (s.lake_uri, ENV_LAKE, "lake"),
        "landing": (s.landing_uri, ENV_LANDING, "landing zone"),
        "bank": (s.bank_uri, ENV_BANK, "bank's books"),
    }
    for need in needs:
        uri, variable, what = where[need]
        if not _exists(uri):
            return f"the {what} {uri} does not exist (set {variable})"
    return None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(prog="smecredit", description="SME credit pipeline on chain-attested records.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    _ledger_commands(sub)
    _step_commands(sub)
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
    start = getattr(args, "as_of", None) or getattr(args, "day", None)
    through = getattr(args, "through", None)
    if start is not None and through is not None and through < start:
        flag = "--as-of" if getattr(args, "as_of", None) else "--day"
        return _fail(f"--through {through} is before {flag} {start}")
    try:
        missing = _missing_location(args)
        if missing:
            return _fail(missing, 1)
        code: int = args.func(args)
    except AttestationError as exc:
        return _fail(str(exc), 2)
    except (SmecreditError, OSError) as exc:
        return _fail(str(exc), 1)
    return code


def run() -> None:
    """The ``smecredit`` console script: ``main``, its exit handlers, then the process ends
    without the interpreter's teardown. Freeing every module and object after a command that
    imported Great Expectations takes most of a second (0.6-0.9 s per ingest process), and
    nothing is left to save once the other threads have ended (as at any exit: executors are
    told to stop, then every non-daemon thread is joined), the handlers ran and the output is
    flushed (as mypy's ``hard_exit``). A command that raises exits the ordinary way."""
    code = main()
    threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter's exit: threads joined
    atexit._run_exitfuncs()  # logging's flush, and whatever a library registered
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
