"""The validated configuration as frozen records: what every other module reads.

`reconciler.config.load_config` is the only producer. By the time a `Config` exists the
YAML has passed the schemas and the cross-file checks, and `integration: custom` overrides
have been merged into each customer's effective `billing` and `executive_summary`, so
nothing downstream needs to know about `general` vs `custom`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Union

DEFAULT_AGREEMENT_TYPES = ("TMRM Management Solution", "Managed Service")
DEFAULT: Final = "default"


@dataclass(frozen=True, slots=True)
class ConnectWiseSettings:
    url: str  # base URL ending in /apis/3.0
    company_id: str
    api_version: str
    requests_per_minute: int = 900
    workers: int = 8


@dataclass(frozen=True, slots=True)
class Product:
    key: str  # e.g. "wfbss-svc"; the word customer files and usage rows use
    name: str
    catalog_item: str  # ConnectWise catalog item identifier, e.g. "TM-WFBSS-SVC"
    # The Trend identifiers this product counts (global.yaml `trend:`); see usage/trend_ids.py.
    # `trend_product_ids` holds the 9-character product codes (`trend.product_codes`, and the
    # older `trend.product_ids`).
    trend_product_ids: tuple[str, ...] = ()
    trend_service_plan_ids: tuple[str, ...] = ()
    trend_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgreementRef:
    """An agreement named explicitly by its type and name."""

    type: str
    name: str

    def __str__(self) -> str:
        return f"{self.type} / {self.name}"


# A product maps to an explicit agreement or to the word "default".
Mapping = Union[AgreementRef, Literal["default"]]


@dataclass(frozen=True, slots=True)
class BillingSettings:
    enabled: bool = True
    day: int = 1
    timezone: str = "UTC"
    catch_up_days: int = 7
    prune: bool = False


@dataclass(frozen=True, slots=True)
class SummarySettings:
    enabled: bool = False
    day: int = 1
    timezone: str = "UTC"  # inherited from the effective billing timezone
    management_solution: str = "TMRM Management Solution"


@dataclass(frozen=True, slots=True)
class UsageSettings:
    source: Literal["csv", "lmpi"] = "csv"
    path: Path | None = None  # absolute, resolved against global.yaml's directory
    # lmpi: "licensed" = enabled subscription licenses' units now; "reported" = Trend's monthly
    # summary report for the month before the period being billed (usage/trend_report.py).
    basis: Literal["licensed", "reported"] = "licensed"
    # The report's documented figures; `provisioned` by default (usage/trend_report.py says why).
    reported_units: Literal["provisioned", "used"] = "provisioned"
    # csv: our column -> the file's header (e.g. Trend's usage-report export); None = our header
    columns: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SafetySettings:
    max_change_percent: float = 30
    min_additions: int = 10
    max_quantity_drop_percent: float = 50
    # A usage source that reports 10x the seats is as wrong as one that reports none.
    max_quantity_increase_percent: float = 100
    max_quantity: int = 10_000
    # Money, per customer and currency, on the net change of its monthly recurring total.
    max_monthly_increase: float | None = 2500
    max_monthly_decrease: float | None = 1000
    max_monthly_change_percent: float | None = 50
    # The run as a whole (plan.run_safety_verdict): forty customers each just under the limits
    # above still add up. Per currency, the sum of the customers' net monthly rises (falls), and
    # how many customers one run changes; beyond any of them every change of the run waits for --force.
    max_run_monthly_increase: float | None = 10_000
    max_run_monthly_decrease: float | None = 5_000
    max_run_customers_changed: int | None = 500


@dataclass(frozen=True, slots=True)
class TicketSettings:
    """`notifications.connectwise_ticket`: where billing-problem tickets go."""

    board: str
    status: str | None = None  # None: the board's default status
    company: str | None = None  # ConnectWise company identifier; None: the customer's own company
    type: str | None = None  # a service type of that board; None: none set
    # Where a problem whose customer company cannot be trusted is ticketed (a company
    # identifier); None: the company whose identifier is the API login's company id.
    own_company: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    connectwise_ticket: TicketSettings | None = None  # None: no tickets (the default)

    @classmethod
    def from_yaml(cls, data: dict[str, Any] | None) -> NotificationSettings:
        """From the validated `notifications` block (absent, or `enabled: false`, means off)."""
        ticket = (data or {}).get("connectwise_ticket")
        if not ticket or not ticket.get("enabled", True):
            return cls()
        return cls(TicketSettings(board=ticket["board"], status=ticket.get("status"), company=ticket.get("company"),
                                  type=ticket.get("type"), own_company=ticket.get("own_company")))


@dataclass(frozen=True, slots=True)
class Customer:
    slug: str  # the file name without .yaml; the customer's key everywhere
    path: Path
    name: str
    trend_customer_id: str
    psa_company: str  # ConnectWise company identifier
    agreements: dict[str, Mapping]  # product key -> mapping
    integration: Literal["general", "custom"]
    billing: BillingSettings  # effective: global merged with custom overrides
    executive_summary: SummarySettings  # effective, likewise
    # product key -> "PATH:LINE:COL" of its mapping, so plan-time errors point into the file
    mapping_locations: dict[str, str] = field(default_factory=dict, compare=False)
    # product key -> other agreements where a hand-kept addition of it is allowed (left alone)
    also_bills_to: dict[str, tuple[AgreementRef, ...]] = field(default_factory=dict, compare=False)
    # the ConnectWise company id the identifier must resolve to, when the file pins it
    connectwise_company_id: int | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.slug


@dataclass(frozen=True, slots=True)
class Config:
    root: Path  # the config directory
    connectwise: ConnectWiseSettings
    products: dict[str, Product]
    default_agreement_types: tuple[str, ...]
    billing: BillingSettings
    executive_summary: SummarySettings
    usage: UsageSettings
    safety: SafetySettings
    customers: tuple[Customer, ...] = field(default_factory=tuple)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)

    def product_by_identifier(self, identifier: str) -> Product | None:
        """The product whose ConnectWise catalog identifier is `identifier` (case-insensitive)."""
        wanted = identifier.casefold()
        for product in self.products.values():
            if product.catalog_item.casefold() == wanted:
                return product
        return None

    def customer(self, key: str) -> Customer | None:
        """A customer by file slug or by Trend customer id (a GUID: any case)."""
        from reconciler.usage.base import trend_key  # the one normal form of a Trend id

        wanted = trend_key(key)
        for customer in self.customers:
            if key == customer.slug or wanted == trend_key(customer.trend_customer_id):
                return customer
        return None
