"""The plan: the difference between desired and actual, per customer, with its safety verdict.

`diff_customer` is pure. The diff itself is deepdiff over normalised records keyed by
(agreement id, catalog identifier), so server-managed fields can never cause a change; the
rules below then decide what a missing or extra record means:

- desired, not in ConnectWise          -> create (effectiveDate = the period's billing date)
- both, quantities differ              -> update (PATCH quantity)
- in ConnectWise on any other agreement of the company, product mapped -> cancel
  ("P now bills to A"; cancelledDate, never DELETE), unless the customer's `also_bills_to` names
  that agreement for the product (then left alone and noted)
- two active additions of one mapped product on one agreement, the extra ones created by this
  tool (a race between two applies) -> the lowest id stays, the others are cancelled at
  quantity 0; an extra one typed by hand fails the customer
- in ConnectWise, mapped, usage gone   -> cancel only with `billing.prune`; otherwise kept, noted
- additions of products outside the catalog, or of catalog products the customer does not
  map, are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Callable, Literal

from deepdiff import DeepDiff

from reconciler.config.model import Customer, SafetySettings
from reconciler.desired import CustomerError, DesiredCustomer
from reconciler.money import ChangeMoney, Totals, show, text, totals
from reconciler.schedule import Schedule
from reconciler.state import (
    Addition,
    AdditionPrint,
    Agreement,
    CompanyState,
    plain_number,
)

PLAN_FORMAT_VERSION = "1.1"  # 1.1: money (decimal strings) per change, per customer and for the plan


@dataclass(frozen=True, slots=True)
class Change:
    action: Literal["create", "update", "cancel"]
    kind: Literal["addition", "summary"]
    customer: str
    psa_company: str
    agreement: Agreement
    product: str | None  # product key (None for a summary report)
    catalog_item: str | None
    addition_id: int | None
    before: Any
    after: Any
    effective_date: date | None = None
    reason: str = ""
    money: ChangeMoney | None = None  # its monthly effect (additions only)

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.kind,
            "customer": self.customer,
            "connectwise_company": self.psa_company,
            "agreement": self.agreement.as_json(),
            "product": self.product,
            "connectwise_product": self.catalog_item,
            "addition_id": self.addition_id,
            "before": self.before,
            "after": self.after,
            "effective_date": self.effective_date.isoformat() if self.effective_date else None,
            "reason": self.reason,
            "money": self.money.as_json() if self.money else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Change":
        agreement = data["agreement"]
        return cls(
            action=data["action"], kind=data.get("kind", "addition"), customer=data["customer"],
            psa_company=data["connectwise_company"],
            agreement=Agreement(id=agreement["id"], name=agreement["name"], type=agreement["type"], company_id=0),
            product=data.get("product"), catalog_item=data.get("connectwise_product"),
            addition_id=data.get("addition_id"), before=data.get("before"), after=data.get("after"),
            effective_date=date.fromisoformat(data["effective_date"]) if data.get("effective_date") else None,
            reason=data.get("reason", ""),
            money=ChangeMoney.from_json(data["money"]) if data.get("money") else None,
        )


class CustomerStatus(StrEnum):
    """What the plan says about a customer (str-valued: JSON and comparisons read the word)."""

    OK = "ok"  # planned; its changes go out when due
    FAILED = "failed"  # something stopped this customer (mapping, ConnectWise, company check)
    UNSAFE = "unsafe"  # beyond the safety thresholds; apply refuses it without --force
    SKIPPED = "skipped"  # disabled, or no usage rows


@dataclass(slots=True)
class CustomerPlan:
    customer: str  # slug
    name: str
    psa_company: str
    status: CustomerStatus = CustomerStatus.OK
    reason: str = ""
    schedule: Schedule | None = None
    changes: list[Change] = field(default_factory=list)
    unsafe_reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # kept additions, unmapped usage, recoveries
    fingerprint: list[AdditionPrint] = field(default_factory=list)  # the additions the plan was made from
    managed_count: int = 0
    summary_schedule: Schedule | None = None
    summary_report_id: int | None = None  # this period's executive summary, when ConnectWise already has it
    summary_duplicate_ids: list[int] = field(default_factory=list)  # the same summary posted again by a race
    # product key -> the addition billing it now ({id, agreement_id, agreement, quantity, connectwise_product})
    current_additions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # currency -> (monthly recurring before, after this plan's changes), of the managed additions
    monthly: dict[str | None, tuple[Decimal, Decimal]] = field(default_factory=dict)
    invoice_warnings: list[str] = field(default_factory=list)  # what to check about invoices and proration
    connectwise_company_id: int | None = None  # the company record the identifier resolved to
    connectwise_company_name: str | None = None
    # False: not due and planned without previews, so its additions were not read (no changes
    # shown, nothing claimed about ConnectWise)
    billing_read: bool = True
    # The plan's read of each agreement's additions and when (time.monotonic()): under the run
    # lease a create relies on it instead of reading the agreement again (apply.create_once)
    additions_read: dict[int, list[Any]] = field(default_factory=dict, repr=False, compare=False)
    read_at: float | None = field(default=None, repr=False, compare=False)
    # The usage behind this customer's numbers (source, basis, report month, rows hash), which
    # apply writes into the ledger result: see reconciler/usage/audit.py.
    usage: dict[str, Any] | None = None
    # Intents left without a result for a period earlier than the one this run would send
    # (engine.interrupted_intents): apply records each as failed and reports the customer.
    interrupted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def due(self) -> bool:
        return self.schedule is not None and self.schedule.due

    @property
    def actionable(self) -> bool:
        """Would apply send this customer's billing (without --force)?"""
        return self.due and self.status == CustomerStatus.OK

    @property
    def summary_due(self) -> bool:
        return self.summary_schedule is not None and self.summary_schedule.due and self.status != CustomerStatus.FAILED

    def change_due(self, change: "Change") -> bool:
        return self.summary_due if change.kind == "summary" else self.actionable


