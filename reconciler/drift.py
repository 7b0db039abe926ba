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
a configured company. The rest (`find_drift`) is pure; its views live in `reconciler.render.drift`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from reconciler.config.model import Config, Customer
from reconciler.desired import CustomerError, resolve_agreement
from reconciler.ledger import LedgerView
from reconciler.money import ZERO, cents, monthly_amount
from reconciler.snapshot import active_agreement_ids, fan_out, read_company, read_directory
from reconciler.state import Addition, Agreement, CatalogItem, Company, plain_number
from reconciler.target import Target
from reconciler.usage import Usage

DRIFT_FORMAT_VERSION = "1.1"  # 1.1: findings and leakage priced (decimal strings)
KINDS = ("changed", "unmanaged", "unknown_customer", "unmapped_product", "unresolved")
# The words of the summary line, singular and plural.
KIND_WORDS = {
    "changed": ("changed outside Git", "changed outside Git"),
    "unmanaged": ("unmanaged addition", "unmanaged additions"),
    "unknown_customer": ("unknown Trend customer", "unknown Trend customers"),
    "unmapped_product": ("unmapped product", "unmapped products"),
    "unresolved": ("unresolved mapping", "unresolved mappings"),
}


@dataclass(frozen=True)
class Finding:
    kind: str  # one of KINDS
    message: str  # one readable line, without the customer (the renderers group by customer)
    customer: str | None = None  # slug; None for an unknown Trend customer
    psa_company: str | None = None
    agreement: dict[str, Any] | None = None  # {id, type, name} where ConnectWise has it now (or had it)
    product: str | None = None
    addition_id: int | None = None
    ledger: dict[str, Any] | None = None  # the ledger's record, when there is one
    connectwise: dict[str, Any] | None = None  # ConnectWise's record now, when there is one
    change: str | None = None  # for `changed`: quantity | moved | cancelled | deleted | added
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
class Snapshot:
    """What drift needs to know about one configured customer."""

    customer: Customer
    company: Company | None  # None: not found in ConnectWise
    agreements: list[Agreement] = field(default_factory=list)  # all of the company's agreements
    additions: list[Addition] = field(default_factory=list)  # every addition (cancelled too) of its active agreements
    catalog: dict[str, CatalogItem] = field(default_factory=dict)  # identifier.casefold() -> item (prices)


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
            if f.monthly is not None and f.kind in ("unknown_customer", "unmapped_product", "unmanaged"):
                totals[f.currency] = totals.get(f.currency, ZERO) + f.monthly
        return {currency: cents(amount) for currency, amount in totals.items()}


# -- reading (the one impure function) -------------------------------------------------------


def read_snapshots(target: Target, config: Config, workers: int = 8) -> list[Snapshot]:
    directory = read_directory(
        target, [c.psa_company for c in config.customers],
        [p.catalog_item for p in config.products.values()],
    )

    def read(customer: Customer) -> Snapshot:
        # Every addition, cancelled too, so a cancelled addition can be told from a deleted one.
        company = read_company(target, directory, customer.psa_company,
                               active_agreement_ids(directory, customer.psa_company), active_only=False)
        return Snapshot(customer=customer, company=company.company, agreements=company.agreements,
                        additions=company.all_additions, catalog=directory.catalog)

    return fan_out(config.customers, read, workers)


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


def _priced(finding: Finding, snapshot: Snapshot, config: Config) -> Finding:
    """The finding with what it bills per month (see Finding.monthly)."""
    currency = snapshot.company.currency if snapshot.company else None
    agreements = {a.id: a for a in snapshot.agreements}
    by_id = {a.id: a for a in snapshot.additions}
    if finding.kind == "unmapped_product" and finding.usage and finding.product is not None:
        amount = _usage_value(config, snapshot.catalog, finding.product, finding.usage[finding.product])
        return replace(finding, monthly=amount, currency=currency)
    addition = by_id.get(finding.addition_id) if finding.addition_id is not None else None
    if addition is None or addition.unit_price is None:
        return finding
    agreement = agreements.get(addition.agreement_id)
    currency = (agreement.currency if agreement else None) or currency
    now = monthly_amount(addition.quantity, addition.unit_price, addition.less_included) if addition.active else ZERO
    if finding.kind == "changed" and finding.change == "quantity" and finding.ledger:
        was = monthly_amount(finding.ledger.get("quantity"), addition.unit_price, addition.less_included)
        return replace(finding, monthly=now - was, currency=currency)  # what the hand edit changed
    if finding.kind in ("unmanaged", "changed"):
        return replace(finding, monthly=now, currency=currency)
    return finding


