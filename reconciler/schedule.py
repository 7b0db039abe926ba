"""When a customer's bill (or executive summary) is due. Pure functions of dates and settings.

Rules, as TMRM had them and as docs/how-it-decides.md states:
- A period is a calendar month, named "YYYY-MM".
- The billing date of a period is its configured day; 29, 30 and 31 fall back to the month's
  last day in shorter months ("day 31" is Feb 28, or Feb 29 in a leap year).
- "Today" is evaluated in the customer's `billing.timezone`, so a run at 02:00 UTC on the 1st
  is still the last day of the previous month in Chicago.
- Each run looks at the latest billing date on or before today (this month's, or last
  month's if this month's has not come yet). If the ledger already holds a successful send for
  that period, nothing is due. Otherwise it is due when at most `catch_up_days` have passed
  since that date (a missed CI run is caught up), and "missed" beyond that: the run warns and
  asks for a manual send instead of billing a stale period on its own.
- A customer the ledger has never recorded a send for is never *missed*: a period is the tool's
  to send only if its catch-up window (billing date + `catch_up_days`) reaches the day the tool
  first saw the customer, the date of the customer's first ledger record of this kind of send
  (an intent or a failed result), or today when the ledger has none. An earlier period is not
  due and nobody's miss: the customer waits for its next billing date (or `--send-now`). So a
  new customer is due on its first billing date from today on (and caught up within
  `catch_up_days` like any other), while one the tool tried and failed to send stays missed.
- A period whose billing date moved into the past because the day changed (sent on the 31st for
  October, changed to the 5th on 20 November) is due at once: under the day the customer was
  last sent with, it was not missed yet (the ledger records the day with each send).
- A period with an intent and no result (a killed run whose writes may have gone through) is
  finished by the next run however late it comes, while it is still the latest period (or one
  ahead of it: the day moved later, or a forward-dated manual send). Once a later period has
  come it can no longer be finished (the additions now bill the later period): the engine
  reports it as a problem and apply records it as failed (engine.interrupted_intents).
- `--send-now` ignores all of this and sends the latest period (a manual send).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from reconciler.periods import next_period, parse_period, period_of, previous_period

__all__ = ["Due", "Schedule", "billing_date_for", "decide", "latest_billing_date", "next_period", "period_of",
           "previous_period", "today_in"]


def billing_date_for(period: str, day: int) -> date:
    """The date a period is billed on: `day`, or the month's last day when the month is shorter."""
    year, month = parse_period(period)
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(day, last_day))


def today_in(zone: str, now: datetime) -> date:
    """The calendar date in an IANA time zone at the instant `now` (timezone-aware). The clock
    is read by the caller, at the edge (a command), never here: the core is a pure function of
    the day it is told it is."""
    return now.astimezone(ZoneInfo(zone)).date()


def latest_billing_date(today: date, day: int) -> date:
    """The most recent billing date on or before `today`."""
    this_month = billing_date_for(period_of(today), day)
    if this_month <= today:
        return this_month
    return billing_date_for(previous_period(period_of(today)), day)


class Due(str, Enum):
    DUE = "due"  # send in this run
    NOT_DUE = "not due"  # already sent for the latest period, or its date has not come
    MISSED = "missed"  # the latest period was never sent and catch-up time has run out
    DISABLED = "disabled"  # billing (or summaries) switched off for this customer
    MANUAL = "manual"  # --send-now


@dataclass(frozen=True)
class Schedule:
    """The schedule decision for one customer and one kind of send."""

    status: Due
    period: str  # the period a send in this run would be recorded under
    billing_date: date  # that period's billing date
    next_date: date  # when the next scheduled send happens
    reason: str
    day: int | None = None  # the configured day of the month this decision was made with

    @property
    def due(self) -> bool:
        return self.status in (Due.DUE, Due.MANUAL)


