"""The report is linear in the ledger: the history is indexed once, and building the figures of
every customer page looks each customer up instead of rescanning every record per customer.

Not a timed test: the history's full lists are swapped for ones that refuse to be scanned, and
the figures must come out the same (a per-customer scan, the old quadratic shape, raises).
"""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.report.figures import build_figures
from reconciler.report.history import build_history
from reconciler.report.names import Names


class NoScan(tuple):
    def __iter__(self):
        raise AssertionError("scanned every record")


class NoScanDict(dict):
    """Lookups are fine; iterating every (customer, period) is a scan."""

    def __iter__(self):
        raise AssertionError("scanned every billed period")

    def keys(self):
        raise AssertionError("scanned every billed period")

    def items(self):
        raise AssertionError("scanned every billed period")

    def values(self):
        raise AssertionError("scanned every billed period")


def _records(customers: int, periods: list[str]) -> list[dict]:
    records = []
    for p, period in enumerate(periods):
        for c in range(customers):
            base = {"v": 1, "run_id": f"run-{period}", "kind": "billing", "customer": f"c{c:03d}",
                    "connectwise_company": f"Co{c}", "period": period, "trigger": "scheduled"}
            changes = [{"action": "update", "product": "hes", "before": c, "after": c + p}] if (c + p) % 3 == 0 else []
            if c % 7 == 3:
                records.append({**base, "ts": f"{period}-01T10:{c % 60:02d}:00Z", "event": "intent", "changes": changes})
            if c % 11 == 5:
                records.append({**base, "ts": f"{period}-01T11:{c % 60:02d}:00Z", "event": "result", "status": "failed",
                                "error": "boom", "changes": []})
                continue
            records.append({**base, "ts": f"{period}-01T12:{c % 60:02d}:00Z", "event": "result", "status": "sent",
                            "error": None, "changes": changes,
                            "additions": {"hes": {"id": c, "agreement_id": 1, "quantity": c + p}}})
            records.append({**base, "kind": "summary", "ts": f"{period}-05T12:{c % 60:02d}:00Z", "event": "result",
                            "status": "sent", "error": None, "changes": [], "report_id": c})
    return sorted(records, key=lambda r: r["ts"])


@pytest.mark.parametrize("scope", [None, "c004"])
def test_figures_for_every_customer_come_from_the_indexes_not_from_rescans(scope):
    periods = [f"2026-{m:02d}" for m in range(1, 13)]
    history = build_history(_records(40, periods))
    expected = build_figures(history, "2026-12", Names(), scope)
    guarded = dataclasses.replace(history, changes=NoScan(history.changes), sends=NoScan(history.sends),
                                  failures=NoScan(history.failures), billed=NoScanDict(history.billed))
    assert build_figures(guarded, "2026-12", Names(), scope) == expected
    assert len(expected.customers) == (1 if scope else 40)
    assert expected.customers[0].sends and expected.customers[0].series


def test_the_indexes_answer_as_a_scan_would():
    periods = [f"2026-{m:02d}" for m in range(1, 13)]
    history = build_history(_records(25, periods))
    for period in periods:
        for what in ("changes", "sends", "failures"):
            everything = getattr(history, what)
            assert getattr(history, f"{what}_in")(period) == [i for i in everything if i.period == period]
            for customer in ("c003", "c005", "c010"):
                assert getattr(history, f"{what}_in")(period, [customer]) == [
                    i for i in everything if i.period == period and i.customer == customer]
        for customer in ("c003", "c005"):
            billed = [p for (c, p) in history.billed if c == customer and p <= period]
            last = history.last_billed(customer, period)
            assert (last.period if last else None) == (max(billed) if billed else None)
    failures = history.failures_in("2026-03")
    assert failures and all(not f.resolved for f in failures if f.status == "failed")
