"""Fetch: what the PSA holds, read once per run into records that the pure parts decide on.

One reader serves plan, drift and import. A run reads the directory (one paged list each of
companies, agreements and catalog items, filtered to the selected companies when there are
few), then per company the additions of the agreements it needs and, when a summary is due,
that summary's reports. Nothing here decides anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from reconciler.state import Addition, Agreement, CatalogItem, Company, SummaryReport
from reconciler.target import Target

# Above this many selected companies, listing everything is cheaper than `in (...)` chunks
# (the ConnectWise client splits those to keep URLs under 2,000 characters).
FILTER_LIMIT = 200

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Directory:
    """The lists every company's snapshot shares."""

    companies: dict[str, Company] = field(default_factory=dict)  # identifier.casefold() -> company
    agreements_by_company: dict[int, list[Agreement]] = field(default_factory=dict)  # active or not
    catalog: dict[str, CatalogItem] = field(default_factory=dict)  # identifier.casefold() -> item

    def company(self, identifier: str) -> Company | None:
        return self.companies.get(identifier.casefold())

    def agreements_of(self, company: Company | None) -> list[Agreement]:
        return list(self.agreements_by_company.get(company.id, [])) if company else []


@dataclass
class CompanySnapshot:
    """What the PSA holds for one company: its agreements, the additions of the agreements that
    were read (per agreement id), and the executive summaries of one group when asked for."""

    company: Company | None  # None: not found
    agreements: list[Agreement] = field(default_factory=list)
    additions: dict[int, list[Addition]] = field(default_factory=dict)
    summaries: list[SummaryReport] = field(default_factory=list)

    @property
    def all_additions(self) -> list[Addition]:
        return [x for a in self.agreements for x in self.additions.get(a.id, [])]


def read_directory(target: Target, company_identifiers: Iterable[str] | None,
                   catalog_identifiers: Iterable[str]) -> Directory:
    """`company_identifiers` None: every company (import --all)."""
    directory = Directory()
    wanted = None if company_identifiers is None else sorted(set(company_identifiers))
    filtered = wanted is not None and len(wanted) <= FILTER_LIMIT
    for company in target.companies(wanted if filtered else None):
        directory.companies[company.identifier.casefold()] = company
    company_ids = sorted(c.id for c in directory.companies.values())
    agreements = target.agreements(company_ids if filtered else None) if company_ids else []
    for agreement in agreements:
        directory.agreements_by_company.setdefault(agreement.company_id, []).append(agreement)
    for item in target.catalog_items(sorted(set(catalog_identifiers))):
        directory.catalog[item.identifier.casefold()] = item
    return directory


def read_company(target: Target, directory: Directory, identifier: str, agreement_ids: Iterable[int],
                 *, active_only: bool = True, summary_group: str | None = None) -> CompanySnapshot:
    """One company's snapshot: the additions of `agreement_ids` (those of this company only)."""
    company = directory.company(identifier)
    snapshot = CompanySnapshot(company=company, agreements=directory.agreements_of(company))
    if company is None:
        return snapshot
    own = {a.id for a in snapshot.agreements}
    for agreement_id in sorted(set(agreement_ids) & own):
        snapshot.additions[agreement_id] = target.additions(agreement_id, active_only=active_only)
    if summary_group is not None:
        snapshot.summaries = target.summaries(company.id, summary_group)
    return snapshot


def active_agreement_ids(directory: Directory, identifier: str) -> list[int]:
    return [a.id for a in directory.agreements_of(directory.company(identifier)) if a.active]


def fan_out(items: Iterable[T], work: Callable[[T], R], workers: int) -> list[R]:
    """`work` over `items` on a bounded pool, in order (the target's rate limit is shared)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(work, items))
