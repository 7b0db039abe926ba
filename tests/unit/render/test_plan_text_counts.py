"""The text plan's count lines agree with the customers above them and with the results table
(issue 21: a missed customer was also counted as "not due today"; "1 customer already match")."""

from __future__ import annotations

from datetime import date

from reconciler.plan import CustomerPlan, Plan
from reconciler.render.plan import render
from reconciler.schedule import Due, decide

TODAY = date(2026, 12, 4)


def _customer(slug: str, **schedule) -> CustomerPlan:
    return CustomerPlan(slug, slug.title(), slug.title(), schedule=decide(today=TODAY, enabled=True, **schedule))


def test_one_customer_already_matches():
    matching = _customer("acme", day=1, catch_up_days=7, sent_periods=set())
    text = render(Plan(today=TODAY.isoformat(), customers=[matching]), "text")
    assert "(1 customer already matches ConnectWise)" in text, text
    two = render(Plan(today=TODAY.isoformat(), customers=[matching, _customer("bravo", day=1, catch_up_days=7,
                                                                                  sent_periods=set())]), "text")
    assert "(2 customers already match ConnectWise)" in two, two


def test_a_missed_customer_is_not_also_counted_as_not_due():
    missed = _customer("fjord", day=15, catch_up_days=7, sent_periods={"2026-10"})
    assert missed.schedule.status == Due.MISSED
    missed.billing_read = False
    not_due = _customer("delta", day=20, catch_up_days=7, sent_periods={"2026-11"})
    assert not_due.schedule.status == Due.NOT_DUE
    not_due.billing_read = False
    text = render(Plan(today=TODAY.isoformat(), customers=[missed, not_due]), "text")
    assert "MISSED" in text
    assert "(1 customer not due today" in text, text
    only_missed = render(Plan(today=TODAY.isoformat(), customers=[missed]), "text")
    assert "not due today" not in only_missed, only_missed
