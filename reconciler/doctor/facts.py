"""What doctor read from ConnectWise and Trend, before any judgement: the checks (checks.py) are
pure functions of these records and the config, so every verdict is unit-tested without a server.

A field is `None` when it was not read (tickets off, or an earlier read failed, so reading it
would only repeat that failure), a `Failure` when the read was refused, else what was found.
Every text here is already safe to print (the clients scrub keys from server answers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.target import TicketReferences


@dataclass(frozen=True)
class Failure:
    """A refused or failed read. `status` is the HTTP status (None: no answer at all);
    `subject` is Trend's `error_subject` when it sent one."""

    text: str
    status: int | None = None
    subject: str = ""


@dataclass(frozen=True)
class Endpoint:
    """One ConnectWise endpoint the tool reads, with the security-role area that grants it."""

    name: str  # e.g. "catalog"
    path: str  # e.g. "procurement/catalog"
    role: str  # where the right lives in ConnectWise's security roles
    failure: Failure | None = None
    skipped: str = ""  # why it was not read (e.g. no agreement exists yet to read additions of)


Names = frozenset[str] | Failure | None  # names found (case-folded), a refusal, or not read


@dataclass(frozen=True)
class ConnectWiseFacts:
    credentials_problem: str | None = None  # keys missing or malformed: nothing was sent
    login_company: str = ""  # the company id the keys log in to
    info: dict[str, Any] | Failure | None = None  # GET system/info
    endpoints: tuple[Endpoint, ...] = ()
    catalog: Names = None  # identifiers of the products' catalog items that exist
    agreement_types: Names = None
    tickets: TicketReferences | Failure | None = None  # the ticket board, status and type looked up
    # ticket setting (company, own_company) -> (the company identifier it names, whether it exists)
    ticket_companies: dict[str, tuple[str, bool]] | Failure | None = None
    solutions: dict[str, bool] | Failure | None = None  # management solution -> exists
    companies: dict[str, int] | Failure | None = None  # identifier (case-folded) -> id
    # What the PSA offers (`Target.capabilities`): a check of what it does not keep is a warning.
    psa: str = "ConnectWise"
    summaries_offered: bool = True
    tickets_offered: bool = True


@dataclass(frozen=True)
class TrendFacts:
    used: bool = True  # usage.source is lmpi (else Trend is not read at all)
    settings_problem: str | None = None  # TM_* variables missing or malformed: nothing was sent
    clock_offset: float | None = None  # Trend's clock minus ours, in seconds, from a Date header
    clock_failure: Failure | None = None  # the first signed request's refusal, if refused
    customers: list[dict[str, Any]] | Failure | None = None
    service_plans: list[dict[str, Any]] | Failure | None = None
    report_month: str = ""
    report: list[Any] | Failure | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
