"""The renderers are views of one plan: the same changes and counts in every format."""

import json
from datetime import date

from reconciler.plan import Change, CustomerPlan, Plan
from reconciler.render.plan import render
from reconciler.render.plan_markdown import MARKER
from reconciler.schedule import decide
from tests.support.engine_fixtures import M365, MANAGED


def _plan() -> Plan:
    due = decide(today=date(2026, 12, 1), day=1, enabled=True, catch_up_days=7, sent_periods=set())
    later = decide(today=date(2026, 12, 1), day=15, enabled=True, catch_up_days=7, sent_periods={"2026-11"})
    acme = CustomerPlan("acme", "Acme | Co", "Acme", schedule=due, changes=[
        Change("update", "addition", "acme", "Acme", MANAGED, "hes", "TM-HES", 2, 35, 38),
        Change("create", "addition", "acme", "Acme", M365, "cas", "TM-CAS", None, None, 12, date(2026, 12, 1)),
        Change("cancel", "addition", "acme", "Acme", MANAGED, "cas", "TM-CAS", 3, 12, None, date(2026, 12, 1),
               "cas now bills to Microsoft 365 Services / Acme M365"),
    ])
    bravo = CustomerPlan("bravo", "Bravo", "Bravo", schedule=later, changes=[
        Change("update", "addition", "bravo", "Bravo", MANAGED, "hes", "TM-HES", 9, 10, 11),
    ])
    failed = CustomerPlan("charlie", "Charlie", "Charlie", status="failed", reason="no active agreement X / Y",
                          schedule=due)
    return Plan(today="2026-12-01", customers=[acme, bravo, failed],
                unknown_usage_customers={"t-unknown": {"hes": 4}})


def test_text_is_terraform_style_and_counts_only_due_changes():
    text = render(_plan(), "text")
    assert "  ~ hes (TM-HES) on Managed Service / Acme Managed, addition 2: quantity = 35 -> 38" in text
    assert "  + cas (TM-CAS) on Microsoft 365 Services / Acme M365: quantity = 12, effective 2026-12-01" in text
    assert "  - cas (TM-CAS) on Managed Service / Acme Managed, addition 3: cancel at 2026-12-01" in text
    assert "Plan: 1 to add, 1 to change, 1 to cancel." in text
    assert "preview, not due yet" in text and "quantity = 10 -> 11" in text
    assert "# charlie (Charlie, ConnectWise Charlie): FAILED" in text and "no active agreement X / Y" in text
    assert "Trend customer t-unknown has usage (hes=4) but no customer file" in text


def test_markdown_has_the_update_marker_the_counts_and_the_previews():
    md = render(_plan(), "markdown")
    assert md.startswith(MARKER)
    assert "**Plan: 1 to add, 1 to change, 1 to cancel.**" in md
    assert "| acme | Acme | due | 3 |" in md
    assert "quantity = 10 -> 11   (not due yet)" in md


def test_json_matches_the_contract_and_the_text_counts():
    data = json.loads(render(_plan(), "json"))
    assert data["format_version"] == "1.1"  # 1.1 added money (issue 12)
    assert data["summary"] == {"add": 1, "change": 1, "cancel": 1, "executive_summaries": 0}
    assert [c["due"] for c in data["customers"]] == [True, False, True]
    assert [(c["customer"], c["action"], c["due"]) for c in data["changes"]] == [
        ("acme", "update", True), ("acme", "create", True), ("acme", "cancel", True), ("bravo", "update", False)]
    assert data["customers"][2]["status"] == "failed"
