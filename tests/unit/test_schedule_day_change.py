"""Changing the billing day never skips a period and never bills one twice.

For every from/to pair of days (31 x 31) and several change dates spread over a year, a daily
scheduled run is simulated around the change with the pure `decide` and a ledger of sent
periods (each send recording its day, as `apply` does). Every period from the first send to
the last one whose billing date has come must be sent exactly once.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from reconciler.schedule import decide, latest_billing_date, next_period, period_of

DAYS = range(1, 32)
CATCH_UP = 7


def change_dates(from_day: int, to_day: int) -> list[date]:
    rng = random.Random(f"{from_day}->{to_day}")
    picks = {date(2026, 2, 28), date(2026, 11, 20)}  # February, and the issue's own example
    while len(picks) < 4:
        picks.add(date(2026, 1, 1) + timedelta(days=rng.randrange(365)))
    return sorted(picks)


def simulate(from_day: int, to_day: int, changed_on: date) -> tuple[list[str], date]:
    start, end = changed_on - timedelta(days=70), changed_on + timedelta(days=70)
    sent: list[str] = []
    sent_day: int | None = None
    today = start
    while today <= end:
        day = to_day if today >= changed_on else from_day
        schedule = decide(today=today, day=day, enabled=True, catch_up_days=CATCH_UP, sent_periods=set(sent),
                          ever_sent=bool(sent), sent_day=sent_day)
        if schedule.due:
            assert schedule.period not in sent, f"{schedule.period} billed twice ({from_day}->{to_day} on {changed_on})"
            sent.append(schedule.period)
            sent_day = day
        today += timedelta(days=1)
    return sent, end


@pytest.mark.parametrize("from_day", DAYS)
def test_every_period_is_billed_exactly_once_whatever_the_day_changes_to(from_day):
    for to_day in DAYS:
        for changed_on in change_dates(from_day, to_day):
            sent, end = simulate(from_day, to_day, changed_on)
            assert sent, "nothing was ever sent"
            expected = [sent[0]]
            while expected[-1] != period_of(latest_billing_date(end, to_day)):
                expected.append(next_period(expected[-1]))
            assert sent == expected, f"{from_day}->{to_day} on {changed_on}: sent {sent}"


def test_the_issue_example_sends_november_at_once_and_says_why():
    # Sent on day 31 for October; on 20 November the day becomes the 5th.
    schedule = decide(today=date(2026, 11, 20), day=5, enabled=True, catch_up_days=7, sent_periods={"2026-10"},
                      sent_day=31)
    assert schedule.due and schedule.period == "2026-11"
    assert "billing day changed from 31 to 5" in schedule.reason


def test_a_genuine_outage_under_an_unchanged_day_is_still_missed():
    schedule = decide(today=date(2026, 11, 20), day=5, enabled=True, catch_up_days=7, sent_periods={"2026-10"},
                      sent_day=5)
    assert schedule.status.value == "missed"


def test_an_interrupted_period_is_finished_however_late():
    late = decide(today=date(2026, 11, 28), day=1, enabled=True, catch_up_days=7, sent_periods={"2026-10"},
                  interrupted_periods={"2026-11"})
    assert late.due and "interrupted" in late.reason
    other = decide(today=date(2026, 11, 28), day=1, enabled=True, catch_up_days=7, sent_periods={"2026-10"},
                   interrupted_periods={"2026-09"})
    assert other.status.value == "missed"
