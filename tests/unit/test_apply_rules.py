"""Apply's create-once and executive-summary rules, against the in-memory PSA (no server).

The same target the conformance test holds to ConnectWise's promises (tests/contract), so these
rules are tested against a PSA that behaves like one, with every write recorded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from reconciler.apply import ApplyOptions, ConcurrentAddition, ResultStatus, apply_plan, create_once
from reconciler.config.model import SummarySettings
from reconciler.engine import PlanOptions, build_plan, summary_group_identifier
from reconciler.ledger import Ledger, new_run_id, read_ledger
from reconciler.plan import Change
from reconciler.state import ExecutiveSummary, tool_marker
from reconciler.target import Capabilities
from reconciler.usage import Usage
from tests.support.engine_fixtures import config, customer
from tests.support.memory_target import MemoryTarget

SUMMARIES = SummarySettings(enabled=True, day=1)
ACME = replace(customer(agreements={"wfbss-svc": "default"}), executive_summary=SUMMARIES)
USAGE = Usage({("t-acme", "wfbss-svc"): 12})
TODAY = date(2026, 11, 1)  # billing and summary both due


def _psa(capabilities: Capabilities | None = None) -> tuple[MemoryTarget, object]:
    psa = MemoryTarget(capabilities)
    acme = psa.add_company("Acme", "Acme")
    agreement = psa.add_agreement(acme, "Managed Service", "Acme Managed")
    for identifier in ("TM-WFBSS-SVC", "TM-HES", "TM-CAS"):
        psa.add_catalog_item(identifier, "3.00", "1.50")
    psa.add_management_solution("TMRM Management Solution")
    return psa, agreement


def _run(psa: MemoryTarget, tmp_path, today: date = TODAY):
    """plan then apply, as `reconcile apply` does (without the lease: lease.py has its own tests)."""
    ledger_path = tmp_path / "ledger.jsonl"
    view = read_ledger(ledger_path)
    plan = build_plan(psa, config(ACME), USAGE, view, PlanOptions(today=today))
    ledger = Ledger(ledger_path, new_run_id())
    results = apply_plan(psa, plan, ledger, view, ApplyOptions(), plan.catalog_ids, workers=1)
    return plan, results, read_ledger(ledger_path)


def _change(agreement, after: float = 12) -> Change:
    return Change(action="create", kind="addition", customer="acme", psa_company="Acme", agreement=agreement,
                  product="wfbss-svc", catalog_item="TM-WFBSS-SVC", addition_id=None, before=None, after=after,
                  effective_date=TODAY)


def test_create_with_the_plans_read_is_one_write_and_no_read():
    psa, agreement = _psa()
    created = create_once(psa, _change(agreement), {}, tool_marker(new_run_id()), known=[])
    assert psa.calls == ["create_addition"]
    assert psa.addition_records[created["id"]].quantity == 12


def test_create_without_the_plans_read_adopts_the_tools_own_addition():
    psa, agreement = _psa()
    mine = psa.add_addition(agreement, "TM-WFBSS-SVC", 4, marker=tool_marker(new_run_id()))
    done = create_once(psa, _change(agreement), {}, tool_marker(new_run_id()))
    assert done == {"id": mine.id, "quantity": 12}
    assert [w[0] for w in psa.writes] == ["set_quantity"]  # adopted, never a second addition


def test_create_without_the_plans_read_refuses_next_to_a_hand_typed_addition():
    psa, agreement = _psa()
    psa.add_addition(agreement, "TM-WFBSS-SVC", 4, marker="typed by a person")
    with pytest.raises(ConcurrentAddition, match="not created by this tool"):
        create_once(psa, _change(agreement), {}, tool_marker(new_run_id()))
    assert psa.writes == []


def test_a_rerun_creates_nothing_and_posts_no_second_summary(tmp_path):
    psa, _ = _psa()
    _, results, view = _run(psa, tmp_path)
    assert [r.status for r in results] == [ResultStatus.SENT]
    assert [w[0] for w in psa.writes] == ["create_addition", "post_summary"]
    assert view.sent_periods("acme", "summary") and view.sent_periods("acme")
    _, again, _ = _run(psa, tmp_path)
    assert [w[0] for w in psa.writes] == ["create_addition", "post_summary"]  # nothing more
    assert "already sent" in again[0].reason


def test_a_summary_the_psa_has_twice_is_kept_once_and_not_posted_again(tmp_path):
    """A run died after its POST (an intent without a result) and a racing run posted too: the
    plan finds both, apply keeps the oldest, removes the duplicate, posts nothing and settles
    the ledger."""
    psa, agreement = _psa()
    group = summary_group_identifier(ACME, "2026-11")
    summary = ExecutiveSummary(group=group, management_solution="TMRM Management Solution", company_id=1,
                               agreement=agreement, managed_machines=12)
    kept, duplicate = psa.post_summary(summary), psa.post_summary(summary)
    Ledger(tmp_path / "ledger.jsonl", new_run_id()).intent(kind="summary", customer="acme", psa_company="Acme",
                                                           period="2026-11", trigger="scheduled", changes=[])
    psa.writes.clear()
    _, results, view = _run(psa, tmp_path)
    assert [w[0] for w in psa.writes] == ["create_addition", "delete_summary"]
    assert psa.writes[-1] == ("delete_summary", 1, duplicate.id)
    assert [r.id for r in psa.summaries(1, group)] == [kept.id]
    assert results[0].status == ResultStatus.SENT, results[0].reason
    assert view.sent_periods("acme", "summary") == {"2026-11"}


def test_a_psa_without_summaries_bills_and_plans_no_summary_with_one_warning(tmp_path):
    psa, _ = _psa(Capabilities(summaries=False))
    plan, results, view = _run(psa, tmp_path)
    assert [w[0] for w in psa.writes] == ["create_addition"]
    assert "summaries" not in psa.calls and "post_summary" not in psa.calls
    assert not [c for cp in plan.customers for c in cp.changes if c.kind == "summary"]
    warned = [w for w in plan.warnings if "keeps no executive summaries" in w]
    assert len(warned) == 1 and "acme" in warned[0] and psa.name in warned[0]
    assert [r.status for r in results] == [ResultStatus.SENT]
    assert not view.sent_periods("acme", "summary")  # nothing claimed about a summary never posted


def test_a_saved_summary_change_is_refused_by_a_psa_without_summaries(tmp_path):
    """Apply honours the capability too (a plan made against another PSA): the customer's summary
    fails with one line, no intent is written, nothing is posted."""
    full, _ = _psa()
    view = read_ledger(tmp_path / "ledger.jsonl")
    plan = build_plan(full, config(ACME), USAGE, view, PlanOptions(today=TODAY))
    lacking, _ = _psa(Capabilities(summaries=False))
    ledger = Ledger(tmp_path / "ledger.jsonl", new_run_id())
    (result,) = apply_plan(lacking, plan, ledger, view, ApplyOptions(), plan.catalog_ids, workers=1)
    assert result.status == ResultStatus.FAILED and "keeps no executive summaries" in result.reason
    assert "post_summary" not in lacking.calls
    assert not [r for r in read_ledger(tmp_path / "ledger.jsonl").records if r.get("kind") == "summary"]
