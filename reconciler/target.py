"""The target seam: "the PSA we bill through", as the engine needs it (octoDNS's provider idea).

The engine, apply, drift and import speak this interface and the records of `reconciler.state`
(company, agreement, addition, catalog item, executive summary), never a PSA's JSON. ConnectWise
Manage is the one implementation (`reconciler.connectwise.ConnectWiseTarget`); a second PSA is a
new package implementing `Target` with a `connect(config, env, sandbox=None) -> Connection`
beside it, listed in `reconciler.runtime.TARGETS` (docs/ARCHITECTURE.md, "A second PSA").

Capabilities: not every PSA keeps executive summaries or service tickets. A target says what it
offers in `capabilities`; the engine plans no summary for a target without summaries (one plan
warning says why), notify files no ticket for one without tickets (a note says so), and doctor
turns their checks into warnings. The additions and the run lease are not optional: billing
needs the one, and "never bill twice" across machines needs the other, so a PSA that cannot keep
a lease record cannot be a target.

Every method may raise `TargetError` (or a subclass), whose text is safe to print, log and put in
a ledger: it never carries a key.

Read-only checks a preflight (`reconcile doctor`) can call without writing anything:
`companies`, `catalog_items`, `agreement_types` (do `agreements.default_types` exist?),
`ticket_references(board, status, type)` (its `missing` names each ticket setting that does not
exist, with what does), `management_solution_exists(name)` (executive summaries) and
`own_company()` (where problems with no trusted company are ticketed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from reconciler.errors import ReconcileError
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


class TargetError(ReconcileError):
    """A request to the PSA failed; one customer's failure, never the run's."""


class MissingCredentials(ReconcileError):
    """The PSA's credentials are missing, malformed or may not be sent where the config says
    (a pull request's URL): nothing was sent. Raised by a PSA package's `connect`."""


@dataclass(frozen=True)
class Capabilities:
    """What a PSA offers beyond additions and the run lease (which every target must keep)."""

    summaries: bool = True  # executive summaries: `summaries`, `post_summary`, `delete_summary`
    tickets: bool = True  # service tickets: `ticket_references`, `open_tickets_on_board`, `open_ticket`, ...


EVERYTHING = Capabilities()


def capabilities_of(target: object) -> Capabilities:
    """The target's declared capabilities; a target that declares none offers everything (as
    ConnectWise does, and every test double written before capabilities existed)."""
    found = getattr(target, "capabilities", None)
    return found if isinstance(found, Capabilities) else EVERYTHING


@dataclass(frozen=True)
class Connection:
    """What a PSA package's `connect(config, env, sandbox=None)` returns: the target, and the
    notes for the plan's warnings (e.g. a pull request's URL change that waits for merge)."""

    target: Target
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TicketReferences:
    """A ticket board, status and type, looked up by name once per run. `missing` says, one
    item each, what does not exist (with what does, so the fix can be typed); empty when all
    resolved. A status or type of None means "the board's default" and is never missing."""

    board: str
    status: str | None = None
    type: str | None = None
    board_id: int | None = None
    status_id: int | None = None
    type_id: int | None = None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpenTicket:
    """An open ticket on a board, as the one search per run sees it."""

    id: int
    summary: str
    company_id: int | None = None


@runtime_checkable
class Target(Protocol):
    """What billing needs from a PSA. Reads return records; writes take the values to set."""

    name: str  # shown to people, e.g. "ConnectWise"
    capabilities: Capabilities  # what it offers beyond additions and the lease (see the module doc)

    @property
    def request_count(self) -> int:
        """Requests sent so far (the benchmark's and the throttle's unit)."""

    # -- the directory ------------------------------------------------------------------------
    def companies(self, identifiers: Iterable[str] | None = None) -> list[Company]:
        """All companies, or those with one of these identifiers."""

    def agreements(self, company_ids: Iterable[int] | None = None) -> list[Agreement]:
        """All agreements (active or not), or those of these companies."""

    def catalog_items(self, identifiers: Iterable[str]) -> list[CatalogItem]:
        """The catalog items with these identifiers."""

    # -- additions ----------------------------------------------------------------------------
    def additions(self, agreement_id: int, active_only: bool = True) -> list[Addition]:
        """An agreement's additions: the active ones, or all (cancelled ones are history)."""

    def create_addition(self, agreement_id: int, product_identifier: str, quantity: int | float,
                        effective_date: date | None, marker: str, catalog_id: int | None = None,
                        known_ids: set[int] | None = None) -> Addition:
        """Create a billable addition, never twice: after an ambiguous failure it looks for the
        new addition (one whose id is not in `known_ids`) before it tries again."""

    def set_quantity(self, agreement_id: int, addition_id: int, quantity: int | float) -> None:
        ...

    def cancel_addition(self, agreement_id: int, addition_id: int, on: date, zero_quantity: bool = False) -> None:
        """Stop billing from `on` (history is kept: never a delete). `zero_quantity` also sets the
        quantity to 0, for an addition that was never meant to bill (a race's duplicate)."""

    # -- executive summaries (only called when `capabilities.summaries`) -----------------------
    def summaries(self, company_id: int, group: str) -> list[SummaryReport]:
        """The company's executive summaries with this group key."""

    def post_summary(self, summary: ExecutiveSummary) -> SummaryReport:
        """Post it (no read before: the caller's ledger says none was posted); after an ambiguous
        failure, one with its group key is taken as this post's before any retry. The run lease
        keeps other runs from posting meanwhile (`reconciler.lease`). A management solution that
        does not exist raises TargetError without a POST (checked once per run:
        `management_solution_exists`)."""

    def delete_summary(self, company_id: int, report_id: int) -> None:
        """Remove a duplicate summary a race posted (summaries bill nothing and have no cancel date)."""

    # -- the run lease (reconciler.lease): one apply writes at a time, across machines ---------
    def leases(self) -> list[Lease]:
        """Every lease record, open and released, lowest id first (one request per 1,000)."""

    def take_lease(self, run_id: str, until: datetime, place: LeasePlace,
                   shard: tuple[int, int] | None = None) -> Lease:
        """Create this run's lease record (never twice after an ambiguous failure); `shard`: the
        customers it covers (`--shard K/N`), None for all."""

    def renew_lease(self, lease: Lease, until: datetime) -> None:
        """Move the record's end (the run still works)."""

    def end_lease(self, lease: Lease, wrote: bool) -> None:
        """Close the record: the run is done, and whether it wrote (history is kept: never a delete)."""

    # -- notifications (only called when `capabilities.tickets`) ------------------------------
    def ticket_references(self, board: str, status: str | None, type_: str | None) -> TicketReferences:
        """Look the board, then its status and type, up by name (read-only; `reconcile doctor`
        shows `missing`). A few requests, meant once per run."""

    def open_tickets_on_board(self, board_id: int) -> list[OpenTicket]:
        """Every open ticket on the board (id, summary, company): the one ticket search a run
        makes, by board id and open flag only (never by text), whatever the number of problems."""

    def open_ticket(self, summary: str, references: TicketReferences, company_id: int, internal_text: str) -> int:
        """Open a ticket on the company (by id: never by an identifier that may have moved), with
        the looked-up board, status and type; never twice after an ambiguous failure. Its text
        is internal only and no contact is emailed. Returns its id."""

    def add_ticket_note(self, ticket_id: int, internal_text: str) -> None:
        """Add an internal note (never twice after an ambiguous failure)."""

    def own_company(self) -> Company | None:
        """The MSP's own company in the PSA (ConnectWise: the company whose identifier is the
        API login's company id), where a problem with no trustworthy customer company is
        ticketed; None when there is none. Read-only."""

    # -- read-only checks (`reconcile doctor`; each is a request or two) -----------------------
    def management_solution_exists(self, name: str) -> bool:
        """Does the management solution executive summaries reference exist? Remembered for the
        target's life: `post_summary` asks it once per run, not once per customer."""

    def agreement_types(self) -> list[str]:
        """The names of the agreement types the PSA has (to check `agreements.default_types`)."""
