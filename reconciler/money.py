"""What a plan costs the customer each month, and which invoice it lands on. Pure.

Prices are read, never written: ConnectWise prices an addition (`unitPrice`, `unitCost`,
`lessIncluded`) and computes proration; the tool sends quantities and dates only. The figures
here are what a billing admin approves a pull request by:

- the monthly amount of an addition = (quantity - less included) x unit price, to the cent
  (half up), as ConnectWise's `extPrice`;
- an update or a cancel is priced from the addition's own unit price; a create from the catalog
  item's price (what ConnectWise puts on a new addition);
- the currency is the agreement's, else the company's; amounts in two currencies are never
  added together (every total is per currency);
- margin is (price - cost) x billed quantity, where the cost is known.

Invoices: ConnectWise invoices an agreement on its `nextInvoiceDate`. A change effective on a
billing date D is meant for the first invoice on or after D. When the invoice before the next
one (one billing cycle earlier) is on or after D, that invoice was already produced without
this change: the change lands on the next one, and the plan warns. A create on an agreement
with proration off bills a whole month whatever its effective date: the plan says so.
"""

from __future__ import annotations

import calendar
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, overload

from reconciler.errors import ReconcileError

CENT = Decimal("0.01")
ZERO = Decimal(0)
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "AUD": "A$", "CAD": "C$", "NZD": "NZ$"}
# Far above any real seat price, seat count or monthly bill, and far inside Decimal's 28 digits,
# so a price near 1e26 or a usage of 1e30 is refused by name instead of failing a computation.
MAX_FIGURE = Decimal(10) ** 12


class MoneyOutOfRange(ReconcileError):
    """A price, quantity or amount no bill can hold (from ConnectWise, a usage source or a file)."""


@overload
def in_range(value: Decimal, what: str) -> Decimal: ...
@overload
def in_range(value: None, what: str) -> None: ...
def in_range(value: Decimal | None, what: str) -> Decimal | None:
    """`value`, or MoneyOutOfRange naming `what` when it is not a finite number below MAX_FIGURE."""
    if value is not None and (not value.is_finite() or abs(value) >= MAX_FIGURE):
        raise MoneyOutOfRange(f"{what} {_short(value)} is out of range (a bill holds figures below {MAX_FIGURE:.0e}); "
                              "check it at its source")
    return value


def _short(value: Decimal) -> str:
    return f"{value.normalize():.6g}" if value.is_finite() else str(value)


def cents(value: Decimal) -> Decimal:
    try:
        return in_range(value, "amount").quantize(CENT, ROUND_HALF_UP)
    except InvalidOperation:  # beyond Decimal's precision: the same answer as a figure out of range
        raise MoneyOutOfRange(f"amount {_short(value)} is out of range; check the prices and quantities at their "
                              "source") from None


def billed(quantity: Any, less_included: Decimal = ZERO) -> Decimal:
    return max(in_range(Decimal(str(quantity or 0)), "quantity") - less_included, ZERO)


@overload
def monthly_amount(quantity: Any, unit_price: Decimal, less_included: Decimal = ZERO) -> Decimal: ...
@overload
def monthly_amount(quantity: Any, unit_price: Decimal | None, less_included: Decimal = ZERO) -> Decimal | None: ...
def monthly_amount(quantity: Any, unit_price: Decimal | None, less_included: Decimal = ZERO) -> Decimal | None:
    """ConnectWise's extended price of an addition; None when the price is unknown."""
    if unit_price is None:
        return None
    return cents(billed(quantity, less_included) * unit_price)


def show(amount: Decimal, currency: str | None, signed: bool = False) -> str:
    """`$12.60`, `-€3.00`, `+CHF 4.00` (currency `None`: `12.60 (currency unknown)`)."""
    sign = "-" if amount < 0 else ("+" if signed and amount > 0 else "")
    number = f"{abs(amount):,.2f}"
    if currency is None:
        return f"{sign}{number} (currency unknown)"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency} {number}"


def text(value: Decimal | None) -> str | None:
    """Money in JSON: a decimal string, never a float. Interned: a 20,000-customer plan holds a
    few distinct amounts in each customer's current additions (issue 22, memory)."""
    return None if value is None else sys.intern(str(value))


