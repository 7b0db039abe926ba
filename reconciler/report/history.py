"""The ledger, read back as history: what was billed, changed and failed, per customer and period.

Records come from `reconciler.ledger` (the same reader the engine uses, so a torn record left by
a killed run means the same thing everywhere). Everything after `read_ledger` is pure: records
in, frozen model out.

Decisions (also in docs/report.md):
- Seats of a customer in a period are `additions[product].quantity` of the *last* `sent` billing
  result for that customer and period; a product missing from those additions has 0 seats.
  A period with no sent billing result has no figure (None, drawn as a gap) — never carried
  forward, because the report shows what was actually sent.
- MSP-wide seats of a product are the sum over the customers sent that period; None when no
  customer was sent at all that period, and None (a gap, not 0) when none of the customers
  billed for the period holds the product while one not (yet) billed for it did at its last
  billing: a catch-up still to come, or a failed send, is not the product falling to 0.
- Monthly recurring revenue (MRR) of a period, per currency, is what each customer's additions
  bill as of its latest billing at or before that period (additions keep billing between
  sends), at the unit price the ledger recorded with the send; additions sent before prices
  were recorded count as unpriced, not as 0. Currencies are never added together.
- "Changes this period" come from every `sent` billing result of the period (a scheduled send
  and a later --send-now both changed ConnectWise), in ledger order.
- "Failures this period" are `failed` results, plus intents that never got a result (a run that
  was interrupted mid-write). A failure is marked resolved when a later `sent` result exists for
  the same customer, kind and period.
- A send belongs to two periods: the one it is *for* (its ledger `period`, what the invoice
  bills) and the one it was made *during* (the month of its `ts` in the billing time zone). A
  catch-up send of October made on 3 November, or October's executive summary posted on
  5 November, is for October and during November; the report labels both.
"""

from __future__ import annotations

import bisect
import gc
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reconciler.ledger import (
    Event,
    SendKind,
    SendStatus,
    Trigger,
    iter_located,
    read_all_records,
    read_word,
    sortable_ts,
    timestamp_key,
)
from reconciler.money import ZERO, monthly_amount
from reconciler.notify import ProblemKind

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class FailureStatus(StrEnum):
    """What the report says of a problem (`Failure.status`): a send's failed result, an intent
    that never got a result, or a problem a run reported (`notify.ProblemKind`)."""

    MISSED = "missed"  # the billing date passed beyond catch_up_days
    FAILED = "failed"
    UNSAFE = "unsafe"  # refused by the safety thresholds
    INTERRUPTED = "interrupted"  # an intent that never got a result


def read_ledger(ledger_path: Path) -> list[dict[str, Any]]:
    """Every record of the ledger (all its files), merged by `ts`, read exactly as the engine
    reads them: a record torn by a killed run is skipped (the engine settles it), anything else
    that is not a ledger record raises `LedgerCorrupt` naming `file:line`. Holds every record: the
    command streams instead (`history_of`)."""
    return read_all_records(ledger_path)


def history_of(ledger_path: Path) -> History:
    """The history of the ledger, built in one streaming pass over its files (memory grows with
    customers x periods, not with records)."""
    return build_history_located((item.record, item.order) for item in iter_located(ledger_path))


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The model is millions of small acyclic objects (a year at 20,000 customers): the cyclic
    garbage collector found nothing in them but walked them again and again as they piled up,
    a third of the build's time (issue 22). Reference counting still frees everything; the
    collector is back on (if it was) as soon as the model is built, and the model is moved out of
    its sight (`gc.freeze`): the pages rendered next made it walk the whole model again on each
    full collection, seconds at 20,000 customers."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


# --------------------------------------------------------------------------- periods


def month_of(ts: str, timezone: str) -> str:
    """The period (YYYY-MM) a UTC ledger timestamp falls in, on the billing time zone's calendar."""
    local = timestamp_key(ts).astimezone(ZoneInfo(timezone))
    return f"{local.year:04d}-{local.month:02d}"


def local_time(ts: str, timezone: str) -> str:
    """A ledger timestamp as the billing admin reads it: `2026-11-03 05:17 CST`."""
    local = timestamp_key(ts).astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d %H:%M %Z")


