"""Build a plan: config + usage + the PSA + ledger -> Plan. The only place they meet.

Prepare, fetch, then decide. Per customer, `schedules_for` decides (once per plan) whether its
billing and executive summary are due on the run's day, and `prepare_customer` (pure) turns
that, the config, the usage, the ledger and the directory into a `CustomerPreparation`: the
company, its agreements, the usage month, the desired state and what to read. `read_customer`
fetches what it asks for through the target seam into a `CompanyState`, and `decide_customer`
(pure) turns the preparation and that state into the customer's plan. Customers are planned
independently on a bounded worker pool (the target's rate limit is shared by all workers); an
error in one customer becomes that customer's `failed` status and never stops the others.

Nothing here reads the clock: the run's day comes in `PlanOptions` (`today` from `--date`, else
`now`, read by the command), so a plan is a function of its inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from reconciler.config.model import Config, Customer
from reconciler.desired import CustomerError, DesiredCustomer, desired_for
from reconciler.errors import ReconcileError
from reconciler.lease import LeaseFacts
from reconciler.ledger import LedgerView, SendKind, timestamp_key
from reconciler.money import (
    ZERO,
    MoneyOutOfRange,
    customer_invoice_warnings,
    monthly_amount,
    price_change,
    price_fields,
    price_warnings,
)
from reconciler.plan import (
    Change,
    CustomerPlan,
    CustomerStatus,
    Plan,
    apply_run_safety,
    diff_customer,
    safety_verdict,
)
from reconciler.schedule import Schedule, decide, today_in
from reconciler.snapshot import Directory, fan_out, read_company, read_directory
from reconciler.state import Agreement, Company, CompanyState, ExecutiveSummary, plain_number
from reconciler.target import Target, TargetError, capabilities_of
from reconciler.usage import Usage, UsageSourceError, trend_key, usage_record


@dataclass(frozen=True, slots=True)
class PlanOptions:
    today: date | None = None  # --date: this day for every customer
    # When the run started (timezone-aware), read by the command: without --date, each customer's
    # time zone turns it into its day. The engine never reads the clock itself.
    now: datetime | None = None
    customers: tuple[str, ...] = ()  # --customer (slug or Trend id), repeatable
    send_now: bool = False
    shard: tuple[int, int] | None = None  # (K, N), 1-based
    only_slugs: frozenset[str] | None = None  # from --changed-since
    workers: int = 8
    sandbox: bool = False
    # Read not-due customers' additions too, to preview their changes (`plan`, where a person
    # reads the result). Off for `apply` and the scheduled job: they read only what they may
    # write today (see `may_write_billing`).
    previews: bool = True

    def today_in(self, zone: str) -> date:
        """The run's day in a time zone: `--date`, else the day it is at `now` there."""
        if self.today is not None:
            return self.today
        if self.now is None:
            raise ValueError("PlanOptions needs `today` or `now`: the command reads the clock, the engine does not")
        return today_in(zone, self.now)


class SelectionError(ReconcileError):
    """A --customer that names no customer: a usage error, never a silent no-op."""


