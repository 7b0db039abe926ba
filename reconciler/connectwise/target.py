"""ConnectWise Manage as the PSA we bill through: `reconciler.target.Target` over `Client`.

The only place that knows ConnectWise's JSON: field names, `billCustomer`, JSON Patch bodies,
the date format, `managementSummaryReports`, and where the tool's marker lives (`serialNumber`,
an internal field that invoices do not print by default, unlike `invoiceDescription`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from reconciler.state import (
    RUN_ID_PATTERN,
    Addition,
    Agreement,
    CatalogItem,
    Company,
    ExecutiveSummary,
    Lease,
    LeasePlace,
    SummaryReport,
)

from .client import Client
from .conditions import cond
from .resources import cw_date

_ISO_CODE = re.compile(r"[A-Z]{3}")


def _decimal(value: Any) -> Decimal | None:
    """A JSON number as an exact Decimal (from its text, never through float arithmetic);
    None for absent, malformed or non-finite values: ConnectWise's answers are untrusted."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _currency(record: dict[str, Any]) -> str | None:
    """An ISO 4217 code, or None: the code is shown in plans and comments, so nothing else passes."""
    currency = record.get("currency")
    code = currency.get("currencyCode") if isinstance(currency, dict) else None
    return code.upper() if isinstance(code, str) and _ISO_CODE.fullmatch(code.upper()) else None


def agreement_from(record: dict[str, Any]) -> Agreement:
    status = record.get("agreementStatus")
    return Agreement(
        id=int(record["id"]),
        name=str(record.get("name", "")),
        type=str((record.get("type") or {}).get("name", "")),
        company_id=int((record.get("company") or {}).get("id", 0)),
        active=not record.get("cancelledFlag", False) and status in (None, "Active"),
        currency=_currency(record),
        billing_cycle=(record.get("billingCycle") or {}).get("name") if isinstance(record.get("billingCycle"), dict) else None,
        next_invoice_date=_date(record.get("nextInvoiceDate")),
        prorate=_flag(record.get("prorateFlag")),
        invoice_prorated_additions=_flag(record.get("invoiceProratedAdditionsFlag")),
    )


def addition_from(record: dict[str, Any], agreement_id: int) -> Addition:
    return Addition(
        id=int(record["id"]),
        agreement_id=int(record.get("agreementId") or agreement_id),
        product_identifier=str((record.get("product") or {}).get("identifier", "")),
        quantity=float(record.get("quantity") or 0),
        effective_date=record.get("effectiveDate"),
        cancelled_date=record.get("cancelledDate"),
        last_updated=(record.get("_info") or {}).get("lastUpdated"),
        marker=str(record.get("serialNumber") or ""),
        unit_price=_decimal(record.get("unitPrice")),
        unit_cost=_decimal(record.get("unitCost")),
        less_included=_decimal(record.get("lessIncluded")) or Decimal(0),
        prorate_current_period=_flag(record.get("prorateCurrentPeriodFlag")),
        prorate_price=_decimal(record.get("proratePrice")),
    )


def company_from(record: dict[str, Any]) -> Company:
    return Company(id=int(record["id"]), identifier=str(record.get("identifier", "")),
                   name=" ".join(str(record.get("name") or "").split()), currency=_currency(record))


def summary_body(summary: ExecutiveSummary) -> dict[str, Any]:
    body: dict[str, Any] = {
        "groupIdentifier": summary.group,
        "managementSolution": {"name": summary.management_solution},
        "deviceType": "WorkstationsAndServers",
        "company": {"id": summary.company_id},
        "agreement": {"id": summary.agreement.id, "name": summary.agreement.name},
        "totalManagedMachines": summary.managed_machines,
    }
    for name, field in (("workstations", "totalWorkstations"), ("servers", "totalServers"),
                        ("viruses_removed", "virusesRemoved"), ("spyware_removed", "spywareItemsRemoved")):
        if getattr(summary, name) is not None:
            body[field] = getattr(summary, name)
    return body