def current_period(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now.year:04d}-{now.month:02d}"


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Holding:
    """One managed addition as it stood after a send."""

    product: str
    quantity: int
    agreement: str  # "Type / Name" as the ledger wrote it
    agreement_id: int | None
    addition_id: int | None
    currency: str | None = None  # what the ledger recorded with the send (issue 12); None: unknown
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None

    @property
    def monthly(self) -> Decimal | None:
        return monthly_amount(self.quantity, self.unit_price)

    @property
    def monthly_margin(self) -> Decimal | None:
        if self.unit_price is None or self.unit_cost is None:
            return None
        return monthly_amount(self.quantity, self.unit_price - self.unit_cost)


@dataclass(frozen=True, slots=True)
class Billed:
    """The last sent billing result of one customer in one period."""

    customer: str
    period: str
    ts: str
    trigger: Trigger | str  # a word this version does not know is kept as written
    holdings: dict[str, Holding]

    def seats(self, product: str) -> int:
        holding = self.holdings.get(product)
        return holding.quantity if holding else 0

    def revenue(self) -> dict[str | None, Decimal]:
        """Monthly recurring revenue per currency of the priced holdings (never across currencies)."""
        totals: dict[str | None, Decimal] = {}
        for h in self.holdings.values():
            if h.monthly is not None:
                totals[h.currency] = totals.get(h.currency, ZERO) + h.monthly
        return totals

    def margin(self) -> dict[str | None, Decimal]:
        totals: dict[str | None, Decimal] = {}
        for h in self.holdings.values():
            if h.monthly_margin is not None:
                totals[h.currency] = totals.get(h.currency, ZERO) + h.monthly_margin
        return totals


@dataclass(frozen=True, slots=True)
class Change:
    customer: str
    period: str
    ts: str
    trigger: Trigger | str
    action: str  # create / update / cancel
    product: str
    agreement: str
    before: int | None
    after: int | None


