from datetime import date, datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.schedule import Due, billing_date_for, decide, latest_billing_date, today_in


@pytest.mark.parametrize(
    "period, day, expected",
    [
        ("2027-02", 31, date(2027, 2, 28)),
        ("2028-02", 31, date(2028, 2, 29)),
        ("2027-02", 29, date(2027, 2, 28)),
        ("2026-11", 31, date(2026, 11, 30)),
        ("2026-11", 30, date(2026, 11, 30)),
        ("2026-12", 31, date(2026, 12, 31)),
        ("2026-12", 1, date(2026, 12, 1)),
        ("2026-04", 15, date(2026, 4, 15)),
    ],
)
def test_billing_date_falls_back_to_the_last_day_of_shorter_months(period, day, expected):
    assert billing_date_for(period, day) == expected


def _decide(today, day=31, sent=(), catch_up=7, **kw):
    return decide(today=today, day=day, enabled=True, catch_up_days=catch_up, sent_periods=set(sent), **kw)


def test_day_31_is_due_on_february_28_not_27():
    assert _decide(date(2027, 2, 28)).status is Due.DUE
    assert _decide(date(2027, 2, 28)).period == "2027-02"
    assert _decide(date(2027, 2, 27)).status is not Due.DUE
    assert _decide(date(2028, 2, 29)).status is Due.DUE


def test_sent_period_is_not_due_again_and_names_the_next_date():
    s = _decide(date(2027, 2, 28), sent={"2027-02"})
    assert s.status is Due.NOT_DUE
    assert s.next_date == date(2027, 3, 31)


def test_missed_run_is_caught_up_within_catch_up_days_across_the_month_boundary():
    s = _decide(date(2026, 12, 3), day=30)  # Nov 30 was missed; 3 days late
    assert s.status is Due.DUE and s.period == "2026-11"
    assert "3 days late" in s.reason


def test_beyond_catch_up_days_the_run_asks_for_a_manual_send():
    s = _decide(date(2026, 12, 9), day=30)  # 9 days late
    assert s.status is Due.MISSED
    assert "--send-now" in s.reason


def test_send_now_is_manual_and_uses_the_latest_period():
    s = _decide(date(2026, 12, 9), day=30, send_now=True)
    assert s.status is Due.MANUAL and s.due and s.period == "2026-11"


def test_disabled_is_never_due():
    s = decide(today=date(2026, 12, 1), day=1, enabled=False, catch_up_days=7, sent_periods=set())
    assert s.status is Due.DISABLED and not s.due


def test_today_is_evaluated_in_the_billing_time_zone():
    # 03:00 UTC on Dec 1 is still Nov 30 in Chicago.
    now = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
    assert today_in("America/Chicago", now) == date(2026, 11, 30)
    assert today_in("Europe/Oslo", now) == date(2026, 12, 1)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)), st.integers(1, 31))
def test_latest_billing_date_is_never_in_the_future_and_at_most_a_month_old(today, day):
    latest = latest_billing_date(today, day)
    assert latest <= today
    assert (today - latest).days <= 31
    assert latest.day == min(day, latest.day) and (latest.day == day or latest.day >= 28)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 1)), st.integers(1, 31))
def test_each_period_is_due_exactly_once_when_runs_happen_daily(start, day):
    # Simulate 62 daily runs that record each send: every period is sent exactly once.
    sent: list[str] = []
    current = start
    for _ in range(62):
        s = decide(today=current, day=day, enabled=True, catch_up_days=7, sent_periods=set(sent))
        if s.due:
            sent.append(s.period)
        current = date.fromordinal(current.toordinal() + 1)
    assert len(sent) == len(set(sent))
    assert len(sent) >= 1


def test_a_never_sent_customer_is_due_on_its_billing_date_and_caught_up_like_any_other():
    first = _decide(date(2026, 12, 15), day=15, ever_sent=False)
    assert first.status is Due.DUE and first.period == "2026-12" and "first" in first.reason
    late = _decide(date(2026, 12, 18), day=15, ever_sent=False)  # the run on the 15th was dropped
    assert late.status is Due.DUE and "catching up, 3 days late" in late.reason


def test_a_never_sent_customer_whose_date_passed_before_the_tool_saw_it_is_not_missed_but_waits():
    # Issue 21: adopting the tool on 1 December, Fjord (day 15) last had a billing date on 15
    # November, before anyone ran the tool: nothing was missed. It waits for 15 December.
    s = _decide(date(2026, 12, 1), day=15, ever_sent=False)
    assert s.status is Due.NOT_DUE and s.next_date == date(2026, 12, 15)
    assert "first billing send on 2026-12-15" in s.reason
    # this month's date long gone: the next one is the first (no stale period is sent unasked)
    assert _decide(date(2026, 11, 27), day=1, ever_sent=False).status is Due.NOT_DUE
    assert _decide(date(2027, 2, 27), day=31, ever_sent=False).status is Due.NOT_DUE
    # a customer the tool has sent for does miss it
    assert _decide(date(2026, 11, 27), day=1, ever_sent=True).status is Due.MISSED
    # --send-now sends it at once
    assert _decide(date(2026, 12, 1), day=15, ever_sent=False, send_now=True).status is Due.MANUAL


def test_a_never_sent_customer_the_tool_tried_to_send_is_missed_once_catch_up_runs_out():
    # A failed send on 20 November (its first ledger record) was within November's window, so
    # November was the tool's to send: on 1 December it is missed, as for anyone else.
    s = _decide(date(2026, 12, 1), day=15, ever_sent=False, first_seen=date(2026, 11, 20))
    assert s.status is Due.MISSED
    # first seen only after November's window closed: not missed
    s = _decide(date(2026, 12, 1), day=15, ever_sent=False, first_seen=date(2026, 11, 23))
    assert s.status is Due.NOT_DUE


@given(st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31)), st.integers(1, 31), st.integers(0, 27))
def test_a_customer_with_no_ledger_history_is_never_missed(today, day, catch_up):
    s = decide(today=today, day=day, enabled=True, catch_up_days=catch_up, sent_periods=set(), ever_sent=False)
    assert s.status in (Due.DUE, Due.NOT_DUE)
    assert s.status is Due.DUE or s.next_date > today


