"""Demo data matching the shipped config/ and usage/seats.csv, with deliberate drift.

Hard-coded (never read from config/ at runtime); tests/test_sandbox_demo.py keeps it in sync.

Drift, so the first `reconcile plan --sandbox` has real work:
- AcmeDental: `hes` addition has quantity 35, usage says 38 (wrong quantity).
- CedarFinchLaw: no `apex-one-saas` addition at all (missing addition).
- FjordArch: `cas` is billed on "Fjord Managed" (Managed Service) but config maps it to
  "Fjord M365 Protection" (Microsoft 365 Services) (wrong agreement).
- AcmeDental: an MS-365-BP addition and EvergreenClinic a BACKUP-1TB addition (non-Trend: must
  stay untouched).
- GraniteCU: a cancelled historical TM-WFBSS-SVC addition (cancelledDate 2025-03-31) beside the
  live one.
- EvergreenClinic: a cancelled old "Managed Service" agreement beside the active TMRM one (a
  default-type resolver must only count active agreements).
- FjordArch: a "Block Hours" agreement (not a default type) beside its two others.
- HarborBakery: company + agreement + LMPI customer that no config file refers to (its usage is
  the last row of seats.csv).
- GraniteCU: LMPI reports 9 `wfs-advanced` seats, but its config maps no such product.

Service boards (for billing-problem tickets, `notifications.connectwise_ticket`): "Service
Desk" (the default board) and "Billing", each with a default "New" status, a closed status and
the service types "Billing" and "Problem". Tickets, like in a real tenant, are refused when the
board, status or type they name does not exist.

Management IT solutions (what executive summaries reference, and must exist): "TMRM Management
Solution" (the config's default) and "Custom".

The MSP's own company, `sandbox` (the sandbox's credentials company id; a sandbox started with
another login company id gets that one): where a billing problem whose customer company cannot
be trusted is ticketed (see reconciler/notify.py), and where `reconcile apply` files its
run-lease ticket (docs/lease.md). It is nobody's customer, so `import --all` leaves it out.
"""

from __future__ import annotations

import uuid
from typing import Any

from reconciler.sandbox.lmpi import license_record, service_plan_id
from reconciler.sandbox.store import (
    CURRENCIES,
    Store,
    addition_record,
    agreement_record,
    agreement_type_record,
    catalog_record,
    company_record,
    management_solution_record,
    seed_board,
)

AGREEMENT_TYPES = [
    "TMRM Management Solution",
    "Managed Service",
    "Microsoft 365 Services",
    "Cloud Services",
    "Block Hours",
]

# identifier -> (description, price, cost, inactive)
CATALOG: dict[str, tuple[str, float, float, bool]] = {
    "TM-WFBSS-SVC": ("Trend Micro Worry-Free Business Security Services (per seat)", 4.50, 2.70, False),
    "TM-WFS-ADV": ("Trend Micro Worry-Free Services Advanced (per seat)", 6.00, 3.60, False),
    "TM-CAS-M365": ("Trend Micro Cloud App Security for Microsoft 365 (per user)", 2.50, 1.50, False),
    "TM-HES": ("Trend Micro Hosted Email Security (per mailbox)", 1.75, 1.05, False),
    "TM-APEX1-SAAS": ("Trend Micro Apex One SaaS (per endpoint)", 5.25, 3.15, False),
    "TM-C1-WLS": ("Trend Micro Cloud One Workload Security (per server)", 12.00, 7.20, False),
    "TM-OSCE-LEGACY": ("Trend Micro OfficeScan (legacy, retired)", 3.00, 1.80, True),
    "MS-365-BP": ("Microsoft 365 Business Premium (per user)", 22.00, 18.00, False),
    "BACKUP-1TB": ("Cloud backup, 1 TB block", 45.00, 25.00, False),
}