def _report(record: dict[str, Any]) -> SummaryReport:
    return SummaryReport(id=int(record["id"]), group=str(record.get("groupIdentifier") or ""))


class ConnectWiseTarget:
    """The target seam for ConnectWise Manage. Thread-safe as `Client` is."""

    name = "ConnectWise"

    def __init__(self, client: Client) -> None:
        self.client = client
        # ConnectWise's login company id is the identifier of the MSP's own company record.
        self.own_company = client.credentials.company_id

    def __repr__(self) -> str:
        return f"ConnectWiseTarget({self.client!r})"

    @property
    def request_count(self) -> int:
        return self.client.request_count

    def companies(self, identifiers: Iterable[str] | None = None) -> list[Company]:
        return [company_from(r) for r in self.client.companies(identifiers)]

    def agreements(self, company_ids: Iterable[int] | None = None) -> list[Agreement]:
        return [agreement_from(r) for r in self.client.agreements(company_ids)]

    def catalog_items(self, identifiers: Iterable[str]) -> list[CatalogItem]:
        return [CatalogItem(id=int(r["id"]), identifier=str(r.get("identifier", "")), price=_decimal(r.get("price")),
                            cost=_decimal(r.get("cost")))
                for r in self.client.catalog_items(identifiers)]

    def additions(self, agreement_id: int, active_only: bool = True) -> list[Addition]:
        if active_only:
            records = self.client.list(f"finance/agreements/{agreement_id}/additions",
                                       conditions=cond("cancelledDate", "=", None))
        else:
            records = self.client.additions(agreement_id)
        additions = [addition_from(r, agreement_id) for r in records]
        return [a for a in additions if a.active] if active_only else additions

    def create_addition(self, agreement_id: int, product_identifier: str, quantity: int | float,
                        effective_date: date | None, marker: str, catalog_id: int | None = None,
                        known_ids: set[int] | None = None) -> Addition:
        product: dict[str, Any] = {"identifier": product_identifier}
        if catalog_id is not None:
            product["id"] = catalog_id
        body: dict[str, Any] = {"product": product, "quantity": quantity, "billCustomer": "Billable",
                                "serialNumber": marker[:50]}
        if effective_date:
            body["effectiveDate"] = cw_date(effective_date)
        record = self.client.create_addition(agreement_id, body, known_ids=known_ids)
        return addition_from({"product": product, "quantity": quantity, **record}, agreement_id)

    def set_quantity(self, agreement_id: int, addition_id: int, quantity: int | float) -> None:
        self.client.update_addition(agreement_id, addition_id, [{"op": "replace", "path": "quantity", "value": quantity}])

    def cancel_addition(self, agreement_id: int, addition_id: int, on: date, zero_quantity: bool = False) -> None:
        self.client.cancel_addition(agreement_id, addition_id, on, zero_quantity=zero_quantity)

    def summaries(self, company_id: int, group: str) -> list[SummaryReport]:
        return [_report(r) for r in self.client.management_summary_reports(company_id, group_identifier=group)]

    def post_summary(self, summary: ExecutiveSummary) -> SummaryReport:
        return _report(self.client.create_management_summary_report(summary.company_id, summary_body(summary)))

    def delete_summary(self, company_id: int, report_id: int) -> None:
        self.client.delete_management_summary_report(company_id, report_id)

    def open_tickets(self, summary: str, board: str) -> list[int]:
        return [int(t["id"]) for t in self.client.open_tickets(summary, board)]

    def open_ticket(self, summary: str, board: str, company_identifier: str, status: str | None,
                    internal_text: str) -> int:
        body: dict[str, Any] = {
            "summary": summary,
            "board": {"name": board},
            "company": {"identifier": company_identifier},
            "initialInternalAnalysis": internal_text,
            "automaticEmailContactFlag": False,
        }
        if status:
            body["status"] = {"name": status}
        return int(self.client.create_ticket(body)["id"])

    def add_ticket_note(self, ticket_id: int, internal_text: str) -> None:
        self.client.add_ticket_note(ticket_id, {"text": internal_text, "internalAnalysisFlag": True})

    # -- the run lease: a service ticket on the MSP's own company (docs/lease.md) -------------
    def leases(self) -> list[Lease]:
        records = self.client.list("service/tickets", order_by="id asc",
                                   conditions=cond("summary", "contains", LEASE_PREFIX))
        return sorted((lease for lease in map(lease_from, records) if lease is not None), key=lambda x: x.id)

    def take_lease(self, run_id: str, until: datetime, place: LeasePlace,
                   shard: tuple[int, int] | None = None) -> Lease:
        summary = lease_summary(run_id, until, shard)
        body: dict[str, Any] = {
            "summary": summary,
            "company": {"identifier": place.company or self.own_company},
            "initialInternalAnalysis": LEASE_EXPLANATION,
            "automaticEmailContactFlag": False,
        }
        if place.board:
            body["board"] = {"name": place.board}

        def find_existing() -> dict[str, Any] | None:  # the run id makes the summary unique
            return next((r for r in self.client.list("service/tickets", conditions=cond("summary", "=", summary))
                         if r.get("summary") == summary), None)

        lease = lease_from(self.client.create("service/tickets", body, find_existing))
        return lease or Lease(0, run_id, until, shard=shard)

    def renew_lease(self, lease: Lease, until: datetime) -> None:
        self.client.patch(f"service/tickets/{int(lease.id)}",
                          [{"op": "replace", "path": "summary", "value": lease_summary(lease.run_id, until, lease.shard)}])

    def end_lease(self, lease: Lease, wrote: bool) -> None:
        ended = f"{LEASE_PREFIX}{lease.run_id}{_shard_text(lease.shard)} ended {'after writes' if wrote else 'without writes'}"
        self.client.patch(f"service/tickets/{int(lease.id)}", [
            {"op": "replace", "path": "summary", "value": ended},
            {"op": "replace", "path": "closedFlag", "value": True},
        ])