def customer_findings(config: Config, snapshot: Snapshot, last_sent: dict[str, Any] | None,
                      usage: dict[str, int]) -> list[Finding]:
    """Every finding for one configured customer (unknown Trend customers are `find_drift`'s)."""
    customer = snapshot.customer
    base: dict[str, Any] = {"customer": customer.slug, "psa_company": customer.psa_company,
            "trend_customer_id": customer.trend_customer_id}
    findings: list[Finding] = []
    for product, quantity in sorted(usage.items()):
        if product not in customer.agreements:
            findings.append(Finding(
                "unmapped_product", f"{product}: {quantity} seats in the usage source, but no mapping in "
                f"{customer.path.name}", product=product, usage={product: quantity}, **base))
    if snapshot.company is None:
        findings.append(Finding("unresolved", f"ConnectWise company {customer.psa_company!r} not found", **base))
        return [_priced(f, snapshot, config) for f in findings]

    agreements = {a.id: a for a in snapshot.agreements}
    catalog = {p.catalog_item.casefold(): key for key, p in config.products.items()}
    active = [a for a in snapshot.additions if a.active and a.product_identifier.casefold() in catalog]
    by_id = {a.id: a for a in snapshot.additions}
    resolved: dict[str, Agreement] = {}
    for product, mapping in sorted(customer.agreements.items()):
        try:
            resolved[product] = resolve_agreement(product, mapping, snapshot.agreements, config.default_agreement_types)
        except CustomerError as error:
            findings.append(Finding("unresolved", str(error), product=product, **base))
    accounted: set[int] = set()  # additions already explained by a `changed` finding

    baseline = (last_sent or {}).get("additions") or {}
    for product, rec in sorted(baseline.items()):
        if not isinstance(rec, dict) or rec.get("id") is None:
            continue
        aid, was_on, label = int(rec["id"]), rec.get("agreement_id"), rec.get("agreement") or f"#{rec.get('agreement_id')}"
        ledger_rec = {k: rec.get(k) for k in ("id", "agreement_id", "agreement", "quantity")}
        where = f"{product} addition {aid} on {label}"
        now = by_id.get(aid)
        if now is not None and now.active:
            accounted.add(aid)
            agreement = agreements.get(now.agreement_id)
            if was_on is not None and now.agreement_id != int(was_on):
                findings.append(Finding(
                    "changed", f"{where}: moved to {agreement.label if agreement else now.agreement_id} in ConnectWise",
                    agreement=_agreement_json(agreement, now.agreement_id), product=product, addition_id=aid,
                    ledger=ledger_rec, connectwise=_record(now, agreement), change="moved", **base))
            elif _number(rec.get("quantity")) != now.quantity:
                findings.append(Finding(
                    "changed", f"{where}: quantity {rec.get('quantity')} in the ledger, "
                    f"{plain_number(now.quantity)} in ConnectWise",
                    agreement=_agreement_json(agreement, now.agreement_id), product=product, addition_id=aid,
                    ledger=ledger_rec, connectwise=_record(now, agreement), change="quantity", **base))
            continue
        # Gone from where the ledger left it: does ConnectWise bill the product somewhere else now?
        identifier = config.products[product].catalog_item.casefold() if product in config.products else None
        elsewhere = sorted((a for a in active if a.product_identifier.casefold() == identifier and a.id not in accounted),
                           key=lambda a: a.id)
        if now is not None:
            change, what = "cancelled", f"cancelled in ConnectWise ({str(now.cancelled_date)[:10]})"
        elif was_on is not None and int(was_on) not in agreements:
            change, what = "deleted", f"agreement {label} no longer exists for {customer.psa_company}"
        elif was_on is not None and not agreements[int(was_on)].active:
            change, what = "deleted", f"agreement {label} is no longer active"
        else:
            change, what = "deleted", "deleted in ConnectWise"
        connectwise = None
        if elsewhere:
            other = elsewhere[0]
            accounted.add(other.id)
            change = "moved"
            connectwise = _record(other, agreements.get(other.agreement_id))
            what += f"; ConnectWise now bills {product} as addition {other.id} on {connectwise['agreement']} " \
                    f"(quantity {connectwise['quantity']})"
        findings.append(Finding(
            "changed", f"{where} (quantity {rec.get('quantity')} in the ledger): {what}",
            agreement=_agreement_json(agreements.get(int(was_on)) if was_on is not None else None, was_on, label),
            product=product, addition_id=aid, ledger=ledger_rec, connectwise=connectwise, change=change, **base))

    ledger_ids = {int(r["id"]) for r in baseline.values() if isinstance(r, dict) and r.get("id") is not None}
    for addition in sorted(active, key=lambda a: (a.agreement_id, a.id)):
        if addition.id in accounted:
            continue
        product = catalog[addition.product_identifier.casefold()]
        agreement = agreements.get(addition.agreement_id)
        label = agreement.label if agreement else f"#{addition.agreement_id}"
        target = resolved.get(product)
        common: dict[str, Any] = dict(agreement=_agreement_json(agreement, addition.agreement_id), product=product,
                      addition_id=addition.id, connectwise=_record(addition, agreement), **base)
        if target is not None and target.id == addition.agreement_id:
            if last_sent is not None and addition.id not in ledger_ids:
                findings.append(Finding(
                    "changed", f"{product} addition {addition.id} on {label}: added in ConnectWise with quantity "
                    f"{plain_number(addition.quantity)}, not in the last send", change="added", **common))
            continue
        if product in customer.agreements and target is None:
            continue  # its mapping is unresolved (already a finding): cannot tell what it refers to
        why = (f"{product} maps to {target.label}" if target is not None
               else f"{customer.path.name} maps no {product}")
        findings.append(Finding(
            "unmanaged", f"{product} addition {addition.id} on {label} (quantity {plain_number(addition.quantity)}): "
            f"no mapping refers to it ({why})", **common))
    return [_priced(f, snapshot, config) for f in findings]


