"""Trend's monthly customer summary report: which month a bill uses, and how a row reads.

Pure (no HTTP): `lmpi.read_reported` fetches, this module interprets. Every assumption about the
report's shape lives here, in `SUMMARY_FIELDS`, and nowhere else.

Confirmed from Trend's public LMPI reference ("Report :: Customer :: Summary",
`POST /LMPI/v3/reports/summary`): the request body is `{"report_cycle_year": "YYYY",
"report_cycle_month": "MM"}` (strings; optional `partner_id`, `product_id`, `language_code`);
the answer is `{"summary": [...]}` whose rows carry `customer` (shown as a name), `city`,
`state`, `owned_by_vendor`, `created_by_vendor`, `product_name`, `service_plan` and
`provisioned`. Trend's console documents the report's figures as provisioned, used,
over-provisioned and chargeable units (the highest values of the period for small-business
products), with chargeable units adjustable by the partner from the 1st to the 5th of the next
month.

NOT confirmed (every public copy of the reference cuts the row off after `provisioned`): the
names of the used and chargeable figures, and whether a row carries the customer's GUID and the
product / service plan ids. We assume `used`, `chargeable`, `customer_id`, `product_id` and
`service_plan_id`, and fall back to matching `service_plan` / `product_name` against a
product's `trend.names`. If Trend's real rows differ, `SUMMARY_FIELDS` is the one place to
change. A row without a customer id, or without the units figure asked for, stops the read
(never guessed, never billed as zero).

Which month: Trend's report for month M is final once partners can no longer adjust it, after
the 5th of M+1. A billing period P (sent on its billing date in month P) therefore bills
Trend's report for the month before P: the November bill passes on what Trend charges you for
October. A billing day of 1-5 still works, but `reconcile validate` warns that the report may
yet change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.schedule import parse_period, previous_period

# Partners can still adjust last month's chargeable units until this day of the month.
ADJUSTABLE_UNTIL_DAY = 5

UNITS = ("provisioned", "used", "chargeable")

# Our name -> the summary row's key. The ONE place the report's unconfirmed shape is assumed.
SUMMARY_FIELDS: Mapping[str, str] = {
    "customer_id": "customer_id",  # assumed; the confirmed `customer` reads as a name
    "customer_name": "customer",  # confirmed
    "product_id": "product_id",  # assumed
    "service_plan_id": "service_plan_id",  # assumed
    "service_plan": "service_plan",  # confirmed (a plan name, e.g. "WFBSS-Full")
    "product_name": "product_name",  # confirmed
    "provisioned": "provisioned",  # confirmed
    "used": "used",  # assumed (console: "Used units")
    "chargeable": "chargeable",  # assumed (console: "Chargeable units")
}


def report_month_for(period: str) -> str:
    """The Trend report month a billing period bills: the month before it ("2026-11" -> "2026-10")."""
    return previous_period(period)


def report_cycle(month: str) -> dict[str, str]:
    """The request body naming a report month, as Trend's reference writes it."""
    year, number = parse_period(month)
    return {"report_cycle_year": f"{year:04d}", "report_cycle_month": f"{number:02d}"}


@dataclass(frozen=True)
class SummaryRow:
    """One report row as we read it; `raw` keeps the figures we used, for the audit trail."""

    customer_id: str
    product_id: str
    service_plan_id: str
    service_plan: str
    product_name: str
    units: dict[str, int]

    def evidence(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "service_plan_id": self.service_plan_id,
                "service_plan": self.service_plan, "product_name": self.product_name, **self.units}


class ReportRowError(ValueError):
    """A row that cannot be billed from (its text never holds more than short excerpts)."""


def read_row(row: Any, wanted: str) -> SummaryRow:
    """Interpret one summary row; `wanted` is the units figure that will be billed."""
    if not isinstance(row, dict):
        raise ReportRowError("a summary row is not an object")
    field = SUMMARY_FIELDS

    def text(name: str) -> str:
        value = row.get(field[name])
        return "" if value is None else str(value).strip()[:200]

    customer = text("customer_id")
    if not customer:
        raise ReportRowError(
            f"a summary row for {text('customer_name')[:64]!r} has no {field['customer_id']!r} "
            "(see docs/client.md: the report's customer id field is an unconfirmed assumption)")
    units: dict[str, int] = {}
    for name in UNITS:
        value = row.get(field[name])
        if value is None and name != wanted:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ReportRowError(
                f"summary row of customer {customer[:64]}: {field[name]} {str(value)[:32]!r} is not "
                "a whole, non-negative number of units")
        units[name] = value
    return SummaryRow(customer, text("product_id"), text("service_plan_id"), text("service_plan"),
                      text("product_name"), units)
