"""The records of the PSA we bill through, as the engine sees them: company, agreement,
addition, catalog item and executive summary.

They are the target seam's own nouns (`reconciler.target`); each PSA implementation (today
`reconciler.connectwise`) translates its API's JSON into them and back, so nothing outside it
knows a JSON field name. Only what billing decisions need is kept: server-managed fields
(`_info`, hrefs, computed prices) never reach the engine, so nothing can diff on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Agreement:
    id: int
    name: str
    type: str
    company_id: int
    active: bool = True
    # How it invoices (None: the PSA did not say). Prices are read, never written.
    currency: str | None = None  # ISO code, e.g. "USD"
    billing_cycle: str | None = None  # e.g. "Monthly"
    next_invoice_date: date | None = None
    prorate: bool | None = None  # a mid-period change is prorated on the invoice
    invoice_prorated_additions: bool | None = None

    @property
    def label(self) -> str:
        return f"{self.type} / {self.name}"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "name": self.name}


# What the tool writes into every addition it creates (ConnectWise keeps it in `serialNumber`,
# at most 50 characters, and an MSP's invoice template may print it): `ref R-<run id>`, short
# and neutral on an invoice, naming the run that made it. It lets a later run tell an addition
# this tool created from one a person typed in: only the whole marker counts (a strict run-id
# shape), so a hand-typed serial number that merely starts like one is a person's.
# `tmrm-reconcile <run id>` is what versions before 2026-12 wrote: additions already carrying it
# stay the tool's (docs/markers.md).
RUN_ID_PATTERN = r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}"  # `ledger.new_run_id`: UTC second + 6 hex digits
# ([0-9], not \d: in Python \d is any Unicode digit, and "٢٠٢٦..." is no run id this tool wrote)
_MARKERS = (re.compile(rf"ref R-({RUN_ID_PATTERN})"), re.compile(rf"tmrm-reconcile ({RUN_ID_PATTERN})"))
RUN_ID = re.compile(RUN_ID_PATTERN)


def tool_marker(run_id: str) -> str:
    """The marker of an addition created by run `run_id` (a `new_run_id`)."""
    if not RUN_ID.fullmatch(run_id):
        raise ValueError(f"not a run id of this tool: {run_id!r}")
    return f"ref R-{run_id}"


def marker_run_id(marker: str) -> str | None:
    """The run id a serial number names when it is exactly a marker this tool writes (or wrote
    before 2026-12), else None: a person's text, however similar."""
    for pattern in _MARKERS:
        match = pattern.fullmatch(marker)
        if match:
            return match.group(1)
    return None


def is_legacy_marker(marker: str) -> bool:
    """Written before the run lease existed (`tmrm-reconcile <run id>`)."""
    return marker_run_id(marker) is not None and not marker.startswith("ref R-")


@dataclass(frozen=True, slots=True)
class Addition:
    id: int
    agreement_id: int
    product_identifier: str
    quantity: float
    effective_date: str | None = None
    cancelled_date: str | None = None
    last_updated: str | None = None
    marker: str = ""  # who created it: `tool_marker(run id)` when this tool did
    unit_price: Decimal | None = None  # None: the PSA did not say
    unit_cost: Decimal | None = None
    less_included: Decimal = Decimal(0)  # billed quantity = quantity - less included
    prorate_current_period: bool | None = None
    prorate_price: Decimal | None = None  # what the PSA computed for a prorated period, when it says

    @property
    def ends(self) -> date | None:
        """The day it stops billing (its cancelled date), or None when none is set. A cancelled
        date that is not a date reads as already past: nothing is assumed to still bill."""
        if not self.cancelled_date:
            return None
        try:
            return date.fromisoformat(str(self.cancelled_date)[:10])
        except ValueError:
            return date.min

    def bills_on(self, day: date) -> bool:
        """Still billing on `day`: no cancelled date, or one later than `day`. A cancelled date is
        the day an addition *stops* billing (ConnectWise), so an addition a person scheduled to
        end later is still the product's addition until then. ConnectWise's own addition status
        ("active") is `bills_on` the day it is asked; the plan asks about its billing date, drift
        and import about the day the command was run (passed in: nothing here reads the clock)."""
        ends = self.ends
        return ends is None or ends > day

    @property
    def created_by_tool(self) -> bool:
        return self.created_by_run is not None

    @property
    def created_by_run(self) -> str | None:
        """The run id in its marker when this tool created it (exactly: `marker_run_id`)."""
        return marker_run_id(self.marker)

    @property
    def fingerprint(self) -> "AdditionPrint":
        return AdditionPrint(self.id, self.agreement_id, self.product_identifier, self.quantity, self.last_updated)


