"""`reconcile drift`: what changed in ConnectWise (or in Trend) outside Git since the last send.

Read-only. The baseline of a customer is the `additions` map of its last `sent` billing result
in the ledger (product -> {id, agreement_id, agreement, quantity}). Findings:

- `changed`: an addition of that map differs in ConnectWise: another quantity (`quantity`),
  moved to another agreement (`moved`), cancelled (`cancelled`) or gone (`deleted`); or an active
  addition of a mapped product on its mapped agreement that the map does not hold (`added`).
- `unmanaged`: an active addition of a catalog product on an active agreement of a configured
  company that no mapping refers to (product unmapped, or mapped to another agreement). The plan
  never touches these, which is exactly why someone should look at them.
- `unknown_customer`: a Trend customer with usage but no customer file.
- `unmapped_product`: a product with usage but no mapping in that customer's file.
- `unresolved`: a company or mapping that no longer resolves in ConnectWise (company gone,
  agreement renamed or cancelled, `default` now ambiguous): the next plan fails for it.

Customers without a sent billing result are listed as "not yet sent; no baseline"; that is
information, not drift. An addition reported as `changed` is not reported again as `unmanaged`.

`read_snapshots` is the only impure function: the shared reader (`reconciler.snapshot`): one list
each of companies, agreements and catalog items, then one additions read per active agreement of
a configured company, into the `CompanyState` plan and import decide on too. The rest
(`find_drift`) is pure, `today` passed in (the day an addition's cancelled date is compared
with, as ConnectWise's own "active" does); its views live in `reconciler.render.drift`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from reconciler.config.model import Config, Customer
from reconciler.desired import CustomerError, resolve_agreement
from reconciler.ledger import LedgerView
from reconciler.money import ZERO, cents, monthly_amount
from reconciler.snapshot import active_agreement_ids, fan_out, read_company, read_directory
from reconciler.state import Addition, Agreement, CatalogItem, CompanyState, plain_number
from reconciler.target import Target
from reconciler.usage import Usage

DRIFT_FORMAT_VERSION = "1.1"  # 1.1: findings and leakage priced (decimal strings)


class FindingKind(StrEnum):
    """What a drift finding is (str-valued: the JSON's `kind`); in this order in every view."""

    CHANGED = "changed"  # a managed addition changed outside Git (see `ChangeKind`)
    UNMANAGED = "unmanaged"  # an addition of a managed product that no mapping manages
    UNKNOWN_CUSTOMER = "unknown_customer"  # Trend usage for a customer no file names
    UNMAPPED_PRODUCT = "unmapped_product"  # usage of a product the customer's file does not map
    UNRESOLVED = "unresolved"  # a company or mapping that does not resolve in ConnectWise


class ChangeKind(StrEnum):
    """How a `changed` finding's addition changed in ConnectWise (the JSON's `change`)."""

    QUANTITY = "quantity"
    MOVED = "moved"
    CANCELLED = "cancelled"
    DELETED = "deleted"
    ADDED = "added"


KINDS = tuple(FindingKind)
# What no mapping bills: the usage nobody bills and the additions nobody manages.
LEAKAGE_KINDS = (FindingKind.UNKNOWN_CUSTOMER, FindingKind.UNMAPPED_PRODUCT, FindingKind.UNMANAGED)
# The words of the summary line, singular and plural.
KIND_WORDS = {
    FindingKind.CHANGED: ("changed outside Git", "changed outside Git"),
    FindingKind.UNMANAGED: ("unmanaged addition", "unmanaged additions"),
    FindingKind.UNKNOWN_CUSTOMER: ("unknown Trend customer", "unknown Trend customers"),
    FindingKind.UNMAPPED_PRODUCT: ("unmapped product", "unmapped products"),
    FindingKind.UNRESOLVED: ("unresolved mapping", "unresolved mappings"),
}


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    message: str  # one readable line, without the customer (the renderers group by customer)
    customer: str | None = None  # slug; None for an unknown Trend customer
    psa_company: str | None = None
    agreement: dict[str, Any] | None = None  # {id, type, name} where ConnectWise has it now (or had it)
    product: str | None = None
    addition_id: int | None = None
    ledger: dict[str, Any] | None = None  # the ledger's record, when there is one
    connectwise: dict[str, Any] | None = None  # ConnectWise's record now, when there is one
    change: ChangeKind | None = None  # for `changed`: how
    trend_customer_id: str | None = None
    usage: dict[str, int] | None = None
    # What it bills (or, for usage nobody bills, would bill) per month; `currency` None: unknown
    monthly: Decimal | None = None
    currency: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "monthly": None if self.monthly is None else {"currency": self.currency, "amount": str(self.monthly)},
            "kind": self.kind, "change": self.change, "customer": self.customer,
            "connectwise_company": self.psa_company, "trend_customer_id": self.trend_customer_id,
            "agreement": self.agreement, "product": self.product, "addition_id": self.addition_id,
            "ledger": self.ledger, "connectwise": self.connectwise, "usage": self.usage, "message": self.message,
        }


