"""Trend's monthly customer summary report: which month a bill uses, and how its rows read.

Pure (no HTTP): `lmpi.read_reported` fetches the report, the customers list and the service
plans list; this module interprets them. What Trend documents (`reportcustomersummar`, see
shared/reference/trend-lmpi-documented.md and docs/client.md):

- request `{"report_cycle_year": "YYYY", "report_cycle_month": "MM"}` (strings);
- rows carry `customer` (the customer's company NAME), `city`, `state`, `owned_by_vendor`,
  `created_by_vendor`, `product_name` (a product display name), `service_plan` (a plan name)
  and `provisioned`. No customer id, product id or service-plan id appears in any published
  copy, so:
- a row's customer is found through the customers list by name (case and runs of spaces
  ignored); a name no Trend customer has, or that several have, is refused, never guessed;
- a row's product is found through the service plans list (`GET /LMPI/v3/me/serviceplans`):
  the plan of that name (narrowed by the product display name when plans share a name) gives
  the 9-character `product_code`, which a product's `trend.product_codes` names. A row whose
  plan is not listed (a retired plan) falls back to `trend.names` (plan name, then product).

The unit field (`usage.reported_units`) offers only what the documentation supports:
`provisioned` (the default: the one figure every published example shows, always an integer
there) and `used`. The used figure's name is unclear (`used`, or `used_units` as the sibling
billing-details report spells it): both are read, and a row giving two different values is
refused. Units may be integers or digit strings (`"290"`). Trend's console notes that not
every product reports "used": a null or absent used figure is refused with the fix (bill
`provisioned`), never read as 0. `chargeable` is not documented for this report at all and is
not offered.

Duplicates: a report repeating the same customer, service plan and product would bill its
seats twice, so a repeat is refused naming the report month. Two rows of one customer that
are two service plans of the same product are real and are summed; the parts are shown in a
note (`Usage.warnings`) so the plan says where the total came from.

Which month: Trend's report for month M is final once partners can no longer adjust it, after
the 5th of M+1. A billing period P (sent on its billing date in month P) therefore bills
Trend's report for the month before P. A billing day of 1-5 still works, but `reconcile
validate` warns that the report may yet change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.periods import parse_period, previous_period

# Partners can still adjust last month's figures until this day of the month.
ADJUSTABLE_UNTIL_DAY = 5

# The figures `usage.reported_units` may name, the documented default first.
UNITS = ("provisioned", "used")
DEFAULT_UNITS = "provisioned"

# The documented row keys, and the two spellings the used figure may have.
CUSTOMER_FIELD = "customer"
SERVICE_PLAN_FIELD = "service_plan"
PRODUCT_NAME_FIELD = "product_name"
UNIT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "provisioned": ("provisioned",),
    "used": ("used", "used_units"),
}

# More seats than this in one row is a broken answer, not a customer (Decimal-safe, and far
# beyond any MSP's tenant).
MAX_UNITS = 10_000_000


def report_month_for(period: str) -> str:
    """The Trend report month a billing period bills: the month before it ("2026-11" -> "2026-10")."""
    return previous_period(period)


def report_cycle(month: str) -> dict[str, str]:
    """The request body naming a report month, as Trend's reference writes it."""
    year, number = parse_period(month)
    return {"report_cycle_year": f"{year:04d}", "report_cycle_month": f"{number:02d}"}


class ReportRowError(ReconcileError):
    """A row (or a set of rows) that cannot be billed from; its text holds short excerpts only."""


def folded_name(value: object) -> str:
    """How names are compared: case-insensitively, surrounding and repeated spaces ignored."""
    return " ".join(str(value or "").split()).casefold()