@dataclass(frozen=True, slots=True)
class Send:
    """A `sent` result, billing or executive summary."""

    customer: str
    period: str
    ts: str
    kind: SendKind | str  # a kind this version does not know is kept as written
    trigger: Trigger | str
    report_id: Any = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A problem of one customer and period: a send that failed or was interrupted, or a problem
    a run reported (`problem` records: missed, unsafe, failed before the send)."""

    customer: str
    period: str
    ts: str  # when it was first seen
    kind: SendKind | str
    trigger: Trigger | str
    status: FailureStatus
    error: str
    resolved: bool  # a later sent result exists for the same customer, kind and period
    runs: int = 1  # runs that reported it (a standing problem is reported by every run)
    last_ts: str | None = None  # when it was last reported, if by more than one run


@dataclass(frozen=True)
class History:
    """Everything the report reads, built once from the records by `build_history`, with its
    indexes (per customer, per period, per customer and period) built in the same pass, so a
    report over 20,000 customers looks each one up instead of rescanning every record."""

    record_count: int
    latest_ts: str | None
    customers: tuple[str, ...]  # every customer the ledger mentions, sorted
    companies: dict[str, str]  # customer -> ConnectWise company, as last recorded
    periods: tuple[str, ...]  # every period the ledger mentions, sorted
    billed: dict[tuple[str, str], Billed]
    changes: tuple[Change, ...]
    sends: tuple[Send, ...]
    failures: tuple[Failure, ...]
    products: tuple[str, ...] = field(default=())  # every product key seen, sorted
    open_failures: tuple[Failure, ...] = ()  # the failures no later send resolved, in ledger order
    # customer -> the periods it was billed in, sorted (for `last_billed`)
    billed_periods: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    # period -> items of that period, in ledger order; customer -> that customer's items
    _by_period: dict[str, dict[str, list[Any]]] = field(default_factory=dict, repr=False)
    _by_customer: dict[str, dict[str, list[Any]]] = field(default_factory=dict, repr=False)
    # time zone -> month a send was made in (there) -> those sends; built on first use per zone
    _during: dict[str, dict[str, list[Send]]] = field(default_factory=dict, repr=False, compare=False)
    _during_by_customer: dict[tuple[str, str], dict[str, list[Send]]] = field(
        default_factory=dict, repr=False, compare=False)
    # Figures of the whole MSP, per period, computed on first use: a report draws each period on
    # up to thirteen pages (its own and its neighbours' windows), and recounting 20,000 customers
    # for each was most of the period pages' time (issue 22). Only for every customer (a
    # selection is small, and not cached).
    _whole: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False, compare=False)

    def latest_period(self) -> str | None:
        return self.periods[-1] if self.periods else None

    def default_period(self, timezone: str) -> str | None:
        """The month of the latest send in the billing time zone (what the last run did, catch-ups
        and summaries included), else the latest period the ledger mentions."""
        if self.sends:
            latest = max(self.sends, key=lambda s: timestamp_key(s.ts))
            return max(month_of(latest.ts, timezone), self.latest_period() or "")
        return self.latest_period()

    def sends_during(
        self, period: str, timezone: str, customers: Iterable[str] | None = None
    ) -> list[Send]:
        """Sends made during `period` (calendar month in `timezone`), whatever period they were for.
        One customer's page looks its own sends up (filtering the month's whole list per customer
        made a 20,000-customer report quadratic, issue 22)."""
        if customers is None:
            return list(self.send_months(timezone).get(period, ()))
        wanted = tuple(dict.fromkeys(customers))
        if len(wanted) == 1:
            return list(self._customer_sends_during(period, timezone).get(wanted[0], ()))
        allowed = set(wanted)
        return [s for s in self.send_months(timezone).get(period, ()) if s.customer in allowed]

    def _customer_sends_during(self, period: str, timezone: str) -> dict[str, list[Send]]:
        """customer -> its sends made during `period`, in ledger order; one pass per period and
        time zone. Only the months asked for are indexed: a report asks for one, and every
        month's index of 20,000 customers held a quarter of a million lists (issue 22)."""
        index = self._during_by_customer.get((period, timezone))
        if index is None:
            index = {}
            for send in self.send_months(timezone).get(period, ()):
                index.setdefault(send.customer, []).append(send)
            self._during_by_customer[(period, timezone)] = index
        return index

    def send_months(self, timezone: str) -> dict[str, list[Send]]:
        """Sends by the month they were made in (in `timezone`): one pass per time zone, then lookups."""
        index = self._during.get(timezone)
        if index is None:
            index = {}
            for send in self.sends:
                index.setdefault(month_of(send.ts, timezone), []).append(send)
            self._during[timezone] = index
        return index

    def customer_seats(self, customer: str, period: str) -> dict[str, int] | None:
        """Seats per product the customer was billed for in `period`; None if nothing was sent."""
        billed = self.billed.get((customer, period))
        if billed is None:
            return None
        return {product: h.quantity for product, h in billed.holdings.items()}

    def msp_seats(
        self, period: str, products: Iterable[str], customers: Iterable[str] | None = None
    ) -> dict[str, int] | None:
        """Seats per product summed over the customers sent in `period`; None if none was."""
        wanted = self.customers if customers is None else tuple(customers)
        if wanted is self.customers:
            products = tuple(products)
            key = ("msp_seats", period, products)
            if key not in self._whole:
                self._whole[key] = self._msp_seats(period, products, wanted)
            found: dict[str, int] | None = self._whole[key]
            return None if found is None else dict(found)
        return self._msp_seats(period, products, wanted)

    def _msp_seats(self, period: str, products: Iterable[str], wanted: tuple[str, ...]
                   ) -> dict[str, int] | None:
        sent = [self.billed[(c, period)] for c in wanted if (c, period) in self.billed]
        if not sent:
            return None
        products = tuple(products)
        totals = dict.fromkeys(products, 0)
        for billed in sent:
            for product, holding in billed.holdings.items():
                if product in totals:
                    totals[product] += holding.quantity
        return totals

    def billed_count(self, period: str, customers: Iterable[str] | None = None) -> int:
        """How many of `customers` (every one by default) have a sent billing result for `period`."""
        wanted = self.customers if customers is None else tuple(customers)
        if wanted is self.customers:
            key = ("billed_count", period)
            if key not in self._whole:
                self._whole[key] = sum(1 for c in wanted if (c, period) in self.billed)
            count: int = self._whole[key]
            return count
        return sum(1 for c in wanted if (c, period) in self.billed)

    def billed_products(self, period: str) -> frozenset[str]:
        """Every product any customer was billed for in `period` (cached per period)."""
        key = ("billed_products", period)
        if key not in self._whole:
            found: set[str] = set()
            for customer in self.customers:
                billed = self.billed.get((customer, period))
                if billed:
                    found.update(billed.holdings)
            self._whole[key] = frozenset(found)
        products: frozenset[str] = self._whole[key]
        return products

    def last_billed(self, customer: str, up_to: str) -> Billed | None:
        """The customer's most recent billing at or before period `up_to`."""
        periods = self.billed_periods.get(customer, ())
        at = bisect.bisect_right(periods, up_to)
        return self.billed[(customer, periods[at - 1])] if at else None

    def mrr(self, period: str, customers: Iterable[str] | None = None) -> dict[str | None, Decimal] | None:
        """Monthly recurring revenue in `period`, per currency: what each customer's additions bill
        as of its latest billing at or before the period (additions keep billing between sends).
        None when no customer had been billed yet."""
        wanted = self.customers if customers is None else tuple(customers)
        if wanted is self.customers:
            key = ("mrr", period)
            if key not in self._whole:
                self._whole[key] = self._mrr(period, wanted)
            found: dict[str | None, Decimal] | None = self._whole[key]
            return None if found is None else dict(found)
        return self._mrr(period, wanted)

    def _mrr(self, period: str, wanted: tuple[str, ...]) -> dict[str | None, Decimal] | None:
        latest = [b for b in (self.last_billed(c, period) for c in wanted) if b is not None]
        if not latest:
            return None
        totals: dict[str | None, Decimal] = {}
        for billed in latest:
            for currency, amount in billed.revenue().items():
                totals[currency] = totals.get(currency, ZERO) + amount
        return totals

    def mrr_moves(self, period: str, previous: str, customers: Iterable[str] | None = None
                  ) -> tuple[dict[str | None, Decimal], dict[str | None, Decimal]]:
        """(more billed, less billed) per currency from `previous` to `period`, customer by customer."""
        more: dict[str | None, Decimal] = {}
        less: dict[str | None, Decimal] = {}
        for customer in self.customers if customers is None else customers:
            now, before = self.last_billed(customer, period), self.last_billed(customer, previous)
            now_revenue, before_revenue = (now.revenue() if now else {}), (before.revenue() if before else {})
            for currency in set(now_revenue) | set(before_revenue):
                delta = now_revenue.get(currency, ZERO) - before_revenue.get(currency, ZERO)
                bucket = more if delta > 0 else less
                if delta:
                    bucket[currency] = bucket.get(currency, ZERO) + delta
        return more, less

    def changes_in(self, period: str, customers: Iterable[str] | None = None) -> list[Change]:
        return self._select("changes", period, customers)

    def sends_in(self, period: str, customers: Iterable[str] | None = None) -> list[Send]:
        return self._select("sends", period, customers)

    def failures_in(self, period: str, customers: Iterable[str] | None = None) -> list[Failure]:
        return self._select("failures", period, customers)

    def unresolved(self, up_to: str, customers: Iterable[str] | None = None) -> list[Failure]:
        """Every problem for a period at or before `up_to` that no later send resolved: what the
        index counts as unresolved, whatever period it belongs to."""
        if customers is None:
            found: Iterable[Failure] = self.open_failures
        else:
            wanted = tuple(dict.fromkeys(customers))
            found = [f for c in wanted for f in self._by_customer.get(c, {}).get("failures", ())]
        return sorted((f for f in found if not f.resolved and f.period <= up_to),
                      key=lambda f: (f.period, f.customer, sortable_ts(f.ts)))

    def _select(self, what: str, period: str, customers: Iterable[str] | None) -> list[Any]:
        if customers is None:
            return list(self._by_period.get(period, {}).get(what, ()))
        wanted = tuple(dict.fromkeys(customers))
        if len(wanted) == 1:  # one customer's page: its own few items, not everyone's
            return [i for i in self._by_customer.get(wanted[0], {}).get(what, ()) if i.period == period]
        allowed = set(wanted)
        return [i for i in self._by_period.get(period, {}).get(what, ()) if i.customer in allowed]