@dataclass
class DriftRead:
    """What drift read from the PSA: each configured customer with its company's state (every
    addition, cancelled too, of the company's active agreements), and the catalog (prices)."""

    companies: list[tuple[Customer, CompanyState]] = field(default_factory=list)
    catalog: dict[str, CatalogItem] = field(default_factory=dict)  # identifier.casefold() -> item


@dataclass
class DriftReport:
    findings: list[Finding] = field(default_factory=list)
    not_yet_sent: list[Customer] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ledger: str = ""
    usage_source: str = ""
    sandbox: bool = False

    @property
    def drifted(self) -> bool:
        return bool(self.findings)

    def counts(self) -> dict[str, int]:
        return {kind: sum(1 for f in self.findings if f.kind == kind) for kind in KINDS}

    def leakage(self) -> dict[str | None, Decimal]:
        """Per currency, per month: usage nobody bills (unknown customers, unmapped products, at
        catalog price) plus additions no mapping manages. Currencies are never added together."""
        totals: dict[str | None, Decimal] = {}
        for f in self.findings:
            if f.monthly is not None and f.kind in LEAKAGE_KINDS:
                totals[f.currency] = totals.get(f.currency, ZERO) + f.monthly
        return {currency: cents(amount) for currency, amount in totals.items()}


# -- reading (the one impure function) -------------------------------------------------------


def read_snapshots(target: Target, config: Config, workers: int = 8) -> DriftRead:
    directory = read_directory(
        target, [c.psa_company for c in config.customers],
        [p.catalog_item for p in config.products.values()],
    )

    def read(customer: Customer) -> tuple[Customer, CompanyState]:
        # Every addition, cancelled too, so a cancelled addition can be told from a deleted one.
        return customer, read_company(target, directory, customer.psa_company,
                                      active_agreement_ids(directory, customer.psa_company), active_only=False)

    return DriftRead(fan_out(config.customers, read, workers), directory.catalog)


# -- finding drift (pure) --------------------------------------------------------------------


def _record(addition: Addition, agreement: Agreement | None) -> dict[str, Any]:
    return {"id": addition.id, "agreement_id": addition.agreement_id,
            "agreement": agreement.label if agreement else f"#{addition.agreement_id}",
            "quantity": plain_number(addition.quantity)}


def _agreement_json(agreement: Agreement | None, agreement_id: int | None, label: str | None = None) -> dict[str, Any] | None:
    if agreement is not None:
        return agreement.as_json()
    if agreement_id is None:
        return None
    return {"id": agreement_id, "type": None, "name": label}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _usage_value(config: Config, catalog: dict[str, CatalogItem], product: str, seats: int) -> Decimal | None:
    """Usage nobody bills, at the catalog price (what a new addition would bill per month)."""
    item = catalog.get(config.products[product].catalog_item.casefold()) if product in config.products else None
    return monthly_amount(seats, item.price if item else None)


def _priced(finding: Finding, state: CompanyState, catalog: dict[str, CatalogItem], config: Config,
            today: date) -> Finding:
    """The finding with what it bills per month (see Finding.monthly)."""
    currency = state.company.currency if state.company else None
    agreements = {a.id: a for a in state.agreements}
    by_id = {a.id: a for a in state.all_additions}
    if finding.kind == FindingKind.UNMAPPED_PRODUCT and finding.usage and finding.product is not None:
        amount = _usage_value(config, catalog, finding.product, finding.usage[finding.product])
        return replace(finding, monthly=amount, currency=currency)
    addition = by_id.get(finding.addition_id) if finding.addition_id is not None else None
    if addition is None or addition.unit_price is None:
        return finding
    agreement = agreements.get(addition.agreement_id)
    currency = (agreement.currency if agreement else None) or currency
    now = monthly_amount(addition.quantity, addition.unit_price, addition.less_included) if addition.bills_on(today) else ZERO
    if finding.kind == FindingKind.CHANGED and finding.change == ChangeKind.QUANTITY and finding.ledger:
        was = monthly_amount(finding.ledger.get("quantity"), addition.unit_price, addition.less_included)
        return replace(finding, monthly=now - was, currency=currency)  # what the hand edit changed
    if finding.kind in (FindingKind.UNMANAGED, FindingKind.CHANGED):
        return replace(finding, monthly=now, currency=currency)
    return finding


