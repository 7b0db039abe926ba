"""The ledger: an append-only JSON-lines record of what was sent, for which customer and period.

It is what makes a rerun, a retry or a missed CI day safe. Each customer's send is written as
two records: an `intent` before the first ConnectWise write, and a `result` after the last.
A run killed in between leaves an intent without a result; the next run does not trust the
ledger for that customer, re-reads ConnectWise (which the plan always does) and settles it.

Records are never rewritten. Each append is flushed and fsynced, so a killed process loses at
most the record it was writing; such a torn record is skipped on read (with a warning) rather
than making the whole ledger unreadable. Shards (`--shard K/N`) append to their own file
`ledger.KofN.jsonl` beside the main one, and readers merge every `ledger*.jsonl` in the
directory by timestamp, so shard files never conflict in Git.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator

from filelock import FileLock, Timeout

from reconciler.errors import ReconcileError

FORMAT_VERSION = 1


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LedgerView:
    """What the ledger says, indexed by customer for the questions the engine asks (a year of
    records for thousands of customers must not be scanned once per customer)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def _by_customer(self) -> dict[str, list[dict[str, Any]]]:
        index: dict[str, list[dict[str, Any]]] = {}
        for record in self.records:
            index.setdefault(record.get("customer", ""), []).append(record)
        return index

    def _of(self, customer: str, kind: str, event: str) -> list[dict[str, Any]]:
        return [r for r in self._by_customer.get(customer, [])
                if r.get("event") == event and r.get("kind", "billing") == kind]

    def sent_periods(self, customer: str, kind: str = "billing") -> set[str]:
        return {r["period"] for r in self._of(customer, kind, "result") if r.get("status") == "sent"}

    def last_sent(self, customer: str, kind: str = "billing") -> dict[str, Any] | None:
        sent = [r for r in self._of(customer, kind, "result") if r.get("status") == "sent"]
        return sent[-1] if sent else None

    def unsettled_intents(self, customer: str, kind: str = "billing") -> list[dict[str, Any]]:
        """Intents with no result from the same run, and no later sent/failed result for that
        period: a send that was interrupted and not yet settled. Once a later run records a
        result for the period, that run re-read ConnectWise and settled it, so the note stops."""
        results = self._of(customer, kind, "result")
        settled = {(r.get("run_id"), r.get("period")) for r in results}
        latest: dict[Any, datetime] = {}  # period -> its latest sent/failed result
        for r in results:
            if r.get("status") in ("sent", "failed"):
                when = timestamp_key(r.get("ts"))
                latest[r.get("period")] = max(when, latest.get(r.get("period"), when))
        return [r for r in self._of(customer, kind, "intent")
                if (r.get("run_id"), r.get("period")) not in settled
                and not (r.get("period") in latest and latest[r.get("period")] > timestamp_key(r.get("ts")))]


def ledger_files(path: Path) -> list[Path]:
    """The ledger file and its shard siblings (`ledger.*.jsonl`), the main file first so its
    records come first among records with the same timestamp."""
    stem, suffix = path.stem, path.suffix or ".jsonl"
    shards = sorted(path.parent.glob(f"{stem}.*{suffix}")) if path.parent.exists() else []
    return ([path] if path.exists() else []) + [p for p in shards if p != path]


def read_ledger(path: Path) -> LedgerView:
    view = LedgerView()
    for file in ledger_files(path):
        lines = file.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not an object")
            except ValueError as error:
                # A killed append leaves a truncated object (later appends start on a new line,
                # so it may sit mid-file); anything else is damage and stops the run.
                where = f"{file}:{number}"
                if line.lstrip().startswith("{"):
                    view.warnings.append(f"{where}: skipped an incomplete record ({error})")
                    continue
                raise LedgerCorrupt(f"{where}: error: not a JSON ledger record: {error}") from None
            try:
                timestamp_key(record.get("ts"))
            except ValueError:
                raise LedgerCorrupt(f"{file}:{number}: error: record has no ISO 'ts' timestamp") from None
            view.records.append(record)
    view.records.sort(key=lambda r: timestamp_key(r["ts"]))  # stable: file order breaks ties
    return view


def timestamp_key(ts: Any) -> datetime:
    """A record's `ts` as a datetime, so shards (and any ISO form) merge in time order."""
    if not isinstance(ts, str):
        raise ValueError("not a timestamp")
    parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class LedgerCorrupt(ReconcileError):
    """A ledger line that is not a record (not a torn append): `PATH:LINE: error: ...`."""

    located = True


class Ledger:
    """Appends records to one ledger file. Thread-safe: workers share one instance."""

    def __init__(self, path: Path, run_id: str | None = None) -> None:
        self.path = path
        self.run_id = run_id or new_run_id()
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        full = {"v": FORMAT_VERSION, "ts": _utc_now(), "run_id": self.run_id, **record}
        line = json.dumps(full, sort_keys=False, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A previous run killed mid-write may have left a line without its newline.
            needs_newline = self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
            with open(self.path, "a", encoding="utf-8") as handle:
                if needs_newline:
                    handle.write("\n")
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        return full

    def intent(self, *, kind: str, customer: str, connectwise_company: str, period: str,
               trigger: str, changes: Iterable[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return self.append({
            "event": "intent", "kind": kind, "customer": customer,
            "connectwise_company": connectwise_company, "period": period, "trigger": trigger,
            "changes": list(changes), **extra,
        })

    def result(self, *, kind: str, customer: str, connectwise_company: str, period: str,
               trigger: str, status: str, error: str | None, changes: Iterable[dict[str, Any]],
               additions: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return self.append({
            "event": "result", "kind": kind, "customer": customer,
            "connectwise_company": connectwise_company, "period": period, "trigger": trigger,
            "status": status, "error": error, "changes": list(changes),
            "additions": additions or {}, **extra,
        })


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def shard_ledger_path(path: Path, shard: tuple[int, int] | None) -> Path:
    if not shard:
        return path
    k, n = shard
    return path.with_name(f"{path.stem}.{k}of{n}{path.suffix or '.jsonl'}")


class LedgerLocked(ReconcileError):
    """Another apply holds this ledger."""


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the ledger for one apply at a time (CI serialises runs with its concurrency group;
    this guards two terminals). The lock is `filelock`'s, on `LEDGER.lock` beside the ledger, so
    every process that means the same ledger sees the same lock whatever its TMPDIR, on any OS.
    The OS releases it when the process dies, so a killed run leaves no stale lock; the file
    itself is kept out of Git (.gitignore, and the billing workflow's ledger push)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path.with_name(path.name + ".lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise LedgerLocked(f"{path} is in use by reconcile apply in another process; wait for it to finish") from None
    try:
        yield
    finally:
        lock.release()
