"""Terraform-style text view of a plan: calm, exact, scannable in a pull request."""

from __future__ import annotations

from reconciler.money import ZERO, show
from reconciler.plan import Change, CustomerPlan, CustomerStatus, Plan
from reconciler.render.common import RenderOptions, counted, sandbox_banner
from reconciler.render.escape import plain_line
from reconciler.schedule import Due
from reconciler.state import quantity_text

SYMBOL = {"create": "+", "update": "~", "cancel": "-"}


def money_suffix(change: Change) -> str:
    """`  (+3 x $4.20 = +$12.60/mo)`: what the change does to the customer's monthly invoice."""
    money = change.money
    if money is None:
        return ""
    extra = ""
    if money.prorate_price is not None:
        extra = f"; ConnectWise prorates it at {show(money.prorate_price, money.currency)}"
    return f"  ({money.describe()}{extra})"


def change_line(change: Change) -> str:
    return _change_line(change) + money_suffix(change)


def monthly_line(cp: CustomerPlan) -> str | None:
    """`monthly recurring: $250.25 -> $255.50 (+$5.25)` per currency, when it changes."""
    parts = [f"{show(before, currency)} -> {show(after, currency)} ({show(after - before, currency, signed=True)})"
             for currency, (before, after) in sorted(cp.monthly.items(), key=lambda item: item[0] or "")
             if after != before]
    return f"monthly recurring: {'; '.join(parts)}" if parts else None


def money_lines(plan: Plan, previews: bool = False) -> list[str]:
    """The plan's money, per currency (never added across currencies): the due changes, or with
    `previews` the changes of customers not due yet."""
    money = plan.money(previews)
    lines = []
    for currency in money.currencies:
        margin = "" if currency in money.margin_unknown else \
            f"; margin {show(money.margin.get(currency, ZERO), currency, signed=True)}"
        lines.append(f"{'Previews, monthly' if previews else 'Monthly'}, {currency or 'unknown currency'}: "
                     f"{show(money.more.get(currency, ZERO), currency, signed=True)} "
                     f"more billed, {show(money.less.get(currency, ZERO), currency, signed=True)} less billed, "
                     f"net {show(money.net(currency), currency, signed=True)}{margin}.")
    if money.unpriced:
        lines.append(f"({money.unpriced} change{'s have' if money.unpriced != 1 else ' has'} no price in ConnectWise.)")
    return lines


def run_safety_lines(plan: Plan) -> list[str]:
    """The run against its run-wide limits (`safety.max_run_*`), per currency; when it is beyond
    one, why every change waits for --force."""
    verdict = plan.run_safety
    if verdict is None or not verdict.customers_changed:
        return []
    parts = []
    for currency in sorted(set(verdict.increase) | set(verdict.decrease), key=lambda c: c or ""):
        rise, fall = verdict.increase.get(currency, ZERO), verdict.decrease.get(currency, ZERO)
        rise_limit = f" of {show(verdict.max_increase, currency)}" if verdict.max_increase is not None else ""
        fall_limit = f" of {show(-verdict.max_decrease, currency)}" if verdict.max_decrease is not None else ""
        parts.append(f"{show(rise, currency, signed=True)}{rise_limit} rise, {show(fall, currency, signed=True)}"
                     f"{fall_limit} fall per month")
    limit = f" of {verdict.max_customers}" if verdict.max_customers is not None else ""
    customers = f"{verdict.customers_changed}{limit} customer{'s' if verdict.customers_changed != 1 or limit else ''}"
    lines = [f"Run limits: {'; '.join(parts) + '; ' if parts else ''}{customers} changed."]
    lines += [f"UNSAFE run: {reason}; every customer with changes waits for --force." for reason in verdict.reasons]
    return lines


def _change_line(change: Change) -> str:
    what = change.product or "executive summary"
    where = change.agreement.label
    if change.kind == "summary":
        return f"  + executive summary {change.after.get('group', '')} on {where}: " \
               f"managed machines = {change.after.get('managed_machines')}"
    if change.action == "create":
        return f"  + {what} ({change.catalog_item}) on {where}: quantity = {quantity_text(change.after)}" + (
            f", effective {change.effective_date.isoformat()}" if change.effective_date else "")
    if change.action == "update":
        return f"  ~ {what} ({change.catalog_item}) on {where}, addition {change.addition_id}: " \
               f"quantity = {quantity_text(change.before)} -> {quantity_text(change.after)}" + (
                   f" ({change.reason})" if change.reason else "")  # e.g. "ends 2026-12-31"
    return f"  - {what} ({change.catalog_item}) on {where}, addition {change.addition_id}: " \
           f"cancel at {change.effective_date.isoformat() if change.effective_date else '?'}" \
           f"{' at quantity 0' if change.after == 0 else ''}, " \
           f"was quantity = {quantity_text(change.before)}" + (f" ({change.reason})" if change.reason else "")


def held_back_label(cp: CustomerPlan) -> str:
    """Why a customer's changes are not sent by this run: not due yet, or due but unsafe or failed
    (never called "not due" when it is: `--send-now` makes every customer due)."""
    if cp.due and cp.status == CustomerStatus.UNSAFE:
        return "  # UNSAFE, not sent: apply sends these only with --force (reasons above)"
    if cp.due and cp.status != CustomerStatus.OK:
        return f"  # not sent: the customer is {cp.status} (reason above)"
    return "  # preview, not due yet: sent when the customer is due (or with --send-now)"


