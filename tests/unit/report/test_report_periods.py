"""What a period page shows (issue 13): sends made *for* the period and sends made *during* it
(in the billing time zone), links between periods, and a headline that counts every customer
billed, catch-ups included."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reconciler.cmds.common import Runtime
from reconciler.cmds.report import report
from reconciler.report.figures import build_figures, report_periods
from reconciler.report.history import build_history, local_time, month_of
from reconciler.report.html import summary_items
from reconciler.report.names import Names

CUSTOMERS = [f"c{i}" for i in range(1, 8)]
CATCH_UP = {"c5", "c6"}  # their November billing was missed and sent on 3 December
CHICAGO = "America/Chicago"


def _result(customer: str, period: str, ts: str, kind: str = "billing", additions=None) -> dict:
    return {"v": 1, "ts": ts, "run_id": ts, "event": "result", "kind": kind, "customer": customer,
            "connectwise_company": customer.upper(), "period": period, "trigger": "scheduled",
            "status": "sent", "error": None, "changes": [], "additions": additions or {}}


def scenario() -> list[dict]:
    """October: all seven billed. November: nothing (the job was down). 3 December (09:00 CST,
    15:00 UTC): four billed for December, the two catch-ups billed for November, six November
    executive summaries posted. c7 was not billed in December."""
    def seats(c: str) -> dict:
        product = "cas" if c in CATCH_UP else "wfbss-svc"
        return {product: {"quantity": 10, "agreement": {"type": "Managed Service", "name": c}}}

    records = [_result(c, "2026-10", "2026-10-01T15:00:00Z", additions=seats(c)) for c in CUSTOMERS]
    ts = "2026-12-03T15:00:00.{:06d}Z"
    n = 0
    for c in CUSTOMERS[:6]:
        n += 1
        period = "2026-11" if c in CATCH_UP else "2026-12"
        records.append(_result(c, period, ts.format(n), additions=seats(c)))
    for c in CUSTOMERS[:6]:
        n += 1
        records.append(_result(c, "2026-11", ts.format(n), kind="summary"))
    return records


NAMES = Names(customers={c: c.upper() for c in CUSTOMERS}, timezone=CHICAGO)


def test_the_default_period_counts_every_customer_billed_catch_ups_included():
    history = build_history(scenario())
    period = history.default_period(CHICAGO)
    assert period == "2026-12"
    figures = build_figures(history, period, NAMES)
    items = {label: (value, detail) for label, value, detail in summary_items(figures)}
    assert items["Customers billed"] == ("6 of 7", "4 for 2026-12, 2 for an earlier period during 2026-12")
    assert items["Executive summaries sent during the period"] == ("6", "0 for 2026-12")
    assert items["Billing sends during the period"][0] == "6"
    assert {s.period for s in figures.sends_during if s.kind == "summary"} == {"2026-11"}


def test_a_product_held_only_by_customers_not_yet_billed_is_a_gap_not_a_fall_to_zero():
    figures = build_figures(build_history(scenario()), "2026-12", NAMES)
    series = {s.product: dict(zip(figures.periods, s.values)) for s in figures.series}
    assert series["cas"]["2026-10"] == 20 and series["cas"]["2026-12"] is None
    assert series["wfbss-svc"]["2026-12"] == 40


def test_during_means_the_calendar_month_in_the_billing_time_zone():
    # 1 December 03:00 UTC is still 30 November in Chicago
    assert month_of("2026-12-01T03:00:00Z", CHICAGO) == "2026-11"
    assert month_of("2026-12-01T03:00:00Z", "UTC") == "2026-12"
    assert local_time("2026-12-03T15:00:00Z", CHICAGO) == "2026-12-03 09:00 CST"


def test_pages_link_between_periods_and_label_for_and_during(tmp_path: Path, monkeypatch):
    import json

    state = tmp_path / "state"
    state.mkdir()
    (state / "ledger.jsonl").write_text("".join(json.dumps(r) + "\n" for r in scenario()))
    config = tmp_path / "config"
    (config / "customers").mkdir(parents=True)
    (config / "global.yaml").write_text(f"billing:\n  timezone: {CHICAGO}\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(report, [], obj=Runtime())
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "report"
    assert sorted(p.name for p in (out / "periods").iterdir()) == ["2026-10.html", "2026-11.html", "2026-12.html"]
    index = (out / "index.html").read_text()
    assert 'href="periods/2026-11.html"' in index and "Sent during 2026-12" in index
    assert "6 of 7" in index and "When (America/Chicago)" in index and "2026-12-03 09:00 CST" in index
    november = (out / "periods" / "2026-11.html").read_text()
    assert 'href="2026-10.html"' in november and 'href="2026-12.html"' in november
    assert 'href="../index.html"' in november
    assert "Nothing was sent during 2026-11." in november
    assert "2 of 7" in november  # billed for November: the two catch-ups
    assert report_periods(build_history(scenario()), CHICAGO) == ("2026-10", "2026-11", "2026-12")
