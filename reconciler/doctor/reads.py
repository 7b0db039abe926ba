"""The doctor's reads: everything it asks ConnectWise and Trend, turned into facts (facts.py).

Only GETs (and Trend's report query, a POST that reads): the doctor writes nothing anywhere.
Each read that fails becomes a `Failure` and the reads that depend on it are skipped, so one
refused key is one blocker, not twenty.

ConnectWise is read through its client (`reconciler.connectwise`): the checks are about that
API's endpoints and its security roles, which the PSA-neutral `Target` does not describe.
Endpoint access is probed with `pageSize=1`, so a tenant with 10,000 companies answers as fast
as the demo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from reconciler.config.model import Config
from reconciler.connectwise import Client, ConnectWiseError
from reconciler.errors import ReconcileError
from reconciler.periods import previous_period
from reconciler.target import Target
from reconciler.usage.lmpi import LmpiClient, LmpiError, lmpi_from_env

from .checks import solutions_named, ticket_company_settings
from .facts import ConnectWiseFacts, Endpoint, Failure, Names, TrendFacts

T = TypeVar("T")

# (name, path, where the right lives in ConnectWise's security roles). `{company}` and
# `{agreement}` are filled with a record the probes of companies and agreements found.
ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("companies", "company/companies", "Companies > Company Maintenance"),
    ("agreements", "finance/agreements", "Finance > Agreements"),
    ("additions", "finance/agreements/{agreement}/additions", "Finance > Agreements"),
    ("agreement_types", "finance/agreements/types", "System > Table Setup (Agreement Type)"),
    ("catalog", "procurement/catalog", "Procurement > Product Catalog"),
)
SUMMARY_ENDPOINTS = (
    ("management_summary_reports", "company/companies/{company}/managementSummaryReports",
     "Companies > Company Maintenance (Management Summary Reports)"),
    ("management_solutions", "company/managementItSolutions", "System > Table Setup (Management IT Solutions)"),
)
TICKET_ENDPOINTS = (
    ("service_tickets", "service/tickets", "Service Desk > Service Tickets"),
    ("service_boards", "service/boards", "System > Table Setup (Service Board)"),
)


def _attempt(read: Callable[[], T]) -> T | Failure:
    try:
        return read()
    except ConnectWiseError as error:
        return Failure(str(error), error.status)
    except LmpiError as error:
        return Failure(str(error), getattr(error, "status", None), getattr(error, "subject", ""))
    except ReconcileError as error:  # another refusal with a safe text (e.g. a bad id in an answer)
        return Failure(str(error))


def tickets_on(config: Config) -> bool:
    return config.notifications.connectwise_ticket is not None


def read_connectwise(config: Config, target: Target, client: Client) -> ConnectWiseFacts:
    """Everything the ConnectWise checks judge, read with the configured keys: system/info and
    the endpoint probes through the client, the lookups through the target (as plan and apply
    make them)."""
    login = client.credentials.company_id
    info = _attempt(lambda: client.get("system/info"))
    if isinstance(info, Failure):
        return ConnectWiseFacts(info=info, login_company=login)
    first: dict[str, int | None] = {"company": None, "agreement": None}

    def probe(name: str, path: str, role: str) -> Endpoint:
        needs = next((k for k in first if "{" + k + "}" in path), None)
        if needs and first[needs] is None:
            return Endpoint(name, path, role, skipped=f"no {needs} in ConnectWise yet to read it for")
        concrete = path.format(**first) if needs else path
        found = _attempt(lambda: client.get(f"{concrete}?pageSize=1"))
        if isinstance(found, Failure):
            return Endpoint(name, path, role, failure=found)
        if isinstance(found, list) and found and isinstance(found[0], dict):
            kind = {"companies": "company", "agreements": "agreement"}.get(name)
            if kind and isinstance(found[0].get("id"), int):
                first[kind] = found[0]["id"]
        return Endpoint(name, path, role)

    wanted = list(ENDPOINTS)
    if solutions_named(config):
        wanted += SUMMARY_ENDPOINTS
    if tickets_on(config):
        wanted += TICKET_ENDPOINTS
    endpoints = tuple(probe(*spec) for spec in wanted)
    readable = {e.name for e in endpoints if e.failure is None and not e.skipped}

    def when(name: str, read: Callable[[], T]) -> T | Failure | None:
        return _attempt(read) if name in readable else None

    identifiers = [p.connectwise_product for p in config.products.values()]
    catalog: Names = when("catalog", lambda: frozenset(
        item.identifier.casefold() for item in target.catalog_items(identifiers)))
    types: Names = when("agreement_types", lambda: frozenset(name.casefold() for name in target.agreement_types()))
    solutions = when("management_solutions", lambda: {
        name: target.management_solution_exists(name) for name in solutions_named(config)})
    companies = when("companies", lambda: {
        c.identifier.casefold(): c.id for c in target.companies([c.connectwise_company for c in config.customers])}
        if config.customers else {})
    settings = config.notifications.connectwise_ticket
    tickets = ticket_companies = None
    if settings is not None:
        tickets = when("service_boards", lambda: target.ticket_references(settings.board, settings.status,
                                                                           getattr(settings, "type", None)))
        named = ticket_company_settings(config, client.credentials.company_id)
        ticket_companies = when("companies", lambda: _exist(target, named))
    return ConnectWiseFacts(info=info, login_company=login, endpoints=endpoints, catalog=catalog, agreement_types=types,
                            tickets=tickets, ticket_companies=ticket_companies, solutions=solutions,
                            companies=companies)


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