@dataclass(slots=True)
class Plan:
    today: str  # the --date, or "" when each customer's own time zone decided
    customers: list[CustomerPlan]
    unknown_usage_customers: dict[str, dict[str, int]] = field(default_factory=dict)  # in usage, no file
    warnings: list[str] = field(default_factory=list)
    usage_source: str = ""
    usage: dict[str, Any] = field(default_factory=dict)  # source, basis, report_month, units
    sandbox: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # what the plan was made with, for `apply PLAN_FILE`
    catalog_ids: dict[str, int] = field(default_factory=dict)  # catalog identifier (casefolded) -> id
    run_safety: RunSafety | None = None  # the run as a whole against its limits (run_safety_verdict)

    def due_changes(self) -> list[Change]:
        return [c for cp in self.customers for c in cp.changes if cp.change_due(c)]

    def money(self, previews: bool = False) -> Totals:
        """More billed, less billed, net and margin per month, per currency, of the due changes
        (with `previews`: of the changes of customers that are not due yet)."""
        changes = ([c for cp in self.customers for c in cp.changes if not cp.change_due(c)] if previews
                   else self.due_changes())
        return totals(c.money for c in changes if c.money is not None)

    def counts(self) -> dict[str, int]:
        changes = self.due_changes()
        counts = {action: sum(1 for c in changes if c.kind == "addition" and c.action == action)
                  for action in ("create", "update", "cancel")}
        counts["summary"] = sum(1 for c in changes if c.kind == "summary")
        return counts

    @property
    def has_changes(self) -> bool:
        return bool(self.due_changes())

    @property
    def has_failures(self) -> bool:
        return any(cp.status == CustomerStatus.FAILED for cp in self.customers)


