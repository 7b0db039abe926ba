"""The run lease's records in ConnectWise (service tickets), against the sandbox over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.connectwise import Client, ConnectWiseTarget, Credentials
from reconciler.connectwise.target import lease_from
from reconciler.sandbox import SandboxServer
from reconciler.state import LeasePlace

RUN = "20261201T060000Z-aaaaaa"
UNTIL = datetime(2026, 12, 1, 6, 10, tzinfo=UTC)


@pytest.fixture
def target(tmp_path):
    with SandboxServer(data_dir=tmp_path / "sb", port=0, seed_demo=True) as server:
        c = server.credentials
        client = Client(server.connectwise_url, Credentials(c.company_id, c.public_key, c.private_key, c.client_id),
                        "2025.1", requests_per_minute=0)
        yield ConnectWiseTarget(client), server


def test_a_lease_is_a_ticket_on_the_msps_own_company_renewed_and_closed_with_its_history(target):
    cw, server = target
    lease = cw.take_lease(RUN, UNTIL, LeasePlace(board="Billing"))
    ticket = server.store.get("ticket", lease.id)
    assert ticket["company"]["identifier"] == "sandbox" and ticket["board"]["name"] == "Billing"
    assert ticket["summary"] == f"Billing run lease R-{RUN} until 2026-12-01T06:10:00Z" and len(ticket["summary"]) <= 100
    assert cw.leases() == [lease] and lease.open and lease.until == UNTIL
    cw.renew_lease(lease, UNTIL + timedelta(minutes=5))
    assert cw.leases()[0].until == UNTIL + timedelta(minutes=5)
    sharded = cw.take_lease("20261201T060000Z-bbbbbb", UNTIL, LeasePlace(), shard=(3, 8))
    assert cw.leases()[1] == sharded and sharded.shard == (3, 8)
    assert server.store.get("ticket", sharded.id)["board"]["name"] == "Service Desk"  # the default board
    cw.end_lease(lease, wrote=True)
    ended = cw.leases()[0]
    assert not ended.open and ended.wrote is True and ended.until is None
    assert server.store.get("ticket", lease.id)["closedFlag"] is True  # closed on the board, never deleted


def test_only_a_summary_of_exactly_the_lease_shape_is_a_lease():
    base = {"id": 4, "closedFlag": False}
    assert lease_from({**base, "summary": f"Billing run lease R-{RUN} until 2026-12-01T06:10:00Z"}).run_id == RUN
    for summary in (f"Billing run lease R-{RUN} until tomorrow", f"billing run lease R-{RUN} until 2026-12-01T06:10:00Z",
                    "Billing run lease R-someone until 2026-12-01T06:10:00Z", f"Re: Billing run lease R-{RUN} ended after writes",
                    f"Billing run lease R-{RUN} ended"):
        assert lease_from({**base, "summary": summary}) is None, summary
    sharded = lease_from({**base, "summary": f"Billing run lease R-{RUN} shard 2of4 until 2026-12-01T06:10:00Z"})
    assert sharded.shard == (2, 4) and sharded.open
    assert lease_from({**base, "closedFlag": True, "summary": f"Billing run lease R-{RUN} shard 2of4 ended after writes"}).shard == (2, 4)
    closed_by_hand = lease_from({**base, "closedFlag": True, "summary": f"Billing run lease R-{RUN} until 2026-12-01T06:10:00Z"})
    assert not closed_by_hand.open and closed_by_hand.wrote is None  # ended unreleased: its run may have died


@pytest.mark.parametrize("summary", [
    f"Billing run lease R-{RUN} until 2026-13-45T10:00:00Z",  # the lease's shape, not a time: a person's title
    f"Billing run lease R-{RUN} until 2026-02-30T10:00:00Z",
    f"Billing run lease R-{RUN} until \u0662\u0660\u0662\u0666-12-01T06:10:00Z",  # Arabic-Indic digits
    "Billing run lease R-\u0662\u0660\u0662\u06661201T061000Z-aaaaaa until 2026-12-01T06:10:00Z",
    f"Billing run lease R-{RUN} shard \u0662of4 until 2026-12-01T06:10:00Z",
])
def test_a_ticket_titled_like_a_lease_but_not_one_is_no_lease_and_never_a_crash(summary):
    # Such a ticket on the board stopped every apply with "internal error ... ValueError".
    assert lease_from({"id": 4, "closedFlag": False, "summary": summary}) is None
