"""reconciler/lease.py: who holds the run lease, waiting, expiry, renewal, and what it tells the plan.

A fake PSA holds the lease records in memory and a fake clock moves only when the lease sleeps,
so the rules are tested without a server or real time. The ConnectWise records themselves are
tested against the sandbox in tests/unit/connectwise/test_connectwise_lease.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.lease import LeasedTarget, LeaseError, LeaseLost, LeaseTimes, RunLease
from reconciler.state import Lease, LeasePlace
from reconciler.target import TargetError

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class LeasePSA:
    name = "test"

    def __init__(self, records: list[Lease] | None = None) -> None:
        self.records = list(records or [])
        self.calls: list[str] = []
        self.fail_renewals = False

    def leases(self):
        self.calls.append("leases")
        return sorted(self.records, key=lambda x: x.id)

    def take_lease(self, run_id, until, place, shard=None):
        self.calls.append("take")
        lease = Lease(max([r.id for r in self.records], default=0) + 1, run_id, until, shard=shard)
        self.records.append(lease)
        return lease

    def renew_lease(self, lease, until):
        self.calls.append("renew")
        if self.fail_renewals:
            raise TargetError("503")
        self.records = [replace(r, until=until) if r.id == lease.id else r for r in self.records]

    def end_lease(self, lease, wrote):
        self.calls.append("end")
        self.records = [replace(r, open=False, until=None, wrote=wrote) if r.id == lease.id else r
                        for r in self.records]

    def set_quantity(self, agreement_id, addition_id, quantity):
        self.calls.append("write")


RUN = "20261201T060000Z-aaaaaa"
OTHER = "20261201T055900Z-bbbbbb"
DEAD = "20261130T050000Z-cccccc"
TIMES = LeaseTimes(ttl=600, wait=900, poll=5)


def lease_for(psa, clock, run_id=RUN, times=TIMES):
    return RunLease(psa, run_id, LeasePlace(), times, clock=clock, sleep=clock.sleep)


def test_the_only_applicant_holds_the_lease_at_the_cost_of_a_post_and_a_list():
    psa, clock = LeasePSA(), Clock()
    lease = lease_for(psa, clock)
    lease.acquire()
    lease.acquire()  # idempotent
    assert lease.held and psa.calls == ["take", "leases"]
    assert not lease.has_history and lease.writers == set() and lease.ended_runs == set()
    lease.release()
    assert psa.records[0].open is False and psa.records[0].wrote is False and psa.calls[-1] == "end"


def test_a_younger_applicant_waits_for_the_holder_and_stops_with_one_line():
    clock = Clock()
    psa = LeasePSA([Lease(1, OTHER, T0 + timedelta(seconds=600))])
    lease = lease_for(psa, clock, times=LeaseTimes(ttl=600, wait=30, poll=5))
    lease._renew_loop = lambda: None  # no background thread in this test
    with pytest.raises(LeaseError, match=f"another reconcile apply \\(run {OTHER}\\) holds the run lease until "
                                         "2026-12-01T06:10:00Z; nothing was written"):
        lease.acquire()
    assert psa.calls.count("leases") == 7  # listed every 5 s for 30 s, then gave up
    assert psa.records[-1].open is False  # its own request was closed again


def test_shards_of_one_matrix_hold_their_own_leases_and_a_whole_run_waits_for_them():
    clock = Clock()
    psa = LeasePSA([Lease(1, OTHER, T0 + timedelta(seconds=600), shard=(1, 4))])
    second_shard = RunLease(psa, RUN, LeasePlace(), TIMES, clock=clock, sleep=clock.sleep, shard=(2, 4))
    second_shard._renew_loop = lambda: None
    second_shard.acquire()
    assert second_shard.held and clock.now == T0  # no wait: they never meet a customer
    for shard in (None, (1, 4), (1, 3)):
        lease = RunLease(psa, DEAD, LeasePlace(), LeaseTimes(ttl=600, wait=10, poll=5), clock=clock,
                         sleep=clock.sleep, shard=shard)
        lease._renew_loop = lambda: None
        with pytest.raises(LeaseError, match="holds the run lease"):
            lease.acquire()


def test_a_dead_holders_lease_ends_by_itself_and_the_waiter_goes_ahead():
    clock = Clock()
    psa = LeasePSA([Lease(1, DEAD, T0 + timedelta(seconds=60))])  # killed: never renewed again
    lease = lease_for(psa, clock)
    lease._renew_loop = lambda: None
    lease.acquire()
    assert lease.held and clock.now >= T0 + timedelta(seconds=60)
    assert lease.ended_runs == {DEAD} and DEAD in lease.writers and lease.has_history


def test_the_holder_that_releases_lets_the_next_go_and_says_whether_it_wrote():
    clock = Clock()
    psa = LeasePSA([Lease(1, OTHER, T0 + timedelta(seconds=600))])
    lease = lease_for(psa, clock)
    lease._renew_loop = lambda: None
    original = clock.sleep

    def holder_finishes(seconds):
        original(seconds)
        psa.end_lease(psa.records[0], wrote=True)
    clock.sleep = holder_finishes
    lease.sleep = holder_finishes
    lease.acquire()
    assert lease.held and lease.writers == {OTHER} and lease.ended_runs == set()


def test_released_runs_that_wrote_nothing_are_history_but_not_writers():
    psa = LeasePSA([Lease(1, OTHER, None, open=False, wrote=False)])
    lease = lease_for(psa, Clock())
    lease.acquire()
    assert lease.has_history and lease.writers == set() and lease.ended_runs == set()
    lease.release()


def test_a_lease_whose_renewals_fail_refuses_writes_once_it_ends():
    clock, psa = Clock(), LeasePSA()
    lease = lease_for(psa, clock)
    lease._renew_loop = lambda: None
    lease.acquire()
    target = LeasedTarget(psa, lease)
    target.set_quantity(1, 2, 3)
    assert lease.wrote and psa.calls[-1] == "write"
    clock.now += timedelta(seconds=601)
    with pytest.raises(LeaseLost, match="ended at 2026-12-01T06:10:00Z"):
        target.set_quantity(1, 2, 3)
    assert psa.calls[-1] == "write" and psa.calls.count("write") == 1
    lease.release()
    assert psa.records[0].wrote is True


def test_the_renewer_moves_the_end_while_the_run_works():
    import time

    psa = LeasePSA()
    lease = RunLease(psa, RUN, LeasePlace(), LeaseTimes(ttl=0.3, wait=5, poll=0.05))
    lease.acquire()
    first = psa.records[0].until
    time.sleep(0.5)
    assert psa.calls.count("renew") >= 2 and psa.records[0].until > first
    lease.release()
    renewals = psa.calls.count("renew")
    time.sleep(0.3)
    assert psa.calls.count("renew") == renewals  # stopped with the release


def test_lease_times_from_the_environment_are_checked():
    assert LeaseTimes.from_env({"RECONCILE_LEASE_TTL_SECONDS": "5"}).ttl == 5
    with pytest.raises(LeaseError, match="RECONCILE_LEASE_WAIT_SECONDS='soon' is not a number"):
        LeaseTimes.from_env({"RECONCILE_LEASE_WAIT_SECONDS": "soon"})
    with pytest.raises(LeaseError, match="between 0 and 86400"):
        LeaseTimes.from_env({"RECONCILE_LEASE_TTL_SECONDS": "-1"})
