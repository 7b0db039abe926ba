"""The HTML report: `index.html` (the MSP) and `customers/<slug>.html` (one per customer).

Pages are self-contained files meant to be opened from disk, attached to a ticket or kept as a
CI artifact: inline CSS, inline SVG, no JavaScript, no fonts, and a Content-Security-Policy
that forbids every fetch so a future edit cannot quietly add one. All text from the ledger or
the config goes through `html.escape`. There is no "generated at" clock: the same ledger gives
byte-identical pages, so reports can be diffed and cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from reconciler.ledger import SendKind, Trigger
from reconciler.money import show
from reconciler.report.figures import CustomerFigures, Figures, Series
from reconciler.report.history import Change, Failure, FailureStatus, Send, local_time
from reconciler.report.markup import escape
from reconciler.report.svg import line_chart

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a;
       background: #fff; margin: 0 auto; padding: 1.5rem; max-width: 72rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; }
.meta { color: #555; margin: 0 0 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: .25rem; }
th, td { border: 1px solid #bbb; padding: .25rem .6rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; }
thead th { background: #f0f0f0; }
td.none { color: #666; text-align: center; }
th[scope="row"], td.ts, td.num, td.action { white-space: nowrap; }
.summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .5rem;
           margin: 1rem 0; padding: 0; }
.summary div { border: 1px solid #bbb; border-radius: 4px; padding: .5rem .75rem; }
.summary dt { color: #555; font-size: .85rem; } .summary dd { margin: 0; font-size: 1.4rem; }
.summary small { color: #555; font-size: .8rem; display: block; }
nav.periods { margin: .5rem 0; }
figure { margin: 0 0 1rem; } figcaption { font-weight: 600; margin-bottom: .25rem; }
svg.chart { width: 100%; height: auto; max-width: 960px; display: block; }
svg.chart text { font: 12px system-ui, sans-serif; fill: #1a1a1a; }
svg.chart .tick { stroke: #ddd; stroke-width: 1; }
svg.chart .ylabel { text-anchor: end; dominant-baseline: middle; }
svg.chart .xlabel, svg.chart .empty { text-anchor: middle; }
svg.chart .legendlabel { dominant-baseline: middle; }
svg.chart .line { fill: none; stroke-width: 2.5; }
svg.chart .point { stroke: #1a1a1a; stroke-width: .8; }
.failed { font-weight: 600; } .resolved { color: #555; }
a { color: #0a58a8; }
@media print {
  body { padding: 0; max-width: none; font-size: 11pt; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  figure, table, .summary { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  nav { display: none; }
}
"""

ACTION_SIGNS = {"create": "+ create", "update": "~ update", "cancel": "- cancel"}


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _section(heading: str, content: str) -> str:
    return f"<section><h2>{escape(heading)}</h2>{content}</section>\n"


def _number(value: int | None) -> str:
    return "—" if value is None else str(value)


def _seats_table(
    caption: str,
    periods: Sequence[str],
    series: Sequence[Series],
    billed_counts: Sequence[int] | None = None,
    customer_count: int = 0,
) -> str:
    """Rows are periods, columns products; with `billed_counts`, a last column says how many
    customers the period's totals cover, so a dip caused by a failed send is not read as churn."""
    if not series:
        return f"<p>{escape(caption)}: no seats were billed in these periods.</p>"
    head = "".join(f'<th scope="col" class="num">{escape(s.label)}</th>' for s in series)
    if billed_counts is not None:
        head += '<th scope="col" class="num">Customers billed</th>'
    rows = []
    for i, period in enumerate(periods):
        cells = "".join(
            f'<td class="{"none" if s.values[i] is None else "num"}" '
            f'data-product="{escape(s.product)}" data-period="{escape(period)}">'
            f"{_number(s.values[i])}</td>"
            for s in series
        )
        if billed_counts is not None:
            cells += f'<td class="num billed">{billed_counts[i]} of {customer_count}</td>'
        rows.append(f'<tr><th scope="row">{escape(period)}</th>{cells}</tr>')
    return (
        f'<table class="seats"><caption>{escape(caption)}</caption>'
        f'<thead><tr><th scope="col">Period</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _chart(
    chart_id: str, title: str, figures: Figures, series: Sequence[Series], msp: bool = False
) -> str:
    table = _seats_table(
        f"{title} (table)",
        figures.periods,
        series,
        figures.billed_counts if msp else None,
        figures.customer_count,
    )
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f"{line_chart(chart_id, title, figures.periods, series)}</figure>{table}"
    )


