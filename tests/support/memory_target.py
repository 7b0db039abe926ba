"""An in-memory PSA: the whole `reconciler.target.Target` protocol over dicts, no server.

Two uses. The conformance test (tests/contract/test_target_conformance.py) runs the same test
functions against it and against the ConnectWise target over the sandbox, so it behaves as the
seam promises, not as one test wishes. And unit tests of pure rules (apply's create-once, the
summary rules, capabilities) use it where a server would only slow them down: every call is
recorded in `calls`, every write in `writes`.

`capabilities` is configurable: `MemoryTarget(capabilities=Capabilities(summaries=False))` is a
PSA that keeps no executive summaries. Calling a method of a capability it lacks raises
`TargetError`, so a caller that does not honour capabilities fails loudly in a test.

It is also the "second PSA" sketch: `tests/support/memory_psa.py` gives it a `connect`, and a
test registers it through `reconciler.runtime.TARGETS` alone (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from reconciler.state import (
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

BILLING_LOOKBACK = timedelta(days=93)  # as the ConnectWise target: older cancelled additions are not "active"


class MemoryTarget:
    name = "MemoryPSA"

    def __init__(self, capabilities: Capabilities | None = None, own_company: str = "sandbox") -> None:
        self.capabilities = capabilities or Capabilities()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.own_identifier = own_company
        self.company_records: dict[int, Company] = {}
        self.agreement_records: dict[int, Agreement] = {}
        self.catalog: dict[int, CatalogItem] = {}
        self.addition_records: dict[int, Addition] = {}
        self.agreement_type_names: list[str] = []
        self.solutions: set[str] = set()
        self.reports: dict[int, tuple[int, SummaryReport, ExecutiveSummary]] = {}
        self.boards: dict[int, tuple[str, dict[int, str], dict[int, str]]] = {}  # id -> (name, statuses, types)
        self.tickets: dict[int, dict] = {}  # id -> {summary, board_id, company_id, closed, notes}
        self.lease_records: dict[int, Lease] = {}
        self.calls: list[str] = []
        self.writes: list[tuple] = []
        self.fail_next: dict[str, TargetError] = {}  # method name -> the error its next call raises

    # -- seeding (what a person set up in the PSA) --------------------------------------------
    def _next(self) -> int:
        with self._lock:
            return next(self._ids)

    def add_company(self, identifier: str, name: str, currency: str | None = "USD") -> Company:
        company = Company(self._next(), identifier, name, currency)
        self.company_records[company.id] = company
        return company

    def add_agreement_type(self, name: str) -> None:
        self.agreement_type_names.append(name)

    def add_agreement(self, company: Company, type_: str, name: str, active: bool = True) -> Agreement:
        agreement = Agreement(self._next(), name, type_, company.id, active=active, currency="USD",
                              billing_cycle="Monthly", prorate=False, invoice_prorated_additions=False)
        self.agreement_records[agreement.id] = agreement
        return agreement

    def add_catalog_item(self, identifier: str, price: str, cost: str) -> CatalogItem:
        item = CatalogItem(self._next(), identifier, Decimal(price), Decimal(cost))
        self.catalog[item.id] = item
        return item

    def add_addition(self, agreement: Agreement, identifier: str, quantity: float, marker: str = "") -> Addition:
        addition = Addition(self._next(), agreement.id, identifier, quantity, marker=marker,
                            effective_date="2024-01-01T00:00:00Z", last_updated=_now())
        self.addition_records[addition.id] = addition
        return addition

    def add_management_solution(self, name: str) -> None:
        self.solutions.add(name.casefold())

    def add_board(self, name: str, statuses: Iterable[str], types: Iterable[str]) -> int:
        board_id = self._next()
        self.boards[board_id] = (name, {self._next(): s for s in statuses}, {self._next(): t for t in types})
        return board_id

    # -- the protocol -------------------------------------------------------------------------
    def _call(self, name: str, capability: str | None = None) -> None:
        self.calls.append(name)
        if capability and not getattr(self.capabilities, capability):
            raise TargetError(f"{self.name} keeps no {capability}: {name} was called")
        error = self.fail_next.pop(name, None)
        if error is not None:
            raise error

    def _write(self, *record) -> None:
        self.writes.append(record)

    @property
    def request_count(self) -> int:
        return len(self.calls)

    def companies(self, identifiers: Iterable[str] | None = None) -> list[Company]:
        self._call("companies")
        wanted = None if identifiers is None else {i.casefold() for i in identifiers}
        return [c for c in self.company_records.values() if wanted is None or c.identifier.casefold() in wanted]

    def agreements(self, company_ids: Iterable[int] | None = None) -> list[Agreement]:
        self._call("agreements")
        wanted = None if company_ids is None else set(company_ids)
        return [a for a in self.agreement_records.values() if wanted is None or a.company_id in wanted]

    def catalog_items(self, identifiers: Iterable[str]) -> list[CatalogItem]:
        self._call("catalog_items")
        wanted = {i.casefold() for i in identifiers}
        return [c for c in self.catalog.values() if c.identifier.casefold() in wanted]

    def _agreement(self, agreement_id: int) -> Agreement:
        if agreement_id not in self.agreement_records:
            raise TargetError(f"agreement {agreement_id} does not exist in {self.name}")
        return self.agreement_records[agreement_id]

    def _addition(self, agreement_id: int, addition_id: int) -> Addition:
        found = self.addition_records.get(addition_id)
        if found is None or found.agreement_id != agreement_id:
            raise TargetError(f"addition {addition_id} does not exist on agreement {agreement_id} in {self.name}")
        return found

    def additions(self, agreement_id: int, active_only: bool = True) -> list[Addition]:
        self._call("additions")
        self._agreement(agreement_id)
        found = [a for a in self.addition_records.values() if a.agreement_id == agreement_id]
        if active_only:
            since = datetime.now(UTC).date() - BILLING_LOOKBACK
            found = [a for a in found if a.ends is None or a.ends > since]
        return sorted(found, key=lambda a: a.id)

    def create_addition(self, agreement_id: int, product_identifier: str, quantity: float,
                        effective_date: date | None, marker: str, catalog_id: int | None = None,
                        known_ids: set[int] | None = None) -> Addition:
        self._call("create_addition")
        agreement = self._agreement(agreement_id)
        item = next((c for c in self.catalog.values() if c.identifier.casefold() == product_identifier.casefold()), None)
        if item is None:
            raise TargetError(f"catalog item {product_identifier!r} does not exist in {self.name}")
        addition = Addition(self._next(), agreement.id, item.identifier, float(quantity),
                            effective_date=f"{effective_date.isoformat()}T00:00:00Z" if effective_date else None,
                            marker=marker[:50], unit_price=item.price, unit_cost=item.cost, last_updated=_now())
        self.addition_records[addition.id] = addition
        self._write("create_addition", agreement_id, addition.id, product_identifier, quantity)
        return addition

    def set_quantity(self, agreement_id: int, addition_id: int, quantity: float) -> None:
        self._call("set_quantity")
        found = self._addition(agreement_id, addition_id)
        self.addition_records[addition_id] = replace(found, quantity=float(quantity), last_updated=_now())
        self._write("set_quantity", agreement_id, addition_id, quantity)

    def cancel_addition(self, agreement_id: int, addition_id: int, on: date, zero_quantity: bool = False) -> None:
        self._call("cancel_addition")
        found = self._addition(agreement_id, addition_id)
        self.addition_records[addition_id] = replace(
            found, cancelled_date=f"{on.isoformat()}T00:00:00Z", last_updated=_now(),
            quantity=0.0 if zero_quantity else found.quantity)
        self._write("cancel_addition", agreement_id, addition_id, on, zero_quantity)

    # -- executive summaries ------------------------------------------------------------------
    def summaries(self, company_id: int, group: str) -> list[SummaryReport]:
        self._call("summaries", "summaries")
        return sorted((r for c, r, _ in self.reports.values() if c == company_id and r.group == group),
                      key=lambda r: r.id)

    def post_summary(self, summary: ExecutiveSummary) -> SummaryReport:
        self._call("post_summary", "summaries")
        if not self.management_solution_exists(summary.management_solution):
            raise TargetError(f'management solution "{summary.management_solution}" does not exist in {self.name}')
        if summary.company_id not in self.company_records:
            raise TargetError(f"company {summary.company_id} does not exist in {self.name}")
        report = SummaryReport(self._next(), summary.group)
        self.reports[report.id] = (summary.company_id, report, summary)
        self._write("post_summary", summary.company_id, report.id, summary.group)
        return report

    def delete_summary(self, company_id: int, report_id: int) -> None:
        self._call("delete_summary", "summaries")
        if report_id not in self.reports or self.reports[report_id][0] != company_id:
            raise TargetError(f"summary report {report_id} does not exist on company {company_id} in {self.name}")
        del self.reports[report_id]
        self._write("delete_summary", company_id, report_id)

    def management_solution_exists(self, name: str) -> bool:
        self._call("management_solution_exists", "summaries")
        return name.casefold() in self.solutions

    # -- the run lease ------------------------------------------------------------------------
    def leases(self) -> list[Lease]:
        self._call("leases")
        return sorted(self.lease_records.values(), key=lambda x: x.id)

    def take_lease(self, run_id: str, until: datetime, place: LeasePlace,
                   shard: tuple[int, int] | None = None) -> Lease:
        self._call("take_lease")
        lease = Lease(self._next(), run_id, until.astimezone(UTC).replace(microsecond=0), shard=shard)
        self.lease_records[lease.id] = lease
        self._write("take_lease", lease.id, run_id)
        return lease

    def renew_lease(self, lease: Lease, until: datetime) -> None:
        self._call("renew_lease")
        self._lease(lease.id)
        self.lease_records[lease.id] = replace(self.lease_records[lease.id],
                                               until=until.astimezone(UTC).replace(microsecond=0))
        self._write("renew_lease", lease.id)

    def end_lease(self, lease: Lease, wrote: bool) -> None:
        self._call("end_lease")
        self._lease(lease.id)
        self.lease_records[lease.id] = replace(self.lease_records[lease.id], until=None, open=False, wrote=wrote)
        self._write("end_lease", lease.id, wrote)

    def _lease(self, lease_id: int) -> Lease:
        if lease_id not in self.lease_records:
            raise TargetError(f"lease record {lease_id} does not exist in {self.name}")
        return self.lease_records[lease_id]

    # -- tickets ------------------------------------------------------------------------------
    def ticket_references(self, board: str, status: str | None, type_: str | None) -> TicketReferences:
        self._call("ticket_references", "tickets")
        found = next(((i, b) for i, b in self.boards.items() if b[0].casefold() == board.casefold()), None)
        if found is None:
            names = ", ".join(sorted(b[0] for b in self.boards.values())) or "none"
            why = f'board "{board}" does not exist in {self.name} (boards: {names})'
            return TicketReferences(board, status, type_, missing=(why,))
        board_id, (_, statuses, types) = found
        missing = []
        status_id = type_id = None
        if status:
            status_id = next((i for i, s in statuses.items() if s.casefold() == status.casefold()), None)
            if status_id is None:
                missing.append(f'status "{status}" does not exist on board "{board}"')
        if type_:
            type_id = next((i for i, t in types.items() if t.casefold() == type_.casefold()), None)
            if type_id is None:
                missing.append(f'type "{type_}" does not exist on board "{board}"')
        return TicketReferences(board, status, type_, board_id, status_id, type_id, tuple(missing))

    def open_tickets_on_board(self, board_id: int) -> list[OpenTicket]:
        self._call("open_tickets_on_board", "tickets")
        return [OpenTicket(i, t["summary"], t["company_id"]) for i, t in sorted(self.tickets.items())
                if t["board_id"] == board_id and not t["closed"]]

    def open_ticket(self, summary: str, references: TicketReferences, company_id: int, internal_text: str) -> int:
        self._call("open_ticket", "tickets")
        if references.board_id is None or references.missing:
            raise ValueError("open_ticket needs resolved ticket references")
        if company_id not in self.company_records:
            raise TargetError(f"company {company_id} does not exist in {self.name}")
        ticket_id = self._next()
        self.tickets[ticket_id] = {"summary": summary[:100], "board_id": references.board_id, "company_id": company_id,
                                   "closed": False, "notes": [internal_text]}
        self._write("open_ticket", ticket_id, company_id)
        return ticket_id

    def add_ticket_note(self, ticket_id: int, internal_text: str) -> None:
        self._call("add_ticket_note", "tickets")
        if ticket_id not in self.tickets:
            raise TargetError(f"ticket {ticket_id} does not exist in {self.name}")
        self.tickets[ticket_id]["notes"].append(internal_text)
        self._write("add_ticket_note", ticket_id)

    def own_company(self) -> Company | None:
        self._call("own_company")
        found = [c for c in self.company_records.values() if c.identifier.casefold() == self.own_identifier.casefold()]
        return found[0] if len(found) == 1 else None

    def agreement_types(self) -> list[str]:
        self._call("agreement_types")
        return list(self.agreement_type_names)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