def customer_findings(config: Config, customer: Customer, state: CompanyState, catalog: dict[str, CatalogItem],
                      last_sent: dict[str, Any] | None, usage: dict[str, int], today: date) -> list[Finding]:
    """Every finding for one configured customer (unknown Trend customers are `find_drift`'s).
    An addition counts as active when it bills `today` (ConnectWise's own addition status)."""
    base: dict[str, Any] = {"customer": customer.slug, "psa_company": customer.psa_company,
            "trend_customer_id": customer.trend_customer_id}
    findings: list[Finding] = []
    for product, quantity in sorted(usage.items()):
        if product not in customer.agreements:
            findings.append(Finding(
                FindingKind.UNMAPPED_PRODUCT, f"{product}: {quantity} seats in the usage source, but no mapping in "
                f"{customer.path.name}", product=product, usage={product: quantity}, **base))
    if state.company is None:
        findings.append(Finding(FindingKind.UNRESOLVED, f"ConnectWise company {customer.psa_company!r} not found", **base))
        return [_priced(f, state, catalog, config, today) for f in findings]

    agreements = {a.id: a for a in state.agreements}
    additions = state.all_additions
    products = {p.catalog_item.casefold(): key for key, p in config.products.items()}
    active = [a for a in additions if a.bills_on(today) and a.product_identifier.casefold() in products]
    by_id = {a.id: a for a in additions}
    resolved: dict[str, Agreement] = {}
    for product, mapping in sorted(customer.agreements.items()):
        try:
            resolved[product] = resolve_agreement(product, mapping, state.agreements, config.default_agreement_types)
        except CustomerError as error:
            findings.append(Finding(FindingKind.UNRESOLVED, str(error), product=product, **base))
    accounted: set[int] = set()  # additions already explained by a `changed` finding

    baseline = (last_sent or {}).get("additions") or {}
    for product, rec in sorted(baseline.items()):
        if not isinstance(rec, dict) or rec.get("id") is None:
            continue
        aid, was_on, label = int(rec["id"]), rec.get("agreement_id"), rec.get("agreement") or f"#{rec.get('agreement_id')}"
        ledger_rec = {k: rec.get(k) for k in ("id", "agreement_id", "agreement", "quantity")}
        where = f"{product} addition {aid} on {label}"
        now = by_id.get(aid)
        if now is not None and now.bills_on(today):
            accounted.add(aid)
            agreement = agreements.get(now.agreement_id)
            if was_on is not None and now.agreement_id != int(was_on):
                findings.append(Finding(
                    FindingKind.CHANGED, f"{where}: moved to {agreement.label if agreement else now.agreement_id} in ConnectWise",
                    agreement=_agreement_json(agreement, now.agreement_id), product=product, addition_id=aid,
                    ledger=ledger_rec, connectwise=_record(now, agreement), change=ChangeKind.MOVED, **base))
            elif _number(rec.get("quantity")) != now.quantity:
                findings.append(Finding(
                    FindingKind.CHANGED, f"{where}: quantity {rec.get('quantity')} in the ledger, "
                    f"{plain_number(now.quantity)} in ConnectWise",
                    agreement=_agreement_json(agreement, now.agreement_id), product=product, addition_id=aid,
                    ledger=ledger_rec, connectwise=_record(now, agreement), change=ChangeKind.QUANTITY, **base))
            continue
        # Gone from where the ledger left it: does ConnectWise bill the product somewhere else now?
        identifier = config.products[product].catalog_item.casefold() if product in config.products else None
        elsewhere = sorted((a for a in active if a.product_identifier.casefold() == identifier and a.id not in accounted),
                           key=lambda a: a.id)
        if now is not None:
            change, what = ChangeKind.CANCELLED, f"cancelled in ConnectWise ({str(now.cancelled_date)[:10]})"
        elif was_on is not None and int(was_on) not in agreements:
            change, what = ChangeKind.DELETED, f"agreement {label} no longer exists for {customer.psa_company}"
        elif was_on is not None and not agreements[int(was_on)].active:
            change, what = ChangeKind.DELETED, f"agreement {label} is no longer active"
        else:
            change, what = ChangeKind.DELETED, "deleted in ConnectWise"
        connectwise = None
        if elsewhere:
            other = elsewhere[0]
            accounted.add(other.id)
            change = ChangeKind.MOVED
            connectwise = _record(other, agreements.get(other.agreement_id))
            what += f"; ConnectWise now bills {product} as addition {other.id} on {connectwise['agreement']} " \
                    f"(quantity {connectwise['quantity']})"
        findings.append(Finding(
            FindingKind.CHANGED, f"{where} (quantity {rec.get('quantity')} in the ledger): {what}",
            agreement=_agreement_json(agreements.get(int(was_on)) if was_on is not None else None, was_on, label),
            product=product, addition_id=aid, ledger=ledger_rec, connectwise=connectwise, change=change, **base))

    ledger_ids = {int(r["id"]) for r in baseline.values() if isinstance(r, dict) and r.get("id") is not None}
    for addition in sorted(active, key=lambda a: (a.agreement_id, a.id)):
        if addition.id in accounted:
            continue
        product = products[addition.product_identifier.casefold()]
        agreement = agreements.get(addition.agreement_id)
        label = agreement.label if agreement else f"#{addition.agreement_id}"
        target = resolved.get(product)
        common: dict[str, Any] = dict(agreement=_agreement_json(agreement, addition.agreement_id), product=product,
                      addition_id=addition.id, connectwise=_record(addition, agreement), **base)
        if target is not None and target.id == addition.agreement_id:
            if last_sent is not None and addition.id not in ledger_ids:
                findings.append(Finding(
                    FindingKind.CHANGED, f"{product} addition {addition.id} on {label}: added in ConnectWise with quantity "
                    f"{plain_number(addition.quantity)}, not in the last send", change=ChangeKind.ADDED, **common))
            continue
        if product in customer.agreements and target is None:
            continue  # its mapping is unresolved (already a finding): cannot tell what it refers to
        why = (f"{product} maps to {target.label}" if target is not None
               else f"{customer.path.name} maps no {product}")
        findings.append(Finding(
            FindingKind.UNMANAGED, f"{product} addition {addition.id} on {label} (quantity {plain_number(addition.quantity)}): "
            f"no mapping refers to it ({why})", **common))
    return [_priced(f, state, catalog, config, today) for f in findings]


