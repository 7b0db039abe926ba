"""Fetch: what the PSA holds, read once per run into records that the pure parts decide on.

One reader serves plan, drift and import, into one shape (`state.CompanyState`). A run reads the directory (one paged list each of
companies, agreements and catalog items, read in parallel, filtered to the selected companies
when there are few), then per company the additions of the agreements it needs and, when a summary is due,
that summary's reports. Nothing here decides anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from reconciler.state import Agreement, CatalogItem, Company, CompanyState
from reconciler.target import Target

# Above this many selected companies, listing everything is cheaper than `in (...)` chunks
# (the ConnectWise client splits those to keep URLs under 2,000 characters).
FILTER_LIMIT = 200

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Directory:
    """The lists every company's state shares."""

    companies: dict[str, Company] = field(default_factory=dict)  # identifier.casefold() -> company
    agreements_by_company: dict[int, list[Agreement]] = field(default_factory=dict)  # active or not
    catalog: dict[str, CatalogItem] = field(default_factory=dict)  # identifier.casefold() -> item

    def company(self, identifier: str) -> Company | None:
        return self.companies.get(identifier.casefold())

    def agreements_of(self, company: Company | None) -> list[Agreement]:
        return list(self.agreements_by_company.get(company.id, [])) if company else []


def read_directory(target: Target, company_identifiers: Iterable[str] | None,
                   catalog_identifiers: Iterable[str]) -> Directory:
    """`company_identifiers` None: every company (import --all)."""
    directory = Directory()
    wanted = None if company_identifiers is None else sorted(set(company_identifiers))
    filtered = wanted is not None and len(wanted) <= FILTER_LIMIT
    # The three lists are read at once: with a few companies the agreements need their ids
    # (so they follow the companies), with many every agreement is listed, alongside.
    with ThreadPoolExecutor(max_workers=3) as pool:
        catalog = pool.submit(target.catalog_items, sorted(set(catalog_identifiers)))
        every_agreement = None if filtered else pool.submit(target.agreements, None)
        for company in target.companies(wanted if filtered else None):
            directory.companies[company.identifier.casefold()] = company
        company_ids = sorted(c.id for c in directory.companies.values())
        if every_agreement is not None:
            agreements = every_agreement.result()
        else:
            agreements = target.agreements(company_ids) if company_ids else []
        items = catalog.result()
    for agreement in agreements:
        directory.agreements_by_company.setdefault(agreement.company_id, []).append(agreement)
    for item in items:
        directory.catalog[item.identifier.casefold()] = item
    return directory


def read_company(target: Target, directory: Directory, identifier: str, agreement_ids: Iterable[int],
                 *, active_only: bool = True, summary_group: str | None = None) -> CompanyState:
    """One company's state: the additions of `agreement_ids` (those of this company only)."""
    company = directory.company(identifier)
    snapshot = CompanyState(company=company, agreements=directory.agreements_of(company))
    if company is None:
        return snapshot
    own = {a.id for a in snapshot.agreements}
    for agreement_id in sorted(set(agreement_ids) & own):
        snapshot.additions[agreement_id] = target.additions(agreement_id, active_only=active_only)
    if summary_group is not None:
        snapshot.summaries = target.summaries(company.id, summary_group)
    snapshot.read_at = time.monotonic()  # a saved plan's age is measured from here (the reader's clock)
    return snapshot


def active_agreement_ids(directory: Directory, identifier: str) -> list[int]:
    return [a.id for a in directory.agreements_of(directory.company(identifier)) if a.active]


def fan_out(items: Iterable[T], work: Callable[[T], R], workers: int) -> list[R]:
    """`work` over `items` on a bounded pool, in order (the target's rate limit is shared)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(work, items))
