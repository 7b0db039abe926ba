"""The doctor's reads: everything it asks the PSA and Trend, turned into facts (facts.py).

Only GETs (and Trend's report query, a POST that reads): the doctor writes nothing anywhere.
Each read that fails becomes a `Failure` and the reads that depend on it are skipped, so one
refused key is one blocker, not twenty.

The PSA is read through the `Target` seam: its optional `preflight` (the keys, and the API
member's right to read each endpoint: ConnectWise's `reconciler.connectwise.preflight`), then the
lookups plan and apply make (catalog items, agreement types, companies, ticket references,
management solutions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from reconciler.config.model import Config
from reconciler.errors import ReconcileError
from reconciler.periods import previous_period
from reconciler.target import Target, TicketReferences, capabilities_of
from reconciler.usage.lmpi import LmpiClient, LmpiError, lmpi_from_env

from .checks import solutions_named, ticket_company_settings
from .facts import ConnectWiseFacts, Failure, Names, TrendFacts

T = TypeVar("T")


def _attempt(read: Callable[[], T]) -> T | Failure:
    try:
        return read()
    except LmpiError as error:
        return Failure(str(error), getattr(error, "status", None), getattr(error, "subject", ""))
    except ReconcileError as error:  # the PSA's refusals (TargetError) carry their HTTP status
        return Failure(str(error), getattr(error, "status", None))


def tickets_on(config: Config) -> bool:
    return config.notifications.connectwise_ticket is not None


def read_connectwise(config: Config, target: Target) -> ConnectWiseFacts:
    """Everything the ConnectWise checks judge, read with the configured keys: the keys and the
    endpoint rights through the PSA's own preflight, the lookups through the target (as plan and
    apply make them)."""
    offered = capabilities_of(target)
    summaries, wants_tickets = offered.summaries and bool(solutions_named(config)), offered.tickets and tickets_on(config)
    offers: dict[str, Any] = {"psa": target.name, "summaries_offered": offered.summaries,
                              "tickets_offered": offered.tickets}
    preflight = getattr(target, "preflight", None)
    if preflight is None:  # a PSA without one: nothing to probe, the lookups still run
        return ConnectWiseFacts(credentials_problem=f"{target.name} offers no preflight to check its keys", **offers)
    access = _attempt(lambda: preflight(summaries, wants_tickets))
    if isinstance(access, Failure):
        return ConnectWiseFacts(info=access, **offers)
    info, login, endpoints = access.info, access.login_company, access.endpoints
    if isinstance(info, Failure):
        return ConnectWiseFacts(info=info, login_company=login, **offers)
    readable = {e.name for e in endpoints if e.failure is None and not e.skipped}

    def when(name: str, read: Callable[[], T]) -> T | Failure | None:
        return _attempt(read) if name in readable else None

    identifiers = [p.catalog_item for p in config.products.values()]
    catalog: Names = when("catalog", lambda: frozenset(
        item.identifier.casefold() for item in target.catalog_items(identifiers)))
    types: Names = when("agreement_types", lambda: frozenset(name.casefold() for name in target.agreement_types()))
    solutions = when("management_solutions", lambda: {
        name: target.management_solution_exists(name) for name in solutions_named(config)}) if summaries else None
    companies = when("companies", lambda: {
        c.identifier.casefold(): c.id for c in target.companies([c.psa_company for c in config.customers])}
        if config.customers else {})
    settings = config.notifications.connectwise_ticket
    tickets: TicketReferences | Failure | None = None
    ticket_companies: dict[str, tuple[str, bool]] | Failure | None = None
    if settings is not None and offered.tickets:
        tickets = when("service_boards", lambda: target.ticket_references(settings.board, settings.status,
                                                                           getattr(settings, "type", None)))
        named = ticket_company_settings(config, login)
        ticket_companies = when("companies", lambda: _exist(target, named))
    return ConnectWiseFacts(info=info, login_company=login, endpoints=endpoints, catalog=catalog, agreement_types=types,
                            tickets=tickets, ticket_companies=ticket_companies, solutions=solutions,
                            companies=companies, **offers)


def _exist(target: Target, identifiers: dict[str, str]) -> dict[str, tuple[str, bool]]:
    found = {c.identifier.casefold() for c in target.companies(list(identifiers.values()))}
    return {setting: (identifier, identifier.casefold() in found) for setting, identifier in identifiers.items()}


def last_month(today_month: str) -> str:
    """The report month doctor reads: the month before this one ("2026-12" -> "2026-11")."""
    return previous_period(today_month)


def read_trend(config: Config, env: Any, this_month: str) -> TrendFacts:
    """Trend's clock, customers, service plans and last month's summary report (LMPI only)."""
    if config.usage.source != "lmpi":
        return TrendFacts(used=False)
    try:
        client: LmpiClient = lmpi_from_env(env)
    except LmpiError as error:
        return TrendFacts(settings_problem=str(error))
    month = last_month(this_month)
    offset: float | None = None
    clock_failure: Failure | None = None
    try:
        client.get("v3/me/serviceplans")  # the first signed request: does Trend accept it at all?
    except LmpiError as error:
        clock_failure = Failure(str(error), error.status, error.subject)
    offset = client.last_offset
    if clock_failure is not None:
        return TrendFacts(clock_offset=offset, clock_failure=clock_failure, report_month=month)
    return TrendFacts(
        clock_offset=offset, report_month=month,
        customers=_attempt(client.customers),
        service_plans=_attempt(client.service_plans),
        report=_attempt(lambda: client.summary_report(month)),
    )