def _changes_table(figures: Figures, changes: Sequence[Change], with_customer: bool) -> str:
    if not changes:
        return "<p>No changes were sent this period.</p>"
    head = ('<th scope="col">Customer</th>' if with_customer else "") + (
        '<th scope="col">Product</th><th scope="col">Agreement</th><th scope="col">Change</th>'
        '<th scope="col" class="num">Before → after</th><th scope="col">Trigger</th>'
        f'<th scope="col">When ({escape(figures.timezone)})</th>'
    )
    rows = []
    for c in changes:
        customer = f"<td>{escape(figures.customer_label(c.customer))}</td>" if with_customer else ""
        rows.append(
            f'<tr class="change" data-customer="{escape(c.customer)}" '
            f'data-product="{escape(c.product)}">'
            f"{customer}<td>{escape(figures.product_label(c.product))}</td>"
            f"<td>{escape(c.agreement)}</td>"
            f"<td class='action'>{escape(ACTION_SIGNS.get(c.action, c.action))}</td>"
            f'<td class="num">{_number(c.before)} → {_number(c.after)}</td>'
            f"<td>{escape(c.trigger)}</td><td class='ts'>{escape(local_time(c.ts, figures.timezone))}</td></tr>"
        )
    body = "".join(rows)
    return f'<table class="changes"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


PROBLEM_WORDS = tuple(FailureStatus)


def problem_status(failure: Failure, timezone: str) -> str:
    """`missed, reported by 3 runs (last 2026-11-03 05:17 CST), unresolved`: what it is, how long
    it stood, and whether a later send resolved it (shared with the Markdown view)."""
    text = str(failure.status)
    if failure.runs > 1 and failure.last_ts:
        text += f", reported by {failure.runs} runs (last {local_time(failure.last_ts, timezone)})"
    return text + (", resolved by a later send" if failure.resolved else ", unresolved")


