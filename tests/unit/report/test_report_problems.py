"""The report shows every problem per period and customer (issue 21): missed, failed, unsafe and
interrupted, whether a later send resolved it, a true unresolved count on the index, gaps as
gaps, and one chart (one axis) per currency."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.ledger import Ledger, iter_located, read_ledger
from reconciler.notify import Problem, TicketOutcome
from reconciler.problem_records import record_problems
from reconciler.report import Names, build_figures, render_markdown, write_html
from reconciler.report.figures import report_periods
from reconciler.report.history import build_history_located


def _history(path: Path):
    return build_history_located((item.record, item.order) for item in iter_located(path))


def _sent(ledger: Ledger, customer: str, period: str, additions=None) -> None:
    ledger.result(kind="billing", customer=customer, psa_company=customer.title(), period=period,
                  trigger="scheduled", status="sent", error=None, changes=[], additions=additions or {})


def _problem(customer: str, kind: str, period: str, reason: str) -> Problem:
    return Problem(customer, customer.title(), kind, period, reason)


def problem_ledger(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "ledger.jsonl"
    for period in ("2026-09", "2026-10"):
        for customer in ("acme", "brightline", "cedar", "delta"):
            _sent(Ledger(path, run_id=f"run-{period}"), customer, period)
    # November: acme missed on three daily runs, then sent by hand (resolved); brightline refused
    # as unsafe on two runs (unresolved); cedar failed before its send (a read error, unresolved);
    # delta failed mid-send (a failed result) and the run reported that same failure as a problem.
    for day in (1, 2, 3):
        run = Ledger(path, run_id=f"run-11-{day}")
        problems = [_problem("acme", "missed", "2026-11", "billing date 2026-11-01 passed")]
        if day < 3:
            problems.append(_problem("brightline", "unsafe", "2026-11", "unsafe plan refused: -80% seats"))
        if day == 1:
            problems.append(_problem("cedar", "failed", "2026-11", "ConnectWise 503 reading additions"))
            run.result(kind="billing", customer="delta", psa_company="Delta", period="2026-11",
                       trigger="scheduled", status="failed", error="ConnectWise 500 on POST", changes=[])
            problems.append(_problem("delta", "failed", "2026-11", "ConnectWise 500 on POST"))
        tickets = [TicketOutcome(problems[0], "opened", 77)]
        assert record_problems(run, problems, tickets) == len(problems)
    _sent(Ledger(path, run_id="send-now"), "acme", "2026-11")
    # October's problem of a customer never resolved: counted on November's index too
    record_problems(Ledger(path, run_id="run-10-x"), [_problem("delta", "missed", "2026-08", "passed")])
    return path


def test_every_problem_is_in_the_history_once_per_customer_period_and_kind(tmp_path):
    history = _history(problem_ledger(tmp_path))
    found = {(f.customer, f.period, f.status): f for f in history.failures}
    assert set(found) == {("acme", "2026-11", "missed"), ("brightline", "2026-11", "unsafe"),
                          ("cedar", "2026-11", "failed"), ("delta", "2026-11", "failed"),
                          ("delta", "2026-08", "missed")}
    acme = found[("acme", "2026-11", "missed")]
    assert (acme.runs, acme.resolved) == (3, True) and acme.last_ts and acme.last_ts > acme.ts
    assert found[("brightline", "2026-11", "unsafe")].runs == 2
    assert not found[("brightline", "2026-11", "unsafe")].resolved
    assert found[("cedar", "2026-11", "failed")].error == "ConnectWise 503 reading additions"
    # delta's failed send is one problem: its failed result, not that and the run's report of it
    assert [f.status for f in history.failures if f.customer == "delta" and f.period == "2026-11"] == ["failed"]


def test_the_engines_index_ignores_problem_records(tmp_path):
    view = read_ledger(problem_ledger(tmp_path))
    assert view.sent_periods("acme") == {"2026-09", "2026-10", "2026-11"}
    assert view.unsettled_intents("brightline") == []


def test_the_index_counts_every_unresolved_problem_and_shows_each(tmp_path):
    history = _history(problem_ledger(tmp_path))
    figures = build_figures(history, "2026-11", Names())
    unresolved = [(f.customer, f.period, f.status) for f in figures.unresolved]
    assert unresolved == [("delta", "2026-08", "missed"), ("brightline", "2026-11", "unsafe"),
                          ("cedar", "2026-11", "failed"), ("delta", "2026-11", "failed")]
    out = tmp_path / "out"
    write_html(figures, out, [build_figures(history, p, Names(), with_customers=False)
                              for p in report_periods(history, "UTC")])
    index = (out / "index.html").read_text()
    assert "<dt>Problems this period (unresolved)</dt><dd>4 (3)</dd>" in index
    assert "4 unresolved in all periods up to 2026-11" in index
    statuses = re.findall(r'<tr class="failure (\w+)" data-status="(\w+)" data-customer="(\w+)" '
                          r'data-period="([\d-]+)">', index)
    assert ("resolved", "missed", "acme", "2026-11") in statuses
    assert ("failed", "unsafe", "brightline", "2026-11") in statuses
    assert ("failed", "missed", "delta", "2026-08") in statuses  # an old one, in the unresolved list
    assert "missed, reported by 3 runs (last " in index and ", resolved by a later send" in index
    customer = (out / "customers" / "brightline.html").read_text()
    assert 'data-status="unsafe"' in customer and "unsafe plan refused: -80% seats" in customer
    markdown = render_markdown(figures)
    assert "| acme | 2026-11 | billing | scheduled |" in markdown
    assert "### Unresolved problems, every period up to 2026-11" in markdown
    assert markdown.count("| delta |") == 1 + 2  # this period's failure; unresolved: it and August's


def priced(quantity: int, currency: str, price: str) -> dict:
    return {"cas": {"quantity": quantity, "currency": currency, "unit_price": price, "unit_cost": "1.00",
                    "agreement": {"type": "MS", "name": "MS"}}}


def test_one_chart_and_axis_per_currency_and_no_zero_before_a_currency_is_billed(tmp_path):
    path = tmp_path / "ledger.jsonl"
    for n, period in enumerate(("2026-08", "2026-09", "2026-10", "2026-11")):
        ledger = Ledger(path, run_id=f"r{n}")
        _sent(ledger, "usd-co", period, priced(1000, "USD", "100.00"))
        _sent(ledger, "eur-co", period, priced(3, "EUR", "2.00"))
        if period >= "2026-10":
            _sent(ledger, "gbp-co", period, priced(10, "GBP", "5.00"))
    figures = build_figures(_history(path), "2026-11", Names())
    series = {s.product: s.values[-4:] for s in figures.mrr_series()}
    assert series == {"EUR": (6, 6, 6, 6), "GBP": (None, None, 50, 50), "USD": (100000, 100000, 100000, 100000)}
    out = tmp_path / "out"
    write_html(figures, out)
    index = (out / "index.html").read_text()
    charts = re.findall(r'<svg class="chart" id="(mrr-msp-\d)".*?</svg>', index, re.DOTALL)
    assert charts == ["mrr-msp-1", "mrr-msp-2", "mrr-msp-3"]
    for chart in re.findall(r'<svg class="chart" id="mrr-msp-\d".*?</svg>', index, re.DOTALL):
        assert len(set(re.findall(r'<g class="series" data-product="(\w+)"', chart))) == 1
    eur = re.search(r'<svg class="chart" id="mrr-msp-1".*?</svg>', index, re.DOTALL).group(0)
    assert 'data-product="EUR"' in eur
    assert max(int(t) for t in re.findall(r'class="ylabel">(\d+)<', eur)) < 100  # its own scale, not USD's
    assert 'data-value="0"' not in index
    markdown = render_markdown(figures)
    assert markdown.count("xychart-beta") == 1 + 3  # seats, and one per currency
    assert 'x-axis ["2026-10", "2026-11"]' in markdown  # GBP starts where it was first billed
