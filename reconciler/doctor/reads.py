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

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from reconciler.config.model import Config
from reconciler.connectwise import Client, ConnectWiseError, cond
from reconciler.errors import ReconcileError
from reconciler.periods import previous_period
from reconciler.usage.lmpi import LmpiClient, LmpiError, lmpi_from_env

from .checks import agreement_types_named, solutions_named
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


def _names(records: Iterable[Any], field: str = "name") -> frozenset[str]:
    return frozenset(str(r.get(field) or "").casefold() for r in records if isinstance(r, dict))


def tickets_on(config: Config) -> bool:
    return config.notifications.connectwise_ticket is not None


def read_connectwise(config: Config, client: Client) -> ConnectWiseFacts:
    """Everything the ConnectWise checks judge, read with the configured keys."""
    info = _attempt(lambda: client.get("system/info"))
    if isinstance(info, Failure):
        return ConnectWiseFacts(info=info)
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
    readable = {e.name for e in endpoints if e.failure is None}

    def when(name: str, read: Callable[[], T]) -> T | Failure | None:
        return _attempt(read) if name in readable else None

    identifiers = [p.connectwise_product for p in config.products.values()]
    catalog: Names = when("catalog", lambda: _names(client.catalog_items(identifiers), "identifier"))
    types: Names = None
    if agreement_types_named(config):
        types = when("agreement_types", lambda: _names(client.agreement_types()))
    solutions: Names = None
    if solutions_named(config):
        solutions = when("management_solutions", lambda: _names(client.list("company/managementItSolutions")))
    companies = when("companies", lambda: {
        str(c.get("identifier") or "").casefold(): c.get("id")
        for c in client.companies([c.connectwise_company for c in config.customers])
        if isinstance(c, dict)} if config.customers else {})
    board: bool | Failure | None = None
    statuses: Names = None
    service_types: Names = None
    settings = config.notifications.connectwise_ticket
    if settings is not None and "service_boards" in readable:
        found = _attempt(lambda: [b for b in client.list("service/boards", conditions=cond("name", "=", settings.board))
                                  if str(b.get("name") or "").casefold() == settings.board.casefold()])
        if isinstance(found, Failure):
            board = found
        else:
            board = bool(found)
            if found and isinstance(found[0].get("id"), int):
                board_id = found[0]["id"]
                statuses = _attempt(lambda: _names(client.list(f"service/boards/{board_id}/statuses")))
                service_types = _attempt(lambda: _names(client.list(f"service/boards/{board_id}/types")))
    return ConnectWiseFacts(info=info, endpoints=endpoints, catalog=catalog, agreement_types=types, board=board,
                            board_statuses=statuses, board_types=service_types, solutions=solutions,
                            companies=companies)


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
