"""ConnectWise Manage as the PSA we bill through: `reconciler.target.Target` over `Client`.

The only place that knows ConnectWise's JSON: field names, `billCustomer`, JSON Patch bodies,
the date format, `managementSummaryReports`, and where the tool's marker lives (`serialNumber`,
an internal field that invoices do not print by default, unlike `invoiceDescription`).
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
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
from reconciler.target import Capabilities, OpenTicket, TargetError, TicketReferences

from .client import Client
from .conditions import any_of, cond
from .preflight import Access, read_access
from .resources import cw_date

_ISO_CODE = re.compile(r"[A-Z]{3}")
# How far back a billing date can lie (the latest period, plus catch-up): additions that stopped
# billing before then cannot matter to any plan and are not read with `active_only`.
BILLING_LOOKBACK = timedelta(days=93)


def _decimal(value: Any) -> Decimal | None:
    """A JSON number as an exact Decimal (from its text, never through float arithmetic);
    None for absent, malformed or non-finite values: ConnectWise's answers are untrusted."""
    if value is None or isinstance(value, bool):
        return None
    return _decimal_of(str(value))


# A plan holds every addition it read (tens of thousands at 20,000 customers), and their prices
# and costs are a few distinct amounts: one Decimal object per amount (Decimals are immutable),
# and one string object per product, date, type or marker text (`_text`), instead of one per
# record, keep a 20,000-customer plan's records compact (issue 22).
_ZERO = Decimal(0)  # the usual "less included": one object, not one per addition


