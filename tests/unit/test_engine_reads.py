"""What a plan reads from the PSA (issue 16), against an in-memory target that counts calls.

Pure engine tests, no server: `apply` and the scheduled job (no previews) read only customers
they may write today; nothing at all when nobody is due; summaries are looked up only for a
period with an unsettled summary intent; customers without usage cost nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date

from reconciler.config.model import SummarySettings
from reconciler.engine import PlanOptions, build_plan
from reconciler.ledger import LedgerView
from reconciler.state import CatalogItem, Company, SummaryReport
from reconciler.usage import Usage
from tests.support.engine_fixtures import MANAGED, PRODUCTS, addition, config, customer


class CountingTarget:
    name = "test"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @property
    def request_count(self) -> int:
        return sum(self.calls.values())

    def companies(self, identifiers=None):
        self.calls["companies"] += 1
        return [Company(1, "Acme", "Acme"), Company(2, "Bravo", "Bravo")]

    def agreements(self, company_ids=None):
        self.calls["agreements"] += 1
        return [MANAGED, replace(MANAGED, id=20, company_id=2, name="Bravo Managed")]

    def catalog_items(self, identifiers):
        self.calls["catalog"] += 1
        return [CatalogItem(n, p.catalog_item) for n, p in enumerate(PRODUCTS.values(), 1)]

    def additions(self, agreement_id, active_only=True):
        self.calls["additions"] += 1
        return [addition(1, MANAGED, "TM-WFBSS-SVC", 10)] if agreement_id == MANAGED.id else []

    def summaries(self, company_id, group):
        self.calls["summaries"] += 1
        return [SummaryReport(77, group)]


SUMMARIES = SummarySettings(enabled=True, day=5)
ACME = replace(customer(), executive_summary=SUMMARIES)
BRAVO = replace(ACME, slug="bravo", trend_customer_id="t-bravo", psa_company="Bravo")
USAGE = Usage({("t-acme", "wfbss-svc"): 12})  # bravo has no usage rows


def _sent(slug: str, period: str, kind: str = "billing", **extra) -> dict:
    return {"ts": f"{period}-01T12:00:00Z", "run_id": f"r-{period}", "event": "result", "kind": kind,
            "customer": slug, "period": period, "status": "sent", "connectwise_company_id": 1,
            "additions": {}, **extra}


def _plan(day: str, ledger: LedgerView, previews: bool, send_now: bool = False):
    target = CountingTarget()
    plan = build_plan(target, config(ACME, BRAVO), USAGE, ledger,
                      PlanOptions(today=date.fromisoformat(day), previews=previews, send_now=send_now))
    return target, plan


def test_nobody_due_reads_nothing_at_all_without_previews_and_says_so():
    ledger = LedgerView([_sent("acme", "2026-11"), _sent("acme", "2026-11", "summary")])
    target, plan = _plan("2026-11-20", ledger, previews=False)
    assert target.calls == Counter()
    acme = next(cp for cp in plan.customers if cp.customer == "acme")
    assert not acme.billing_read and "already sent" in acme.reason and not acme.changes
    from reconciler.render.plan import render

    assert "1 customer not due today: ConnectWise not read" in render(plan, "text")


def test_previews_read_the_not_due_customer_but_never_the_one_without_usage():
    ledger = LedgerView([_sent("acme", "2026-11"), _sent("acme", "2026-11", "summary")])
    target, plan = _plan("2026-11-20", ledger, previews=True)
    assert target.calls["additions"] == 1  # acme's one agreement; bravo (no usage) costs nothing
    assert next(cp for cp in plan.customers if cp.customer == "bravo").status == "skipped"


def test_billing_day_reads_the_due_customers_agreements_and_no_summary():
    ledger = LedgerView([_sent("acme", "2026-10"), _sent("acme", "2026-10", "summary")])
    target, plan = _plan("2026-11-01", ledger, previews=False)
    assert target.calls["additions"] == 1 and target.calls["summaries"] == 0
    acme = next(cp for cp in plan.customers if cp.customer == "acme")
    assert acme.due and acme.billing_read and acme.read_at is not None and MANAGED.id in acme.additions_read


def test_summary_day_posts_without_asking_the_psa_unless_an_intent_is_unsettled():
    ledger = LedgerView([_sent("acme", "2026-11"), _sent("acme", "2026-10", "summary")])
    target, plan = _plan("2026-11-05", ledger, previews=False)
    assert target.calls["summaries"] == 0 and target.calls["additions"] == 0
    acme = next(cp for cp in plan.customers if cp.customer == "acme")
    assert [c.kind for c in acme.changes] == ["summary"]

    interrupted = LedgerView([*ledger.records, {"ts": "2026-11-05T12:00:00Z", "run_id": "dead", "event": "intent",
                                                "kind": "summary", "customer": "acme", "period": "2026-11"}])
    target, plan = _plan("2026-11-05", interrupted, previews=False)
    assert target.calls["summaries"] == 1  # the ledger cannot say: ConnectWise is asked, and it has one
    acme = next(cp for cp in plan.customers if cp.customer == "acme")
    assert acme.summary_report_id == 77 and not [c for c in acme.changes if c.kind == "summary"]


def test_send_now_of_a_period_the_ledger_records_as_posted_posts_no_second_summary():
    ledger = LedgerView([_sent("acme", "2026-11"), _sent("acme", "2026-11", "summary", report_id=55)])
    target, plan = _plan("2026-11-20", ledger, previews=False, send_now=True)
    assert target.calls["summaries"] == 0
    acme = next(cp for cp in plan.customers if cp.customer == "acme")
    assert not [c for c in acme.changes if c.kind == "summary"]
    assert any("report 55" in note and "ledger" in note for note in acme.notes)


# -- a create reuses the plan's fresh read of its agreement ----------------------------------------

class WritingTarget(CountingTarget):
    def __init__(self, hand_typed: bool = False) -> None:
        super().__init__()
        self.held = []
        self.hand_typed = hand_typed

    def additions(self, agreement_id, active_only=True):
        self.calls["additions"] += 1
        return list(self.held)

    def create_addition(self, agreement_id, product_identifier, quantity, effective_date, marker, catalog_id=None,
                        known_ids=None):
        self.calls["create"] += 1
        if self.hand_typed:  # someone typed one by hand between the plan and this POST
            self.held.append(addition(5, MANAGED, product_identifier, 3))
        created = addition(9, MANAGED, product_identifier, quantity, serial=marker)
        self.held.append(created)
        return created

    def cancel_addition(self, agreement_id, addition_id, on, zero_quantity=False):
        self.calls["cancel"] += 1
        self.held = [a for a in self.held if a.id != addition_id]

    def set_quantity(self, agreement_id, addition_id, quantity):
        self.calls["update"] += 1


def _create_plan(age_seconds: float):
    import time

    from reconciler.plan import Change, CustomerPlan
    from reconciler.schedule import decide

    cp = CustomerPlan(customer="acme", name="Acme", psa_company="Acme", connectwise_company_id=1)
    cp.schedule = decide(today=date(2026, 11, 1), day=1, enabled=True, catch_up_days=7, sent_periods=set())
    cp.changes = [Change("create", "addition", "acme", "Acme", MANAGED, "hes", "TM-HES", None, None, 12,
                         date(2026, 11, 1))]
    cp.additions_read, cp.read_at = {MANAGED.id: []}, time.monotonic() - age_seconds
    return cp


def _apply(target, cp, tmp_path):
    from reconciler.apply import ApplyOptions, apply_billing
    from reconciler.ledger import Ledger

    return apply_billing(target, cp, Ledger(tmp_path / "ledger.jsonl"), LedgerView(), ApplyOptions(), {})


def test_a_create_under_the_lease_costs_its_post_alone_however_old_the_plan_read(tmp_path):
    """Issue 20/22: with the run lease held no other run writes, so neither a read before the
    POST nor a read-back after it is sent (was: one read-back per create, and a second read
    when the plan's read was older than ten minutes)."""
    for age in (5, 3600):
        target = WritingTarget()
        result = _apply(target, _create_plan(age_seconds=age), tmp_path)
        assert result.status == "sent"
        assert target.calls == Counter({"create": 1})


def test_an_agreement_the_plan_did_not_read_is_read_once_before_the_create(tmp_path):
    target = WritingTarget()
    cp = _create_plan(age_seconds=5)
    cp.additions_read = {}
    assert _apply(target, cp, tmp_path).status == "sent"
    assert target.calls == Counter({"create": 1, "additions": 1})
    target = WritingTarget()
    target.held = [addition(5, MANAGED, "TM-HES", 3)]  # typed by hand: never adopted, never doubled
    result = _apply(target, cp, tmp_path)
    assert result.status == "failed" and "not created by this tool" in result.reason
    assert target.calls == Counter({"additions": 1})
