"""Actual state: what ConnectWise holds, read with as few requests as the plan allows.

One paged list each of companies, agreements and catalog items (filtered to the selected
customers when there are few), then one additions read per agreement the plan refers to.
Per-customer reads of companies or agreements that a list call already returned never happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.connectwise import cond
from reconciler.state import Addition, Agreement

# Above this many selected customers, listing everything is cheaper than `in (...)` chunks
# (the client splits those to keep URLs under ConnectWise's 2,000 characters).
FILTER_LIMIT = 200


@dataclass
class Directory:
    """The lists every customer's plan shares."""

    companies: dict[str, dict[str, Any]] = field(default_factory=dict)  # identifier.casefold() -> company
    agreements_by_company: dict[int, list[Agreement]] = field(default_factory=dict)
    catalog: dict[str, dict[str, Any]] = field(default_factory=dict)  # identifier.casefold() -> item


def read_directory(client, company_identifiers: list[str], catalog_identifiers: list[str]) -> Directory:
    directory = Directory()
    few = len(company_identifiers) <= FILTER_LIMIT
    for company in client.companies(sorted(set(company_identifiers)) if few else None):
        directory.companies[str(company.get("identifier", "")).casefold()] = company
    company_ids = sorted(int(c["id"]) for c in directory.companies.values())
    agreements = client.agreements(company_ids if few else None) if company_ids else []
    for record in agreements:
        agreement = Agreement.from_api(record)
        directory.agreements_by_company.setdefault(agreement.company_id, []).append(agreement)
    for item in client.catalog_items(sorted(set(catalog_identifiers))):
        directory.catalog[str(item.get("identifier", "")).casefold()] = item
    return directory


def read_additions(client, agreement_id: int) -> list[Addition]:
    """Active additions of one agreement (cancelled ones are history, not state)."""
    records = client.list(f"finance/agreements/{agreement_id}/additions", conditions=cond("cancelledDate", "=", None))
    return [a for a in (Addition.from_api(r, agreement_id) for r in records) if a.active]
