"""Small hand-built configs and ConnectWise states for the pure engine tests (no server)."""

from datetime import date
from pathlib import Path

from reconciler.config.model import (
    BillingSettings,
    Config,
    ConnectWiseSettings,
    Customer,
    Product,
    SafetySettings,
    SummarySettings,
    UsageSettings,
)
from reconciler.desired import desired_for
from reconciler.plan import diff_customer
from reconciler.state import Addition, Agreement, Company, CompanyState

PRODUCTS = {
    "wfbss-svc": Product("wfbss-svc", "Worry-Free Business Security Services", "TM-WFBSS-SVC"),
    "hes": Product("hes", "Hosted Email Security", "TM-HES"),
    "cas": Product("cas", "Cloud App Security", "TM-CAS"),
}
MANAGED = Agreement(10, "Acme Managed", "Managed Service", 1)
M365 = Agreement(11, "Acme M365", "Microsoft 365 Services", 1)
BLOCK = Agreement(12, "Acme Block Hours", "Block Hours", 1)


def customer(agreements=None, prune=False) -> Customer:
    return Customer(
        slug="acme", path=Path("config/customers/acme.yaml"), name="Acme", trend_customer_id="t-acme",
        psa_company="Acme", agreements=agreements or {"wfbss-svc": "default", "hes": "default"},
        integration="general", billing=BillingSettings(prune=prune), executive_summary=SummarySettings(),
    )


def config(*customers: Customer) -> Config:
    return Config(
        root=Path("config"), connectwise=ConnectWiseSettings("https://x/apis/3.0", "msp", "2025.1"),
        products=PRODUCTS, default_agreement_types=("TMRM Management Solution", "Managed Service"),
        billing=BillingSettings(), executive_summary=SummarySettings(), usage=UsageSettings(),
        safety=SafetySettings(), customers=customers,
    )


def addition(id_, agreement, identifier, quantity, cancelled=None, serial="") -> Addition:
    return Addition(id=id_, agreement_id=agreement.id, product_identifier=identifier, quantity=quantity,
                    cancelled_date=cancelled, last_updated="2026-11-01T00:00:00Z", marker=serial)


def diff(cust, usage, agreements, additions, also_bills_to=None, run_accounted_for=None):
    cfg = config(cust)
    desired = desired_for(cfg, cust, usage, agreements)
    state = CompanyState(Company(1, "Acme", "Acme"), agreements=agreements)
    for a in additions:
        state.additions.setdefault(a.agreement_id, []).append(a)
    return diff_customer(
        desired=desired, actual=state, catalog_identifiers={p.catalog_item for p in PRODUCTS.values()},
        product_keys_by_identifier={p.catalog_item: p.key for p in PRODUCTS.values()},
        also_bills_to=also_bills_to, effective_date=date(2026, 12, 1), prune=cust.billing.prune,
        run_accounted_for=run_accounted_for,
    )
