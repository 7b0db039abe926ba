"""The report as Markdown, for CI step summaries and pull-request comments.

Same figures as the HTML (both read `Figures`). GitHub renders HTML inside Markdown, so every
text cell is HTML-escaped as well as pipe-escaped. Mermaid's `xychart-beta` has no legend and
no gaps, so the chart is followed by the line order, starts at the first period with a figure,
and leaves out (and names) a series with a gap after that rather than draw a 0 that never was;
the table (which shows "—") is the authoritative view.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.ledger import SendKind
from reconciler.render.escape import md_text
from reconciler.report.figures import Figures, Series
from reconciler.report.history import Failure, local_time
from reconciler.report.html import ACTION_SIGNS, money_text, problem_status, summary_items


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
    """A Mermaid `xychart-beta` line chart. Mermaid cannot draw a gap (a period with no figure),
    and drawing 0 there would show a fall that did not happen: the chart starts at the first
    period with a figure, and a series with a gap after that is left out and named below it
    (the table above holds every figure)."""
    first = min((i for s in series for i, v in enumerate(s.values) if v is not None), default=None)
    if first is None:
        return ""
    drawn = [s for s in series if all(v is not None for v in s.values[first:])]
    left_out = [s for s in series if s not in drawn]
    note = (f"\n_Not drawn, because they have periods with no figure (a gap, not 0; see the table): "
            f"{', '.join(_cell(s.label) for s in left_out)}._\n" if left_out else "")
    if not drawn:
        return note.lstrip("\n")
    top = max(v for s in drawn for v in s.values[first:] if v is not None)
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "{_mermaid_text(title)}"',
        "    x-axis [" + ", ".join(f'"{p}"' for p in periods[first:]) + "]",
        f'    y-axis "{_mermaid_text(unit)}" 0 --> {max(top, 1)}',
    ]
    lines += ["    line [" + ", ".join(str(v) for v in s.values[first:]) + "]" for s in drawn]
    lines.append("```")
    order = ", ".join(f"{i}. {_cell(s.label)}" for i, s in enumerate(drawn, start=1))
    return "\n".join(lines) + f"\n\nLines, in order: {order}.\n" + note


def mrr_section(figures: Figures) -> list[str]:
    """MRR per period (exact, per currency), its chart, and revenue and margin per customer."""
    series = figures.mrr_series()
    if not series:
        return ["_No priced billing yet: prices are recorded with each send._\n"]
    out = ["| Period | MRR |", "|---|---:|"]
    out += [f"| {p} | {_cell(money_text(m or {}))} |" for p, m in zip(figures.periods, figures.mrr)]
    out.append("")  # one chart per currency, each on its own axis
    out += [mermaid_chart(f"Monthly recurring revenue in {s.product} (whole units)", figures.periods, (s,),
                          f"{s.product} per month") for s in series]
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
            kind = "executive summary" if s.kind == SendKind.SUMMARY else s.kind
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
    out.append("### Problems this period\n")
    out += _problems(figures, figures.failures, "No problems this period.")
    out.append(f"### Unresolved problems, every period up to {figures.period}\n")
    out += _problems(figures, figures.unresolved, "No unresolved problems.")
    return "\n".join(out)


def _problems(figures: Figures, failures: Sequence[Failure], empty: str) -> list[str]:
    if not failures:
        return [f"_{empty}_\n"]
    out = [f"| Customer | For period | Kind | Trigger | When ({_cell(figures.timezone)}) | Problem | Reason |",
           "|---|---|---|---|---|---|---|"]
    for f in failures:
        out.append(
            f"| {_cell(figures.customer_label(f.customer))} | {_cell(f.period)} "
            f"| {_cell(f.kind)} | {_cell(f.trigger)} "
            f"| {_cell(local_time(f.ts, figures.timezone))} | {_cell(problem_status(f, figures.timezone))} "
            f"| {_cell(f.error)} |"
        )
    out.append("")
    return out