def _int_or_none(value: Any) -> int | None:
    # bool is an int in Python; a quantity of `true` is a writer bug, not one seat.
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _decimal_or_none(value: Any) -> Decimal | None:
    """A money string the ledger wrote; anything else (a float, damage) is unknown, not 0."""
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _agreement_text(agreement: Any) -> str:
    if isinstance(agreement, dict):
        parts = [str(agreement.get(k)) for k in ("type", "name") if agreement.get(k)]
        return " / ".join(parts)
    return "" if agreement is None else str(agreement)


def _holdings(additions: Any, shared: Callable[[str], str] = str,
              before: dict[str, Holding] | None = None) -> dict[str, Holding]:
    """`before`: the customer's previous holdings; an unchanged one is reused (`_same`)."""
    holdings: dict[str, Holding] = {}
    if not isinstance(additions, dict):
        return holdings
    for product, addition in additions.items():
        if not isinstance(addition, dict):
            continue
        quantity = _int_or_none(addition.get("quantity"))
        currency = addition.get("currency")
        product = shared(str(product))
        holding = Holding(
            product=product,
            quantity=quantity or 0,
            agreement=shared(_agreement_text(addition.get("agreement"))),
            agreement_id=_int_or_none(addition.get("agreement_id")),
            addition_id=_int_or_none(addition.get("id")),
            currency=shared(currency[:3]) if isinstance(currency, str) and currency else None,
            unit_price=_decimal_or_none(addition.get("unit_price")),
            unit_cost=_decimal_or_none(addition.get("unit_cost")),
        )
        known = before.get(product) if before else None
        if known is not None:
            if _same(known, holding):
                holding = known
            else:  # a new quantity: the ids and amounts that did not change are shared still
                holding = replace(
                    holding,
                    agreement_id=_kept(known.agreement_id, holding.agreement_id),
                    addition_id=_kept(known.addition_id, holding.addition_id),
                    unit_price=_kept(known.unit_price, holding.unit_price),
                    unit_cost=_kept(known.unit_cost, holding.unit_cost))
        holdings[product] = holding
    return holdings