@dataclass(frozen=True, slots=True)
class AdditionPrint:
    """What a saved plan depends on about one addition: a saved plan is refused for a customer
    when any of these changed since it was made (a hand edit moves `last_updated`)."""

    id: int
    agreement_id: int
    product: str
    quantity: float
    last_updated: str | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "agreement_id": self.agreement_id, "product": self.product,
                "quantity": plain_number(self.quantity), "last_updated": self.last_updated}

    @classmethod
    def from_json(cls, data: Any) -> "AdditionPrint | None":
        """From a saved plan file (untrusted): None when it is not a fingerprint record."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            return None
        quantity = data.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
            return None
        return cls(data["id"], int(data.get("agreement_id") or 0), str(data.get("product", "")), float(quantity),
                   data.get("last_updated") if isinstance(data.get("last_updated"), str) else None)


def plain_number(quantity: float) -> int | float:
    """ConnectWise sends quantities as decimals; 42.0 reads (and diffs) better as 42."""
    return int(quantity) if float(quantity).is_integer() else quantity


def quantity_text(quantity: float | None) -> str:
    if quantity is None:
        return "(none)"
    return f"{quantity:g}"


@dataclass(slots=True)
class CompanyState:
    """What the PSA holds for one company, as one run read it (`reconciler.snapshot`): the one
    shape plan, drift and import decide on.

    `agreements` are all of the company's agreements, active or not (each says). `additions`
    holds, per agreement id, the additions of the agreements that were read: which agreements,
    and whether cancelled additions are among them, is the reader's choice (the plan reads the
    active additions of the agreements it may write; drift every addition of the active ones, so
    a cancelled addition can be told from a deleted one). `summaries` are the executive
    summaries of the one group asked for, if any."""

    company: Company | None  # None: not found in the PSA
    agreements: list[Agreement] = field(default_factory=list)
    additions: dict[int, list[Addition]] = field(default_factory=dict)
    summaries: list[SummaryReport] = field(default_factory=list)
    read_at: float | None = None  # time.monotonic() when the additions were read

    @property
    def all_additions(self) -> list[Addition]:
        """Every addition that was read, agreement by agreement (in the company's order)."""
        return [x for a in self.agreements for x in self.additions.get(a.id, [])]

    def fingerprint(self) -> list[AdditionPrint]:
        return sorted((a.fingerprint for adds in self.additions.values() for a in adds), key=lambda p: p.id)


@dataclass(frozen=True, slots=True)
class Company:
    id: int
    identifier: str  # the short company id customer files name
    name: str
    currency: str | None = None  # ISO code; an agreement's own currency wins


@dataclass(frozen=True, slots=True)
class CatalogItem:
    id: int
    identifier: str  # what `products.<key>.connectwise_product` names
    price: Decimal | None = None  # what a new addition of it is priced at
    cost: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ExecutiveSummary:
    """One customer's monthly executive summary (TMRM's Management Summary Report).

    `group` is a stable key of customer and period, so a rerun finds the posted report instead
    of posting another. Totals other than `managed_machines` are optional usage columns."""

    group: str
    management_solution: str
    company_id: int
    agreement: Agreement
    managed_machines: int
    workstations: int | None = None
    servers: int | None = None
    viruses_removed: int | None = None
    spyware_removed: int | None = None

    def as_json(self) -> dict[str, Any]:
        data = {"group": self.group, "management_solution": self.management_solution, "company_id": self.company_id,
                "agreement": self.agreement.as_json(), "managed_machines": self.managed_machines}
        for name in ("workstations", "servers", "viruses_removed", "spyware_removed"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ExecutiveSummary":
        agreement = data["agreement"]
        return cls(
            group=data["group"], management_solution=data["management_solution"], company_id=int(data["company_id"]),
            agreement=Agreement(id=agreement["id"], name=agreement["name"], type=agreement["type"],
                                company_id=int(data["company_id"])),
            managed_machines=data["managed_machines"],
            **{k: data[k] for k in ("workstations", "servers", "viruses_removed", "spyware_removed") if k in data},
        )


@dataclass(frozen=True, slots=True)
class SummaryReport:
    """A posted executive summary, as the PSA holds it."""

    id: int
    group: str


@dataclass(frozen=True, slots=True)
class Lease:
    """One apply's claim on the run lease, as the PSA holds it (`reconciler.lease`): the run that
    asked, until when it is live (renewed while the run works), and, once the run released it,
    whether it wrote anything. Ids order the claims: the oldest live open one holds."""

    id: int
    run_id: str
    until: datetime | None  # UTC; None once released
    open: bool = True
    wrote: bool | None = None  # None: not released (still working, or it died)
    shard: tuple[int, int] | None = None  # (K, N) of a `--shard K/N` run; None: every customer

    def live(self, now: datetime) -> bool:
        return self.open and self.until is not None and self.until > now

    def overlaps(self, shard: tuple[int, int] | None) -> bool:
        """Could this run and a run of `shard` write the same customer? Shards of one N split the
        customers (engine.shard_of), so only different shards of the same N never meet."""
        if self.shard is None or shard is None:
            return True
        return self.shard[1] != shard[1] or self.shard[0] == shard[0]


@dataclass(frozen=True, slots=True)
class LeasePlace:
    """Where lease records are filed (ConnectWise: the board and company of a service ticket,
    from `notifications.connectwise_ticket`; None: the board's default, the MSP's own company)."""

    board: str | None = None
    company: str | None = None