# Customers: ConnectWise company identifier, name, Trend customer id
COMPANIES: list[tuple[str, str, str]] = [
    ("AcmeDental", "Acme Dental Group", "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"),
    ("Brightline", "Brightline Logistics", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c61"),
    ("CedarFinchLaw", "Cedar & Finch Law LLP", "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c462"),
    ("DeltaPrecision", "Delta Precision Manufacturing", "5b6c7d8e-9f0a-4b1c-9d2e-3f4a5b6c7d63"),
    ("EvergreenClinic", "Evergreen Family Clinic", "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f64"),
    ("FjordArch", "Fjord Architects", "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a65"),
    ("GraniteCU", "Granite Credit Union", "8f9a0b1c-2d3e-4f4a-8b5c-6d7e8f9a0b66"),
    ("HarborBakery", "Harbor Street Bakery", "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e67"),  # in no config
]

# (company identifier, agreement type, agreement name, extra fields)
# Billing settings vary as they do at an MSP: most agreements invoice monthly without proration;
# Acme and Brightline prorate mid-period changes; Fjord Architects is billed in euros and
# Cedar & Finch Law LLP in pounds (so a demo run shows totals in more than one currency).
PRORATED = {"prorateFlag": True, "invoiceProratedAdditionsFlag": True}
IN_EUROS = {"currency": CURRENCIES["EUR"]}
IN_POUNDS = {"currency": CURRENCIES["GBP"]}

AGREEMENTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("AcmeDental", "Managed Service", "Acme Managed", PRORATED),
    ("Brightline", "Managed Service", "Brightline Managed Security", PRORATED),
    ("Brightline", "Microsoft 365 Services", "Brightline M365", PRORATED),
    ("CedarFinchLaw", "TMRM Management Solution", "Cedar & Finch TMRM", IN_POUNDS),
    ("DeltaPrecision", "Managed Service", "Delta Endpoint Protection", {}),
    ("DeltaPrecision", "Cloud Services", "Delta Server Protection", {}),
    ("EvergreenClinic", "TMRM Management Solution", "Evergreen Managed Care", {}),
    ("EvergreenClinic", "Managed Service", "Evergreen Managed (2023)", {
        "agreementStatus": "Cancelled", "cancelledFlag": True, "dateCancelled": "2023-12-31T00:00:00Z",
        "reasonCancelled": "Moved to TMRM agreement", "endDate": "2023-12-31T00:00:00Z",
        "noEndingDateFlag": False, "startDate": "2021-01-01T00:00:00Z",
    }),
    ("FjordArch", "Managed Service", "Fjord Managed", IN_EUROS),
    ("FjordArch", "Microsoft 365 Services", "Fjord M365 Protection", IN_EUROS),
    ("FjordArch", "Block Hours", "Fjord Block Hours", {"applicationUnits": "Hours", "applicationLimit": 40, **IN_EUROS}),
    ("GraniteCU", "TMRM Management Solution", "Granite TMRM", {}),
    ("HarborBakery", "Managed Service", "Harbor Managed Services", {}),
]

# (company identifier, agreement name, catalog identifier, quantity, extra fields)
ADDITIONS: list[tuple[str, str, str, int, dict[str, Any]]] = [
    ("AcmeDental", "Acme Managed", "TM-WFBSS-SVC", 42, {}),
    ("AcmeDental", "Acme Managed", "TM-HES", 35, {}),  # drift: usage says 38
    ("AcmeDental", "Acme Managed", "MS-365-BP", 40, {}),  # not Trend: never touched
    ("Brightline", "Brightline Managed Security", "TM-WFS-ADV", 120, {}),
    ("Brightline", "Brightline M365", "TM-CAS-M365", 115, {}),
    ("Brightline", "Brightline M365", "TM-HES", 115, {}),
    ("CedarFinchLaw", "Cedar & Finch TMRM", "TM-WFBSS-SVC", 18, {}),
    # drift: no TM-APEX1-SAAS addition for Cedar (usage 4)
    ("DeltaPrecision", "Delta Endpoint Protection", "TM-APEX1-SAAS", 260, {}),
    ("DeltaPrecision", "Delta Server Protection", "TM-C1-WLS", 34, {}),
    ("EvergreenClinic", "Evergreen Managed Care", "TM-WFBSS-SVC", 25, {}),
    ("EvergreenClinic", "Evergreen Managed Care", "TM-HES", 25, {}),
    ("EvergreenClinic", "Evergreen Managed Care", "TM-CAS-M365", 22, {}),
    ("EvergreenClinic", "Evergreen Managed Care", "BACKUP-1TB", 2, {}),  # not Trend
    ("FjordArch", "Fjord Managed", "TM-APEX1-SAAS", 31, {}),
    ("FjordArch", "Fjord Managed", "TM-CAS-M365", 29, {}),  # drift: belongs on Fjord M365 Protection
    ("GraniteCU", "Granite TMRM", "TM-WFBSS-SVC", 50, {  # history: cancelled, must stay as is
        "effectiveDate": "2024-01-01T00:00:00Z", "cancelledDate": "2025-03-31T00:00:00Z"}),
    ("GraniteCU", "Granite TMRM", "TM-WFBSS-SVC", 64, {"effectiveDate": "2025-04-01T00:00:00Z"}),
    ("GraniteCU", "Granite TMRM", "TM-C1-WLS", 12, {}),
    ("HarborBakery", "Harbor Managed Services", "TM-WFBSS-SVC", 15, {}),
]

