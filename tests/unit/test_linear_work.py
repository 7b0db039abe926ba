"""Plan and report work grows linearly with the customers (issue 22, item 5).

Not a timing test: the work is counted as the lines of `reconciler` code Python executes
(`sys.settrace` line events, which fire on every loop iteration too), so the count does not
depend on the machine or its load. Doubling the customers may at most double the work (plus a
little for fixed costs); a per-customer scan of every usage row or of the month's every send,
as `usage/audit.py` and `report/history.py` once did, makes it 4x.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import reconciler
from reconciler.periods import period_window, shift_period
from reconciler.report import Names, build_figures, build_history, render_markdown, write_html
from reconciler.report.figures import report_periods
from reconciler.usage import Usage, usage_record

PACKAGE = str(Path(reconciler.__file__).parent)
PERIODS = tuple(shift_period("2025-11", i) for i in range(12))
PRODUCTS = ("wfbss-svc", "cas", "hes")
LIMIT = 2.15  # doubling the customers: at most 2x the work, plus fixed costs


def more_than_doubled(small: Counter[str], large: Counter[str]) -> dict[str, tuple[int, int]]:
    """The functions whose work grew more than LIMIT times (with a floor for fixed costs)."""
    return {module: (small[module], large[module]) for module in large
            if large[module] > LIMIT * max(small[module], 1_000)}


def lines_run(work: Callable[[], Any]) -> Counter[str]:
    """How many lines of the package `work` executes, per function (`module:line:name`): a
    quadratic step is compared with its own function's work, not drowned in the whole run's."""
    count: Counter[str] = Counter()

    def local(frame, event, arg):
        if event == "line":
            code = frame.f_code
            count[f"{code.co_filename[len(PACKAGE) + 1:]}:{code.co_firstlineno}:{code.co_name}"] += 1
        return local

    def calls(frame, event, arg):
        return local if frame.f_code.co_filename.startswith(PACKAGE) else None

    sys.settrace(calls)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


def _guid(n: int) -> str:
    return str(uuid.UUID(int=n + 1)).upper()


def usage_of(customers: int) -> Usage:
    quantities = {(_guid(n), product): n % 50 + 1 for n in range(customers) for product in PRODUCTS[: 1 + n % 3]}
    rows = tuple({"trend_customer_id": c, "product": p, "quantity": q} for (c, p), q in quantities.items())
    return Usage(quantities=quantities, source="csv:usage/seats.csv", basis="file", rows=rows)


def test_the_plans_usage_audit_is_linear_in_customers():
    def audit(customers: int) -> int:
        usage = usage_of(customers)
        # what the engine does for each customer it bills: the usage record of its ledger result
        return lines_run(lambda: [usage_record(usage, _guid(n).lower()) for n in range(customers)])

    small, large = audit(200), audit(400)
    assert sum(large.values()) > 5_000  # the work was counted
    assert more_than_doubled(small, large) == {}


def ledger_of(customers: int) -> list[dict[str, Any]]:
    """A year of what the scheduled job writes: per customer and month a billing intent and
    result (with a change now and then), and the previous month's executive summary."""
    records = []
    for i, period in enumerate(PERIODS):
        for n in range(customers):
            customer = f"customer-{n:05d}"
            seats = {p: n % 40 + i for p in PRODUCTS[: 1 + n % 3]}
            additions = {p: {"quantity": q, "agreement": {"type": "Managed Service", "name": "MS"},
                             "agreement_id": n, "id": n * 10 + k, "currency": "USD" if n % 4 else "EUR",
                             "unit_price": "2.50", "unit_cost": "1.25"} for k, (p, q) in enumerate(seats.items())}
            changes = [{"action": "update", "product": "wfbss-svc", "before": seats["wfbss-svc"] - 1,
                        "after": seats["wfbss-svc"]}] if (n + i) % 5 == 0 else []
            day = f"{period}-0{1 + n % 3}T13:{n % 60:02d}:00.000000Z"
            base = {"v": 1, "ts": day, "run_id": f"run-{period}", "kind": "billing", "customer": customer,
                    "connectwise_company": f"C{n}", "period": period, "trigger": "scheduled"}
            records.append({**base, "event": "intent", "changes": changes})
            status = "failed" if n % 10 == 3 and i in (4, 9) else "sent"  # exactly a tenth, twice
            records.append({**base, "event": "result", "status": status, "error": None, "changes": changes,
                            "additions": additions})
            if i:
                records.append({**base, "ts": f"{period}-05T13:{n % 60:02d}:00.000000Z", "kind": "summary",
                                "period": PERIODS[i - 1], "event": "result", "status": "sent", "report_id": n})
    records.sort(key=lambda r: r["ts"])
    return records


def test_the_report_is_linear_in_customers(tmp_path):
    def report(customers: int) -> int:
        records = ledger_of(customers)
        names = Names(customers={}, products={})
        out = tmp_path / f"out-{customers}"

        def whole_report() -> None:  # what `reconcile report` does, HTML and Markdown
            history = build_history(records)
            figures = build_figures(history, PERIODS[-1], names)
            pages = [build_figures(history, p, names, with_customers=False)
                     for p in report_periods(history, names.timezone)]
            write_html(figures, out, pages)
            render_markdown(figures)

        return lines_run(whole_report)

    small, large = report(60), report(120)
    modules = {key.split(":")[0] for key in small}
    assert {"report/history.py", "report/figures.py", "report/html.py", "report/markdown.py"} <= modules
    assert more_than_doubled(small, large) == {}


def test_the_period_pages_count_each_period_of_the_whole_msp_once():
    """Thirteen period pages share their windows: a period's MSP-wide revenue is worked out from
    every customer's latest billing once, not once per page that draws it (issue 22: 3.5 M
    `last_billed` calls at 20,000 customers). What is left per page: the move from the previous
    period (two per customer) and, on the main page, each customer's own latest billing."""
    customers = 40
    history = build_history(ledger_of(customers))
    names = Names(customers={}, products={})
    calls: Counter[str] = Counter()

    def count(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(PACKAGE):
            calls[frame.f_code.co_name] += 1

    pages = report_periods(history, names.timezone)
    sys.setprofile(count)
    try:
        build_figures(history, PERIODS[-1], names)
        for period in pages:
            build_figures(history, period, names, with_customers=False)
    finally:
        sys.setprofile(None)
    drawn = {p for period in pages for p in period_window(period, 12)}
    assert calls["last_billed"] > 0  # the work was counted
    assert calls["last_billed"] <= customers * (len(drawn) + 2 * (len(pages) + 1) + 1)