def _failures_table(figures: Figures, failures: Sequence[Failure], with_customer: bool,
                    empty: str = "No problems this period.", with_period: bool = False) -> str:
    if not failures:
        return f"<p>{escape(empty)}</p>"
    head = ('<th scope="col">Customer</th>' if with_customer else "") + (
        ('<th scope="col">For period</th>' if with_period else "")
        + '<th scope="col">Kind</th><th scope="col">Trigger</th>'
        f'<th scope="col">When ({escape(figures.timezone)})</th>'
        '<th scope="col">Problem</th><th scope="col">Reason</th>'
    )
    rows = []
    for f in failures:
        customer = f"<td>{escape(figures.customer_label(f.customer))}</td>" if with_customer else ""
        period = f"<td>{escape(f.period)}</td>" if with_period else ""
        rows.append(
            f'<tr class="failure {"resolved" if f.resolved else "failed"}" data-status="{escape(f.status)}" '
            f'data-customer="{escape(f.customer)}" data-period="{escape(f.period)}">{customer}{period}'
            f"<td>{escape(f.kind)}</td>"
            f"<td>{escape(f.trigger)}</td><td class='ts'>{escape(local_time(f.ts, figures.timezone))}</td>"
            f"<td>{escape(problem_status(f, figures.timezone))}</td><td>{escape(f.error)}</td></tr>"
        )
    body = "".join(rows)
    return f'<table class="failures"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _sends_table(
    figures: Figures, sends: Sequence[Send], empty: str, with_customer: bool = False
) -> str:
    """Sends with the period each was *for* and the time it was made (billing time zone)."""
    if not sends:
        return f"<p>{escape(empty)}</p>"
    rows = "".join(
        f'<tr class="send" data-customer="{escape(s.customer)}" data-kind="{escape(s.kind)}" '
        f'data-for="{escape(s.period)}">'
        + (f"<td>{escape(figures.customer_label(s.customer))}</td>" if with_customer else "")
        + f"<td>{escape('executive summary' if s.kind == SendKind.SUMMARY else s.kind)}</td>"
        f"<td>{escape(s.period)}</td>"
        f'<td>{escape(s.trigger)}</td><td class="ts">{escape(local_time(s.ts, figures.timezone))}</td>'
        f"<td>{escape('' if s.report_id is None else str(s.report_id))}</td></tr>"
        for s in sends
    )
    customer = '<th scope="col">Customer</th>' if with_customer else ""
    return (
        f'<table class="sends"><thead><tr>{customer}<th scope="col">Kind</th>'
        '<th scope="col">For period</th><th scope="col">Trigger</th>'
        f'<th scope="col">When ({escape(figures.timezone)})</th><th scope="col">Report id</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def money_text(amounts: dict[str | None, Decimal], signed: bool = False) -> str:
    """`$1,234.50 · €72.50`: per currency, never added together."""
    if not amounts:
        return "—"
    return " · ".join(show(amount, currency, signed) for currency, amount in
                      sorted(amounts.items(), key=lambda item: item[0] or ""))


def summary_items(figures: Figures) -> list[tuple[str, str, str]]:
    """(label, value, detail) of the headline, shared with the Markdown view."""
    period = figures.period
    catch_up = figures.billed - figures.billed_for
    unresolved = sum(1 for f in figures.failures if not f.resolved)
    summaries_for = figures.count_sends(SendKind.SUMMARY)
    return [
        ("Monthly recurring revenue", money_text(figures.mrr_now),
         f"this period: {money_text(figures.mrr_more, True)} more billed, "
         f"{money_text(figures.mrr_less, True)} less billed"),
        ("Customers billed", f"{len(figures.billed)} of {figures.customer_count}",
         f"{len(figures.billed_for)} for {period}, {len(catch_up)} for an earlier period during {period}"),
        ("Billing sends during the period", str(figures.count_during(SendKind.BILLING)),
         f"{figures.count_during(SendKind.BILLING, Trigger.SCHEDULED)} scheduled, "
         f"{figures.count_during(SendKind.BILLING, Trigger.MANUAL)} manual"),
        ("Executive summaries sent during the period", str(figures.count_during(SendKind.SUMMARY)),
         f"{summaries_for} for {period}"),
        ("Problems this period (unresolved)", f"{len(figures.failures)} ({unresolved})",
         f"{len(figures.unresolved)} unresolved in all periods up to {period} "
         f"({', '.join(PROBLEM_WORDS)}, with no later send)"),
    ]


def _summary(figures: Figures) -> str:
    cells = "".join(
        f'<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd><small>{escape(d)}</small></div>'
        for k, v, d in summary_items(figures)
    )
    return f'<dl class="summary">{cells}</dl>'


def _period_nav(figures: Figures, prefix: str, home: str | None) -> str:
    """Links to the neighbouring periods' pages (and back to the report's main page)."""
    links = []
    if figures.previous_period:
        p = figures.previous_period
        links.append(f'<a rel="prev" href="{prefix}{escape(p)}.html">← {escape(p)}</a>')
    if home:
        links.append(f'<a href="{home}">Report home</a>')
    if figures.next_period:
        p = figures.next_period
        links.append(f'<a rel="next" href="{prefix}{escape(p)}.html">{escape(p)} →</a>')
    return f'<nav class="periods">{" · ".join(links)}</nav>\n' if links else ""


def _meta(figures: Figures) -> str:
    latest = (
        f", latest {escape(local_time(figures.latest_ts, figures.timezone))}"
        if figures.latest_ts else ""
    )
    return (
        f'<p class="meta">Billing period {escape(figures.period)}; history '
        f"{escape(figures.periods[0])} to {escape(figures.periods[-1])}. "
        f"Read from {figures.record_count} ledger records{latest}. Times are in the billing "
        f"time zone, {escape(figures.timezone)}; “during” a period means in that calendar "
        "month there.</p>"
    )


def render_index(figures: Figures, prefix: str = "periods/", home: str | None = None) -> str:
    scope = f" — {figures.customer_label(figures.scope)}" if figures.scope else ""
    customer_rows = []
    for c in figures.customers:
        current = c.current
        total = sum(h.quantity for h in current.holdings.values()) if current else None
        last = f"{current.period} ({current.trigger})" if current else "never"
        customer_rows.append(
            f'<tr><td><a href="customers/{escape(c.file_slug)}.html">{escape(c.name)}</a></td>'
            f'<td>{escape(c.company)}</td><td class="num">{_number(total)}</td>'
            f'<td class="num">{escape(money_text(c.revenue))}</td><td class="num">{escape(money_text(c.margin))}</td>'
            f"<td>{escape(last)}</td></tr>"
        )
    customers = (
        '<table class="customers"><thead><tr><th scope="col">Customer</th>'
        '<th scope="col">ConnectWise company</th><th scope="col" class="num">Seats (latest)</th>'
        '<th scope="col" class="num">Revenue / month</th><th scope="col" class="num">Margin / month</th>'
        '<th scope="col">Last billed</th></tr></thead>'
        f"<tbody>{''.join(customer_rows)}</tbody></table>"
        if customer_rows
        else ("<p>The ledger has no customers yet.</p>" if figures.customer_count == 0 else
              f'<p>Customer pages are written for the report period; see <a href="{home}">'
              "the report home</a>.</p>")
    )
    chart = _chart("seats-msp", "Seats per product, last 12 periods", figures, figures.series, True)
    mrr_series = figures.mrr_series()
    mrr_rows = "".join(
        f'<tr><th scope="row">{escape(p)}</th><td class="num">{escape(money_text(m or {}))}</td></tr>'
        for p, m in zip(figures.periods, figures.mrr)
    )
    # One chart per currency, each with its own axis: amounts in two currencies share no scale.
    mrr_charts = "".join(
        f"<figure><figcaption>Monthly recurring revenue in {escape(s.product)}, last 12 periods</figcaption>"
        f"{line_chart(f'mrr-msp-{n}', f'Monthly recurring revenue in {s.product}, last 12 periods', figures.periods, (s,), f'whole {s.product} units')}"
        "</figure>"
        for n, s in enumerate(mrr_series, start=1)
    )
    mrr_chart = (
        f"{mrr_charts}"
        f'<table class="mrr"><caption>Monthly recurring revenue (table, exact)</caption>'
        f'<thead><tr><th scope="col">Period</th><th scope="col" class="num">MRR</th></tr></thead>'
        f"<tbody>{mrr_rows}</tbody></table>"
        if mrr_series else "<p>No priced billing yet: prices are recorded with each send.</p>"
    )
    body = (
        f"<header><h1>Billing report {escape(figures.period)}{escape(scope)}</h1>"
        f"{_meta(figures)}</header>\n{_period_nav(figures, prefix, home)}<main>\n{_summary(figures)}\n"
        + _section("Monthly recurring revenue", mrr_chart)
        + _section("Seats per product (billed for each period)", chart)
        + _section(
            f"Sent during {figures.period}",
            _sends_table(figures, figures.sends_during, f"Nothing was sent during {figures.period}.", True),
        )
        + _section("What changed this period", _changes_table(figures, figures.changes, True))
        + _section("Problems this period", _failures_table(figures, figures.failures, True))
        + _section(f"Unresolved problems, every period up to {figures.period}",
                   _failures_table(figures, figures.unresolved, True, "No unresolved problems.", True))
        + _section("Customers", customers)
        + "</main>"
    )
    return _page(f"Billing report {figures.period}{scope}", body)


def render_customer(figures: Figures, customer: CustomerFigures) -> str:
    current = customer.current
    if current and current.holdings:
        rows = "".join(
            f'<tr data-product="{escape(h.product)}">'
            f"<td>{escape(figures.product_label(h.product))}</td>"
            f'<td>{escape(h.agreement)}</td><td class="num">{h.quantity}</td></tr>'
            for h in (
                current.holdings[k] for k in figures.names.product_order(tuple(current.holdings))
            )
        )
        products = (
            f"<p>As last sent for {escape(current.period)} at "
            f"{escape(local_time(current.ts, figures.timezone))} "
            f"({escape(current.trigger)}).</p>"
            '<table class="products"><thead><tr><th scope="col">Product</th>'
            '<th scope="col">Agreement</th>'
            f'<th scope="col" class="num">Seats</th></tr></thead><tbody>{rows}</tbody></table>'
        )
    else:
        products = "<p>No billing has been sent for this customer up to this period.</p>"
    company = f" (ConnectWise company {escape(customer.company)})" if customer.company else ""
    title = f"Seats per product for {customer.name}, last 12 periods"
    chart = _chart("seats-customer", title, figures, customer.series)
    body = (
        '<nav><a href="../index.html">← All customers</a></nav>\n'
        f"<header><h1>{escape(customer.name)}</h1>"
        f'<p class="meta">Customer <code>{escape(customer.key)}</code>{company}.</p>'
        f"{_meta(figures)}</header>\n<main>\n"
        + _section("Products and agreements", products)
        + _section("Seats history", chart)
        + _section("What changed this period", _changes_table(figures, customer.changes, False))
        + _section("Problems this period", _failures_table(figures, customer.failures, False))
        + _section(f"Unresolved problems, every period up to {figures.period}",
                   _failures_table(figures, customer.unresolved, False, "No unresolved problems.", True))
        + _section(f"Sent for {figures.period}",
                   _sends_table(figures, customer.sends, f"Nothing was sent for {figures.period}."))
        + _section(f"Sent during {figures.period}",
                   _sends_table(figures, customer.sends_during, f"Nothing was sent during {figures.period}."))
        + "</main>"
    )
    return _page(f"{customer.name} — billing report {figures.period}", body)


def write_html(
    figures: Figures, out_dir: Path, period_pages: Sequence[Figures] = ()
) -> list[Path]:
    """Write the pages under `out_dir`; returns the paths written, index first. `period_pages`
    (one Figures per period, without customers) become `periods/YYYY-MM.html`, linked in a row
    from every page."""
    (out_dir / "customers").mkdir(parents=True, exist_ok=True)
    written = [out_dir / "index.html"]
    written[0].write_text(render_index(figures), encoding="utf-8")
    if period_pages:
        (out_dir / "periods").mkdir(exist_ok=True)
    for page in period_pages:
        path = out_dir / "periods" / f"{page.period}.html"
        path.write_text(render_index(page, prefix="", home="../index.html"), encoding="utf-8")
    for customer in figures.customers:
        path = out_dir / "customers" / f"{customer.file_slug}.html"
        path.write_text(render_customer(figures, customer), encoding="utf-8")
        written.append(path)
    return written