# Service boards: (name, [(status, extra)], [(type, extra)], extra).
BOARDS: list[tuple[str, list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]], dict[str, Any]]] = [
    ("Service Desk", [("New", {"defaultFlag": True}), ("In Progress", {}), ("Closed", {"closedStatus": True})],
     [("Problem", {"defaultFlag": True}), ("Billing", {})], {"defaultFlag": True}),
    ("Billing", [("New", {"defaultFlag": True}), ("In Progress", {}), ("Closed", {"closedStatus": True})],
     [("Billing", {"defaultFlag": True}), ("Problem", {})], {}),
]

MANAGEMENT_SOLUTIONS = ["TMRM Management Solution", "Custom"]

# The MSP's own company (identifier, name): the sandbox's credentials company id.
OWN_COMPANY = ("sandbox", "Sandbox MSP")

# The demo's Trend product codes (9 characters, like a real licence's `product_id`), by the
# product key the shipped config/global.yaml gives them (its `trend: product_codes`);
# tests/unit/sandbox/test_sandbox_demo.py keeps the two in sync.
PRODUCT_KEY_TO_TREND_ID: dict[str, str] = {
    "wfbss-svc": "WFSBWXE3X",
    "wfs-advanced": "WFSAWXE3X",
    "cas": "CASMWXE3X",
    "hes": "HESMWXE3X",
    "apex-one-saas": "APX1WXE3X",
    "workload-security": "C1WLWXE3X",
}

# LMPI seat counts: Trend customer id -> {config product key: units}; equals usage/seats.csv.
LMPI_UNITS: dict[str, dict[str, int]] = {
    "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60": {"wfbss-svc": 42, "hes": 38},
    "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c61": {"wfs-advanced": 120, "cas": 115, "hes": 115},
    "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c462": {"wfbss-svc": 18, "apex-one-saas": 4},
    "5b6c7d8e-9f0a-4b1c-9d2e-3f4a5b6c7d63": {"apex-one-saas": 260, "workload-security": 34},
    "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f64": {"wfbss-svc": 25, "hes": 25, "cas": 22},
    "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a65": {"apex-one-saas": 31, "cas": 29},
    "8f9a0b1c-2d3e-4f4a-8b5c-6d7e8f9a0b66": {"wfbss-svc": 64, "workload-security": 12, "wfs-advanced": 9},
    "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e67": {"wfbss-svc": 15},
}


def seed_demo(store: Store, own_company: str = OWN_COMPANY[0]) -> None:
    """Insert the demo data into an empty store (ids are assigned in the order above);
    `own_company`: the MSP's own company identifier, the sandbox's login company id."""
    types = {r["name"]: r for r in store.insert_many(
        "agreement_type", [(agreement_type_record(n), None) for n in AGREEMENT_TYPES])}
    catalog = {r["identifier"]: r for r in store.insert_many("catalog", [
        (catalog_record(ident, desc, price, cost, inactiveFlag=inactive), None)
        for ident, (desc, price, cost, inactive) in CATALOG.items()])}
    companies = {r["identifier"]: r for r in store.insert_many("company", [
        (company_record(ident, name, **{"FjordArch": IN_EUROS, "CedarFinchLaw": IN_POUNDS}.get(ident, {})), None)
        for ident, name, _trend in COMPANIES])}
    agreements = {(r["company"]["identifier"], r["name"]): r for r in store.insert_many("agreement", [
        (agreement_record(companies[co], types[type_name], name, **extra), None)
        for co, type_name, name, extra in AGREEMENTS])}
    items = []
    for co, agreement_name, identifier, quantity, extra in ADDITIONS:
        agreement = agreements[(co, agreement_name)]
        items.append((addition_record(agreement, catalog[identifier], quantity, **extra), agreement["id"]))
    store.insert_many("addition", items)
    store.insert("company", company_record(own_company, OWN_COMPANY[1]))
    for name, statuses, board_types, extra in BOARDS:
        seed_board(store, name, statuses, board_types, **extra)
    store.insert_many("management_solution", [(management_solution_record(n), None) for n in MANAGEMENT_SOLUTIONS])

    names = {trend: name for _ident, name, trend in COMPANIES}
    store.insert_many("lmpi_customer", [
        ({"customer_id": trend, "name": names[trend], "status": "Active", "country": "US"}, None)
        for trend in LMPI_UNITS])
    subscriptions = []
    for trend, units in LMPI_UNITS.items():
        for key, count in units.items():
            product_id = PRODUCT_KEY_TO_TREND_ID[key]
            subscriptions.append(({
                "subscription_id": str(uuid.uuid5(uuid.UUID(trend), product_id)),
                "name": f"{names[trend]} {product_id}",
                "enabled": True,
                "is_auto_renewal": True,
                "service_plan_id": service_plan_id(product_id),
                "customer_id": trend,
                "licenses": [license_record(product_id, count)],
            }, None))
    store.insert_many("lmpi_subscription", subscriptions)
