"""Records of ConnectWise state as the engine sees it, normalised from API JSON.

Only what billing decisions need is kept; server-managed fields (`_info`, hrefs, computed
prices) are dropped here so nothing downstream can accidentally diff on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Agreement:
    id: int
    name: str
    type: str
    company_id: int
    active: bool = True

    @property
    def label(self) -> str:
        return f"{self.type} / {self.name}"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "name": self.name}

    @classmethod
    def from_api(cls, record: dict[str, Any]) -> "Agreement":
        status = record.get("agreementStatus")
        active = not record.get("cancelledFlag", False) and status in (None, "Active")
        return cls(
            id=int(record["id"]),
            name=str(record.get("name", "")),
            type=str((record.get("type") or {}).get("name", "")),
            company_id=int((record.get("company") or {}).get("id", 0)),
            active=active,
        )


# What the tool writes into `serialNumber` (max 50 characters) of every addition it creates,
# followed by the run id. It lets any later run tell a duplicate this tool created (a race
# between two applies whose read-backs missed each other) from one a person typed in: the
# first it may cancel, the second it must never touch. `serialNumber` is an internal field
# that invoices do not print by default, unlike `invoiceDescription`.
TOOL_MARKER = "tmrm-reconcile"


def tool_marker(run_id: str) -> str:
    return f"{TOOL_MARKER} {run_id}"[:50]


@dataclass(frozen=True)
class Addition:
    id: int
    agreement_id: int
    product_identifier: str
    quantity: float
    effective_date: str | None = None
    cancelled_date: str | None = None
    last_updated: str | None = None
    serial_number: str = ""

    @property
    def active(self) -> bool:
        return not self.cancelled_date

    @property
    def created_by_tool(self) -> bool:
        return self.serial_number.startswith(TOOL_MARKER)

    @property
    def fingerprint(self) -> str:
        return f"{self.id}:{self.agreement_id}:{self.product_identifier}:{self.quantity:g}:{self.last_updated or ''}"

    @classmethod
    def from_api(cls, record: dict[str, Any], agreement_id: int) -> "Addition":
        return cls(
            id=int(record["id"]),
            agreement_id=int(record.get("agreementId") or agreement_id),
            product_identifier=str((record.get("product") or {}).get("identifier", "")),
            quantity=float(record.get("quantity") or 0),
            effective_date=record.get("effectiveDate"),
            cancelled_date=record.get("cancelledDate"),
            last_updated=(record.get("_info") or {}).get("lastUpdated"),
            serial_number=str(record.get("serialNumber") or ""),
        )


def plain_number(quantity: float) -> int | float:
    """ConnectWise sends quantities as decimals; 42.0 reads (and diffs) better as 42."""
    return int(quantity) if float(quantity).is_integer() else quantity


def quantity_text(quantity: float | None) -> str:
    if quantity is None:
        return "(none)"
    return f"{quantity:g}"


@dataclass
class CompanyState:
    """What ConnectWise holds for one customer's company."""

    company_id: int | None
    company_name: str | None
    agreements: list[Agreement] = field(default_factory=list)  # active agreements of the company
    # Active additions per agreement id, for the agreements that were read.
    additions: dict[int, list[Addition]] = field(default_factory=dict)

    def fingerprint(self) -> list[str]:
        return sorted(a.fingerprint for adds in self.additions.values() for a in adds)


def iso_date(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"
