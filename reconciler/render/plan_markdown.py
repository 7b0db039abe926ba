"""Markdown view of a plan, for pull-request comments and CI step summaries.

Each customer with changes gets a collapsible block, so a plan over hundreds of customers stays
under GitHub's comment and summary limits; the summary line and failures stay visible.
"""

from __future__ import annotations

from reconciler.money import show
from reconciler.plan import CustomerStatus, Plan
from reconciler.render.common import RenderOptions, cell, counted
from reconciler.render.escape import code_line, md_text
from reconciler.render.plan_text import (
    change_line,
    customer_header,
    failed_customers,
    money_lines,
    monthly_line,
    not_read_line,
    run_safety_lines,
    summary_line,
    usage_line,
)

MARKER = "<!-- reconcile-plan -->"


def money_table(plan: Plan) -> list[str]:
    """The first table a billing admin reads: every due change's monthly effect, largest first
    (by absolute amount), then the totals per currency (never added across currencies)."""
    rows = [(cp, c, c.money) for cp in plan.customers for c in cp.changes
            if c.money is not None and c.money.known and cp.change_due(c)]
    if not rows:
        return []
    rows.sort(key=lambda row: (-abs(row[2].delta), row[0].customer))
    out = ["| customer | change | monthly before | after | difference |", "|---|---|---:|---:|---:|"]
    for cp, c, m in rows:
        what = f"{c.action} {c.product} on {c.agreement.label}"
        out.append(f"| {cell(cp.customer)} | {cell(what)} | {show(m.before, m.currency)} | {show(m.after, m.currency)} "
                   f"| **{show(m.delta, m.currency, signed=True)}** |")
    out += ["", *(f"**{line}**" for line in money_lines(plan)), ""]
    return out


def render_markdown(plan: Plan, options: RenderOptions = RenderOptions()) -> str:  # the table lists every customer
    out = [MARKER, "## reconcile plan", ""]
    if plan.sandbox:
        out += ["> **Planned against the embedded sandbox** (`--sandbox`), not your ConnectWise: the numbers "
                "are demo data and the changes are illustrative. Pull requests from forks plan this way, "
                "because GitHub gives them no secrets.", ""]
    if usage_line(plan):
        out += [cell(usage_line(plan)), ""]
    out += money_table(plan)
    out.append(f"**{summary_line(plan)}**" if plan.has_changes else "**No changes due.**")
    out += [f"**{cell(line)}**" for line in run_safety_lines(plan)]
    failed = failed_customers(plan)
    if failed:  # never let "no changes" read as "all is well"
        out.append("")
        out.append(f"**:x: {counted(len(failed), 'customer')} failed or unsafe: "
                   f"{cell(', '.join(failed))}.** Their changes are not known; see the reasons below.")
    out += ["", "| customer | ConnectWise | status | changes | reason |", "|---|---|---|---|---|"]
    for cp in plan.customers:
        status = customer_header(cp).rsplit(": ", 1)[1]
        out.append(f"| {cell(cp.customer)} | {cell(cp.psa_company)} | {status} | {len(cp.changes)} | {cell(cp.reason)} |")
    out.append("")
    for cp in plan.customers:
        if not cp.changes and not cp.notes:
            continue
        out += [f"<details><summary>{md_text(cp.customer)}: {len(cp.changes)} change(s)</summary>", "", "```diff"]
        held = "   (unsafe: sent only with --force)" if cp.due and cp.status == CustomerStatus.UNSAFE else "   (not due yet)"
        out += [code_line(change_line(c).strip()) + ("" if cp.change_due(c) else held) for c in cp.changes]
        monthly = monthly_line(cp)
        out += [code_line(f"# {monthly}")] if monthly else []
        out += [code_line(f"# invoice: {w}") for w in cp.invoice_warnings]
        out += [code_line(f"# note: {n}") for n in cp.notes]
        out += ["```", "", "</details>", ""]
    for trend_id, products in plan.unknown_usage_customers.items():
        listed = ", ".join(f"{p}={q}" for p, q in products.items())
        out.append(f"- :warning: Trend customer {md_text(trend_id)} has usage ({md_text(listed)}) but no customer file")
    for warning in plan.warnings:
        out.append(f"- :warning: {cell(warning)}")
    unread = not_read_line(plan)
    if unread:
        out.append(f"- {cell(unread)}")
    return "\n".join(out).rstrip() + "\n"