def _kept(old: Any, new: Any) -> Any:
    """`old` when it is `new` exactly (same type, and for a Decimal the same digits), else `new`."""
    if type(old) is not type(new) or old != new:
        return new
    return old if not isinstance(old, Decimal) or old.as_tuple() == new.as_tuple() else new


def _same(a: Holding, b: Holding) -> bool:
    """Equal, and printed alike: 2.50 and 2.5 are equal Decimals but not the same text."""
    return a == b and all(
        (x is None and y is None) or (x is not None and y is not None and x.as_tuple() == y.as_tuple())
        for x, y in ((a.unit_price, b.unit_price), (a.unit_cost, b.unit_cost)))


def _changes(record: dict[str, Any]) -> list[Change]:
    changes = record.get("changes")
    if not isinstance(changes, list):
        return []
    return [
        Change(
            customer=str(record.get("customer")),
            period=str(record.get("period")),
            ts=record["ts"],
            trigger=_trigger(record),
            action=str(change.get("action") or "?"),
            product=str(change.get("product") or "?"),
            agreement=_agreement_text(change.get("agreement")),
            before=_int_or_none(change.get("before")),
            after=_int_or_none(change.get("after")),
        )
        for change in changes
        if isinstance(change, dict)
    ]


def build_history(records: Iterable[dict[str, Any]]) -> History:
    """The pure model of `records` (already merged by `ts`). Unknown events and kinds are
    ignored so that a newer writer does not break an older report."""
    return build_history_located(
        (record, (sortable_ts(record.get("ts")), 0, n)) for n, record in enumerate(records)
    )


def build_history_located(located: Iterable[tuple[dict[str, Any], tuple[Any, ...]]]) -> History:
    """The model of (record, order) pairs in any order: `order` sorts them in ledger history
    (see `reconciler.ledger.Located`). One pass; the lists are sorted once at the end."""
    with _no_cycle_collection():
        return _build_history(located)


