"""The HTML body of a risk manager's digest: one column that wraps at any width, inline
styles only (mail clients drop style sheets), no preformatted text; long hashes break
anywhere rather than run off the edge."""

from __future__ import annotations

import html
import json
from typing import Any

from pipelines.monitor.alerts import severity_rank
from pipelines.monitor.digest import FOOTER, Digest, LoanGroup, ack_command, evidence_lines, loan_facts

_COLOURS = {"critical": "#b3261e", "warning": "#9a5b00", "info": "#4a5568"}
_BODY = "font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.45;color:#1a1a1a;"
_CODE = (
    "font-family:Menlo,Consolas,monospace;font-size:12px;overflow-wrap:anywhere;"
    "background:#f3f4f6;padding:1px 3px;"
)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _badge(severity: str) -> str:
    colour = _COLOURS.get(severity, "#4a5568")
    return (
        f'<span style="background:{colour};color:#fff;font-size:12px;font-weight:bold;'
        f'padding:1px 6px;border-radius:3px;">{_e(severity.upper())}</span>'
    )


def _alert(digest: Digest, alert: dict[str, Any], event: str) -> str:
    ev = evidence_lines(json.loads(alert["evidence"]), alert["alert_id"])
    evidence = "".join(
        f'<li style="margin:2px 0;">{_e(label)}<br><code style="{_CODE}">{_e(value)}</code></li>'
        for label, value in ev.items
    )
    if ev.more:
        evidence += f'<li style="margin:2px 0;list-style:none;color:#555;">{_e(ev.more)}</li>'

    step = digest.next_steps.get(alert["rule"], "see the rule catalogue")
    return (
        '<div style="margin:12px 0 0 0;padding:8px 0 0 10px;border-left:3px solid '
        f'{_COLOURS.get(alert["severity"], "#4a5568")};">'
        f'<p style="margin:0;">{_badge(alert["severity"])} <b>{_e(alert["rule"])}</b> '
        f'<span style="color:#555;">({_e(event)}; alert <code style="{_CODE}">{_e(alert["alert_id"])}</code>)'
        "</span></p>"
        f'<p style="margin:4px 0;">{_e(alert["description"])}.</p>'
        f'<p style="margin:4px 0;"><b>Next step:</b> {_e(step)}</p>'
        f'<p style="margin:4px 0 0 0;"><b>Evidence:</b> {_e(ev.head)}</p>'
        + (f'<ul style="margin:2px 0 4px 0;padding-left:20px;">{evidence}</ul>' if evidence else "")
        + f'<p style="margin:4px 0;"><b>Acknowledge:</b> <code style="{_CODE}">'
        f"{_e(ack_command(alert['alert_id'], digest.recipient.name))}</code></p></div>"
    )


def _loan(digest: Digest, n: int, group: LoanGroup) -> str:
    worst = max(group.alerts, key=lambda x: severity_rank(x[0]["severity"]))
    facts = "".join(
        f'<tr><td style="padding:1px 12px 1px 0;color:#555;vertical-align:top;">{_e(label)}</td>'
        f'<td style="padding:1px 0;overflow-wrap:anywhere;">{_e(value)}</td></tr>'
        for label, value in loan_facts(group.loan, digest.recipient.name)
    )
    alerts = "".join(_alert(digest, a, event) for a, event in group.alerts)
    return (
        '<div style="margin:0 0 18px 0;padding:12px;border:1px solid #d9dce1;border-radius:6px;">'
        f'<h2 style="font-size:17px;margin:0 0 6px 0;">{n}. Loan {_e(group.loan["loan_id"])} '
        f"{_badge(worst[0]['severity'])}</h2>"
        f'<table style="border-collapse:collapse;font-size:14px;">{facts}</table>{alerts}</div>'
    )


def _calls(digest: Digest) -> str:
    """The loans to call today (those with a critical alert), before the loans in full."""
    lines = "".join(f'<li style="margin:2px 0;">{_e(line)}</li>' for line in digest.calls())
    if not lines:
        return ""
    return (
        '<div style="margin:0 0 16px 0;padding:8px 12px;background:#fdecea;border-radius:6px;">'
        f'<b>Call today</b><ul style="margin:4px 0 0 0;padding-left:4px;list-style:none;">{lines}</ul></div>'
    )


def render(digest: Digest) -> str:
    """The digest as an HTML document."""
    loans = "".join(_loan(digest, n, g) for n, g in enumerate(digest.loans, 1))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(digest.subject)}</title></head>"
        f'<body style="margin:0;padding:12px;{_BODY}"><div style="max-width:680px;margin:0 auto;">'
        '<h1 style="font-size:20px;margin:0 0 4px 0;">'
        f"Early-warning digest for {_e(digest.recipient.name)}</h1>"
        f'<p style="margin:0 0 4px 0;color:#555;">{_e(digest.day.isoformat())}</p>'
        f'<p style="margin:0 0 14px 0;">{_e(digest.summary())}</p>{_calls(digest)}{loans}'
        f'<p style="font-size:13px;color:#555;">{_e(FOOTER)}</p>'
        "</div></body></html>"
    )