@dataclass(frozen=True)
class ChangeMoney:
    """The monthly effect of one addition change, in its agreement's currency."""

    currency: str | None
    unit_price: Decimal | None
    unit_cost: Decimal | None
    less_included: Decimal
    quantity_before: Decimal  # billed quantities
    quantity_after: Decimal
    invoice_date: date | None = None  # the invoice it lands on, when the PSA says
    prorated: bool | None = None  # ConnectWise prorates it (None: unknown)
    prorate_price: Decimal | None = None  # ConnectWise's own prorated price, when it returns one

    @property
    def known(self) -> bool:
        return self.unit_price is not None

    @property
    def before(self) -> Decimal:
        return cents(self.quantity_before * (self.unit_price or ZERO))

    @property
    def after(self) -> Decimal:
        return cents(self.quantity_after * (self.unit_price or ZERO))

    @property
    def delta(self) -> Decimal:
        return self.after - self.before

    @property
    def margin_delta(self) -> Decimal | None:
        if self.unit_price is None or self.unit_cost is None:
            return None
        return cents((self.quantity_after - self.quantity_before) * (self.unit_price - self.unit_cost))

    def describe(self) -> str:
        """`+3 x $4.20 = +$12.60/mo` (or `price unknown`)."""
        if self.unit_price is None:  # not `self.known`: the same test, spelled so mypy narrows it
            return "price unknown"
        seats = self.quantity_after - self.quantity_before
        count = f"{seats:+f}".rstrip("0").rstrip(".") if seats % 1 else f"{int(seats):+d}"
        return f"{count} x {show(self.unit_price, self.currency)} = {show(self.delta, self.currency, signed=True)}/mo"

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency, "unit_price": text(self.unit_price), "unit_cost": text(self.unit_cost),
            "less_included": text(self.less_included), "billed_before": text(self.quantity_before),
            "billed_after": text(self.quantity_after), "monthly_before": text(self.before) if self.known else None,
            "monthly_after": text(self.after) if self.known else None,
            "monthly_change": text(self.delta) if self.known else None,
            "margin_change": text(self.margin_delta),
            "invoice_date": self.invoice_date.isoformat() if self.invoice_date else None,
            "prorated": self.prorated, "prorate_price": text(self.prorate_price),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ChangeMoney":
        def number(key: str) -> Decimal | None:
            return Decimal(data[key]) if data.get(key) is not None else None
        return cls(
            currency=data.get("currency"), unit_price=number("unit_price"), unit_cost=number("unit_cost"),
            less_included=number("less_included") or ZERO,
            quantity_before=number("billed_before") or ZERO, quantity_after=number("billed_after") or ZERO,
            invoice_date=date.fromisoformat(data["invoice_date"]) if data.get("invoice_date") else None,
            prorated=data.get("prorated"), prorate_price=number("prorate_price"),
        )


def previous_invoice(next_invoice: date, cycle: str | None) -> date | None:
    """The invoice one billing cycle before `next_invoice` (monthly cycles only; else None)."""
    if cycle not in (None, "Monthly"):
        return None
    year, month = (next_invoice.year - 1, 12) if next_invoice.month == 1 else (next_invoice.year, next_invoice.month - 1)
    return date(year, month, min(next_invoice.day, calendar.monthrange(year, month)[1]))


def invoice_warnings(product: str, action: str, agreement_label: str, effective: date | None,
                     next_invoice: date | None, cycle: str | None, prorate: bool | None) -> list[str]:
    """What to check before this change is sent (see the module docstring)."""
    return customer_invoice_warnings([(product, action, agreement_label, effective, next_invoice, cycle, prorate)])


InvoiceFacts = tuple[str, str, str, date | None, date | None, str | None, bool | None]


def customer_invoice_warnings(changes: Iterable[InvoiceFacts]) -> list[str]:
    """One customer's invoice warnings, from (product, action, agreement label, effective date,
    next invoice date, billing cycle, prorate) per change: one "already out" line per invoice
    that was missed, naming every change it concerns (a line per change said the same long
    sentence up to three times), then one proration line per new addition."""
    late: dict[tuple[date, date, date], list[str]] = {}
    proration: list[str] = []
    for product, action, agreement_label, effective, next_invoice, cycle, prorate in changes:
        if effective is None or next_invoice is None:
            continue
        before = previous_invoice(next_invoice, cycle)
        if before is not None and effective <= before < next_invoice:
            late.setdefault((before, effective, next_invoice), []).append(f"{action} {product} on {agreement_label}")
        if action == "create" and prorate is False and effective != next_invoice:
            proration.append(
                f"{product} on {agreement_label}: proration is off on this agreement, so the addition effective "
                f"{effective.isoformat()} bills a whole month on the {next_invoice.isoformat()} invoice; check the "
                "agreement's prorate setting if it should bill part of the month"
            )
    warnings = []
    for (before, effective, next_invoice), what in late.items():
        lands = "this change lands" if len(what) == 1 else f"these {len(what)} changes land"
        warnings.append(
            f"the {before.isoformat()} invoice, the first on or after the billing date {effective.isoformat()}, is "
            f"already out; {lands} on the {next_invoice.isoformat()} invoice ({'; '.join(what)}). Check the "
            "customer's last invoice before sending"
        )
    return warnings + proration


