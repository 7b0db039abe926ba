"""Views of a doctor report: a checklist for a terminal, JSON for support and scripts.

Details quote ConnectWise's and Trend's answers, which are untrusted: the text view shows only
printable characters (no terminal escapes, no line breaks that would fake a checklist line).
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.doctor.report import Check, DoctorReport, Status
from reconciler.render.common import counted, sandbox_banner

LABEL = {Status.OK: "ok", Status.WARNING: "warning", Status.BLOCKER: "BLOCKER"}


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in " ".join(str(text).split()))


def summary_line(report: DoctorReport) -> str:
    blockers, warnings = report.count(Status.BLOCKER), report.count(Status.WARNING)
    if blockers:
        return (f"{counted(blockers, 'blocker')}, {counted(warnings, 'warning')}: fix the blockers, then run "
                "`reconcile doctor` again before `reconcile plan`.")
    if warnings:
        return f"No blockers ({counted(warnings, 'warning')} to look at): next, `reconcile plan`."
    return f"All {len(report.checks)} checks passed: next, `reconcile plan`."


def _item(check: Check, width: int) -> list[str]:
    lines = [f"  {LABEL[check.status]:<8} {check.key:<{width}}  {_printable(check.detail)}"]
    if check.fix and not check.ok:
        lines.append(f"  {'':<8} {'':<{width}}  fix: {_printable(check.fix)}")
    return lines


def render_text(report: DoctorReport) -> str:
    trend = (_printable(report.lmpi_url) if report.lmpi_url
             else "not used" if not report.trend_used else "not set (TM_LMPI_URL)")
    lines = [*sandbox_banner(report.sandbox),
             f"reconcile doctor: ConnectWise {_printable(report.connectwise_url)}; Trend LMPI {trend}", ""]
    width = max((len(c.key) for c in report.checks), default=0)
    for check in report.checks:
        lines += _item(check, width)
    lines += ["", summary_line(report)]
    return "\n".join(lines) + "\n"


def to_json(report: DoctorReport) -> dict[str, Any]:
    return {
        "format_version": report.format_version,
        "sandbox": report.sandbox,
        "connectwise_url": report.connectwise_url,
        "lmpi_url": report.lmpi_url or None,
        "trend_used": report.trend_used,
        "ok": not report.blocked,
        "counts": {status.value: report.count(status) for status in Status},
        "checks": [{"key": c.key, "title": c.title, "status": c.status.value, "detail": c.detail,
                    "fix": c.fix or None, "problems": list(c.problems)} for c in report.checks],
    }


def render(report: DoctorReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(to_json(report), indent=2) + "\n"
    return render_text(report)