def shard_of(customer: Customer, total: int) -> int:
    """Stable 1-based shard of a customer: a hash of its Trend id, not of list order."""
    digest = hashlib.sha256(customer.trend_customer_id.lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def select_customers(config: Config, options: PlanOptions) -> list[Customer]:
    selected = list(config.customers)
    if options.customers:
        chosen = []
        for key in options.customers:
            customer = config.customer(key)
            if customer is None:
                known = ", ".join(c.slug for c in config.customers[:20])
                raise SelectionError(f"--customer {key}: no customer file or trend_customer_id matches (known: {known})")
            if customer not in chosen:
                chosen.append(customer)
        selected = chosen
    if options.only_slugs is not None:
        selected = [c for c in selected if c.slug in options.only_slugs]
    if options.shard:
        k, n = options.shard
        selected = [c for c in selected if shard_of(c, n) == k]
    return selected


@dataclass(slots=True)
class PlanContext:
    config: Config
    usage: Usage
    ledger: LedgerView
    options: PlanOptions
    directory: Directory = field(default_factory=Directory)
    # What the run lease's records say about other runs (reconciler.lease), known once it is
    # taken, before any customer is decided; None for a run without the lease (`plan`).
    lease: LeaseFacts | None = None
    # Does the PSA keep executive summaries (`Target.capabilities`)? When not, no summary is
    # read or planned, and `build_plan` warns once.
    summaries: bool = True

    def run_accounted_for(self, run_id: str) -> bool:
        """Can this run explain an addition created by run `run_id`: its ledger knows that run,
        or the run died holding the lease (its late create is a duplicate to converge)?"""
        return self.ledger.knows_run(run_id) or (self.lease is not None and run_id in self.lease.ended_runs)

    def another_ledger_may_have_written(self) -> bool:
        """Did a run this ledger does not know write to the PSA (another machine's ledger), or
        does the lease history not reach back far enough to say (the first run with it)? Then
        an executive summary is looked for before it is posted, since the ledger cannot say."""
        if self.lease is None:
            return False
        return not self.lease.has_history or any(not self.ledger.knows_run(r) for r in self.lease.writers)


def _first_seen(ledger: LedgerView, slug: str, kind: SendKind, zone: str) -> date | None:
    """The day (in the billing time zone) of the customer's first ledger record of this kind."""
    ts = ledger.first_seen(slug, kind)
    return today_in(zone, timestamp_key(ts)) if ts else None


def _schedule(ctx: PlanContext, slug: str, kind: SendKind, day: int, enabled: bool, today: date,
              catch_up_days: int, zone: str) -> Schedule:
    last = ctx.ledger.last_sent(slug, kind)
    return decide(
        today=today, day=day, enabled=enabled, catch_up_days=catch_up_days,
        sent_periods=ctx.ledger.sent_periods(slug, kind), send_now=ctx.options.send_now and enabled,
        what="billing" if kind == SendKind.BILLING else "executive summary", ever_sent=last is not None,
        first_seen=_first_seen(ctx.ledger, slug, kind, zone), sent_day=last.get("day") if last else None,
        interrupted_periods={period for i in ctx.ledger.unsettled_intents(slug, kind)
                             if isinstance(period := i.get("period"), str)},
    )


@dataclass(frozen=True, slots=True)
class CustomerSchedules:
    """(billing, executive summary) decisions for the run's day in the customer's own time zones."""

    billing: Schedule
    summary: Schedule


def schedules_for(ctx: PlanContext, customer: Customer) -> CustomerSchedules:
    """The customer's two schedule decisions (pure: the day comes from `PlanOptions`). Computed
    once per customer per plan, by `build_plan`; everything else reads them from the
    customer's `CustomerPreparation`."""
    billing, summary, options = customer.billing, customer.executive_summary, ctx.options
    return CustomerSchedules(
        _schedule(ctx, customer.slug, SendKind.BILLING, billing.day, billing.enabled,
                  options.today_in(billing.timezone), billing.catch_up_days, billing.timezone),
        _schedule(ctx, customer.slug, SendKind.SUMMARY, summary.day, summary.enabled,
                  options.today_in(summary.timezone), billing.catch_up_days, summary.timezone),
    )


def _previous_additions(ctx: PlanContext, customer: Customer) -> dict[str, dict[str, Any]]:
    """Product key -> the addition record of the last successful send (ledger)."""
    previous = ctx.ledger.last_sent(customer.slug)
    return {
        product: rec for product, rec in ((previous or {}).get("additions") or {}).items()
        if isinstance(rec, dict) and rec.get("agreement_id") is not None
    }


def usage_month(ctx: PlanContext, period: str) -> Usage:
    """The usage read a billing period is billed from: the run's read, or with `usage.basis:
    reported` the Trend report of the month before the period (preloaded by `build_plan`, so
    this stays a lookup). A report that could not be read fails the customer (CustomerError)."""
    if ctx.usage.other_month is None:  # csv and licensed: one read for every period
        return ctx.usage
    try:
        return ctx.usage.for_period(period)
    except UsageSourceError as error:
        raise CustomerError(str(error)) from None


@dataclass(frozen=True, slots=True)
class ReadRequest:
    agreement_ids: tuple[int, ...]  # whose additions the decision needs
    summary_group: str | None  # the executive summary to look for (an unsettled summary intent)


@dataclass(frozen=True, slots=True)
class CustomerPreparation:
    """Everything about one customer's plan that is known before its company's additions are
    read: made once per customer per plan by `prepare_customer` (pure), then used by both the
    read (`read_customer`: what to read) and the decision (`decide_customer`), so the two cannot
    disagree and nothing in it is worked out twice.

    `company`, `agreements`, `usage` and `desired` are resolved only for a customer that reads
    the PSA (`reads_psa`); `problem` is why the customer fails before anything is read (company
    not found or re-used, a usage month that could not be read, a mapping that does not
    resolve), and then `desired` is None."""

    customer: Customer
    schedule: Schedule  # billing
    summary_schedule: Schedule
    seats: Mapping[str, int]  # product key -> seats in the run's usage read
    reads_psa: bool  # `needs_target`
    reads_billing: bool  # `reads_billing`: the customer's additions are read in this run
    company: Company | None = None
    agreements: tuple[Agreement, ...] = ()  # every agreement of the company, active or not
    usage: Usage | None = None  # the read its billing period is billed from (`usage_month`)
    desired: DesiredCustomer | None = None
    problem: str | None = None
    read: ReadRequest | None = None  # None: nothing is read for it


def prepare_customer(ctx: PlanContext, customer: Customer, schedules: CustomerSchedules) -> CustomerPreparation:
    """The customer's preparation (pure: config, usage, ledger, the directory and the schedules
    `build_plan` computed for the run's day). Failures before anything is read land in
    `problem`, in the order a person would fix them: the company, then its usage month, then
    the mappings."""
    billing_schedule, summary_schedule = schedules.billing, schedules.summary
    reads_psa = needs_target(ctx, customer, billing_schedule, summary_schedule)
    prep = CustomerPreparation(
        customer=customer, schedule=billing_schedule, summary_schedule=summary_schedule,
        seats=ctx.usage.for_customer(customer.trend_customer_id), reads_psa=reads_psa,
        reads_billing=reads_billing(ctx, customer, billing_schedule),
    )
    if not reads_psa:
        return prep
    company = ctx.directory.company(customer.psa_company)
    agreements = tuple(ctx.directory.agreements_of(company))
    try:
        if company is None:
            raise CustomerError(f"ConnectWise company {customer.psa_company!r} not found")
        check_company(customer, company,
                      ctx.ledger.last_sent(customer.slug) or ctx.ledger.last_sent(customer.slug, SendKind.SUMMARY))
        usage = usage_month(ctx, billing_schedule.period)
        desired = desired_for(ctx.config, customer, usage.for_customer(customer.trend_customer_id), list(agreements))
    except CustomerError as error:
        return replace(prep, company=company, agreements=agreements, problem=str(error))
    prep = replace(prep, company=company, agreements=agreements, usage=usage, desired=desired)
    return replace(prep, read=read_request(ctx, prep))


def may_write_billing(ctx: PlanContext, customer: Customer, billing_schedule: Schedule) -> bool:
    """Could this run write the customer's billing today: due (on its day, catching up, a day
    change, an interrupted send) or sent now, or the ledger holds an intent without its result?"""
    return customer.billing.enabled and (billing_schedule.due or bool(ctx.ledger.unsettled_intents(customer.slug)))


def reads_billing(ctx: PlanContext, customer: Customer, billing_schedule: Schedule) -> bool:
    """Are the customer's additions read in this run? Those it may write, and with `previews`
    every enabled customer (to show what its next send would change)."""
    return customer.billing.enabled and (ctx.options.previews or may_write_billing(ctx, customer, billing_schedule))


def summary_needs_read(ctx: PlanContext, customer: Customer, summary_schedule: Schedule) -> bool:
    """The ledger decides whether a summary was posted; ConnectWise is asked only when the ledger
    cannot say: an intent for this period without its result (a run died around the POST), or a
    run of another ledger wrote (`PlanContext.another_ledger_may_have_written`).
    Every other case is settled without a read: a period the ledger records as sent is done,
    and one it does not is posted: the run lease keeps any other run from posting meanwhile."""
    period = summary_schedule.period
    return (any(i.get("period") == period for i in ctx.ledger.unsettled_intents(customer.slug, SendKind.SUMMARY))
            or ctx.another_ledger_may_have_written())


def needs_target(ctx: PlanContext, customer: Customer, billing_schedule: Schedule, summary_schedule: Schedule) -> bool:
    """Does the customer's plan read anything from the PSA today (pure: config, usage, ledger)?
    No for a customer with billing and summaries disabled or without usage rows, nor for one
    whose billing it will not read (`reads_billing`) and whose summary is not due. When no
    selected customer needs it, the run reads nothing at all, not even the directory."""
    if not customer.billing.enabled and not customer.executive_summary.enabled:
        return False
    if not ctx.usage.for_customer(customer.trend_customer_id):
        return False
    return reads_billing(ctx, customer, billing_schedule) or summary_planned(ctx, customer, summary_schedule)


def summary_planned(ctx: PlanContext, customer: Customer, summary_schedule: Schedule) -> bool:
    """Is the customer's executive summary due today, and can the PSA keep it?"""
    return ctx.summaries and customer.executive_summary.enabled and summary_schedule.due


def read_request(ctx: PlanContext, prep: CustomerPreparation) -> ReadRequest | None:
    """What `decide_customer` will need from the PSA (pure); None when nothing is read.
    A customer with billing and summaries disabled, or with no usage rows, costs no request."""
    customer, desired = prep.customer, prep.desired
    if not prep.reads_psa or desired is None or not desired.has_usage:
        return None  # nothing is zeroed, cancelled or summarised without usage rows
    agreement_ids: set[int] = set()
    if prep.reads_billing:
        # Every active agreement of the company: a mapped product has one owner per company, so
        # an addition of it anywhere else must be seen to be cancelled. And the agreements the
        # last send billed, even when no longer active.
        own = {a.id for a in prep.agreements}
        agreement_ids = ({a.id for a in prep.agreements if a.active}
                         | ({int(r["agreement_id"]) for r in _previous_additions(ctx, customer).values()} & own))
    summary_schedule = prep.summary_schedule
    group = (summary_group_identifier(customer, summary_schedule.period)
             if ctx.summaries and summary_schedule.due and summary_needs_read(ctx, customer, summary_schedule)
             else None)
    if not agreement_ids and group is None:
        return None
    return ReadRequest(tuple(sorted(agreement_ids)), group)


def read_customer(target: Target, ctx: PlanContext, prep: CustomerPreparation) -> CompanyState | None:
    """The one read of a customer's plan: what its preparation asks for, nothing when nothing."""
    request = prep.read
    if request is None:
        return None
    return read_company(target, ctx.directory, prep.customer.psa_company, request.agreement_ids,
                        summary_group=request.summary_group)


def plan_customer(target: Target, ctx: PlanContext, prep: CustomerPreparation) -> CustomerPlan:
    try:
        state, read_error = read_customer(target, ctx, prep), None
    except TargetError as error:
        state, read_error = None, error
    return decide_customer(ctx, prep, state, read_error)


def decide_customer(ctx: PlanContext, prep: CustomerPreparation, state: CompanyState | None,
                    read_error: Exception | None = None) -> CustomerPlan:
    """The customer's plan from its preparation and what was read (pure). `read_error`: the
    read failed."""
    customer = prep.customer
    cp = CustomerPlan(customer=customer.slug, name=customer.display_name, psa_company=customer.psa_company)
    billing, summary = customer.billing, customer.executive_summary
    cp.schedule, cp.summary_schedule = prep.schedule, prep.summary_schedule
    cp.interrupted = interrupted_intents(ctx, customer.slug, cp.schedule, cp.summary_schedule)
    for intent in cp.interrupted:
        what = "billing" if intent.get("kind", "billing") == "billing" else "the executive summary"
        cp.notes.append(
            f"run {intent.get('run_id')} stopped after its intent for {what} of {intent.get('period')} without a "
            "result, and a later period has come, so it cannot be finished: it is recorded as failed and reported; "
            f"check {intent.get('period')}'s invoice and the additions in ConnectWise"
        )
    stale = {(i.get("run_id"), i.get("period")) for i in cp.interrupted if i["kind"] == "billing"}
    if not billing.enabled and not summary.enabled:
        cp.status, cp.reason = CustomerStatus.SKIPPED, "billing and executive summaries disabled"
        return cp
    for intent in ctx.ledger.unsettled_intents(customer.slug):
        if (intent.get("run_id"), intent.get("period")) in stale:
            continue
        cp.notes.append(
            f"run {intent.get('run_id')} stopped after its intent for {intent.get('period')} without a result; "
            "ConnectWise was re-read, so this plan starts from what actually happened"
        )
    usage = prep.seats
    if not usage:  # costs no request: nothing is billed, zeroed, cancelled or summarised
        cp.status, cp.reason = CustomerStatus.SKIPPED, "the usage source has no rows for this customer; nothing is zeroed or cancelled"
        return cp
    if not prep.reads_psa:
        # Nothing to write today and no previews: ConnectWise was not read (not even the
        # company), so nothing is claimed about it; the config and usage still speak.
        if billing.enabled:
            cp.billing_read, cp.reason = False, cp.schedule.reason
        else:
            cp.status, cp.reason = CustomerStatus.SKIPPED, "billing disabled (integration: custom, billing.enabled: false)"
        cp.notes += [f"{product}: {quantity} seats in the usage source, but no agreement mapping in {customer.path.name}"
                     for product, quantity in sorted(usage.items()) if product not in customer.agreements]
        return cp
    try:
        if prep.problem is not None or prep.company is None or prep.desired is None or prep.usage is None:
            raise CustomerError(prep.problem or f"ConnectWise company {customer.psa_company!r} not found")
        company, desired = prep.company, prep.desired
        cp.connectwise_company_id, cp.connectwise_company_name = company.id, company.name
        cp.usage = usage_record(prep.usage, customer.trend_customer_id)
        cp.notes += summed_usage_notes(prep.usage, customer)
        if read_error is not None:
            raise CustomerError(str(read_error))
        state = state or CompanyState(company=company, agreements=list(prep.agreements))
        if billing.enabled and desired.has_usage and not prep.reads_billing:
            # Its summary is due, its billing is not (and no previews): additions not read.
            cp.billing_read, cp.reason = False, cp.schedule.reason
            cp.notes += unmapped_usage_notes(customer, desired)
        elif billing.enabled:
            decide_billing(ctx, customer, cp, state, desired)
            cp.additions_read, cp.read_at = dict(state.additions), state.read_at
        else:
            cp.status, cp.reason = CustomerStatus.SKIPPED, "billing disabled (integration: custom, billing.enabled: false)"
        if cp.summary_schedule.due and ctx.summaries and desired.has_usage and cp.status != CustomerStatus.FAILED:
            decide_summary(ctx, customer, cp, company, state, desired)
    except (CustomerError, MoneyOutOfRange) as error:
        cp.status, cp.reason = CustomerStatus.FAILED, str(error)
    return cp


def interrupted_intents(ctx: PlanContext, slug: str, billing: Schedule, summary: Schedule) -> list[dict[str, Any]]:
    """Intents without a result for a period earlier than the one this run would send (pure).

    An interrupted period is finished while it is still the latest one (schedule.decide makes it
    due however late). Once a later period has come it cannot be: the additions now bill the
    later period, and what the killed run did to the earlier invoice is for a person to check.
    So it is never left silent: apply records a `failed` result for it (which settles the intent)
    and the customer fails the run, with a ticket when tickets are on."""
    stale = []
    for kind, schedule in ((SendKind.BILLING, billing), (SendKind.SUMMARY, summary)):
        for intent in ctx.ledger.unsettled_intents(slug, kind):
            period = intent.get("period")
            if isinstance(period, str) and period < schedule.period:
                stale.append({**intent, "kind": kind})
    return stale


def check_company(customer: Customer, company: Company, previous: dict[str, Any] | None) -> None:
    """A customer is billed on the company record it was billed on before: an identifier that now
    resolves to another company id (reused after a rename) fails the customer, unless the file
    pins the new id with `connectwise_company_id`."""
    company_id, name = company.id, company.name or "?"
    pinned = customer.connectwise_company_id
    if pinned is not None and pinned != company_id:
        raise CustomerError(
            f"connectwise_company {customer.psa_company!r} resolves to company id {company_id} ({name}), "
            f"but {customer.path.name} pins connectwise_company_id {pinned}: check the company in ConnectWise"
        )
    record = previous or {}
    before = record.get("connectwise_company_id")
    if before is None or int(before) == company_id or pinned == company_id:
        return
    raise CustomerError(
        f"connectwise_company {customer.psa_company!r} now resolves to company id {company_id} ({name}), "
        f"but {record.get('period')} was billed to company id {before} ({record.get('connectwise_company_name') or '?'}): "
        "the identifier may have been reused after a rename. Check both companies in ConnectWise; if "
        f"{company_id} is right, add `connectwise_company_id: {company_id}` to {customer.path.name}"
    )


def _resolve_also_bills_to(customer: Customer, agreements: list[Agreement]) -> dict[str, set[int]]:
    return {
        product: {a.id for a in agreements for ref in refs
                  if a.type.casefold() == ref.type.casefold() and a.name.casefold() == ref.name.casefold()}
        for product, refs in customer.also_bills_to.items()
    }


def decide_billing(ctx: PlanContext, customer: Customer, cp: CustomerPlan, actual: CompanyState,
                   desired: DesiredCustomer) -> None:
    assert cp.schedule is not None  # decide_customer decides the schedules first
    config, billing = ctx.config, customer.billing
    previous = ctx.ledger.last_sent(customer.slug)
    previous_additions = _previous_additions(ctx, customer)
    agreements = actual.agreements
    company = actual.company
    cp.fingerprint = actual.fingerprint()
    for product, agreement in desired.agreements.items():
        identifier = config.products[product].catalog_item.casefold()
        matching = [a for a in actual.additions.get(agreement.id, []) if a.product_identifier.casefold() == identifier]
        if matching:
            addition = min(matching, key=lambda a: a.id)
            currency = agreement.currency or (company.currency if company else None)
            cp.current_additions[product] = {
                "id": addition.id, "agreement_id": agreement.id, "agreement": agreement.label,
                "quantity": plain_number(addition.quantity), "connectwise_product": addition.product_identifier,
                **price_fields(price_change("update", addition.quantity, addition.quantity, currency=currency,
                                            unit_price=addition.unit_price, unit_cost=addition.unit_cost,
                                            less_included=addition.less_included)),
            }
        before = previous_additions.get(product)
        if (before and int(before["agreement_id"]) != agreement.id
                and str(before.get("agreement", "")).casefold() == agreement.label.casefold()):
            cp.notes.append(
                f"{product}: agreement {agreement.label} is now id {agreement.id}, but {(previous or {}).get('period')} "
                f"billed agreement id {before['agreement_id']} of the same type and name: check that the old "
                "agreement was replaced on purpose"
            )

    catalog_identifiers = {p.catalog_item.casefold() for p in config.products.values()}
    changes, notes = diff_customer(
        desired=desired, actual=actual, catalog_identifiers=catalog_identifiers,
        product_keys_by_identifier={p.catalog_item: p.key for p in config.products.values()},
        effective_date=cp.schedule.billing_date, prune=billing.prune,
        also_bills_to=_resolve_also_bills_to(customer, agreements),
        run_accounted_for=ctx.run_accounted_for,
    )
    cp.changes = [_priced(ctx, change, actual, company) for change in changes]
    cp.notes += notes
    cp.notes += unmapped_usage_notes(customer, desired)
    # Managed: catalog items on the mapped agreements, and the mapped products wherever they are.
    mapped_identifiers = managed_identifiers = {config.products[p].catalog_item.casefold()
                                                for p in desired.agreements}
    mapped_agreement_ids = {a.id for a in desired.agreements.values()}
    cp.managed_count = sum(
        1 for agreement_id, adds in actual.additions.items() for a in adds
        if a.product_identifier.casefold() in (catalog_identifiers if agreement_id in mapped_agreement_ids
                                               else mapped_identifiers)
    )
    cp.monthly = _monthly(actual, managed_identifiers, mapped_agreement_ids, catalog_identifiers, company, cp.changes,
                          cp.schedule.billing_date)
    for change in cp.changes:
        cp.invoice_warnings += price_warnings(change.product, change.agreement.label, change.money)
    cp.invoice_warnings += customer_invoice_warnings(
        (change.product, change.action, change.agreement.label, change.effective_date or cp.schedule.billing_date,
         change.agreement.next_invoice_date, change.agreement.billing_cycle, change.agreement.prorate)
        for change in cp.changes if change.money is not None and change.product is not None)  # additions
    cp.unsafe_reasons = safety_verdict(cp.changes, cp.managed_count, desired.has_usage, config.safety, cp.monthly)
    if not desired.has_usage:
        cp.status, cp.reason = CustomerStatus.SKIPPED, "the usage source has no rows for this customer; nothing is zeroed or cancelled"
    elif cp.unsafe_reasons:
        cp.status, cp.reason = CustomerStatus.UNSAFE, "; ".join(cp.unsafe_reasons)
    else:
        cp.reason = cp.schedule.reason


def _priced(ctx: PlanContext, change: Change, actual: CompanyState, company: Company | None) -> Change:
    """The change with its monthly money: an existing addition's own prices, a new one's from the
    catalog item (what ConnectWise puts on it); the agreement's currency, else the company's."""
    agreement = next((a for a in actual.agreements if a.id == change.agreement.id), change.agreement)
    try:
        return _priced_at(ctx, change, actual, company, agreement)
    except MoneyOutOfRange as error:
        raise MoneyOutOfRange(f"{change.product} ({change.catalog_item}) on {agreement.label}: {error}") from None


def _priced_at(ctx: PlanContext, change: Change, actual: CompanyState, company: Company | None,
               agreement: Agreement) -> Change:
    currency = agreement.currency or (company.currency if company else None)
    if change.action == "create":
        item = ctx.directory.catalog.get((change.catalog_item or "").casefold())  # a create names its item
        money = price_change("create", None, change.after, currency=currency, unit_price=item.price if item else None,
                             unit_cost=item.cost if item else None, invoice_date=agreement.next_invoice_date,
                             prorated=agreement.prorate)
    else:
        addition = next((a for adds in actual.additions.values() for a in adds if a.id == change.addition_id), None)
        if addition is None:
            return change
        money = price_change(
            change.action, change.before, change.after, currency=currency, unit_price=addition.unit_price,
            unit_cost=addition.unit_cost, less_included=addition.less_included,
            invoice_date=agreement.next_invoice_date,
            prorated=addition.prorate_current_period if addition.prorate_current_period is not None else agreement.prorate,
            prorate_price=addition.prorate_price)
    return replace(change, agreement=agreement, money=money)


def _monthly(actual: CompanyState, mapped_identifiers: set[str], mapped_agreement_ids: set[int],
             catalog_identifiers: set[str], company: Company | None,
             changes: list[Change], billing_date: date) -> dict[str | None, tuple[Decimal, Decimal]]:
    """Per currency: the monthly recurring total of the customer's managed additions (those the
    safety thresholds count), before and after the changes. Unpriced additions count as 0. An
    addition counts when it bills on the billing date (`Addition.bills_on`), as the plan judged
    it, not by today: a late run's billing date can be before a cancelled date that has passed."""
    agreements = {a.id: a for a in actual.agreements}
    before: dict[str | None, Decimal] = {}
    for agreement_id, additions in actual.additions.items():
        agreement = agreements.get(agreement_id)
        currency = (agreement.currency if agreement else None) or (company.currency if company else None)
        for a in additions:
            wanted = catalog_identifiers if agreement_id in mapped_agreement_ids else mapped_identifiers
            if a.bills_on(billing_date) and a.product_identifier.casefold() in wanted:
                amount = monthly_amount(a.quantity, a.unit_price, a.less_included) or ZERO
                before[currency] = before.get(currency, ZERO) + amount
    after = dict(before)
    for change in changes:
        if change.money is not None and change.money.known:
            after[change.money.currency] = after.get(change.money.currency, ZERO) + change.money.delta
    return {currency: (before.get(currency, ZERO), after[currency]) for currency in after}


def summed_usage_notes(usage: Usage, customer: Customer) -> list[str]:
    """A count the source summed from several subscriptions or plans, with its parts, so a
    reviewer sees 35 + 12 rather than a 47 from nowhere."""
    return [f"{product}: {sum(q for _, q in parts)} seats, the sum of {len(parts)} usage rows: "
            + ", ".join(f"{label} = {quantity}" for label, quantity in parts)
            for product, parts in sorted(usage.parts_for(customer.trend_customer_id).items())]


def unmapped_usage_notes(customer: Customer, desired: DesiredCustomer) -> list[str]:
    """Usage the config does not map (from usage and config alone: reported whether or not
    ConnectWise was read)."""
    return [f"{product}: {quantity} seats in the usage source, but no agreement mapping in {customer.path.name}"
            for product, quantity in desired.unmapped_usage.items()]


def decide_summary(ctx: PlanContext, customer: Customer, cp: CustomerPlan, company: Company,
                   state: CompanyState, desired: DesiredCustomer) -> None:
    """Plan this period's executive summary, unless the PSA already has it (a rerun, a crash
    after the POST, or a racing run): its group key is stable per customer and period."""
    assert cp.summary_schedule is not None  # decide_customer decides the schedules first
    period = cp.summary_schedule.period
    group = summary_group_identifier(customer, period)
    if period in ctx.ledger.sent_periods(customer.slug, SendKind.SUMMARY):
        # A manual send of a period the ledger records as posted: the ledger decides, no read.
        posted = (ctx.ledger.last_sent(customer.slug, SendKind.SUMMARY) or {})
        report = posted.get("report_id") if posted.get("period") == period else None
        cp.notes.append(f"executive summary {group} was already posted"
                        + (f" (report {report})" if report is not None else "") + " according to the ledger")
        return
    existing = sorted((r for r in state.summaries if r.group == group), key=lambda r: r.id)
    if existing:
        cp.summary_report_id = existing[0].id
        cp.summary_duplicate_ids = [r.id for r in existing[1:]]
        cp.notes.append(f"executive summary {group} is already in ConnectWise (report {cp.summary_report_id})")
        if cp.summary_duplicate_ids:
            cp.notes.append(f"executive summary {group} was posted {len(existing)} times by racing runs: "
                            f"report {cp.summary_report_id} stays, {', '.join(map(str, cp.summary_duplicate_ids))} "
                            "will be deleted")
        return
    agreement = summary_agreement(desired)
    report = executive_summary(ctx, customer, company.id, agreement, group, desired)
    cp.changes.append(Change(
        "create", "summary", customer.slug, customer.psa_company, agreement, None, None, None,
        None, report.as_json(), reason=f"executive summary for {period}",
    ))


def summaries_warning(target: Target, ctx: PlanContext, customers: list[Customer]) -> list[str]:
    """The one warning for a PSA that keeps no executive summaries while the config asks for
    them: no summary is planned for anyone (never a failure per customer, never a crash)."""
    wanting = [c.slug for c in customers if c.executive_summary.enabled]
    if ctx.summaries or not wanting:
        return []
    shown = ", ".join(wanting[:5]) + (f" and {len(wanting) - 5} more" if len(wanting) > 5 else "")
    return [(f"executive summaries are enabled for {len(wanting)} customer(s) ({shown}), but {target.name} keeps "
             "no executive summaries: none is planned (turn executive_summary off, or bill through a PSA that "
             "keeps them)")]


def summary_group_identifier(customer: Customer, period: str) -> str:
    # Trend ids are GUIDs: unique, immutable, and short enough for the 100-character limit.
    return f"tmrm:{customer.trend_customer_id.lower()}:{period}"


def summary_agreement(desired: DesiredCustomer) -> Agreement:
    """The agreement a summary is filed on: the one billing the most seats (ties: product key order)."""
    seats: dict[int, int] = {}
    for addition in desired.additions.values():
        seats[addition.agreement.id] = seats.get(addition.agreement.id, 0) + addition.quantity
    by_id = {a.id: a for a in desired.agreements.values()}
    if seats:
        return by_id[max(sorted(seats), key=lambda agreement_id: seats[agreement_id])]
    return next(iter(desired.agreements.values()))


def executive_summary(ctx: PlanContext, customer: Customer, company_id: int, agreement: Agreement, group: str,
                      desired: DesiredCustomer) -> ExecutiveSummary:
    extra = ctx.usage.extra.get(customer.trend_customer_id, {}) or ctx.usage.extra.get(customer.trend_customer_id.lower(), {})
    return ExecutiveSummary(
        group=group, management_solution=customer.executive_summary.management_solution, company_id=company_id,
        agreement=agreement, managed_machines=sum(a.quantity for a in desired.additions.values()),
        **{name: extra[name] for name in ("workstations", "servers", "viruses_removed", "spyware_removed")
           if name in extra},
    )


def build_plan(
    target: Target, config: Config, usage: Usage, ledger: LedgerView, options: PlanOptions,
    progress: Callable[[int], None] | None = None, lease: LeaseFacts | None = None,
) -> Plan:
    """`lease`: apply's run lease, taken here before the first request and only when the plan
    reads the PSA at all (a day with nothing to do costs no request, not even the lease's)."""
    customers = select_customers(config, options)
    ctx = PlanContext(config=config, usage=usage, ledger=ledger, options=options, lease=lease,
                      summaries=capabilities_of(target).summaries)
    # The directory is read only when some customer's plan reads the PSA: on a day when nobody
    # is due (and no previews are asked for) a run sends no request at all.
    # Each customer's schedules, once per plan: the read and the decision both use these.
    schedules = {c.slug: schedules_for(ctx, c) for c in customers}
    needed = [c for c in customers
              if needs_target(ctx, c, schedules[c.slug].billing, schedules[c.slug].summary)]
    if needed and lease is not None:
        lease.acquire()
    if needed:
        ctx.directory = read_directory(
            target, [c.psa_company for c in needed],
            [p.catalog_item for p in config.products.values()],
        )
    missing_catalog = [
        p.catalog_item for p in config.products.values()
        if p.catalog_item.casefold() not in ctx.directory.catalog
    ] if needed else []
    plan = Plan(today=options.today.isoformat() if options.today else "", customers=[], usage_source=usage.source,
                sandbox=options.sandbox)
    plan.catalog_ids = {key: item.id for key, item in ctx.directory.catalog.items()}
    # A complete plan: what the ledger and the usage source had to say is part of it.
    plan.warnings += list(ledger.warnings) + list(usage.warnings)
    if missing_catalog:
        plan.warnings.append(f"catalog items not found in ConnectWise: {', '.join(sorted(missing_catalog))}")
    plan.warnings += summaries_warning(target, ctx, customers)

    for customer in customers:  # read every Trend report month a billing period needs, once
        try:
            usage_month(ctx, schedules[customer.slug].billing.period)
        except CustomerError:
            pass  # remembered by the usage source; that customer's plan fails with the reason

    def work(customer: Customer) -> CustomerPlan:
        try:
            return plan_customer(target, ctx, prepare_customer(ctx, customer, schedules[customer.slug]))
        except Exception as error:  # one customer's surprise must not stop the others
            cp = CustomerPlan(customer=customer.slug, name=customer.display_name,
                              psa_company=customer.psa_company)
            cp.status, cp.reason = CustomerStatus.FAILED, f"internal error while planning: {type(error).__name__}: {error}"
            return cp
        finally:
            if progress:
                progress(1)

    plan.customers = fan_out(customers, work, options.workers)
    apply_run_safety(plan, config.safety)  # the run as a whole, after every customer's own verdict

    known = {trend_key(c.trend_customer_id) for c in config.customers}
    if not options.customers and options.only_slugs is None and (not options.shard or options.shard[0] == 1):
        for trend_id in sorted(usage.customers()):
            if trend_key(trend_id) not in known:
                plan.unknown_usage_customers[trend_id] = usage.for_customer(trend_id)
    return plan