@dataclass
class Totals:
    """Per-currency sums; two currencies are never added together."""

    more: dict[str | None, Decimal] = field(default_factory=dict)  # more billed per month
    less: dict[str | None, Decimal] = field(default_factory=dict)  # less billed (negative)
    margin: dict[str | None, Decimal] = field(default_factory=dict)
    margin_unknown: set[str | None] = field(default_factory=set)
    unpriced: int = 0  # changes whose price the PSA did not give

    def add(self, money: ChangeMoney) -> None:
        if not money.known:
            self.unpriced += 1
            return
        currency, delta = money.currency, money.delta
        bucket = self.more if delta > 0 else self.less
        bucket[currency] = bucket.get(currency, ZERO) + delta
        margin = money.margin_delta
        if margin is None:
            self.margin_unknown.add(currency)
        else:
            self.margin[currency] = self.margin.get(currency, ZERO) + margin

    @property
    def currencies(self) -> list[str | None]:
        return sorted(set(self.more) | set(self.less) | set(self.margin), key=lambda c: c or "")

    def net(self, currency: str | None) -> Decimal:
        return self.more.get(currency, ZERO) + self.less.get(currency, ZERO)

    def as_json(self) -> dict[str, Any]:
        return {
            (currency or "unknown"): {
                "more_billed": text(cents(self.more.get(currency, ZERO))),
                "less_billed": text(cents(self.less.get(currency, ZERO))),
                "net": text(cents(self.net(currency))),
                "margin_change": None if currency in self.margin_unknown else text(cents(self.margin.get(currency, ZERO))),
            }
            for currency in self.currencies
        }


def price_change(action: str, before: Any, after: Any, *, currency: str | None, unit_price: Decimal | None,
                 unit_cost: Decimal | None, less_included: Decimal = ZERO, invoice_date: date | None = None,
                 prorated: bool | None = None, prorate_price: Decimal | None = None) -> ChangeMoney:
    """A change's money from the prices the PSA gave (see the module docstring for which).
    A figure out of range is MoneyOutOfRange, never an arithmetic error."""
    in_range(unit_price, "unit price")
    in_range(unit_cost, "unit cost")
    in_range(less_included, "included quantity")
    in_range(prorate_price, "prorated price")
    return ChangeMoney(
        currency=currency, unit_price=unit_price, unit_cost=unit_cost, less_included=less_included,
        quantity_before=ZERO if action == "create" or before is None else billed(before, less_included),
        quantity_after=ZERO if after is None else billed(after, less_included),
        invoice_date=invoice_date, prorated=prorated, prorate_price=prorate_price,
    )


def price_warnings(product: str | None, agreement_label: str, money: ChangeMoney | None) -> list[str]:
    """A price of zero or below from the PSA: billed as free (or as a credit), which is rarely
    meant; the plan says so before it is sent."""
    if money is None or money.unit_price is None or money.unit_price > 0:
        return []
    what = "nothing" if money.unit_price == 0 else "a negative price (a credit)"
    return [(f"{product} on {agreement_label}: ConnectWise prices it at {show(money.unit_price, money.currency)} a "
             f"unit, so it bills {what}; check the catalog item or the addition's price before sending")]


def totals(moneys: Iterable[ChangeMoney]) -> Totals:
    result = Totals()
    for money in moneys:
        result.add(money)
    return result


def price_fields(money: ChangeMoney | None) -> dict[str, Any]:
    """What the ledger keeps of an addition's price with its quantity, so the report can show
    revenue later without asking ConnectWise."""
    if money is None or not money.known:
        return {}
    return {"currency": money.currency, "unit_price": text(money.unit_price), "unit_cost": text(money.unit_cost),
            "monthly": text(money.after)}
