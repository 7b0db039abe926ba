"""Build a plan: config + usage + ConnectWise + ledger -> Plan. The only place they meet.

Customers are planned independently on a bounded worker pool (the ConnectWise client's rate
limit is shared by all workers); an error in one customer becomes that customer's `failed`
status and never stops the others.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from reconciler.actual import Directory, read_additions, read_directory
from reconciler.config.model import Config, Customer
from reconciler.connectwise import ConnectWiseError
from reconciler.desired import CustomerError, desired_for
from reconciler.ledger import LedgerView
from reconciler.plan import Change, CustomerPlan, Plan, diff_customer, safety_verdict
from reconciler.schedule import decide, today_in
from reconciler.state import Agreement, CompanyState, plain_number
from reconciler.usage import Usage, UsageSourceError, usage_record


@dataclass(frozen=True)
class PlanOptions:
    today: date | None = None  # --date; else each customer's own time zone decides
    customers: tuple[str, ...] = ()  # --customer (slug or Trend id), repeatable
    send_now: bool = False
    shard: tuple[int, int] | None = None  # (K, N), 1-based
    only_slugs: frozenset[str] | None = None  # from --changed-since
    workers: int = 8
    sandbox: bool = False


class SelectionError(Exception):
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


@dataclass
class PlanContext:
    config: Config
    usage: Usage
    ledger: LedgerView
    options: PlanOptions
    directory: Directory = field(default_factory=Directory)


def _schedule(ctx: PlanContext, slug: str, kind: str, day: int, enabled: bool, today: date, catch_up_days: int):
    last = ctx.ledger.last_sent(slug, kind)
    return decide(
        today=today, day=day, enabled=enabled, catch_up_days=catch_up_days,
        sent_periods=ctx.ledger.sent_periods(slug, kind), send_now=ctx.options.send_now and enabled,
        what="billing" if kind == "billing" else "executive summary", ever_sent=last is not None,
        sent_day=last.get("day") if last else None,
        interrupted_periods={i.get("period") for i in ctx.ledger.unsettled_intents(slug, kind)},
    )


def plan_customer(client, ctx: PlanContext, customer: Customer) -> CustomerPlan:
    config, options = ctx.config, ctx.options
    cp = CustomerPlan(customer=customer.slug, name=customer.display_name, connectwise_company=customer.connectwise_company)
    billing = customer.billing
    cp.schedule = _schedule(ctx, customer.slug, "billing", billing.day, billing.enabled,
                            options.today or today_in(billing.timezone), billing.catch_up_days)
    summary = customer.executive_summary
    cp.summary_schedule = _schedule(ctx, customer.slug, "summary", summary.day, summary.enabled,
                                    options.today or today_in(summary.timezone), billing.catch_up_days)
    if not billing.enabled and not summary.enabled:
        cp.status, cp.reason = "skipped", "billing and executive summaries disabled"
        return cp
    for intent in ctx.ledger.unsettled_intents(customer.slug):
        cp.notes.append(
            f"run {intent.get('run_id')} stopped after its intent for {intent.get('period')} without a result; "
            "ConnectWise was re-read, so this plan starts from what actually happened"
        )
    try:
        company = ctx.directory.companies.get(customer.connectwise_company.casefold())
        if company is None:
            raise CustomerError(f"ConnectWise company {customer.connectwise_company!r} not found")
        check_company(customer, company, ctx.ledger.last_sent(customer.slug) or ctx.ledger.last_sent(customer.slug, "summary"))
        cp.connectwise_company_id, cp.connectwise_company_name = int(company["id"]), company.get("name")
        agreements = ctx.directory.agreements_by_company.get(int(company["id"]), [])
        billed_from = ctx.usage.for_period(cp.schedule.period if cp.schedule else None)
        usage = billed_from.for_customer(customer.trend_customer_id)
        cp.usage = usage_record(billed_from, customer.trend_customer_id)
        desired = desired_for(config, customer, usage, agreements)
        if billing.enabled:
            plan_billing(client, ctx, customer, cp, company, agreements, desired)
        else:
            cp.status, cp.reason = "skipped", "billing disabled (integration: custom, billing.enabled: false)"
        if cp.summary_schedule.due and desired.has_usage and cp.status != "failed":
            plan_summary(client, ctx, customer, cp, company, desired)
    except (CustomerError, ConnectWiseError, UsageSourceError) as error:
        cp.status, cp.reason = "failed", str(error)
    return cp


def check_company(customer: Customer, company: dict, previous: dict | None) -> None:
    """A customer is billed on the company record it was billed on before: an identifier that now
    resolves to another company id (reused after a rename) fails the customer, unless the file
    pins the new id with `connectwise_company_id`."""
    company_id, name = int(company["id"]), company.get("name") or "?"
    pinned = customer.connectwise_company_id
    if pinned is not None and pinned != company_id:
        raise CustomerError(
            f"connectwise_company {customer.connectwise_company!r} resolves to company id {company_id} ({name}), "
            f"but {customer.path.name} pins connectwise_company_id {pinned}: check the company in ConnectWise"
        )
    before = (previous or {}).get("connectwise_company_id")
    if before is None or int(before) == company_id or pinned == company_id:
        return
    raise CustomerError(
        f"connectwise_company {customer.connectwise_company!r} now resolves to company id {company_id} ({name}), "
        f"but {previous.get('period')} was billed to company id {before} ({previous.get('connectwise_company_name') or '?'}): "
        "the identifier may have been reused after a rename. Check both companies in ConnectWise; if "
        f"{company_id} is right, add `connectwise_company_id: {company_id}` to {customer.path.name}"
    )


def _resolve_also_bills_to(customer: Customer, agreements: list[Agreement]) -> dict[str, set[int]]:
    return {
        product: {a.id for a in agreements for ref in refs
                  if a.type.casefold() == ref.type.casefold() and a.name.casefold() == ref.name.casefold()}
        for product, refs in customer.also_bills_to.items()
    }


def plan_billing(client, ctx: PlanContext, customer: Customer, cp: CustomerPlan, company: dict,
                 agreements: list, desired) -> None:
    config, billing = ctx.config, customer.billing
    previous = ctx.ledger.last_sent(customer.slug)
    previous_additions = {
        product: rec for product, rec in ((previous or {}).get("additions") or {}).items()
        if isinstance(rec, dict) and rec.get("agreement_id") is not None
    }
    own_agreement_ids = {a.id for a in agreements}
    # Every active agreement of the company: a mapped product has one owner per company, so an
    # addition of it anywhere else must be seen to be cancelled.
    to_read = ({a.id for a in agreements if a.active} | {a.id for a in desired.agreements.values()}
               | ({int(rec["agreement_id"]) for rec in previous_additions.values()} & own_agreement_ids))
    actual = CompanyState(company_id=int(company["id"]), company_name=company.get("name"), agreements=agreements)
    for agreement_id in sorted(to_read):
        actual.additions[agreement_id] = read_additions(client, agreement_id)
    cp.fingerprint = actual.fingerprint()
    for product, agreement in desired.agreements.items():
        identifier = config.products[product].connectwise_product.casefold()
        matching = [a for a in actual.additions.get(agreement.id, []) if a.product_identifier.casefold() == identifier]
        if matching:
            addition = min(matching, key=lambda a: a.id)
            cp.current_additions[product] = {
                "id": addition.id, "agreement_id": agreement.id, "agreement": agreement.label,
                "quantity": plain_number(addition.quantity), "connectwise_product": addition.product_identifier,
            }
        before = previous_additions.get(product)
        if (before and int(before["agreement_id"]) != agreement.id
                and str(before.get("agreement", "")).casefold() == agreement.label.casefold()):
            cp.notes.append(
                f"{product}: agreement {agreement.label} is now id {agreement.id}, but {previous.get('period')} "
                f"billed agreement id {before['agreement_id']} of the same type and name: check that the old "
                "agreement was replaced on purpose"
            )

    catalog_identifiers = {p.connectwise_product.casefold() for p in config.products.values()}
    changes, notes = diff_customer(
        desired=desired, actual=actual, catalog_identifiers=catalog_identifiers,
        product_keys_by_identifier={p.connectwise_product: p.key for p in config.products.values()},
        effective_date=cp.schedule.billing_date, prune=billing.prune,
        also_bills_to=_resolve_also_bills_to(customer, agreements),
    )
    cp.changes = changes
    cp.notes += notes
    for product, quantity in desired.unmapped_usage.items():
        cp.notes.append(f"{product}: {quantity} seats in the usage source, but no agreement mapping in {customer.path.name}")
    # Managed: catalog items on the mapped agreements, and the mapped products wherever they are.
    mapped_identifiers = {config.products[p].connectwise_product.casefold() for p in desired.agreements}
    mapped_agreement_ids = {a.id for a in desired.agreements.values()}
    cp.managed_count = sum(
        1 for agreement_id, adds in actual.additions.items() for a in adds
        if a.product_identifier.casefold() in (catalog_identifiers if agreement_id in mapped_agreement_ids
                                               else mapped_identifiers)
    )
    cp.unsafe_reasons = safety_verdict(changes, cp.managed_count, desired.has_usage, config.safety)
    if not desired.has_usage:
        cp.status, cp.reason = "skipped", "the usage source has no rows for this customer; nothing is zeroed or cancelled"
    elif cp.unsafe_reasons:
        cp.status, cp.reason = "unsafe", "; ".join(cp.unsafe_reasons)
    else:
        cp.reason = cp.schedule.reason


def plan_summary(client, ctx: PlanContext, customer: Customer, cp: CustomerPlan, company: dict, desired) -> None:
    """Plan this period's executive summary, unless ConnectWise already has it (a rerun or a
    crash after the POST): its groupIdentifier is a stable key of customer and period."""
    period = cp.summary_schedule.period
    group = summary_group_identifier(customer, period)
    existing = sorted(client.management_summary_reports(int(company["id"]), group_identifier=group),
                      key=lambda r: int(r["id"]))
    if existing:
        cp.summary_report_id = int(existing[0]["id"])
        cp.summary_duplicate_ids = [int(r["id"]) for r in existing[1:]]
        cp.notes.append(f"executive summary {group} is already in ConnectWise (report {cp.summary_report_id})")
        if cp.summary_duplicate_ids:
            cp.notes.append(f"executive summary {group} was posted {len(existing)} times by racing runs: "
                            f"report {cp.summary_report_id} stays, {', '.join(map(str, cp.summary_duplicate_ids))} "
                            "will be deleted")
        return
    agreement = summary_agreement(desired)
    body = summary_body(ctx, customer, int(company["id"]), agreement, group, desired)
    cp.changes.append(Change(
        "create", "summary", customer.slug, customer.connectwise_company, agreement, None, None, None,
        None, body, reason=f"executive summary for {period}",
    ))


def summary_group_identifier(customer: Customer, period: str) -> str:
    # Trend ids are GUIDs: unique, immutable, and short enough for the 100-character limit.
    return f"tmrm:{customer.trend_customer_id.lower()}:{period}"


def summary_agreement(desired) -> Agreement:
    """The agreement a summary is filed on: the one billing the most seats (ties: product key order)."""
    seats: dict[int, int] = {}
    for addition in desired.additions.values():
        seats[addition.agreement.id] = seats.get(addition.agreement.id, 0) + addition.quantity
    by_id = {a.id: a for a in desired.agreements.values()}
    if seats:
        return by_id[max(sorted(seats), key=lambda agreement_id: seats[agreement_id])]
    return next(iter(desired.agreements.values()))


def summary_body(ctx: PlanContext, customer: Customer, company_id: int, agreement: Agreement, group: str,
                 desired) -> dict:
    extra = ctx.usage.extra.get(customer.trend_customer_id, {}) or ctx.usage.extra.get(customer.trend_customer_id.lower(), {})
    body = {
        "groupIdentifier": group,
        "managementSolution": {"name": customer.executive_summary.management_solution},
        "deviceType": "WorkstationsAndServers",
        "company": {"id": company_id},
        "agreement": {"id": agreement.id, "name": agreement.name},
        "totalManagedMachines": sum(a.quantity for a in desired.additions.values()),
    }
    for source, field_name in (("workstations", "totalWorkstations"), ("servers", "totalServers"),
                               ("viruses_removed", "virusesRemoved"), ("spyware_removed", "spywareItemsRemoved")):
        if source in extra:
            body[field_name] = extra[source]
    return body


def build_plan(
    client, config: Config, usage: Usage, ledger: LedgerView, options: PlanOptions,
    progress: Callable[[int], None] | None = None,
) -> Plan:
    customers = select_customers(config, options)
    ctx = PlanContext(config=config, usage=usage, ledger=ledger, options=options)
    ctx.directory = read_directory(
        client, [c.connectwise_company for c in customers],
        [p.connectwise_product for p in config.products.values()],
    )
    missing_catalog = [
        p.connectwise_product for p in config.products.values()
        if p.connectwise_product.casefold() not in ctx.directory.catalog
    ]
    plan = Plan(today=options.today.isoformat() if options.today else "", customers=[], usage_source=usage.source,
                sandbox=options.sandbox)
    plan.catalog_ids = {key: int(item["id"]) for key, item in ctx.directory.catalog.items()}
    if missing_catalog:
        plan.warnings.append(f"catalog items not found in ConnectWise: {', '.join(sorted(missing_catalog))}")

    def work(customer: Customer) -> CustomerPlan:
        try:
            return plan_customer(client, ctx, customer)
        finally:
            if progress:
                progress(1)

    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        plan.customers = list(pool.map(work, customers))

    known = {c.trend_customer_id.lower() for c in config.customers}
    if not options.customers and options.only_slugs is None and (not options.shard or options.shard[0] == 1):
        for trend_id in sorted(usage.customers()):
            if trend_id.lower() not in known:
                plan.unknown_usage_customers[trend_id] = usage.for_customer(trend_id)
    return plan