# A lease ticket's summary (at most 100 characters): what every apply lists and parses. Only a
# summary that matches exactly is a lease: a ticket a person titled alike is not one.
LEASE_PREFIX = "Billing run lease R-"
_LEASE = re.compile(rf"{re.escape(LEASE_PREFIX)}({RUN_ID_PATTERN})(?: shard ([1-9]\d{{0,3}})of([1-9]\d{{0,3}}))? "
                    r"(?:until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)|ended (after|without) writes)")
LEASE_EXPLANATION = (
    "Opened by `reconcile apply` while it writes billing: the oldest open ticket whose summary time "
    "is still ahead holds the run lease, so no two applies write at once. The run closes it when it "
    "ends. One left open past its time is a run that was killed: check that run's log; close the "
    "ticket when you have looked."
)


def _shard_text(shard: tuple[int, int] | None) -> str:
    return f" shard {shard[0]}of{shard[1]}" if shard else ""


def lease_summary(run_id: str, until: datetime, shard: tuple[int, int] | None = None) -> str:
    stamp = until.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
    return f"{LEASE_PREFIX}{run_id}{_shard_text(shard)} until {stamp}"


def lease_from(record: dict[str, Any]) -> Lease | None:
    match = _LEASE.fullmatch(str(record.get("summary") or ""))
    if match is None or not isinstance(record.get("id"), int):
        return None
    run_id, k, n, until_text, ended = match.groups()
    shard = (int(k), int(n)) if k and int(k) <= int(n) else None
    if until_text is None:  # released: closed (a person may have reopened it: still released)
        return Lease(id=record["id"], run_id=run_id, until=None, open=False, wrote=ended == "after", shard=shard)
    until = datetime.strptime(until_text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    # A ticket a person closed by hand ends the lease too.
    return Lease(id=record["id"], run_id=run_id, until=until, open=not record.get("closedFlag"), shard=shard)