def decide(
    *,
    today: date,
    day: int,
    enabled: bool,
    catch_up_days: int,
    sent_periods: frozenset[str] | set[str],
    send_now: bool = False,
    what: str = "billing",
    ever_sent: bool = True,
    first_seen: date | None = None,
    sent_day: int | None = None,
    interrupted_periods: frozenset[str] | set[str] = frozenset(),
) -> Schedule:
    """Decide whether a send is due today.

    `sent_periods` are the periods the ledger records a successful send of this kind for;
    `ever_sent` is False for a customer the ledger has no send for at all; `first_seen` is then the
    date of its first ledger record of this kind (None: it has none, so today); `sent_day` is the
    day of the month the last send was made under (None when the ledger does not say);
    `interrupted_periods` have an intent in the ledger and no result.
    A manual send (`send_now`) is recorded under the latest period, so it settles a missed one.
    """
    decision = _decide(today=today, day=day, enabled=enabled, catch_up_days=catch_up_days,
                       sent_periods=sent_periods, send_now=send_now, what=what, ever_sent=ever_sent,
                       first_seen=first_seen, sent_day=sent_day, interrupted_periods=interrupted_periods)
    return replace(decision, day=day)


def _decide(*, today: date, day: int, enabled: bool, catch_up_days: int, sent_periods: frozenset[str] | set[str],
            send_now: bool, what: str, ever_sent: bool, first_seen: date | None, sent_day: int | None,
            interrupted_periods: frozenset[str] | set[str]) -> Schedule:
    latest = latest_billing_date(today, day)
    period = period_of(latest)
    upcoming = billing_date_for(next_period(period), day)
    if send_now:
        return Schedule(Due.MANUAL, period, latest, upcoming, f"send now (manual {what} for {period})")
    if not enabled:
        return Schedule(Due.DISABLED, period, latest, upcoming, f"{what} disabled")
    ahead = sorted(p for p in interrupted_periods if isinstance(p, str) and p > period and p not in sent_periods)
    if ahead:
        # Interrupted ahead of the latest billing date: the day moved later since, or it was a
        # forward-dated manual send. Its writes may have gone through, so it is finished now
        # rather than left half-sent until its date comes (the engine reports older ones).
        finishing, date_of = ahead[0], billing_date_for(ahead[0], day)
        return Schedule(Due.DUE, finishing, date_of, billing_date_for(next_period(finishing), day),
                        f"finishing {what} for {finishing}, interrupted after its intent (its date "
                        f"{date_of.isoformat()} has not come under day {day})")
    if period in sent_periods:
        return Schedule(
            Due.NOT_DUE, period, latest, upcoming,
            f"{what} for {period} already sent; next on {upcoming.isoformat()}",
        )
    late_by = (today - latest).days
    if not ever_sent and (today if first_seen is None else first_seen) > latest + timedelta(days=catch_up_days):
        # Its catch-up window closed before the tool first saw the customer: there was never a
        # run that should have sent it, so nothing was missed. The next billing date is its first.
        return Schedule(Due.NOT_DUE, period, latest, upcoming,
                        f"first {what} send on {upcoming.isoformat()} ({latest.isoformat()} was before "
                        f"the tool first saw this customer)")
    if not ever_sent and late_by == 0:
        return Schedule(Due.DUE, period, latest, upcoming, f"first {what} send, date {latest.isoformat()}")
    if late_by <= catch_up_days:
        why = f"{'first ' if not ever_sent else ''}{what} date {latest.isoformat()}"
        if late_by:
            why += f" (catching up, {late_by} day{'s' if late_by != 1 else ''} late)"
        return Schedule(Due.DUE, period, latest, upcoming, why)
    if period in interrupted_periods:
        # Its writes may have gone through: finishing it (from what ConnectWise now holds) is
        # safer than leaving it half-sent until someone notices.
        return Schedule(Due.DUE, period, latest, upcoming,
                        f"finishing {what} for {period}, interrupted after its intent ({late_by} days after "
                        f"{latest.isoformat()})")
    if sent_day is not None and sent_day != day:
        old_date = billing_date_for(period, sent_day)
        if (today - old_date).days <= catch_up_days:
            # The day moved earlier past today: under the day this customer was last sent with,
            # the period was not (or not long) due yet, so it was never missed; send it now
            # instead of skipping a month.
            return Schedule(Due.DUE, period, latest, upcoming,
                            f"billing day changed from {sent_day} to {day}: {period} (was due "
                            f"{old_date.isoformat()}, now {latest.isoformat()}) is sent now")
    return Schedule(
        Due.MISSED, period, latest, upcoming,
        f"{what} for {period} was due {latest.isoformat()}, {late_by} days ago, beyond "
        f"catch_up_days={catch_up_days}: send it with --send-now, or wait for {upcoming.isoformat()}",
    )