def _unsettled_after(ledger: LedgerView, slug: str, since: str) -> str | None:
    """The run id of a failed result or an unsettled intent newer than the baseline, if any:
    its partial writes would otherwise read as hand edits."""
    failed = ledger.last_failed(slug)
    if failed is not None and failed.get("ts", "") > since:
        return str(failed.get("run_id"))
    unsettled = [r for r in ledger.unsettled_intents(slug) if r.get("ts", "") > since]
    return str(unsettled[-1].get("run_id")) if unsettled else None


def find_drift(config: Config, snapshots: Iterable[Snapshot], ledger: LedgerView, usage: Usage) -> DriftReport:
    snapshots = list(snapshots)
    report = DriftReport(usage_source=usage.source)
    report.warnings += ledger.warnings + list(usage.warnings)
    for snapshot in snapshots:
        customer = snapshot.customer
        last_sent = ledger.last_sent(customer.slug)
        if last_sent is None:
            report.not_yet_sent.append(customer)
        later = _unsettled_after(ledger, customer.slug, (last_sent or {}).get("ts", ""))
        if later:
            report.warnings.append(
                f"{customer.slug}: a later billing run ({later}) did not finish as sent; ConnectWise may "
                "differ from the baseline because of that run, not a hand edit")
        report.findings += customer_findings(config, snapshot, last_sent, usage.for_customer(customer.trend_customer_id))
    known = {c.trend_customer_id.casefold() for c in config.customers}
    catalog = next((s.catalog for s in snapshots if s.catalog), {})
    for trend_id in sorted({cust for cust, _ in usage.quantities}):
        if trend_id.casefold() not in known:
            seats = dict(sorted(usage.for_customer(trend_id).items()))
            listed = ", ".join(f"{p} {q}" for p, q in seats.items())
            values = [_usage_value(config, catalog, p, q) for p, q in seats.items()]
            priced = [value for value in values if value is not None]
            report.findings.append(Finding(
                "unknown_customer", f"Trend customer {trend_id} has usage ({listed}) but no customer file "
                "(`reconcile import` can write one)", trend_customer_id=trend_id, usage=seats,
                monthly=sum(priced, ZERO) if values and len(priced) == len(values) else None))
    order = {kind: n for n, kind in enumerate(KINDS)}
    report.findings.sort(key=lambda f: (f.customer is None, f.customer or "", order[f.kind], f.product or "",
                                        f.addition_id or 0, f.trend_customer_id or ""))
    return report
