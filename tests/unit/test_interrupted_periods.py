"""An interrupted period is settled however late (issue 20, item 5), over randomized histories.

The real engine and apply (build_plan, apply_plan, the ledger on disk) run against an in-memory
PSA. A history is a sequence of days on which the scheduled job runs or does not (an outage),
with, on some of them, a run killed right before or right after one of its writes, and some of
those kills hit a backdated manual send (`--send-now --date` of an earlier day). After every run
that was not killed:

- no intent of a period earlier than the one the run would send is left without a result (it
  was finished while it was the latest period, or recorded as failed once a later one came);
- a run that recorded one as failed reports the customer as failed (exit 1, a ticket);
- no period is sent twice by the schedule, and the PSA holds one addition of the product.

The old code fails the first rule: an intent of an earlier period stayed unsettled forever, and
every run printed "stopped after its intent" and exited 0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.apply import ApplyOptions, ResultStatus, apply_plan
from reconciler.engine import PlanOptions, build_plan
from reconciler.ledger import Ledger, new_run_id, read_ledger
from reconciler.periods import period_of
from reconciler.schedule import latest_billing_date
from decimal import Decimal

from reconciler.state import Addition, CatalogItem, Company
from reconciler.usage import Usage
from tests.support.engine_fixtures import MANAGED, PRODUCTS, config, customer

RUNS: list[str] = []  # run ids, in the order the runs were made
START = date(2026, 1, 1)
DAY = 1  # billing day of the month


class Killed(BaseException):
    """SIGKILL in-process: no `except Exception` in the engine catches it."""


def active(addition: Addition) -> bool:
    """ConnectWise's own addition status: billing on the day it is asked (the machine's)."""
    return addition.bills_on(datetime.now(UTC).date())


class MemoryPSA:
    """One company, one agreement; additions held in memory; a write may be set to kill."""

    name = "memory"
    own_company = "msp"

    def __init__(self) -> None:
        self.held: list[Addition] = []
        self.next_id = 100
        self.kill: str | None = None  # "before" | "after": the next write dies there

    @property
    def request_count(self) -> int:
        return 0

    def companies(self, identifiers=None):
        return [Company(1, "Acme", "Acme")]

    def agreements(self, company_ids=None):
        return [MANAGED]

    def catalog_items(self, identifiers):
        # Priced: a create ConnectWise cannot price is unsafe (plan.safety_verdict), never sent.
        return [CatalogItem(n, p.catalog_item, price=Decimal("1.00")) for n, p in enumerate(PRODUCTS.values(), 1)]

    def additions(self, agreement_id, active_only=True):
        return [a for a in self.held if a.agreement_id == agreement_id and (active(a) or not active_only)]

    def _write(self, do) -> None:
        kill, self.kill = self.kill, None
        if kill == "before":
            raise Killed()
        do()
        if kill == "after":
            raise Killed()

    def create_addition(self, agreement_id, product_identifier, quantity, effective_date, marker, catalog_id=None,
                        known_ids=None):
        created = Addition(self.next_id, agreement_id, product_identifier, quantity, marker=marker,
                           unit_price=Decimal("1.00"))

        def do():
            self.next_id += 1
            self.held.append(created)
        self._write(do)
        return created

    def set_quantity(self, agreement_id, addition_id, quantity):
        def do():
            self.held = [replace(a, quantity=quantity) if a.id == addition_id else a for a in self.held]
        self._write(do)

    def cancel_addition(self, agreement_id, addition_id, on, zero_quantity=False):
        def do():
            self.held = [replace(a, cancelled_date=on.isoformat()) if a.id == addition_id else a for a in self.held]
        self._write(do)


def run(psa: MemoryPSA, ledger_path: Path, today: date, seats: int, send_now: bool = False,
        kill: str | None = None):
    """One `reconcile apply` (no previews) on `today`; returns its results, or None if killed."""
    cfg = config(customer())
    view = read_ledger(ledger_path)
    plan = build_plan(psa, cfg, Usage({("t-acme", "hes"): seats}), view,
                      PlanOptions(today=today, send_now=send_now, previews=False, workers=1))
    psa.kill = kill
    ledger = Ledger(ledger_path, new_run_id())
    RUNS.append(ledger.run_id)
    try:
        # Forced: these histories jump between seat counts freely; the money limits are not
        # what is under test here (test_plan.py has them).
        return apply_plan(psa, plan, ledger, view, ApplyOptions(force=True), plan.catalog_ids, workers=1)
    except Killed:
        return None
    finally:
        psa.kill = None


# A step: (days since the previous step, seats, what happens). Long gaps are outages.
STEP = st.tuples(
    st.integers(min_value=1, max_value=75),
    st.integers(min_value=1, max_value=40),
    st.sampled_from(["run", "run", "run", "kill before", "kill after", "backdated kill before", "backdated kill after"]),
    st.integers(min_value=1, max_value=120),  # how far back a backdated send is dated
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=2, max_size=10))
def test_every_interrupted_period_is_settled_however_late(tmp_path_factory, steps):
    ledger_path = tmp_path_factory.mktemp("ledger") / "ledger.jsonl"
    psa = MemoryPSA()
    today = START
    for gap, seats, event, back in steps:
        today += timedelta(days=gap)
        if event == "run":
            results = run(psa, ledger_path, today, seats)
            assert results is not None
            check(ledger_path, today, results)
        else:
            killed_day = today - timedelta(days=back) if event.startswith("backdated") else today
            run(psa, ledger_path, killed_day, seats, send_now=event.startswith("backdated"),
                kill=event.rsplit(" ", 1)[1])
    # One more run, the next day: whatever the history, nothing is left unsettled or unreported.
    today += timedelta(days=1)
    results = run(psa, ledger_path, today, 7)
    check(ledger_path, today, results)
    assert len([a for a in psa.held if active(a)]) <= 1


def check(ledger_path: Path, today: date, results) -> None:
    view = read_ledger(ledger_path)
    latest = period_of(latest_billing_date(today, DAY))
    stale = [i for i in view.unsettled_intents("acme") if i["period"] < latest]
    assert stale == [], f"left unsettled on {today}: {stale}"
    records = view.records
    newest = RUNS[-1]
    failed_now = [r for r in records if r["event"] == "result" and r["status"] == "failed"
                  and "cannot be finished" in (r.get("error") or "") and r["run_id"] == newest]
    acme = next(r for r in results if r.customer == "acme")
    if failed_now:
        assert acme.status == ResultStatus.FAILED and "cannot be finished" in acme.reason
        assert acme.period == failed_now[0]["period"]
    sends = Counter(r["period"] for r in records
                    if r["event"] == "result" and r["status"] == "sent" and r["trigger"] == "scheduled")
    assert [p for p, n in sends.items() if n > 1] == []


def test_an_earlier_interrupted_period_fails_the_run_once_and_is_then_settled(tmp_path):
    """The example the issue gives: a CI outage past the next billing date."""
    ledger_path, psa = tmp_path / "ledger.jsonl", MemoryPSA()
    assert run(psa, ledger_path, date(2026, 10, 1), 5, kill="after") is None  # October: killed mid-send
    results = run(psa, ledger_path, date(2026, 11, 3), 6)  # the next run comes in November
    acme = results[0]
    assert acme.status == ResultStatus.FAILED and acme.period == "2026-10"
    assert "billing for 2026-10 was interrupted" in acme.reason and "cannot be finished" in acme.reason
    view = read_ledger(ledger_path)
    assert view.unsettled_intents("acme") == [] and "2026-11" in view.sent_periods("acme")
    assert [a.quantity for a in psa.held if active(a)] == [6]
    again = run(psa, ledger_path, date(2026, 11, 4), 6)  # reported once, not on every run
    assert again[0].status == ResultStatus.NOT_DUE


def test_an_interrupted_period_ahead_of_a_later_billing_day_is_finished_now(tmp_path):
    """A forward-dated manual send killed mid-way: finished by the next run, not left waiting."""
    ledger_path, psa = tmp_path / "ledger.jsonl", MemoryPSA()
    assert run(psa, ledger_path, date(2026, 11, 1), 5)[0].status == ResultStatus.SENT
    assert run(psa, ledger_path, date(2026, 12, 2), 8, send_now=True, kill="before") is None
    results = run(psa, ledger_path, date(2026, 11, 20), 8)
    assert results[0].status == ResultStatus.SENT and results[0].period == "2026-12"
    assert read_ledger(ledger_path).unsettled_intents("acme") == []
