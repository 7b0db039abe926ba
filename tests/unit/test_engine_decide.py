"""`decide_customer` is pure: (the customer's preparation, its company's state, usage, ledger,
today) -> the customer's plan, with no server. Statuses, notes, money and fingerprints come from
the records alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from reconciler.engine import (
    PlanContext,
    PlanOptions,
    decide_customer,
    prepare_customer,
    schedules_for,
)
from reconciler.ledger import LedgerView
from reconciler.plan import CustomerStatus
from reconciler.snapshot import Directory
from reconciler.state import Addition, CatalogItem, Company, CompanyState
from reconciler.usage import Usage
from tests.support.engine_fixtures import BLOCK, MANAGED, config, customer

ACME = Company(1, "Acme", "Acme Dental", currency="USD")


def _context(cust, usage: dict, ledger: LedgerView | None = None, today=date(2026, 12, 1)) -> PlanContext:
    ctx = PlanContext(config=config(cust), usage=Usage(quantities={("t-acme", p): q for p, q in usage.items()}),
                      ledger=ledger or LedgerView(), options=PlanOptions(today=today))
    ctx.directory = Directory(companies={"acme": ACME}, agreements_by_company={1: [MANAGED, BLOCK]},
                              catalog={"tm-hes": CatalogItem(3, "TM-HES", Decimal("1.75"), Decimal("1.05"))})
    return ctx


def _decide(ctx: PlanContext, cust, state: CompanyState | None, read_error: Exception | None = None):
    return decide_customer(ctx, prepare_customer(ctx, cust, schedules_for(ctx, cust)), state, read_error)


def _addition(id_, agreement, product, quantity, price="4.50"):
    return Addition(id_, agreement.id, product, quantity, last_updated="2026-11-01T00:00:00Z",
                    unit_price=Decimal(price), unit_cost=Decimal("2.70"))


def test_a_snapshot_becomes_a_plan_with_status_notes_money_and_fingerprint():
    cust = customer()
    snapshot = CompanyState(ACME, [MANAGED, BLOCK], {
        MANAGED.id: [_addition(1, MANAGED, "TM-WFBSS-SVC", 40)],
        BLOCK.id: [_addition(7, BLOCK, "TM-HES", 5, "1.75")],  # a stray: hes maps to the default agreement
    })
    cp = _decide(_context(cust, {"wfbss-svc": 42, "hes": 38, "cas": 3}), cust, snapshot)
    assert cp.status == CustomerStatus.OK and cp.due
    assert sorted((c.action, c.product) for c in cp.changes if c.kind == "addition") == [
        ("cancel", "hes"), ("create", "hes"), ("update", "wfbss-svc")]
    update = next(c for c in cp.changes if c.action == "update")
    assert update.money.delta == Decimal("9.00") and update.money.currency == "USD"
    assert any("cas: 3 seats in the usage source, but no agreement mapping" in n for n in cp.notes)
    assert [(p.id, p.quantity) for p in cp.fingerprint] == [(1, 40.0), (7, 5.0)]
    assert cp.monthly["USD"][0] == Decimal("188.75")  # 40 x 4.50 + 5 x 1.75, before


def test_a_read_error_and_a_missing_company_fail_only_that_customer():
    cust = customer()
    failed = _decide(_context(cust, {"hes": 1}), cust, None, read_error=RuntimeError("HTTP 503"))
    assert failed.status == CustomerStatus.FAILED and failed.reason == "HTTP 503"
    ctx = _context(cust, {"hes": 1})
    ctx.directory.companies.clear()
    gone = _decide(ctx, cust, None)
    assert gone.status == CustomerStatus.FAILED and "not found" in gone.reason


def test_no_usage_rows_skips_the_customer_and_zeroes_nothing():
    cust = customer()
    snapshot = CompanyState(ACME, [MANAGED], {MANAGED.id: [_addition(1, MANAGED, "TM-WFBSS-SVC", 40)]})
    cp = _decide(_context(cust, {}), cust, snapshot)
    assert cp.status == CustomerStatus.SKIPPED and not [c for c in cp.changes if c.kind == "addition"]