def _unsettled_after(ledger: LedgerView, slug: str, since: str) -> str | None:
    """The run id of a failed result or an unsettled intent newer than the baseline, if any:
    its partial writes would otherwise read as hand edits."""
    failed = ledger.last_failed(slug)
    if failed is not None and failed.get("ts", "") > since:
        return str(failed.get("run_id"))
    unsettled = [r for r in ledger.unsettled_intents(slug) if r.get("ts", "") > since]
    return str(unsettled[-1].get("run_id")) if unsettled else None


def find_drift(config: Config, read: DriftRead, ledger: LedgerView, usage: Usage, today: date) -> DriftReport:
    """`today`: the day the command runs (UTC), read by the command."""
    report = DriftReport(usage_source=usage.source)
    report.warnings += ledger.warnings + list(usage.warnings)
    for customer, state in read.companies:
        last_sent = ledger.last_sent(customer.slug)
        if last_sent is None:
            report.not_yet_sent.append(customer)
        later = _unsettled_after(ledger, customer.slug, (last_sent or {}).get("ts", ""))
        if later:
            report.warnings.append(
                f"{customer.slug}: a later billing run ({later}) did not finish as sent; ConnectWise may "
                "differ from the baseline because of that run, not a hand edit")
        report.findings += customer_findings(config, customer, state, read.catalog, last_sent,
                                             usage.for_customer(customer.trend_customer_id), today)
    known = {c.trend_customer_id.casefold() for c in config.customers}
    # Unknown customers' usage is priced from the catalog read with the configured customers
    # (none configured: unpriced, as drift has always reported it).
    catalog = read.catalog if read.companies else {}
    for trend_id in sorted({cust for cust, _ in usage.quantities}):
        if trend_id.casefold() not in known:
            seats = dict(sorted(usage.for_customer(trend_id).items()))
            listed = ", ".join(f"{p} {q}" for p, q in seats.items())
            values = [_usage_value(config, catalog, p, q) for p, q in seats.items()]
            priced = [value for value in values if value is not None]
            report.findings.append(Finding(
                FindingKind.UNKNOWN_CUSTOMER, f"Trend customer {trend_id} has usage ({listed}) but no customer file "
                "(`reconcile import` can write one)", trend_customer_id=trend_id, usage=seats,
                monthly=sum(priced, ZERO) if values and len(priced) == len(values) else None))
    order = {kind: n for n, kind in enumerate(KINDS)}
    report.findings.sort(key=lambda f: (f.customer is None, f.customer or "", order[f.kind], f.product or "",
                                        f.addition_id or 0, f.trend_customer_id or ""))
    return report