@lru_cache(maxsize=4096)
def _decimal_of(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    return sys.intern(str(value))


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _date_text(value: Any) -> Any:
    """A date field as ConnectWise sent it (shared, when text): the engine reads it itself."""
    return sys.intern(value) if isinstance(value, str) else value


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _currency(record: dict[str, Any]) -> str | None:
    """An ISO 4217 code, or None: the code is shown in plans and comments, so nothing else passes."""
    currency = record.get("currency")
    code = currency.get("currencyCode") if isinstance(currency, dict) else None
    return sys.intern(code.upper()) if isinstance(code, str) and _ISO_CODE.fullmatch(code.upper()) else None


def agreement_from(record: dict[str, Any]) -> Agreement:
    status = record.get("agreementStatus")
    cycle = (record.get("billingCycle") or {}).get("name") if isinstance(record.get("billingCycle"), dict) else None
    return Agreement(
        id=int(record["id"]),
        name=_text(record.get("name", "")),
        type=_text((record.get("type") or {}).get("name", "")),
        company_id=int((record.get("company") or {}).get("id", 0)),
        active=not record.get("cancelledFlag", False) and status in (None, "Active"),
        currency=_currency(record),
        billing_cycle=sys.intern(cycle) if isinstance(cycle, str) else cycle,
        next_invoice_date=_date(record.get("nextInvoiceDate")),
        prorate=_flag(record.get("prorateFlag")),
        invoice_prorated_additions=_flag(record.get("invoiceProratedAdditionsFlag")),
    )


def addition_from(record: dict[str, Any], agreement_id: int) -> Addition:
    return Addition(
        id=int(record["id"]),
        agreement_id=int(record.get("agreementId") or agreement_id),
        product_identifier=_text((record.get("product") or {}).get("identifier", "")),
        quantity=float(record.get("quantity") or 0),
        effective_date=_date_text(record.get("effectiveDate")),
        cancelled_date=_date_text(record.get("cancelledDate")),
        last_updated=(record.get("_info") or {}).get("lastUpdated"),
        marker=_text(record.get("serialNumber") or ""),
        unit_price=_decimal(record.get("unitPrice")),
        unit_cost=_decimal(record.get("unitCost")),
        less_included=_decimal(record.get("lessIncluded")) or _ZERO,
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
    capabilities = Capabilities(summaries=True, tickets=True)  # management summary reports, service tickets

    def __init__(self, client: Client) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._solutions: set[str] | None = None  # management solution names, read once (casefolded)

    def __repr__(self) -> str:
        return f"ConnectWiseTarget({self.client!r})"

    @property
    def request_count(self) -> int:
        return self.client.request_count

    # Every company and agreement (a plan of many customers, import --all) is read one page at a
    # time and each page turned into records before the next is asked for: the whole list as
    # JSON (30,000 agreements, each with every field ConnectWise has) was most of a 20,000-customer
    # plan's peak memory (issue 22). The filtered reads are a few hundred records.
    def companies(self, identifiers: Iterable[str] | None = None) -> list[Company]:
        if identifiers is None:
            return [company_from(r) for page in self.client.pages("company/companies") for r in page]
        return [company_from(r) for r in self.client.companies(identifiers)]

    def agreements(self, company_ids: Iterable[int] | None = None) -> list[Agreement]:
        if company_ids is None:
            return [agreement_from(r) for page in self.client.pages("finance/agreements") for r in page]
        return [agreement_from(r) for r in self.client.agreements(company_ids)]

    def catalog_items(self, identifiers: Iterable[str]) -> list[CatalogItem]:
        return [CatalogItem(id=int(r["id"]), identifier=str(r.get("identifier", "")), price=_decimal(r.get("price")),
                            cost=_decimal(r.get("cost")))
                for r in self.client.catalog_items(identifiers)]

    def additions(self, agreement_id: int, active_only: bool = True) -> list[Addition]:
        """`active_only`: the additions without a cancelled date, and those whose cancelled date
        is later than `BILLING_LOOKBACK` ago. A cancelled date is the day billing stops, so an
        addition ending later still bills a period whose billing date is before that day (a
        catch-up run bills a date in the past): the plan judges each against its billing date
        (`Addition.bills_on`), never "has a cancelled date" alone."""
        if active_only:
            since = datetime.now(UTC).date() - BILLING_LOOKBACK
            records = self.client.list(f"finance/agreements/{agreement_id}/additions",
                                       conditions=any_of(cond("cancelledDate", "=", None),
                                                         cond("cancelledDate", ">", since)))
        else:
            records = self.client.additions(agreement_id)
        additions = [addition_from(r, agreement_id) for r in records]
        if active_only:  # the server's filter, again: an answer is untrusted
            additions = [a for a in additions if a.ends is None or a.ends > since]
        return additions

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
        # ConnectWise refuses a summary whose management solution does not exist; checked once
        # per run (remembered), so a wrong name is one clear line per customer, not a 400 each.
        if not self.management_solution_exists(summary.management_solution):
            raise TargetError(
                f'management solution "{summary.management_solution}" does not exist in ConnectWise '
                "(System > Setup Tables > Management IT Solutions): set executive_summary.management_solution "
                "to one that does")
        return _report(self.client.create_management_summary_report(summary.company_id, summary_body(summary)))

    def delete_summary(self, company_id: int, report_id: int) -> None:
        self.client.delete_management_summary_report(company_id, report_id)

    # -- tickets and read-only checks ---------------------------------------------------------
    def ticket_references(self, board: str, status: str | None, type_: str | None) -> TicketReferences:
        boards = [b for b in self.client.service_boards() if not b.get("inactiveFlag")]
        found = _named(boards, board)
        if found is None:
            return TicketReferences(board, status, type_, missing=(
                f'board "{board}" does not exist in ConnectWise (boards: {_names(boards)})',))
        board_id = int(found["id"])
        missing: list[str] = []
        status_id = type_id = None
        if status:
            statuses = [st for st in self.client.board_statuses(board_id) if not st.get("inactive")]
            match = _named(statuses, status)
            if match is None:
                missing.append(f'status "{status}" does not exist on board "{board}" (statuses: {_names(statuses)})')
            else:
                status_id = int(match["id"])
        if type_:
            types = [t for t in self.client.board_types(board_id) if not t.get("inactiveFlag")]
            match = _named(types, type_)
            if match is None:
                missing.append(f'type "{type_}" does not exist on board "{board}" (types: {_names(types)})')
            else:
                type_id = int(match["id"])
        return TicketReferences(board, status, type_, board_id, status_id, type_id, tuple(missing))

    def open_tickets_on_board(self, board_id: int) -> list[OpenTicket]:
        return [OpenTicket(int(t["id"]), str(t.get("summary") or ""),
                           _int_or_none((t.get("company") or {}).get("id")))
                for t in self.client.open_board_tickets(board_id)]

    def open_ticket(self, summary: str, references: TicketReferences, company_id: int, internal_text: str) -> int:
        if references.board_id is None or references.missing:
            raise ValueError("open_ticket needs resolved ticket references")
        body: dict[str, Any] = {
            "summary": summary,
            "board": {"id": references.board_id},
            "company": {"id": company_id},
            "initialInternalAnalysis": internal_text,
            "automaticEmailContactFlag": False,
        }
        if references.status_id is not None:
            body["status"] = {"id": references.status_id}
        if references.type_id is not None:
            body["type"] = {"id": references.type_id}
        return int(self.client.create_ticket(body)["id"])

    def add_ticket_note(self, ticket_id: int, internal_text: str) -> None:
        self.client.add_ticket_note(ticket_id, {"text": internal_text, "internalAnalysisFlag": True})

    def own_company(self) -> Company | None:
        found = self.companies([self.client.credentials.company_id])
        return found[0] if len(found) == 1 else None

    def management_solution_exists(self, name: str) -> bool:
        with self._lock:
            if self._solutions is None:
                self._solutions = {str(r.get("name") or "").casefold() for r in self.client.management_solutions()}
            return name.casefold() in self._solutions

    def agreement_types(self) -> list[str]:
        return [str(r.get("name") or "") for r in self.client.agreement_types()]

    def preflight(self, summaries: bool, tickets: bool) -> Access:
        """`reconcile doctor`'s first questions: the keys, and the API member's read rights on
        every endpoint this config makes the tool read (preflight.py)."""
        return read_access(self.client, summaries, tickets)

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
            # The MSP's own company: ConnectWise's login company id is its identifier (own_company).
            "company": {"identifier": place.company or self.client.credentials.company_id},
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


def _named(records: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The record with this name (ConnectWise compares names case-insensitively); lowest id first."""
    wanted = name.casefold()
    return next((r for r in records if str(r.get("name") or "").casefold() == wanted), None)


def _names(records: list[dict[str, Any]]) -> str:
    names = sorted({str(r.get("name") or "") for r in records} - {""}, key=str.casefold)
    return ", ".join(names[:20]) + (", ..." if len(names) > 20 else "") if names else "none"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# A lease ticket's summary (at most 100 characters): what every apply lists and parses. Only a
# summary that matches exactly is a lease: a ticket a person titled alike is not one.
LEASE_PREFIX = "Billing run lease R-"
_LEASE = re.compile(rf"{re.escape(LEASE_PREFIX)}({RUN_ID_PATTERN})(?: shard ([1-9][0-9]{{0,3}})of([1-9][0-9]{{0,3}}))? "
                    r"(?:until ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)|ended (after|without) writes)",
                    re.ASCII)
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
    try:
        until = datetime.strptime(until_text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:  # the lease's shape but no real time (2026-13-45): a title a person typed
        return None
    # A ticket a person closed by hand ends the lease too.
    return Lease(id=record["id"], run_id=run_id, until=until, open=not record.get("closedFlag"), shard=shard)