def whole_units(value: Any, what: str) -> int:
    """A units figure as Trend sends it (an integer, or a string of digits) as an int."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,12}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNITS:
        raise ReportRowError(f"{what} {str(value)[:32]!r} is not a whole number of units "
                             f"between 0 and {MAX_UNITS:,}")
    return value


@dataclass(frozen=True)
class SummaryRow:
    """One report row as read: its names and the figure that will be billed."""

    customer: str
    service_plan: str
    product_name: str
    units: int
    figure: str  # the row key the billed figure was read from (e.g. "used_units")

    @property
    def identity(self) -> tuple[str, str, str]:
        return folded_name(self.customer), folded_name(self.service_plan), folded_name(self.product_name)


def read_row(row: Any, wanted: str) -> SummaryRow:
    """Interpret one summary row; `wanted` is `provisioned` or `used`."""
    if wanted not in UNITS:
        raise ReportRowError(f"usage.reported_units must be one of {', '.join(UNITS)}, not {wanted!r}")
    if not isinstance(row, dict):
        raise ReportRowError("a summary row is not an object")

    def text(key: str) -> str:
        value = row.get(key)
        return "" if value is None else " ".join(str(value).split())[:200]

    customer = text(CUSTOMER_FIELD)
    plan, product = text(SERVICE_PLAN_FIELD), text(PRODUCT_NAME_FIELD)
    where = f"customer {customer[:64]!r}, service plan {plan[:64]!r}"
    if not customer:
        raise ReportRowError(f"a summary row ({where}) has no {CUSTOMER_FIELD!r} name")
    present = [(key, row[key]) for key in UNIT_FIELDS[wanted] if key in row]
    given = [(key, value) for key, value in present if value is not None]
    if not given:
        shown = " or ".join(repr(k) for k in UNIT_FIELDS[wanted])
        state = "is null" if present else "is missing"
        fix = (" (Trend does not report used units for every product: bill usage.reported_units: "
               "provisioned)") if wanted == "used" else ""
        raise ReportRowError(f"{where}: the {wanted} figure ({shown}) {state}{fix}")
    values = {key: whole_units(value, f"{where}: {key}") for key, value in given}
    if len(set(values.values())) > 1:
        raise ReportRowError(f"{where}: {' and '.join(f'{k}={v}' for k, v in values.items())} disagree")
    key, units = next(iter(values.items()))
    return SummaryRow(customer, plan, product, units, key)


class CustomerNames:
    """Trend customers by folded name, from `GET /LMPI/v3/customers`."""

    def __init__(self, customers: Iterable[Mapping[str, Any]]) -> None:
        self.ids: dict[str, set[str]] = {}
        for customer in customers:
            cid, name = customer.get("customer_id"), folded_name(customer.get("name"))
            if cid and name:
                self.ids.setdefault(name, set()).add(str(cid).strip().lower())

    def resolve(self, name: str) -> tuple[str | None, str]:
        """(customer id, "") or (None, why: 'unknown' or 'ambiguous (N customers)')."""
        found = self.ids.get(folded_name(name), set())
        if len(found) == 1:
            return next(iter(found)), ""
        return None, "unknown" if not found else f"ambiguous ({len(found)} Trend customers have it)"


@dataclass(frozen=True)
class PlanMatch:
    product_code: str
    service_plan_id: str
    product: str  # display name


class ServicePlans:
    """Service plans by folded name, from `GET /LMPI/v3/me/serviceplans` (a bare array)."""

    def __init__(self, plans: Iterable[Mapping[str, Any]]) -> None:
        self.by_name: dict[str, list[PlanMatch]] = {}
        for plan in plans:
            if not isinstance(plan, Mapping):
                continue
            match = PlanMatch(str(plan.get("product_code") or "").strip(),
                              str(plan.get("service_plan_id") or "").strip(),
                              str(plan.get("product") or "").strip())
            self.by_name.setdefault(folded_name(plan.get("name")), []).append(match)

    def match(self, service_plan: str, product_name: str) -> PlanMatch | None:
        """The plan a row names; with several of that name, the one of the row's product; None
        when no plan (or no single product code) fits."""
        found = self.by_name.get(folded_name(service_plan), [])
        if len({m.product_code.casefold() for m in found}) > 1:
            found = [m for m in found if folded_name(m.product) == folded_name(product_name)]
        codes = {m.product_code.casefold() for m in found}
        return found[0] if len(codes) == 1 else None


def check_repeats(rows: list[SummaryRow], month: str) -> None:
    """Refuse a report that lists one customer's service plan of one product twice: summing it
    would bill the seats twice, and nothing in the row says it is a second subscription."""
    first: dict[tuple[str, str, str], int] = {}
    repeats: list[str] = []
    for number, row in enumerate(rows, 1):
        if row.identity in first:
            repeats.append(f"row {number} repeats row {first[row.identity]} (customer {row.customer[:64]!r}, "
                           f"service plan {row.service_plan[:64]!r}, product {row.product_name[:64]!r})")
        else:
            first[row.identity] = number
    if repeats:
        more = f" (and {len(repeats) - 3} more)" if len(repeats) > 3 else ""
        raise ReportRowError(f"duplicate rows in Trend's report for {month}: {'; '.join(repeats[:3])}{more}; "
                             "refused, it would bill the same seats twice")
