"""One set of promises, every PSA: the same test functions run against the ConnectWise target
(the real HTTP client against the sandbox over loopback) and the in-memory target of
tests/support/memory_target.py. What one passes and the other fails is a seam that leaks.

Each target gets a `World`: the same few records a person would have set up in the PSA (a
company, an agreement type and an agreement, a catalog item, a management solution, a service
board, the MSP's own company), made through that PSA's own means (the sandbox's store, or the
in-memory dicts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from reconciler.state import ExecutiveSummary, LeasePlace, tool_marker
from reconciler.target import Capabilities, Target, TargetError
from tests.support.memory_target import MemoryTarget

RUN_ID = "20261204T120000Z-abc123"
OWN = "sandbox"


@dataclass
class World:
    target: Target
    company_id: int
    agreement_id: int
    catalog_id: int
    other_company_id: int


def _connectwise_world(tmp_path) -> tuple[World, object]:
    from reconciler.sandbox import SandboxServer
    from reconciler.sandbox.store import (
        agreement_record,
        agreement_type_record,
        catalog_record,
        company_record,
        management_solution_record,
        seed_board,
    )
    from tests.support.e2e import sandbox_target

    server = SandboxServer(data_dir=tmp_path / "cw", port=0, seed_demo=False, company_id=OWN).start()
    store = server.store
    kind = store.insert("agreement_type", agreement_type_record("Managed Service"))
    company = store.insert("company", company_record("AcmeDental", "Acme Dental"))
    other = store.insert("company", company_record("OtherCo", "Other Co"))
    store.insert("company", company_record(OWN, "Sandbox MSP"))
    agreement = store.insert("agreement", agreement_record(company, kind, "Acme Managed"))
    item = store.insert("catalog", catalog_record("TM-HES", "Hosted Email Security", 2.5, 1.25))
    store.insert("management_solution", management_solution_record("TMRM Management Solution"))
    seed_board(store, "Billing", [("New", {"defaultFlag": True}), ("Closed", {"closedStatus": True})],
               [("Problem", {"defaultFlag": True})], defaultFlag=True)
    return World(sandbox_target(server), company["id"], agreement["id"], item["id"], other["id"]), server


def _memory_world() -> World:
    target = MemoryTarget(own_company=OWN)
    target.add_agreement_type("Managed Service")
    company = target.add_company("AcmeDental", "Acme Dental")
    other = target.add_company("OtherCo", "Other Co")
    target.add_company(OWN, "Sandbox MSP")
    agreement = target.add_agreement(company, "Managed Service", "Acme Managed")
    item = target.add_catalog_item("TM-HES", "2.5", "1.25")
    target.add_management_solution("TMRM Management Solution")
    target.add_board("Billing", ["New", "Closed"], ["Problem"])
    return World(target, company.id, agreement.id, item.id, other.id)


@pytest.fixture(params=["connectwise", "memory"])
def world(request, tmp_path):
    if request.param == "memory":
        yield _memory_world()
        return
    built, server = _connectwise_world(tmp_path)
    try:
        yield built
    finally:
        server.stop()


def _create(world: World, quantity: float = 5, effective: date | None = None):
    return world.target.create_addition(world.agreement_id, "TM-HES", quantity, effective, tool_marker(RUN_ID),
                                        catalog_id=world.catalog_id, known_ids=set())


def test_it_is_a_target_and_declares_what_it_keeps(world):
    assert isinstance(world.target, Target)
    assert isinstance(world.target.capabilities, Capabilities)
    assert world.target.name


def test_reads_the_directory(world):
    t = world.target
    (company,) = t.companies(["acmedental"])  # identifiers compare case-insensitively
    assert (company.id, company.identifier, company.name, company.currency) == (
        world.company_id, "AcmeDental", "Acme Dental", "USD")
    assert {c.identifier for c in t.companies(["AcmeDental", "OtherCo"])} == {"AcmeDental", "OtherCo"}
    (agreement,) = t.agreements([world.company_id])
    assert (agreement.id, agreement.name, agreement.type, agreement.company_id, agreement.active) == (
        world.agreement_id, "Acme Managed", "Managed Service", world.company_id, True)
    assert t.agreements([world.other_company_id]) == []
    (item,) = t.catalog_items(["TM-HES"])
    assert (item.id, item.price, item.cost) == (world.catalog_id, Decimal("2.5"), Decimal("1.25"))
    assert t.catalog_items(["NO-SUCH-ITEM"]) == []
    assert "Managed Service" in t.agreement_types()
    own = t.own_company()
    assert own is not None and own.identifier == OWN


def test_create_reads_back_with_its_marker(world):
    created = _create(world, 5, date(2026, 12, 1))
    assert (created.agreement_id, created.product_identifier, created.quantity) == (world.agreement_id, "TM-HES", 5)
    (read,) = world.target.additions(world.agreement_id)
    assert (read.id, read.quantity, read.marker, read.created_by_run) == (created.id, 5, tool_marker(RUN_ID), RUN_ID)
    assert read.effective_date[:10] == "2026-12-01"
    assert read.bills_on(datetime.now(UTC).date()) and read.ends is None


def test_set_quantity(world):
    created = _create(world, 5)
    world.target.set_quantity(world.agreement_id, created.id, 12)
    (read,) = world.target.additions(world.agreement_id)
    assert read.quantity == 12


def test_cancel_keeps_history_with_the_date(world):
    """Never a delete: a cancelled addition is still there, with the day billing stops."""
    later, old = _create(world, 5), _create(world, 3, date(2020, 1, 1))
    stop = datetime.now(UTC).date() + timedelta(days=10)
    world.target.cancel_addition(world.agreement_id, later.id, stop)
    world.target.cancel_addition(world.agreement_id, old.id, date(2020, 2, 1), zero_quantity=True)
    everything = {a.id: a for a in world.target.additions(world.agreement_id, active_only=False)}
    assert everything[later.id].ends == stop and everything[later.id].quantity == 5
    assert everything[later.id].bills_on(datetime.now(UTC).date())  # a cancelled date still to come bills until then
    assert everything[old.id].ends == date(2020, 2, 1) and everything[old.id].quantity == 0
    # The billing read leaves out additions that stopped long before any period it can bill.
    assert [a.id for a in world.target.additions(world.agreement_id)] == [later.id]


def test_summaries_post_find_and_remove(world):
    t = world.target
    agreement = t.agreements([world.company_id])[0]
    summary = ExecutiveSummary(group="acme-2026-11", management_solution="TMRM Management Solution",
                               company_id=world.company_id, agreement=agreement, managed_machines=8, workstations=6)
    assert t.management_solution_exists("tmrm management solution")
    assert not t.management_solution_exists("No Such Solution")
    first, second = t.post_summary(summary), t.post_summary(summary)
    assert [r.id for r in t.summaries(world.company_id, "acme-2026-11")] == sorted([first.id, second.id])
    assert t.summaries(world.company_id, "acme-2026-10") == []
    t.delete_summary(world.company_id, second.id)
    assert [r.id for r in t.summaries(world.company_id, "acme-2026-11")] == [first.id]
    with pytest.raises(TargetError, match="No Such Solution"):
        t.post_summary(ExecutiveSummary(group="acme-2026-12", management_solution="No Such Solution",
                                        company_id=world.company_id, agreement=agreement, managed_machines=1))


def test_tickets(world):
    t = world.target
    refs = t.ticket_references("billing", "New", "Problem")  # names compare case-insensitively
    assert refs.missing == () and None not in (refs.board_id, refs.status_id, refs.type_id)
    missing = t.ticket_references("Billing", "Nope", None)
    assert missing.status_id is None and len(missing.missing) == 1 and "Nope" in missing.missing[0]
    assert t.ticket_references("No Board", None, None).board_id is None
    ticket = t.open_ticket("Billing problem: acme 2026-11", refs, world.company_id, "what happened")
    t.add_ticket_note(ticket, "still failing")
    open_now = [(o.id, o.summary, o.company_id) for o in t.open_tickets_on_board(refs.board_id)]
    assert (ticket, "Billing problem: acme 2026-11", world.company_id) in open_now


def test_lease_records(world):
    t = world.target
    until = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    lease = t.take_lease(RUN_ID, until, LeasePlace(), shard=(1, 2))
    (listed,) = [x for x in t.leases() if x.run_id == RUN_ID]
    assert (listed.id, listed.until, listed.open, listed.shard) == (lease.id, until, True, (1, 2))
    assert listed.live(datetime.now(UTC))
    later = until + timedelta(minutes=5)
    t.renew_lease(listed, later)
    (renewed,) = [x for x in t.leases() if x.run_id == RUN_ID]
    assert renewed.until == later
    t.end_lease(renewed, wrote=True)
    (ended,) = [x for x in t.leases() if x.run_id == RUN_ID]
    assert (ended.open, ended.wrote, ended.live(datetime.now(UTC))) == (False, True, False)


@pytest.mark.parametrize("call", [
    lambda w: w.target.additions(999_999),
    lambda w: w.target.set_quantity(w.agreement_id, 999_999, 3),
    lambda w: w.target.cancel_addition(w.agreement_id, 999_999, date(2026, 12, 31)),
    lambda w: w.target.create_addition(999_999, "TM-HES", 1, None, tool_marker(RUN_ID), known_ids=set()),
], ids=["additions of a missing agreement", "set quantity of a missing addition", "cancel a missing addition",
        "create on a missing agreement"])
def test_refusals_are_target_errors(world, call):
    """A refused request is a TargetError (one customer's failure, safe to print), never a
    KeyError or an HTTP library's exception."""
    with pytest.raises(TargetError):
        call(world)
