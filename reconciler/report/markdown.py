"""The report as Markdown, for CI step summaries and pull-request comments.

Same figures as the HTML (both read `Figures`). GitHub renders HTML inside Markdown, so every
text cell is HTML-escaped as well as pipe-escaped. Mermaid's `xychart-beta` has no legend and
no gaps, so the chart is followed by the line order, and a period with no figure is drawn as 0
there — the table (which shows "—") is the authoritative view.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.render.escape import md_text
from reconciler.report.figures import Figures, Series
from reconciler.report.history import local_time
from reconciler.report.html import ACTION_SIGNS, money_text, summary_items


def _cell(text: str) -> str:
    return md_text(text)


def _mermaid_text(text: str) -> str:
    # Mermaid strings cannot hold a double quote; nothing in a label needs one.
    return " ".join(text.replace('"', "'").split())


def _number(value: int | None) -> str:
    return "—" if value is None else str(value)


def seats_table(
    periods: Sequence[str], series: Sequence[Series], billed_counts: Sequence[int], customers: int
) -> str:
    if not series:
        return "_No seats were billed in these periods._\n"
    lines = [
        "| Period | " + " | ".join(_cell(s.label) for s in series) + " | Customers billed |",
        "|---|" + "---:|" * (len(series) + 1),
    ]
    for i, period in enumerate(periods):
        numbers = " | ".join(_number(s.values[i]) for s in series)
        lines.append(f"| {period} | {numbers} | {billed_counts[i]} of {customers} |")
    return "\n".join(lines) + "\n"


def mermaid_chart(title: str, periods: Sequence[str], series: Sequence[Series], unit: str = "Seats") -> str:
    if not series:
        return ""
    top = max([v for s in series for v in s.values if v is not None], default=0)
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "{_mermaid_text(title)}"',
        "    x-axis [" + ", ".join(f'"{p}"' for p in periods) + "]",
        f'    y-axis "{_mermaid_text(unit)}" 0 --> {max(top, 1)}',
    ]
    lines += ["    line [" + ", ".join(str(v or 0) for v in s.values) + "]" for s in series]
    lines.append("```")
    order = ", ".join(f"{i}. {_cell(s.label)}" for i, s in enumerate(series, start=1))
    return "\n".join(lines) + f"\n\nLines, in order: {order}.\n"


def mrr_section(figures: Figures) -> list[str]:
    """MRR per period (exact, per currency), its chart, and revenue and margin per customer."""
    series = figures.mrr_series()
    if not series:
        return ["_No priced billing yet: prices are recorded with each send._\n"]
    out = ["| Period | MRR |", "|---|---:|"]
    out += [f"| {p} | {_cell(money_text(m or {}))} |" for p, m in zip(figures.periods, figures.mrr)]
    out += ["", mermaid_chart("Monthly recurring revenue (whole units)", figures.periods, series, "Per month")]
    if figures.customers:
        out += ["| Customer | Revenue / month | Margin / month |", "|---|---:|---:|"]
        out += [f"| {_cell(c.name)} | {_cell(money_text(c.revenue))} | {_cell(money_text(c.margin))} |"
                for c in figures.customers]
        out.append("")
    return out


def render_markdown(figures: Figures) -> str:
    scope = f" — {_cell(figures.customer_label(figures.scope))}" if figures.scope else ""
    headline = " · ".join(
        f"{label}: {value}" + (f" ({detail})" if detail else "") for label, value, detail in summary_items(figures)
    )
    out = [
        f"## Billing report {figures.period}{scope}\n",
        headline + "\n",
        f"_Times are in the billing time zone, {_cell(figures.timezone)}; “during” a period means in "
        "that calendar month there._\n",
        "### Monthly recurring revenue\n",
        *mrr_section(figures),
        f"### Seats per product billed for each period, {figures.periods[0]} to {figures.periods[-1]}\n",
        seats_table(figures.periods, figures.series, figures.billed_counts, figures.customer_count),
        mermaid_chart("Seats per product", figures.periods, figures.series),
        f"### Sent during {figures.period}\n",
    ]
    if figures.sends_during:
        out.append(f"| Customer | Kind | For period | Trigger | When ({_cell(figures.timezone)}) |")
        out.append("|---|---|---|---|---|")
        for s in figures.sends_during:
            kind = "executive summary" if s.kind == "summary" else s.kind
            out.append(
                f"| {_cell(figures.customer_label(s.customer))} | {kind} | {s.period} "
                f"| {_cell(s.trigger)} | {local_time(s.ts, figures.timezone)} |"
            )
        out.append("")
    else:
        out.append(f"_Nothing was sent during {figures.period}._\n")
    out.append("### What changed this period\n")
    if figures.changes:
        out.append("| Customer | Product | Agreement | Change | Before → after | Trigger |")
        out.append("|---|---|---|---|---:|---|")
        for c in figures.changes:
            out.append(
                f"| {_cell(figures.customer_label(c.customer))} "
                f"| {_cell(figures.product_label(c.product))} "
                f"| {_cell(c.agreement)} | {_cell(ACTION_SIGNS.get(c.action, c.action))} "
                f"| {_number(c.before)} → {_number(c.after)} | {_cell(c.trigger)} |"
            )
        out.append("")
    else:
        out.append("_No changes were sent this period._\n")
    out.append("### Failures this period\n")
    if figures.failures:
        out.append(f"| Customer | Kind | Trigger | When ({_cell(figures.timezone)}) | Status | Reason |")
        out.append("|---|---|---|---|---|---|")
        for f in figures.failures:
            status = f"{f.status}, resolved by a later send" if f.resolved else f.status
            out.append(
                f"| {_cell(figures.customer_label(f.customer))} "
                f"| {_cell(f.kind)} | {_cell(f.trigger)} "
                f"| {_cell(local_time(f.ts, figures.timezone))} | {_cell(status)} | {_cell(f.error)} |"
            )
        out.append("")
    else:
        out.append("_No failures this period._\n")
    return "\n".join(out)
