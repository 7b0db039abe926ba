"""What `reconcile doctor` asks ConnectWise first: are the keys accepted, and may the API member
read every endpoint the tool uses. ConnectWise's own business (its paths, its security roles),
so it lives here; the doctor's checks judge the answer (`reconciler.doctor`).

Each endpoint is probed with `pageSize=1`, so a tenant with 10,000 companies answers as fast as
the demo. A 403 means the API member's security role lacks the right; `role` names where in
ConnectWise's security roles (System > Security Roles) that right is granted, as the README's
role table ("Credentials and the least-privilege ConnectWise API member role") lists them.
Only reading is probed: the Add and Edit rights the billing member also needs cannot be tried
without writing, and doctor writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.doctor.facts import Endpoint, Failure

from .client import Client
from .errors import ConnectWiseError

# (name, path, where the right lives). `{company}` / `{agreement}` are filled with the first
# record the probes of companies and agreements found.
ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("companies", "company/companies", "Companies > Company Maintenance"),
    ("agreements", "finance/agreements", "Finance > Agreements"),
    ("additions", "finance/agreements/{agreement}/additions", "Finance > Agreements"),
    ("agreement_types", "finance/agreements/types", "Finance > Agreements"),
    ("catalog", "procurement/catalog", "Procurement > Product Catalog"),
)
SUMMARY_ENDPOINTS = (
    ("management_summary_reports", "company/companies/{company}/managementSummaryReports",
     "Companies > Management Summary Reports (on some versions under Company Maintenance)"),
    ("management_solutions", "company/managementItSolutions",
     "Companies > Management Summary Reports (on some versions under Company Maintenance)"),
)
TICKET_ENDPOINTS = (
    ("service_tickets", "service/tickets", "Service Desk > Service Tickets"),
    ("service_boards", "service/boards", "Service Desk > Service Tickets"),
)


@dataclass(frozen=True)
class Access:
    info: dict[str, Any] | Failure  # GET system/info, or why the keys were refused
    login_company: str
    endpoints: tuple[Endpoint, ...] = ()


def _failure(error: ConnectWiseError) -> Failure:
    return Failure(str(error), error.status)


def read_access(client: Client, summaries: bool, tickets: bool) -> Access:
    """system/info, then one probe per endpoint the tool will read with this config."""
    login = client.credentials.company_id
    try:
        info = client.get("system/info")
    except ConnectWiseError as error:
        return Access(_failure(error), login)
    first: dict[str, int | None] = {"company": None, "agreement": None}

    def probe(name: str, path: str, role: str) -> Endpoint:
        needs = next((k for k in first if "{" + k + "}" in path), None)
        if needs and first[needs] is None:
            return Endpoint(name, path, role, skipped=f"no {needs} in ConnectWise yet to read it for")
        try:
            found = client.get(f"{path.format(**first) if needs else path}?pageSize=1")
        except ConnectWiseError as error:
            return Endpoint(name, path, role, failure=_failure(error))
        kind = {"companies": "company", "agreements": "agreement"}.get(name)
        if kind and isinstance(found, list) and found and isinstance(found[0], dict):
            record_id = found[0].get("id")
            first[kind] = record_id if isinstance(record_id, int) and not isinstance(record_id, bool) else None
        return Endpoint(name, path, role)

    wanted = list(ENDPOINTS) + list(SUMMARY_ENDPOINTS if summaries else ()) + list(TICKET_ENDPOINTS if tickets else ())
    return Access(info if isinstance(info, dict) else {}, login, tuple(probe(*spec) for spec in wanted))