def _build_history(located: Iterable[tuple[dict[str, Any], tuple[Any, ...]]]) -> History:
    customers: set[str] = set()
    periods: set[str] = set()
    products: set[str] = set()
    companies: dict[str, tuple[tuple[Any, ...], str]] = {}
    billed: dict[tuple[str, str], tuple[tuple[Any, ...], Billed]] = {}
    changes: list[tuple[tuple[Any, ...], int, Change]] = []
    sends: list[tuple[tuple[Any, ...], Send]] = []
    failed: list[tuple[tuple[Any, ...], dict[str, Any], str]] = []  # (order, slim record, status)
    open_intents: dict[tuple[Any, ...], tuple[tuple[Any, ...], dict[str, Any]]] = {}
    problems: list[tuple[tuple[Any, ...], dict[str, Any], str, Any]] = []  # (order, slim record, status, run id)
    failed_runs: set[tuple[Any, ...]] = set()  # (run id, customer, kind, period) with a failed result
    latest: tuple[Any, ...] | None = None
    latest_raw: str | None = None
    count = 0
    intern: dict[str, str] = {}
    # A customer's additions are mostly the same from one month to the next: its previous
    # Holding when one did not change, and its previous holdings when none did, keep a year at
    # 20,000 customers in memory nearer once than twelve times (issue 22). Both are frozen.
    last_holdings: dict[str, dict[str, Holding]] = {}

    def shared(text: str) -> str:  # one string object per distinct customer/period/product
        return intern.setdefault(text, text)

    for record, order in located:
        count += 1
        if latest is None or order > latest:
            latest, latest_raw = order, record.get("ts")
        customer, period = record.get("customer"), record.get("period")
        if not isinstance(customer, str) or not isinstance(period, str):
            continue
        if not PERIOD_RE.match(period):
            continue
        customer, period = shared(customer), shared(period)
        customers.add(customer)
        periods.add(period)
        if isinstance(record.get("connectwise_company"), str):
            known = companies.get(customer)
            if known is None or order >= known[0]:
                companies[customer] = (order, record["connectwise_company"])
        kind = _kind(record)
        trigger = _trigger(record)
        run_key = (record.get("run_id"), customer, kind, period)
        event = record.get("event")
        if event == Event.PROBLEM:
            if record.get("status") in tuple(ProblemKind):
                problems.append((order, _failure_fields(record), FailureStatus(record["status"]), record.get("run_id")))
            continue
        if event == Event.INTENT:  # most get their result a few lines on: kept as read until then
            open_intents[run_key] = (order, record)
            continue
        if event != Event.RESULT:
            continue
        open_intents.pop(run_key, None)
        status = record.get("status")
        if status == SendStatus.FAILED:
            failed.append((order, _failure_fields(record), FailureStatus.FAILED))
            failed_runs.add(run_key)
            continue
        if status != SendStatus.SENT:
            continue
        sends.append((order, Send(customer, period, record["ts"], kind, trigger, record.get("report_id"))))
        if kind != SendKind.BILLING:
            continue
        before = last_holdings.get(customer)
        holdings = _holdings(record.get("additions"), shared, before)
        if before is not None and before.keys() == holdings.keys() and all(
                before[p] is h for p, h in holdings.items()):
            holdings = before
        else:
            last_holdings[customer] = holdings
        products.update(holdings)
        known_billed = billed.get((customer, period))
        if known_billed is None or order >= known_billed[0]:
            billed[(customer, period)] = (order, Billed(customer, period, record["ts"], trigger, holdings))
        for n, change in enumerate(_changes(record)):
            products.add(change.product)
            changes.append((order, n, change))

    changes.sort(key=lambda item: (item[0], item[1]))
    change_list = tuple(c for _, _, c in changes)
    del changes
    # A failure is resolved by a later sent result of the same customer, kind and period: the
    # latest such send per key, for the few keys that failed (no index of every send).
    failed.extend((order, _failure_fields(record), FailureStatus.INTERRUPTED) for order, record in open_intents.values())
    # A reported problem, once per customer, kind, period and status, however many runs reported
    # it; a "failed" one whose run also wrote a failed result is that result, not a second problem.
    reported: dict[tuple[str, str, str, str], list[Any]] = {}
    for order, record, status, run_id in sorted(problems, key=lambda item: item[0]):
        kind = _kind(record)
        if status == FailureStatus.FAILED and (run_id, record["customer"], kind, record["period"]) in failed_runs:
            continue
        key = (record["customer"], kind, record["period"], status)
        if key in reported:
            reported[key][1] = order
            reported[key][2] = record
            reported[key][3] += 1
        else:
            reported[key] = [order, order, record, 1, record["ts"]]
    failed_keys = {(r["customer"], _kind(r), r["period"]) for _, r, _ in failed}
    failed_keys.update((c, k, p) for c, k, p, _ in reported)
    latest_sent: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for order, send in sends:
        sent = (send.customer, send.kind, send.period)
        if sent in failed_keys and (sent not in latest_sent or order > latest_sent[sent]):
            latest_sent[sent] = order
    found = [(order, _failure(order, record, FailureStatus(status), latest_sent)) for order, record, status in failed]
    for first, last, record, runs, first_ts in reported.values():
        problem = _failure(last, {**record, "ts": first_ts}, FailureStatus(record["status"]), latest_sent)
        found.append((first, replace(problem, runs=runs, last_ts=record["ts"] if runs > 1 else None)))
    found.sort(key=lambda item: item[0])
    failures = tuple(failure for _, failure in found)
    sends.sort(key=lambda item: item[0])
    send_list = tuple(s for _, s in sends)
    del sends
    billed_models = {key: value for key, (_, value) in sorted(billed.items(), key=lambda kv: kv[1][0])}
    del billed
    billed_periods: dict[str, list[str]] = {}
    for customer, period in billed_models:
        billed_periods.setdefault(customer, []).append(period)
    by_period: dict[str, dict[str, list[Any]]] = {}
    by_customer: dict[str, dict[str, list[Any]]] = {}
    for what, items in (("changes", change_list), ("sends", send_list), ("failures", failures)):
        for item in items:
            by_period.setdefault(item.period, {}).setdefault(what, []).append(item)
            by_customer.setdefault(item.customer, {}).setdefault(what, []).append(item)
    return History(
        record_count=count,
        latest_ts=latest_raw,
        customers=tuple(sorted(customers)),
        companies={customer: company for customer, (_, company) in companies.items()},
        periods=tuple(sorted(periods)),
        billed=billed_models,
        changes=change_list,
        sends=send_list,
        failures=failures,
        products=tuple(sorted(products)),
        open_failures=tuple(f for f in failures if not f.resolved),
        billed_periods={c: tuple(sorted(ps)) for c, ps in billed_periods.items()},
        _by_period=by_period,
        _by_customer=by_customer,
    )