def _normalise(additions: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {key: {"quantity": value} for key, value in additions.items()}


def _key(agreement_id: int, identifier: str) -> str:
    return f"{agreement_id}|{identifier.casefold()}"


def diff_customer(
    *,
    desired: DesiredCustomer,
    actual: CompanyState,
    catalog_identifiers: set[str],
    product_keys_by_identifier: dict[str, str],
    effective_date: date,
    prune: bool,
    also_bills_to: dict[str, set[int]] | None = None,
    run_accounted_for: Callable[[str], bool] | None = None,
) -> tuple[list[Change], list[str]]:
    """Changes that make ConnectWise match the desired state, plus notes for the reader.

    `actual` holds the additions of every active agreement of the company (and of the agreements
    the last send billed), so a mapped product billed anywhere else is seen and cancelled;
    `also_bills_to`: product key -> agreement ids where the customer file allows a second,
    hand-kept addition of it. Two active additions of one mapped product on one agreement are
    resolved when every extra one was created by this tool (a race); otherwise CustomerError.
    `run_accounted_for(run_id)`: whether the run named in an extra's marker is one this run can
    account for (the ledger holds its records, or its lease expired: it died mid-send). Under
    the run lease no two applies write at once, so a duplicate from a run that is neither is
    not a race this tool can explain: it fails the customer (docs/markers.md). Markers written
    before the lease (`tmrm-reconcile <run id>`) follow the same rule: an upgrading MSP's ledger
    knows the runs that made them, a hand-typed copy names a run it does not. None: every marker
    is accounted for.
    """
    also_bills_to = also_bills_to or {}
    customer: Customer = desired.customer
    company = customer.psa_company
    catalog = {i.casefold() for i in catalog_identifiers}
    by_identifier = {i.casefold(): k for i, k in product_keys_by_identifier.items()}
    mapped_identifiers = {i for i, k in by_identifier.items() if k in desired.agreements}
    agreements = {a.id: a for a in actual.agreements}
    for d in desired.additions.values():
        agreements.setdefault(d.agreement.id, d.agreement)

    def agreement_of(addition: Addition) -> Agreement:
        return agreements.get(addition.agreement_id) or Agreement(addition.agreement_id, f"#{addition.agreement_id}", "?", 0)

    changes: list[Change] = []
    notes: list[str] = []
    actual_index: dict[str, Addition] = {}
    for key, group in sorted(_active_by_key(actual, catalog, effective_date).items()):
        keep, *extras = sorted(group, key=lambda a: a.id)
        actual_index[key] = keep
        if not extras:
            continue
        identifier = keep.product_identifier.casefold()
        if identifier not in mapped_identifiers:
            continue  # a catalog product this customer does not map: not ours to touch
        typed_by_hand = [a for a in extras if not a.created_by_tool]
        unexplained = [a for a in extras if a.created_by_tool
                       and run_accounted_for is not None and not run_accounted_for(a.created_by_run or "")]
        if unexplained and not typed_by_hand:
            raise CustomerError(
                f"{len(group)} active additions of {keep.product_identifier} on agreement "
                f"{agreement_of(keep).label} (ids {', '.join(str(a.id) for a in group)}); addition "
                f"{unexplained[0].id} carries the marker of run {unexplained[0].created_by_run}, which neither "
                "this ledger nor the run lease knows: check which one bills and cancel the other in ConnectWise"
            )
        if typed_by_hand:
            raise CustomerError(
                f"{len(group)} active additions of {keep.product_identifier} on agreement "
                f"{agreement_of(keep).label} (ids {', '.join(str(a.id) for a in group)}); "
                f"addition {typed_by_hand[0].id} was not created by this tool: cancel the extra ones in ConnectWise first"
            )
        # Two runs raced and both created it: the lowest id stays, the others were never meant to
        # bill, so they are cancelled at quantity 0 (dates alone would leave a one-time fee).
        duplicated = by_identifier[identifier]
        for extra in extras:
            changes.append(Change(
                "cancel", "addition", customer.slug, company, agreement_of(extra), duplicated, extra.product_identifier,
                extra.id, plain_number(extra.quantity), 0, effective_date,
                f"duplicate of addition {keep.id}, created by a concurrent run ({extra.marker})",
            ))

    desired_index = {
        _key(d.agreement.id, d.catalog_item): d for d in desired.additions.values()
    }
    diff = DeepDiff(
        _normalise({k: a.quantity for k, a in actual_index.items()}),
        _normalise({k: d.quantity for k, d in desired_index.items()}),
        ignore_numeric_type_changes=True,
        threshold_to_diff_deeper=0,  # always report per-record adds/removes, never "whole dict replaced"
    )
    added = {_path_key(p) for p in diff.get("dictionary_item_added", [])}
    removed = {_path_key(p) for p in diff.get("dictionary_item_removed", [])}
    changed = {_path_key(p) for p in diff.get("values_changed", {})}

    for key in sorted(added):
        d = desired_index[key]
        if d.quantity == 0:
            notes.append(f"{d.product}: usage is 0 and there is no addition; nothing to create")
            continue
        changes.append(Change(
            "create", "addition", customer.slug, company, d.agreement, d.product, d.catalog_item,
            None, None, d.quantity, effective_date,
        ))
    for key in sorted(changed):
        d, a = desired_index[key], actual_index[key]
        changes.append(Change(
            "update", "addition", customer.slug, company, d.agreement, d.product, d.catalog_item,
            a.id, plain_number(a.quantity), d.quantity, reason=f"ends {a.ends.isoformat()}" if a.ends else "",
        ))
    for key in sorted(actual_index):
        a = actual_index[key]
        product = by_identifier.get(a.product_identifier.casefold())
        if a.ends is not None and product in desired.agreements:
            notes.append(ending_note(product, a, agreement_of(a)))
    for key in sorted(removed):
        a = actual_index[key]
        product = by_identifier.get(a.product_identifier.casefold())
        agreement = agreement_of(a)
        if product is None or product not in desired.agreements:
            continue  # a catalog product this customer does not map: not ours to touch
        target = desired.agreements[product]
        if target.id != a.agreement_id:
            if a.agreement_id in also_bills_to.get(product, set()):
                notes.append(
                    f"{product}: addition {a.id} on {agreement.label} (quantity {a.quantity:g}) left alone: "
                    f"{customer.path.name} says {product} also bills there (also_bills_to)"
                )
                continue
            # One owner per product and company: an active addition of a mapped product on any
            # other agreement bills the customer twice (typed by hand, left from TMRM, or from
            # before the mapping moved).
            changes.append(Change(
                "cancel", "addition", customer.slug, company, agreement, product, a.product_identifier,
                a.id, plain_number(a.quantity), None, effective_date, f"{product} now bills to {target.label}",
            ))
        elif product not in desired.additions:
            if prune:
                changes.append(Change(
                    "cancel", "addition", customer.slug, company, agreement, product, a.product_identifier,
                    a.id, plain_number(a.quantity), None, effective_date, "no usage (prune enabled)",
                ))
            else:
                notes.append(
                    f"{product}: no usage, addition {a.id} on {agreement.label} kept at {a.quantity:g} "
                    "(billing.prune is off)"
                )
    return changes, notes


def ending_note(product: str, addition: Addition, agreement: Agreement) -> str:
    """What the plan says about an addition a person scheduled to end (a cancelled date after the
    billing date). Decision (issue 19): it is still this product's addition, so the plan updates
    its quantity like any other and never creates a second one beside it; the tool never moves
    or clears the date a person set. Once the date has passed it bills nothing, and a product
    that still has usage then gets a new addition on the next billing date, as any product
    without one does: to stop billing the product for good, remove its mapping from the file."""
    assert addition.ends is not None  # called for an ending addition only
    return (f"{product}: addition {addition.id} on {agreement.label} ends {addition.ends.isoformat()} "
            "(a cancelled date set in ConnectWise): it bills until then, its quantity is kept up to date "
            "and the date is left as it is")


def _active_by_key(actual: CompanyState, catalog: set[str], billing_date: date) -> dict[str, list[Addition]]:
    """Additions of catalog items still billing on the billing date, grouped by (agreement,
    catalog item). One whose cancelled date is later than the billing date bills until then:
    it is the product's addition (never a second one beside it), see `ending_note`."""
    groups: dict[str, list[Addition]] = {}
    for agreement_id, additions in actual.additions.items():
        for addition in additions:
            if addition.bills_on(billing_date) and addition.product_identifier.casefold() in catalog:
                groups.setdefault(_key(agreement_id, addition.product_identifier), []).append(addition)
    return groups


def _path_key(path: str) -> str:
    # deepdiff paths look like root['12|tm-hes'] or root['12|tm-hes']['quantity']
    return path.split("['", 1)[1].split("']", 1)[0]


def safety_verdict(
    changes: list[Change], managed_count: int, has_usage: bool, safety: SafetySettings,
    monthly: dict[str | None, tuple[Decimal, Decimal]] | None = None,
) -> list[str]:
    """Why a customer's changes are unsafe (empty when safe). Mirrors octoDNS's thresholds,
    in seats and in money: `monthly` is the customer's recurring total before and after, per
    currency, and the money limits apply to its net change in each currency."""
    reasons: list[str] = []
    additions = [c for c in changes if c.kind == "addition"]
    if not has_usage and any(c.action == "cancel" or (c.action == "update" and not c.after) for c in additions):
        reasons.append("the usage source returned nothing for this customer, yet the plan would cancel or zero additions")
    if managed_count >= safety.min_additions and additions:
        percent = 100 * len(additions) / managed_count
        if percent > safety.max_change_percent:
            reasons.append(
                f"changes {len(additions)} of {managed_count} managed additions ({percent:.0f}% > "
                f"max_change_percent {safety.max_change_percent:g}%)"
            )
    for change in additions:
        if change.money is None or not change.money.known:
            # Unpriced is unknown, never free: the money limits cannot vouch for it.
            reasons.append(f"{change.product}: this {change.action} cannot be priced (ConnectWise gave no price "
                           f"for {change.catalog_item}), so the money limits cannot check it")
        if change.action in ("create", "update") and change.after is not None and change.after > safety.max_quantity:
            reasons.append(
                f"{change.product} quantity {change.after} is above max_quantity {safety.max_quantity}"
            )
        elif change.action == "update" and change.before and change.after is not None and change.after > change.before:
            rise = 100 * (change.after - change.before) / change.before
            if rise > safety.max_quantity_increase_percent:
                reasons.append(
                    f"{change.product} rises {change.before} -> {change.after} ({rise:.0f}% > "
                    f"max_quantity_increase_percent {safety.max_quantity_increase_percent:g}%)"
                )
        if change.action == "update" and change.before and change.after is not None and change.after < change.before:
            drop = 100 * (change.before - change.after) / change.before
            if drop > safety.max_quantity_drop_percent:
                reasons.append(
                    f"{change.product} drops {change.before} -> {change.after} ({drop:.0f}% > "
                    f"max_quantity_drop_percent {safety.max_quantity_drop_percent:g}%)"
                )
    for currency, (before, after) in sorted((monthly or {}).items(), key=lambda item: item[0] or ""):
        delta = after - before
        limit = safety.max_monthly_increase if delta > 0 else safety.max_monthly_decrease
        if limit is not None and abs(delta) > Decimal(str(limit)):
            word = "max_monthly_increase" if delta > 0 else "max_monthly_decrease"
            reasons.append(f"monthly total changes by {show(delta, currency, signed=True)} "
                           f"({show(before, currency)} -> {show(after, currency)}), beyond {word} "
                           f"{show(Decimal(str(limit)), currency)}")
        if before > 0 and safety.max_monthly_change_percent is not None:
            share = 100 * abs(delta) / before
            if share > Decimal(str(safety.max_monthly_change_percent)):
                reasons.append(f"monthly total changes by {show(delta, currency, signed=True)}, {share:.0f}% of "
                               f"{show(before, currency)} (> max_monthly_change_percent "
                               f"{safety.max_monthly_change_percent:g}%)")
    return reasons


@dataclass(slots=True)
class RunSafety:
    """The run as a whole against `safety.max_run_*`: what the customers it sends (due, safe on
    their own) add up to, per currency, and why that is unsafe (empty when safe)."""

    increase: dict[str | None, Decimal]  # currency -> sum of the customers' net monthly rises
    decrease: dict[str | None, Decimal]  # currency -> sum of their net falls (negative)
    customers_changed: int
    max_increase: Decimal | None
    max_decrease: Decimal | None
    max_customers: int | None
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        currencies = sorted(set(self.increase) | set(self.decrease), key=lambda c: c or "")
        return {
            "monthly": {(c or "unknown"): {"increase": text(self.increase.get(c, Decimal(0))),
                                           "decrease": text(self.decrease.get(c, Decimal(0)))} for c in currencies},
            "customers_changed": self.customers_changed,
            "limits": {"max_run_monthly_increase": text(self.max_increase),
                       "max_run_monthly_decrease": text(self.max_decrease),
                       "max_run_customers_changed": self.max_customers},
            "unsafe_reasons": self.reasons,
        }


def _limit(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def run_safety_verdict(plan: Plan, safety: SafetySettings) -> RunSafety:
    """The run-wide limits, octoDNS's "too much change" for the whole plan: forty customers each
    just under their own money limit still add up. Counted: the customers this run would send
    (due and safe on their own); per currency, each customer's net monthly change."""
    sending = [cp for cp in plan.customers if cp.actionable and any(c.kind == "addition" for c in cp.changes)]
    increase: dict[str | None, Decimal] = {}
    decrease: dict[str | None, Decimal] = {}
    for cp in sending:
        for currency, (before, after) in cp.monthly.items():
            change = after - before
            if change > 0:
                increase[currency] = increase.get(currency, Decimal(0)) + change
            elif change < 0:
                decrease[currency] = decrease.get(currency, Decimal(0)) + change
    verdict = RunSafety(increase, decrease, len(sending), _limit(safety.max_run_monthly_increase),
                        _limit(safety.max_run_monthly_decrease), safety.max_run_customers_changed)
    for currency, amount in sorted(increase.items(), key=lambda item: item[0] or ""):
        if verdict.max_increase is not None and amount > verdict.max_increase:
            verdict.reasons.append(f"the run raises monthly totals by {show(amount, currency, signed=True)} in all, "
                                   f"beyond max_run_monthly_increase {show(verdict.max_increase, currency)}")
    for currency, amount in sorted(decrease.items(), key=lambda item: item[0] or ""):
        if verdict.max_decrease is not None and -amount > verdict.max_decrease:
            verdict.reasons.append(f"the run lowers monthly totals by {show(amount, currency, signed=True)} in all, "
                                   f"beyond max_run_monthly_decrease {show(verdict.max_decrease, currency)}")
    if verdict.max_customers is not None and len(sending) > verdict.max_customers:
        verdict.reasons.append(f"the run changes {len(sending)} customers, beyond max_run_customers_changed "
                               f"{verdict.max_customers}")
    return verdict


def apply_run_safety(plan: Plan, safety: SafetySettings) -> None:
    """Judge the run as a whole; when it is unsafe, every customer it would send is unsafe too
    (with the run's reasons), so apply sends none of them without --force."""
    verdict = run_safety_verdict(plan, safety)
    plan.run_safety = verdict
    if not verdict.reasons:
        return
    for cp in plan.customers:
        if cp.actionable and any(c.kind == "addition" for c in cp.changes):
            reasons = [f"the run as a whole: {reason}" for reason in verdict.reasons]
            cp.unsafe_reasons += reasons
            cp.status, cp.reason = CustomerStatus.UNSAFE, "; ".join(reasons)
