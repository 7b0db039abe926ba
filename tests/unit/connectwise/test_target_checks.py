"""ConnectWiseTarget's read-only checks (what `reconcile doctor` calls) and the executive summary's
management solution, verified once per run (issue 19 items 6 and 7), against the real sandbox."""

from __future__ import annotations

import pytest

from reconciler.sandbox import SandboxServer
from reconciler.state import Agreement, ExecutiveSummary
from reconciler.target import TargetError
from tests.support.e2e import sandbox_stats, sandbox_target


@pytest.fixture
def sb(tmp_path):
    with SandboxServer(data_dir=tmp_path / "sb", port=0) as server:
        yield server


def test_ticket_references_resolve_by_name_and_say_what_is_missing_with_what_exists(sb):
    target = sandbox_target(sb)
    found = target.ticket_references("billing", "new", "BILLING")
    assert found.missing == () and None not in (found.board_id, found.status_id, found.type_id)
    board = sb.store.get("service_board", found.board_id)
    assert board["name"] == "Billing"
    assert sb.store.get("board_status", found.status_id)["board"]["id"] == found.board_id
    assert target.ticket_references("Billing", None, None).missing == ()  # defaults are never missing
    missing = target.ticket_references("Billing", "Waiting", "Invoice").missing
    assert missing == ('status "Waiting" does not exist on board "Billing" (statuses: Closed, In Progress, New)',
                       'type "Invoice" does not exist on board "Billing" (types: Billing, Problem)')
    assert target.ticket_references("Nope", "New", None).missing == (
        'board "Nope" does not exist in ConnectWise (boards: Billing, Service Desk)',)


def test_agreement_types_and_the_msps_own_company(sb):
    target = sandbox_target(sb)
    assert "TMRM Management Solution" in target.agreement_types() and "Block Hours" in target.agreement_types()
    own = target.own_company()
    assert own is not None and own.identifier == sb.credentials.company_id


def summary(solution: str, company_id: int = 1) -> ExecutiveSummary:
    return ExecutiveSummary(group=f"g-{solution}-{company_id}", management_solution=solution, company_id=company_id,
                            agreement=Agreement(1, "Acme Managed", "Managed Service", 1), managed_machines=3)


def test_a_management_solution_that_does_not_exist_is_one_lookup_per_run_and_no_post(sb):
    target = sandbox_target(sb)
    sb.stats.clear()
    for company_id in (1, 2, 3):
        with pytest.raises(TargetError, match='management solution "Nope" does not exist in ConnectWise'):
            target.post_summary(summary("Nope", company_id))
    assert sandbox_stats(sb)["requests"] == 1 and "POST" not in sandbox_stats(sb)["by_method"]
    assert target.management_solution_exists("tmrm management solution")
    posted = target.post_summary(summary("TMRM Management Solution"))
    assert posted.id and sandbox_stats(sb)["by_method"] == {"GET": 1, "POST": 1}
