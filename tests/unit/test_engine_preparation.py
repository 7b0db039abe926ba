"""One preparation per customer (issue 23): its schedules are decided once per plan, from the day
the command passed in, and the read and the decision both work from the same preparation.

Pure engine tests against the counting in-memory target of test_engine_reads; no server.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from reconciler import engine
from reconciler.config.model import BillingSettings
from reconciler.engine import PlanContext, PlanOptions, build_plan, prepare_customer, schedules_for
from reconciler.ledger import LedgerView
from reconciler.snapshot import Directory
from reconciler.state import Company
from reconciler.usage import Usage
from tests.support.engine_fixtures import BLOCK, MANAGED, config
from tests.unit.test_engine_reads import ACME, BRAVO, USAGE, CountingTarget


@pytest.mark.parametrize("previews", [True, False])
def test_each_customers_schedules_are_decided_once_per_plan(monkeypatch, previews):
    decided: list[str] = []

    def counting_decide(**kwargs):
        decided.append(kwargs["what"])
        return real_decide(**kwargs)

    real_decide = engine.decide
    monkeypatch.setattr(engine, "decide", counting_decide)
    plan = build_plan(CountingTarget(), config(ACME, BRAVO), USAGE, LedgerView(),
                      PlanOptions(today=date(2026, 12, 1), previews=previews))
    assert [cp.customer for cp in plan.customers] == ["acme", "bravo"]
    assert plan.customers[0].due and plan.customers[0].billing_read  # acme was read and decided
    # billing and executive summary, once each per customer (it was up to six times each)
    assert sorted(decided) == ["billing", "billing", "executive summary", "executive summary"]


def test_the_read_and_the_decision_share_one_preparation(monkeypatch):
    prepared: list[str] = []
    real_prepare = engine.prepare_customer

    def counting_prepare(ctx, customer, schedules):
        prepared.append(customer.slug)
        return real_prepare(ctx, customer, schedules)

    monkeypatch.setattr(engine, "prepare_customer", counting_prepare)
    target = CountingTarget()
    plan = build_plan(target, config(ACME, BRAVO), USAGE, LedgerView(), PlanOptions(today=date(2026, 12, 1)))
    assert sorted(prepared) == ["acme", "bravo"]
    assert list(plan.customers[0].additions_read) == [MANAGED.id]  # what acme's preparation asked for
    assert target.calls["additions"] == 1  # read once; bravo (no usage rows) asked for nothing


def _context(customer, options: PlanOptions) -> PlanContext:
    ctx = PlanContext(config=config(customer), usage=Usage({("t-acme", "wfbss-svc"): 12}), ledger=LedgerView(),
                      options=options)
    ctx.directory = Directory(companies={"acme": Company(1, "Acme", "Acme")},
                              agreements_by_company={1: [MANAGED, BLOCK]})
    return ctx


def test_the_day_is_passed_in_and_each_time_zone_reads_it():
    # 03:00 UTC on 1 December is still 30 November in Chicago: its December bill is not due yet.
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    oslo = replace(ACME, billing=BillingSettings(timezone="Europe/Oslo", day=1))
    chicago = replace(ACME, billing=BillingSettings(timezone="America/Chicago", day=1))
    assert schedules_for(_context(oslo, PlanOptions(now=now)), oslo).billing.period == "2026-12"
    assert schedules_for(_context(chicago, PlanOptions(now=now)), chicago).billing.period == "2026-11"
    # --date is that day in every time zone
    fixed = PlanOptions(today=date(2026, 12, 1), now=now)
    assert schedules_for(_context(chicago, fixed), chicago).billing.period == "2026-12"
    # and without either, the engine refuses rather than read the clock itself
    with pytest.raises(ValueError, match="reads the clock"):
        schedules_for(_context(chicago, PlanOptions()), chicago)


def test_a_preparation_holds_what_the_read_and_the_decision_need():
    ctx = _context(ACME, PlanOptions(today=date(2026, 12, 1)))
    prep = prepare_customer(ctx, ACME, schedules_for(ctx, ACME))
    assert prep.schedule.due and prep.reads_psa and prep.reads_billing and prep.problem is None
    assert prep.company == Company(1, "Acme", "Acme") and prep.agreements == (MANAGED, BLOCK)
    assert prep.usage is ctx.usage and dict(prep.seats) == {"wfbss-svc": 12}
    assert prep.desired is not None and prep.desired.additions["wfbss-svc"].agreement == MANAGED
    assert prep.read is not None and prep.read.agreement_ids == (MANAGED.id, BLOCK.id)
    with pytest.raises(AttributeError):
        prep.schedule = prep.summary_schedule  # frozen: made once, read by both


def test_a_company_that_is_not_found_is_the_preparations_problem_and_nothing_is_read():
    ctx = _context(ACME, PlanOptions(today=date(2026, 12, 1)))
    ctx.directory.companies.clear()
    prep = prepare_customer(ctx, ACME, schedules_for(ctx, ACME))
    assert prep.problem == "ConnectWise company 'Acme' not found" and prep.read is None and prep.desired is None
