"""The run lease: one `reconcile apply` writes to the PSA at a time, across machines.

Two applies with different ledgers (two laptops, a laptop and CI) share nothing but the PSA, so
the lease lives there (`Target.take_lease`: in ConnectWise a service ticket on the MSP's own
company, docs/lease.md). Each apply that is about to read what it will write creates its own
lease record, stamped with its run id and an end time, and lists the open ones once: the oldest
(lowest id) whose end is still ahead holds the lease (runs of different shards, `--shard K/N`
of one N, never meet the same customer, so each shard has its own). The others wait, listing again every few
seconds, and stop with one line when the wait runs out. The holder renews its end while it
works (a background thread) and closes its record when it is done; a killed run stops renewing,
so its lease ends by itself after `ttl` and the next run goes ahead. A run whose lease ended
without a release is one that died: `ended_runs` names them, and a duplicate addition carrying
one of their markers is converged (plan.diff_customer), never treated as unexplained.

With the lease held, the plan's read of an agreement is the truth until this run writes it: no
other run of the tool writes meanwhile, so apply needs no read before a create nor after it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from reconciler.errors import ReconcileError
from reconciler.state import Lease, LeasePlace
from reconciler.target import Target, TargetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseTimes:
    """How long a lease lives unrenewed, how long a run waits for another's, how often it looks.

    The wait outlasts the life, so a run started after a killed one waits for its lease to end
    and then goes ahead. The environment may shorten them (tests; an MSP that wants the
    scheduled job to give up sooner): RECONCILE_LEASE_TTL_SECONDS, RECONCILE_LEASE_WAIT_SECONDS,
    RECONCILE_LEASE_POLL_SECONDS."""

    ttl: float = 600.0
    wait: float = 900.0
    poll: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> LeaseTimes:
        def seconds(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise LeaseError(f"{name}={raw!r} is not a number of seconds") from None
            if not 0 <= value <= 86_400:
                raise LeaseError(f"{name}={raw!r} must be between 0 and 86400 seconds")
            return value

        return cls(ttl=max(1.0, seconds("RECONCILE_LEASE_TTL_SECONDS", cls.ttl)),
                   wait=seconds("RECONCILE_LEASE_WAIT_SECONDS", cls.wait),
                   poll=max(0.05, seconds("RECONCILE_LEASE_POLL_SECONDS", cls.poll)))


DEFAULT_TIMES = LeaseTimes()
DEFAULT_PLACE = LeasePlace()  # the PSA's defaults: the default board, the MSP's own company


class LeaseFacts(Protocol):
    """What the plan learns from the lease records once the lease is taken (`RunLease`)."""

    ended_runs: set[str]  # runs whose lease ended without a release: they died mid-run
    writers: set[str]  # other runs that wrote to the PSA (or may have: they died)
    has_history: bool  # some other run's lease has ended: the records reach back before this run

    def acquire(self) -> None: ...


class LeaseError(ReconcileError):
    """The lease could not be taken (another apply holds it, or the PSA refused the record)."""


class LeaseLost(TargetError):
    """This run's lease ended before a write (its renewals failed): the write is not sent."""


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class RunLease:
    """One run's lease. `acquire` before the first read that a write is decided from (idempotent),
    `release` when the run is done (safe to call when never acquired)."""

    def __init__(self, target: Target, run_id: str, place: LeasePlace = DEFAULT_PLACE,
                 times: LeaseTimes = DEFAULT_TIMES, clock: Callable[[], datetime] = _now,
                 sleep: Callable[[float], None] = time.sleep, shard: tuple[int, int] | None = None) -> None:
        self.target, self.run_id, self.place, self.times = target, run_id, place, times
        self.shard = shard  # `--shard K/N`: runs of other shards of the same N go on at once
        self.clock, self.sleep = clock, sleep
        self.ended_runs: set[str] = set()  # runs whose lease ended unreleased: they died
        self.writers: set[str] = set()  # other runs that wrote (or died, so may have)
        self.has_history = False
        self.wrote = False  # set by LeasedTarget before this run's first write
        self._mine: Lease | None = None
        self._until: datetime | None = None
        self._held = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> None:
        with self._lock:
            if self._held:
                return
            try:
                self._take_and_wait()
            except BaseException:
                self.release()
                raise
            self._held = True

    def _take_and_wait(self) -> None:
        until = self.clock() + timedelta(seconds=self.times.ttl)
        try:
            self._mine = self.target.take_lease(self.run_id, until, self.place, self.shard)
        except TargetError as error:
            if self.place == DEFAULT_PLACE:
                raise LeaseError(f"cannot take the run lease in {self.target.name}: {error}") from None
            # A ticket board or company that does not exist must not stop billing: the PSA's
            # defaults (its default board, the MSP's own company) hold the lease as well.
            log.warning("run lease: %s; using the default board and the MSP's own company", error)
            try:
                self._mine = self.target.take_lease(self.run_id, until, DEFAULT_PLACE, self.shard)
            except TargetError as again:
                raise LeaseError(f"cannot take the run lease in {self.target.name}: {again}") from None
        self._until = until
        self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
        self._renewer.start()
        deadline = self.clock() + timedelta(seconds=self.times.wait)
        while True:
            try:
                leases = self.target.leases()
            except TargetError as error:
                raise LeaseError(f"cannot read the run lease in {self.target.name}: {error}") from None
            now = self.clock()
            others = [lease for lease in leases if lease.id != self._mine.id and not lease.live(now)]
            self.ended_runs = {lease.run_id for lease in others if lease.wrote is None}
            self.writers = {lease.run_id for lease in others if lease.wrote is not False}
            self.has_history = bool(others)
            holder = next((lease for lease in leases if lease.id == self._mine.id
                           or (lease.live(now) and lease.overlaps(self.shard))), None)
            if holder is None or holder.id == self._mine.id:
                # Not listed yet (a list that lags the POST) counts as held only when nobody
                # else holds it either: then ours is the oldest live one.
                return
            assert holder.until is not None  # not ours, so live: a live lease has an end
            if now >= deadline:
                raise LeaseError(
                    f"another reconcile apply (run {holder.run_id}) holds the run lease until "
                    f"{_stamp(holder.until)}; nothing was written: run again when it is done")
            log.info("waiting for run %s to release the run lease (until %s)", holder.run_id, _stamp(holder.until))
            self.sleep(min(self.times.poll, max(0.0, (deadline - now).total_seconds())))

    def _renew_loop(self) -> None:
        interval = self.times.ttl / 3
        while not self._stop.wait(interval):
            until = self.clock() + timedelta(seconds=self.times.ttl)
            mine = self._mine
            if mine is None:  # released meanwhile (a release that did not wait for this thread)
                return
            try:
                self.target.renew_lease(mine, until)
            except TargetError as error:  # tried again next time; `check` stops writes once it ends
                log.warning("could not renew the run lease: %s", error)
                continue
            self._until = until

    def check(self) -> None:
        """Raise LeaseLost when this run's lease has ended: a write now could race another run."""
        if self._until is not None and self.clock() >= self._until:
            raise LeaseLost(f"the run lease of run {self.run_id} ended at {_stamp(self._until)} "
                            "(its renewals failed); the change was not sent: run again")

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        mine, self._mine, self._held = self._mine, None, False
        if mine is None or not mine.id:
            return
        try:
            self.target.end_lease(mine, self.wrote)
        except TargetError as error:  # it ends by itself after ttl
            log.warning("could not close the run lease record %s: %s", mine.id, error)


class LeasedTarget:
    """The target as apply writes through it: every write first checks that this run's lease
    still holds (no request); everything else goes straight to `target`."""

    def __init__(self, target: Target, lease: RunLease) -> None:
        self._target, self._lease = target, lease

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def _checked(self, name: str) -> Any:
        self._lease.check()
        self._lease.wrote = True  # before the request: a write whose answer is lost may still land
        return getattr(self._target, name)

    def create_addition(self, *args: Any, **kwargs: Any) -> Any:
        return self._checked("create_addition")(*args, **kwargs)

    def set_quantity(self, *args: Any, **kwargs: Any) -> Any:
        return self._checked("set_quantity")(*args, **kwargs)

    def cancel_addition(self, *args: Any, **kwargs: Any) -> Any:
        return self._checked("cancel_addition")(*args, **kwargs)

    def post_summary(self, *args: Any, **kwargs: Any) -> Any:
        return self._checked("post_summary")(*args, **kwargs)

    def delete_summary(self, *args: Any, **kwargs: Any) -> Any:
        return self._checked("delete_summary")(*args, **kwargs)
