"""What every usage source produces: seat counts per (Trend customer, product)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError

# Optional executive-summary figures a source may carry per customer.
EXTRA_FIELDS = ("workstations", "servers", "viruses_removed", "spyware_removed")


@dataclass(frozen=True)
class Usage:
    """Seat counts keyed by (trend_customer_id, product key), plus optional extras.

    `source` says where the numbers came from ("csv:usage/seats.csv", "lmpi") so a plan
    and a ledger can show it; `warnings` holds anything a source skipped but wants a
    human to see (e.g. an LMPI product id with no product key).

    The audit trail (usage/audit.py): `basis` ("licensed", "reported" or "file"), the Trend
    `report_month` and `units` figure a reported basis billed, and `rows`: every input row
    that was counted, each with its `trend_customer_id` and `product`, so a bill can be
    explained (and its hash recomputed) later.

    Trend customer ids are GUIDs, which compare case-insensitively: they are stored in
    lower case here (`trend_key`), so an upper-case id in a CSV row, an LMPI answer or a
    customer file still finds the same customer instead of silently dropping its usage.
    Sources reject rows that repeat a customer in another case before they get here; if
    one still arrives (two LMPI subscriptions of one customer), its seats are added up,
    as LMPI's own subscriptions are.
    """

    quantities: dict[tuple[str, str], int]
    extra: dict[str, dict[str, int]] = field(default_factory=dict)
    source: str = ""
    warnings: tuple[str, ...] = ()
    basis: str = ""
    report_month: str | None = None
    units: str | None = None
    rows: tuple[dict[str, Any], ...] = ()
    # (trend customer id in lower case, product key) -> the (label, quantity) parts a count was
    # summed from, when the source listed it as several subscriptions or plans (so the plan can
    # show them); absent for a count read from one row
    parts: dict[tuple[str, str], tuple[tuple[str, int], ...]] = field(default_factory=dict)
    # Reported basis: reads another Trend report month on demand (cached), for a customer whose
    # billing period is not the one this read was made for (a catch-up across a month's end).
    other_month: Callable[[str], Usage] | None = field(default=None, compare=False, repr=False)

    def for_period(self, period: str | None) -> Usage:
        """The usage to bill `period` from: this read, or (reported basis) the report of the
        month before `period` (usage/trend_report.py)."""
        if self.other_month is None or not self.report_month or not period:
            return self
        from .trend_report import report_month_for

        month = report_month_for(period)
        return self if month == self.report_month else self.other_month(month)

    def __post_init__(self) -> None:
        quantities: dict[tuple[str, str], int] = {}
        for (customer, product), quantity in self.quantities.items():
            key = (trend_key(customer), product)
            quantities[key] = quantities.get(key, 0) + quantity
        extra: dict[str, dict[str, int]] = {}
        for customer, figures in self.extra.items():
            totals = extra.setdefault(trend_key(customer), {})
            for name, value in figures.items():
                totals[name] = totals.get(name, 0) + value
        object.__setattr__(self, "quantities", quantities)
        object.__setattr__(self, "extra", extra)

    def for_customer(self, trend_id: str) -> dict[str, int]:
        """product key -> quantity for one customer (empty if the source has none)."""
        return dict(self._by_customer.get(trend_key(trend_id), {}))

    def parts_for(self, trend_id: str) -> dict[str, tuple[tuple[str, int], ...]]:
        """product key -> the parts its count was summed from (only counts of several parts)."""
        key = trend_key(trend_id)
        return {product: parts for (customer, product), parts in self.parts.items() if customer == key}

    def extra_for(self, trend_id: str) -> dict[str, int]:
        """The optional executive-summary figures of one customer (empty if none)."""
        return dict(self.extra.get(trend_key(trend_id), {}))

    @cached_property
    def _by_customer(self) -> dict[str, dict[str, int]]:
        # Built once: scanning every row per customer made a 5,000-customer plan quadratic.
        index: dict[str, dict[str, int]] = {}
        for (cust, product), qty in self.quantities.items():
            index.setdefault(cust, {})[product] = qty
        return index

    def customers(self) -> set[str]:
        return {cust for cust, _ in self.quantities} | set(self.extra)


def trend_key(trend_id: str) -> str:
    """The form Trend ids are compared in. GUIDs are case-insensitive, and Windows tools and
    Excel exports write them in braces (`{3F2B...}`): every spelling of one GUID is one key,
    so a row is never dropped because of how it was written."""
    key = trend_id.strip().lower()
    if key.startswith("{") and key.endswith("}"):
        key = key[1:-1].strip()
    return key


class UsageError(ReconcileError):
    """One problem in a usage input; `str()` is `PATH:LINE: error: MESSAGE`."""

    located = True  # `PATH:LINE: error: ...`

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        super().__init__(path, line, message)
        # `line_number`, not `line`: `line()` is ReconcileError's printing method
        self.path, self.line_number, self.message = path, line, message

    def __str__(self) -> str:
        return f"{self.path}:{self.line_number}: error: {self.message}"


class UsageInvalid(ReconcileError):
    """Every problem found in one usage input, reported together."""

    located = True

    def __init__(self, errors: list[UsageError]) -> None:
        super().__init__(errors)
        self.errors = list(errors)

    def __str__(self) -> str:
        from reconciler.config.diagnostics import MAX_PRINTED, more_line

        lines = [str(e) for e in self.errors[:MAX_PRINTED]]
        if len(self.errors) > MAX_PRINTED:
            lines.append(more_line(len(self.errors) - MAX_PRINTED))
        return "\n".join(lines)


class UsageSourceError(ReconcileError):
    """A usage source could not be read at all (missing settings, HTTP failure).

    Its text never holds a secret: messages name environment variables, never their values.
    """