def not_read_line(plan: Plan) -> str:
    """Says that customers not due were left unread (no previews), so a short plan is not
    mistaken for "everything matches"."""
    unread = sum(1 for cp in plan.customers if not cp.billing_read  # a missed one has its own MISSED line
                 and not (cp.schedule and cp.schedule.status == Due.MISSED))
    if not unread:
        return ""
    return (f"({counted(unread, 'customer')} not due today: ConnectWise not read for "
            f"{'them' if unread != 1 else 'it'}, no preview; `reconcile plan --previews` shows what is coming)")


def customer_header(cp: CustomerPlan) -> str:
    if cp.status == CustomerStatus.FAILED:
        state = "FAILED"
    elif cp.status == CustomerStatus.UNSAFE:
        state = "UNSAFE"
    elif cp.status == CustomerStatus.SKIPPED:
        state = "skipped"
    elif cp.due:
        state = "due" if cp.schedule is not None and cp.schedule.status == Due.DUE else "send now"
    elif cp.schedule is not None and cp.schedule.status == Due.MISSED:
        state = "MISSED"
    else:
        state = "not due"
    return f"# {cp.customer} ({cp.name}, ConnectWise {cp.psa_company}): {state}"


def usage_line(plan: Plan) -> str:
    """For a reported basis: which Trend report month(s) the plan bills from, and the rule."""
    usage = plan.usage or {}
    if usage.get("basis") != "reported":
        return ""  # csv and licensed: the usual case, nothing to point out
    months = sorted({(cp.usage or {})["report_month"] for cp in plan.customers if (cp.usage or {}).get("report_month")})
    return (f"Usage: Trend's usage report for {', '.join(months or [str(usage.get('report_month'))])} "
            f"({usage.get('units')} units; usage.basis: reported). Each billing period is billed from "
            "Trend's report of the month before it.")


def render_text(plan: Plan, options: RenderOptions = RenderOptions()) -> str:
    verbose = options.verbose
    lines: list[str] = sandbox_banner(plan.sandbox)
    if usage_line(plan):
        lines += [usage_line(plan), ""]
    for cp in plan.customers:
        if not cp.changes and cp.status == CustomerStatus.OK and not verbose and not cp.notes and not (
                cp.schedule and cp.schedule.status == Due.MISSED):
            continue
        lines.append(customer_header(cp))
        if verbose and not cp.changes and cp.status == CustomerStatus.OK:
            lines.append("  # no changes: ConnectWise matches the configuration")
        if cp.reason:
            lines.append(f"  # {cp.reason}")
        if (cp.usage or {}).get("basis") == "reported":
            used = cp.usage or {}
            lines.append(f"  # usage: Trend's {used.get('report_month')} report, {used.get('units')} units")
        due = [c for c in cp.changes if cp.change_due(c)]
        later = [c for c in cp.changes if not cp.change_due(c)]
        lines += [change_line(c) for c in due]
        if later:
            lines.append(held_back_label(cp))
            lines += [change_line(c) for c in later]
        monthly = monthly_line(cp)
        if monthly:
            lines.append(f"  # {monthly}")
        lines += [f"  # invoice: {warning}" for warning in cp.invoice_warnings]
        lines += [f"  # note: {note}" for note in cp.notes]
        lines.append("")
    unchanged = [cp for cp in plan.customers if cp.status == CustomerStatus.OK and not cp.changes and cp.billing_read]
    if unchanged and not verbose:
        lines.append(f"# ({counted(len(unchanged), 'customer')} already {'matches' if len(unchanged) == 1 else 'match'} "
                     "ConnectWise)")
        lines.append("")
    unread = not_read_line(plan)
    if unread:
        lines += [f"# {unread}", ""]
    for trend_id, products in plan.unknown_usage_customers.items():
        listed = ", ".join(f"{p}={q}" for p, q in products.items())
        lines.append(f"# warning: Trend customer {trend_id} has usage ({listed}) but no customer file")
    for warning in plan.warnings:
        lines.append(f"# warning: {warning}")
    if plan.unknown_usage_customers or plan.warnings:
        lines.append("")
    if plan.has_changes:
        lines.append(summary_line(plan))
        lines += money_lines(plan)
    elif failed_customers(plan):
        lines.append("No changes due for the customers that could be planned.")
    else:
        lines.append("No changes due. ConnectWise matches the configuration for every customer that is due.")
    lines += run_safety_lines(plan)
    pending = sum(1 for cp in plan.customers if cp.status == CustomerStatus.OK for c in cp.changes if not cp.change_due(c))
    if pending:
        lines.append(f"({pending} more change{'s are' if pending != 1 else ' is'} shown as a preview for customers not due yet.)")
        lines += money_lines(plan, previews=True)
    failed = failed_customers(plan)
    if failed:
        lines.append(f"{counted(len(failed), 'customer')} failed or unsafe: {', '.join(failed)}")
    # Each entry is one line by construction; names, reasons and notes from config, Trend and
    # ConnectWise inside it cannot break it or reorder it (render/escape.py).
    return "\n".join(plain_line(line) for line in lines) + "\n"


def summary_line(plan: Plan) -> str:
    """`Plan: 2 to add, 1 to change, 1 to cancel. Executive summaries: 6 to post.` (due changes)."""
    counts = plan.counts()
    summaries = f" Executive summaries: {counts['summary']} to post." if counts["summary"] else ""
    return f"Plan: {counts['create']} to add, {counts['update']} to change, {counts['cancel']} to cancel.{summaries}"


def failed_customers(plan: Plan) -> list[str]:
    return [cp.customer for cp in plan.customers if cp.status in (CustomerStatus.FAILED, CustomerStatus.UNSAFE)]