def _failure_fields(record: dict[str, Any]) -> dict[str, Any]:
    """What a failure needs of its record (kept instead of the whole record)."""
    return {k: record.get(k) for k in ("customer", "period", "kind", "ts", "trigger", "error", "status")}


def _kind(record: dict[str, Any]) -> SendKind | str:
    """A record's kind (billing when missing, as the first ledgers wrote none)."""
    return read_word(SendKind, record.get("kind"), SendKind.BILLING)


def _trigger(record: dict[str, Any]) -> Trigger | str:
    return read_word(Trigger, record.get("trigger"), Trigger.SCHEDULED)


def _failure(order: tuple[Any, ...], record: dict[str, Any], status: FailureStatus,
             latest_sent: dict[tuple[str, str, str], tuple[Any, ...]]) -> Failure:
    customer, period = record["customer"], record["period"]
    kind = _kind(record)
    # Resolved: a sent result of the same customer, kind and period came later (one lookup).
    last = latest_sent.get((customer, kind, period))
    resolved = last is not None and last[0] > order[0]
    if status == FailureStatus.INTERRUPTED:
        error = "intent recorded but no result: the run stopped mid-send; check ConnectWise"
    else:
        error = str(record.get("error") or "no reason recorded")
    return Failure(
        customer=customer,
        period=period,
        ts=record["ts"],
        kind=kind,
        trigger=_trigger(record),
        status=status,
        error=error,
        resolved=resolved,
    )
