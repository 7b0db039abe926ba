"""Views of a drift report: text for a terminal, Markdown for a CI step summary, JSON for tools."""

from __future__ import annotations

import json
from typing import Any

from reconciler.config.model import Customer
from reconciler.drift import (
    DRIFT_FORMAT_VERSION,
    KIND_WORDS,
    KINDS,
    ChangeKind,
    DriftReport,
    Finding,
    FindingKind,
)
from reconciler.money import show
from reconciler.render.common import RenderOptions, cell, sandbox_banner
from reconciler.render.escape import plain_line

SYMBOL = {FindingKind.CHANGED: "~", FindingKind.UNMANAGED: "?", FindingKind.UNMAPPED_PRODUCT: "?",
          FindingKind.UNRESOLVED: "!", FindingKind.UNKNOWN_CUSTOMER: "?"}
AT_CATALOG_PRICE = (FindingKind.UNKNOWN_CUSTOMER, FindingKind.UNMAPPED_PRODUCT)  # usage nobody bills


def summary_line(report: DriftReport) -> str:
    counts = report.counts()
    if not report.drifted:
        return "No drift: ConnectWise matches the ledger, and the config covers all usage."
    shown = [k for k in KINDS if k != FindingKind.UNRESOLVED or counts[k]]
    parts = [f"{counts[k]} {KIND_WORDS[k][0 if counts[k] == 1 else 1]}" for k in shown]
    return "Drift: " + ", ".join(parts) + "."


def _money_note(finding: Finding) -> str:
    if finding.monthly is None:
        return ""
    verb = {FindingKind.UNKNOWN_CUSTOMER: "unbilled", FindingKind.UNMAPPED_PRODUCT: "unbilled",
            FindingKind.UNMANAGED: "billed, unmanaged"}
    label = verb.get(finding.kind, "per month" if finding.change != ChangeKind.QUANTITY else "changed by hand")
    amount = show(finding.monthly, finding.currency, signed=finding.change == ChangeKind.QUANTITY)
    return f"  [{amount}/mo {label}{', at catalog price' if finding.kind in AT_CATALOG_PRICE else ''}]"


def leakage_line(report: DriftReport) -> str | None:
    """The figure an owner reads first: what drift is worth per month, per currency."""
    leak = report.leakage()
    if not leak:
        return None
    parts = [show(amount, currency) for currency, amount in sorted(leak.items(), key=lambda item: item[0] or "")]
    return f"Revenue leakage: {', '.join(parts)} per month (usage nobody bills, and additions no mapping manages)."


def _groups(report: DriftReport) -> list[tuple[str, list[Finding]]]:
    groups: dict[str, list[Finding]] = {}
    for finding in report.findings:
        title = (f"{finding.customer} (ConnectWise {finding.psa_company})" if finding.customer
                 else "Trend customers with usage but no customer file")
        groups.setdefault(title, []).append(finding)
    return list(groups.items())


def _baseline_note(customer: Customer) -> str:
    suffix = " (billing disabled)" if not customer.billing.enabled else ""
    return f"{customer.slug}{suffix}"


def render_text(report: DriftReport, options: RenderOptions = RenderOptions()) -> str:
    lines: list[str] = sandbox_banner(report.sandbox)
    for title, findings in _groups(report):
        lines.append(f"# {title}")
        lines += [f"  {SYMBOL[f.kind]} {f.message}{_money_note(f)}" for f in findings]
        lines.append("")
    if report.not_yet_sent:
        lines.append("# not yet sent; no baseline: " + ", ".join(_baseline_note(c) for c in report.not_yet_sent))
    lines += [f"# warning: {w}" for w in report.warnings]
    if report.not_yet_sent or report.warnings:
        lines.append("")
    lines.append(summary_line(report))
    leak = leakage_line(report)
    if leak:
        lines.append(leak)
    return "\n".join(plain_line(line) for line in lines) + "\n"  # ConnectWise text cannot forge a line


def _side(record: dict[str, Any] | None) -> str:
    if not record:
        return ""
    return f"{record.get('quantity')} on {record.get('agreement')}"


MARKER = "<!-- reconcile-drift -->"


def render_markdown(report: DriftReport, options: RenderOptions = RenderOptions()) -> str:
    out = [MARKER, "## reconcile drift", ""]
    if report.sandbox:
        out += ["> **Checked against the embedded sandbox**, not ConnectWise.", ""]
    out += [f"**{summary_line(report)}**", ""]
    leak = leakage_line(report)
    if leak:
        out += [f"**{cell(leak)}**", ""]
    if report.findings:
        out += ["| customer | finding | product | addition | ledger | ConnectWise | per month | details |",
                "|---|---|---|---|---|---|---:|---|"]
        for f in report.findings:
            finding = f.kind.replace("_", " ") + (f" ({f.change})" if f.change else "")
            out.append(f"| {cell(f.customer or f.trend_customer_id)} | {finding} | {cell(f.product)} | "
                       f"{cell(f.addition_id)} | {cell(_side(f.ledger))} | {cell(_side(f.connectwise))} | "
                       f"{'' if f.monthly is None else cell(show(f.monthly, f.currency))} | {cell(f.message)} |")
        out.append("")
    if report.not_yet_sent:
        names = ", ".join(_baseline_note(c) for c in report.not_yet_sent)
        out += [f"<details><summary>{len(report.not_yet_sent)} customer(s) not yet sent; no baseline</summary>",
                "", names, "", "</details>", ""]
    out += [f"- :warning: {cell(w)}" for w in report.warnings]
    return "\n".join(out).rstrip() + "\n"


def drift_to_json(report: DriftReport) -> dict[str, Any]:
    return {
        "format_version": DRIFT_FORMAT_VERSION,
        "sandbox": report.sandbox,
        "ledger": report.ledger,
        "usage_source": report.usage_source,
        "drifted": report.drifted,
        "counts": report.counts(),
        "leakage": {(currency or "unknown"): str(amount) for currency, amount in report.leakage().items()},
        "findings": [f.as_json() for f in report.findings],
        "not_yet_sent": [{"customer": c.slug, "connectwise_company": c.psa_company,
                          "billing_enabled": c.billing.enabled} for c in report.not_yet_sent],
        "warnings": report.warnings,
    }


def render_json(report: DriftReport, options: RenderOptions = RenderOptions()) -> str:
    return json.dumps(drift_to_json(report), indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def render(report: DriftReport, fmt: str, options: RenderOptions = RenderOptions()) -> str:
    return RENDERERS[fmt](report, options)
