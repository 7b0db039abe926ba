"""The ledger: an append-only JSON-lines record of what was sent, for which customer and period.

It is what makes a rerun, a retry or a missed CI day safe. Each customer's send is written as
two records: an `intent` before the first ConnectWise write, and a `result` after the last.
A run killed in between leaves an intent without a result; the next run does not trust the
ledger for that customer, re-reads ConnectWise (which the plan always does) and settles it.

Records are never rewritten. Each append is flushed and fsynced, so a killed process loses at
most the record it was writing; such a torn record is skipped on read (with a warning) rather
than making the whole ledger unreadable.

Layout: one file per billing period. `--ledger state/ledger.jsonl` names the ledger; a record
for period 2026-11 is appended to `state/ledger.2026-11.jsonl`, and a shard's (`--shard K/N`)
to `state/ledger.2026-11.KofN.jsonl`, so shard files never conflict in Git and a month's
commits touch one small file instead of rewriting a year of history. Older versions wrote every
record to `state/ledger.jsonl` (and `state/ledger.KofN.jsonl`); those files are still read, first,
and never appended to again: migrating needs no step (see README, "The ledger").

Reading streams the files line by line into the index the engine asks for (`LedgerView`):
periods sent, the last send, unsettled intents and the last failed result per customer and
kind. Memory grows with customers, not with records; `iter_records` streams every record for the
report and for tools.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import orjson
from filelock import FileLock, Timeout

from reconciler import ledger_checkpoint
from reconciler.errors import ReconcileError

FORMAT_VERSION = 1
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_CANONICAL_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime(_TS_FORMAT)


def timestamp_key(ts: Any) -> datetime:
    """A record's `ts` as a datetime, so shards (and any ISO form) merge in time order."""
    if not isinstance(ts, str):
        raise ValueError("not a timestamp")
    parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def sortable_ts(ts: Any) -> str:
    """`ts` as a string that sorts in time order: the writer's own UTC form is used as it is
    (the fast path for nearly every record); any other ISO form is converted to it."""
    if isinstance(ts, str) and len(ts) == 27 and ts[-1] == "Z" and ts[19] == "." and _CANONICAL_TS.match(ts):
        return ts
    return timestamp_key(ts).astimezone(timezone.utc).strftime(_TS_FORMAT)


_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


# --------------------------------------------------------------------------- the words of a record
# What a record's `event`, `kind`, `trigger` and `status` say, as written (str-valued: a member is
# written as its word, so the ledger's bytes are what they always were). Readers compare with
# these members; a word this version does not know (a newer writer, a hand edit) equals none of
# them and is passed over as it always was, never an error.


class Event(StrEnum):
    INTENT = "intent"  # before a send's first write to the PSA
    RESULT = "result"  # after its last
    PROBLEM = "problem"  # a problem a run reported (reconciler/problem_records.py)


class SendKind(StrEnum):
    """What a send is: a record's `kind`."""

    BILLING = "billing"
    SUMMARY = "summary"  # the executive summary


class Trigger(StrEnum):
    """Why a send happened: its billing date came (`scheduled`) or a person asked (`--send-now`)."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"


class SendStatus(StrEnum):
    """A `result` record's `status`."""

    SENT = "sent"
    FAILED = "failed"


Word = TypeVar("Word", bound=StrEnum)


def read_word(kind: type[Word], value: Any, default: Word | None = None) -> Word | Any:
    """A record's word as its member of `kind` (`default` when missing or empty); a word this
    version does not know is returned as it is, so an older or foreign ledger reads as before."""
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except ValueError:
        return value


class LedgerCorrupt(ReconcileError):
    """A ledger line that is not a record (not a torn append): `PATH:LINE: error: ...`."""

    located = True


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class LedgerFile:
    path: Path
    period: str | None  # None: a single-file ledger of an older version
    shard: str | None  # "KofN", or None for the main file

    @property
    def rank(self) -> tuple[int, str, int, str]:
        """Read order: old single files first, then periods oldest first; a main file before its
        shards, so the main file's records come first among records with the same timestamp."""
        return (0 if self.period is None else 1, self.period or "", 0 if self.shard is None else 1, self.shard or "")


def _split_base(path: Path) -> tuple[Path, str, str, str | None]:
    """(directory, stem, suffix, shard) of a ledger path, which may name a shard file."""
    suffix = path.suffix or ".jsonl"
    stem = path.stem if path.suffix else path.name
    match = re.match(r"^(.*)\.(\d+of\d+)$", stem)
    if match:
        return path.parent, match.group(1), suffix, match.group(2)
    return path.parent, stem, suffix, None


def period_ledger_path(path: Path, period: str) -> Path:
    """Where a record of `period` is appended, for the ledger (or shard ledger) `path`."""
    directory, stem, suffix, shard = _split_base(path)
    return directory / f"{stem}.{period}{f'.{shard}' if shard else ''}{suffix}"


def ledger_file_list(path: Path) -> list[LedgerFile]:
    """Every file of the ledger `path` names, in read order (see `LedgerFile.rank`)."""
    directory, stem, suffix, _ = _split_base(path)
    if not directory.exists():
        return []
    pattern = re.compile(
        rf"^{re.escape(stem)}(?:\.(?P<period>\d{{4}}-(?:0[1-9]|1[0-2])))?(?:\.(?P<shard>\d+of\d+))?{re.escape(suffix)}$")
    files = []
    for candidate in directory.glob(f"{stem}*{suffix}"):
        match = pattern.match(candidate.name)
        if not match:
            continue
        if not candidate.is_file():
            # Skipping it would forget the sends it records (the next run bills or posts them
            # again), so a ledger file that cannot be read as one is an error at its path.
            raise LedgerCorrupt(f"{candidate}:1: error: ledger file is not a regular file ({_kind_of(candidate)}): "
                                "restore it from the billing-ledger branch or a backup before running again")
        files.append(LedgerFile(candidate, match.group("period"), match.group("shard")))
    return sorted(files, key=lambda f: f.rank)


def _kind_of(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "a symlink to a missing file"
    if path.is_dir():
        return "a directory"
    return "a FIFO, socket or device"


def ledger_files(path: Path) -> list[Path]:
    """The ledger's files: old single files (and their shard siblings), then one per period."""
    return [f.path for f in ledger_file_list(path)]


def ledger_periods(path: Path) -> list[str]:
    """Periods with a file of their own (the new layout), oldest first."""
    return sorted({f.period for f in ledger_file_list(path) if f.period})


@dataclass(frozen=True)
class Located:
    """A record with where it was read: `order` sorts records as the ledger's history runs
    (timestamp, then the file's read order, then the line)."""

    record: dict[str, Any]
    order: tuple[str, int, int]


def iter_located(path: Path, warnings: list[str] | None = None) -> Iterator[Located]:
    """Stream every record of the ledger, file by file in read order (not merged by time)."""
    for rank, file in enumerate(ledger_file_list(path)):
        yield from _read_file(file.path, rank, warnings if warnings is not None else [])


def iter_records(path: Path, warnings: list[str] | None = None) -> Iterator[dict[str, Any]]:
    for located in iter_located(path, warnings):
        yield located.record


def _read_file(file: Path, rank: int, warnings: list[str]) -> Iterator[Located]:
    for record, order in _read_pairs(file, rank, warnings):
        yield Located(record, order)


def _read_pairs(file: Path, rank: int, warnings: list[str]) -> Iterator[tuple[dict[str, Any], tuple[str, int, int]]]:
    with open(file, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield from _parse_line(file, line, number, rank, warnings)


def _parse_line(file: Path, line: bytes, number: int, rank: int,
                warnings: list[str]) -> Iterator[tuple[dict[str, Any], tuple[str, int, int]]]:
    """The record of one line (none for a torn one, with a warning)."""
    try:
        record = orjson.loads(line)
        if not isinstance(record, dict):
            raise ValueError("not an object")
    except ValueError as error:
        # A killed append leaves a truncated object (later appends start on a new line, so it
        # may sit mid-file); anything else is damage and stops the run.
        where = f"{file}:{number}"
        if line.lstrip().startswith(b"{"):
            warnings.append(f"{where}: skipped an incomplete record ({error})")
            return
        raise LedgerCorrupt(f"{where}: error: not a JSON ledger record: {error}") from None
    try:
        ts = sortable_ts(record.get("ts"))
    except ValueError:
        raise LedgerCorrupt(f"{file}:{number}: error: record has no ISO 'ts' timestamp") from None
    yield record, (ts, rank, number)


# --------------------------------------------------------------------------- the index


# A record the index keeps: parsed, or its line (a streamed read parses it only if kept; `_whole`)
_Kept = dict[str, Any] | bytes


@dataclass
class _Track:
    """What the engine needs to know of one customer and kind of send."""

    sent: set[str] = field(default_factory=set)  # periods with a `sent` result
    last_sent: _Kept | None = None
    last_sent_order: tuple[Any, ...] = ()
    last_failed: _Kept | None = None
    last_failed_order: tuple[Any, ...] = ()
    pending: dict[tuple[Any, Any], tuple[tuple[Any, ...], _Kept]] = field(default_factory=dict)  # open intents
    first_ts: str | None = None  # the earliest record's `ts` (sortable form): when the tool first saw it


# The parts of a record no engine question reads: dropped from the index to keep it small.
_NOT_KEPT = ("changes",)


def _slim(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _NOT_KEPT}


class LedgerView:
    """What the ledger says, indexed by customer for the questions the engine asks: periods
    sent, the last send, unsettled intents (and, for drift, the last failed result).

    Built by streaming (`read_ledger`): one pass over the records, keeping per customer and kind
    only those answers, so a year of records for 20,000 customers costs memory per customer.
    `LedgerView(records=[...])` indexes records held in memory (tests, tools).

    An intent is settled by a result of the same run and period. A run writes both to the same
    file, intent first, and files are read oldest first, so a single pass in read order settles
    every intent that has its result.
    """

    def __init__(self, records: Iterable[dict[str, Any]] | None = None,
                 warnings: list[str] | None = None) -> None:
        self._records = list(records) if records is not None else None
        self.warnings: list[str] = warnings if warnings is not None else []
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._indexed = 0  # in-memory records already indexed (they may be appended to)
        self._source: Path | None = None  # the ledger a streamed view was read from
        self._covered: dict[Path, tuple[int, int]] | None = None  # file -> (bytes, lines) read
        self.record_count = 0
        self._runs: set[str] = set()  # every run id with an intent or a result here

    # -- building -----------------------------------------------------------------------------
    def add(self, record: dict[str, Any], order: tuple[Any, ...] | None = None) -> None:
        """Index one record; `order` sorts it among the others (default: after them)."""
        self.record_count += 1
        if order is None:
            order = (sortable_ts(record.get("ts")), 0, self.record_count)
        self._note(record.get("customer", ""), record.get("kind", SendKind.BILLING), record.get("event"),
                   record.get("status"), record.get("run_id"), record.get("period"), order, record)

    def _note(self, customer: Any, kind: Any, event: Any, status: Any, run_id: Any, period: Any, order: tuple[Any, ...],
              payload: dict[str, Any] | bytes) -> None:
        """Index one record from its fields; `payload` is the record, or its line (parsed only if
        it is kept: see `read_ledger`)."""
        if event not in (Event.INTENT, Event.RESULT):
            return
        if isinstance(run_id, str):
            self._runs.add(run_id)
        track = self._tracks.get((customer, kind))
        if track is None:
            track = self._tracks[(customer, kind)] = _Track()
        seen = order[0]
        if isinstance(period, str) and _PERIOD.match(period):
            # A record for period P means the tool took the customer on from P at the latest,
            # even when the run was dated back (`--date`): no later period is "before it saw" it.
            seen = min(seen, f"{period}-01T00:00:00.000000Z")
        if track.first_ts is None or seen < track.first_ts:
            track.first_ts = seen
        key = (run_id, period)
        if event == Event.INTENT:
            track.pending[key] = (order, payload)
            return
        track.pending.pop(key, None)
        if status in (SendStatus.SENT, SendStatus.FAILED):
            # A later result for the period settles another run's interrupted intent too: that
            # run re-read ConnectWise and recorded what happened, so the note stops (issue 13).
            for other in [k for k, (when, _) in track.pending.items() if k[1] == period and when < order]:
                del track.pending[other]
        if status == SendStatus.SENT:
            track.sent.add(period)
            if order >= track.last_sent_order:
                track.last_sent, track.last_sent_order = payload, order
        elif status == SendStatus.FAILED and order >= track.last_failed_order:
            track.last_failed, track.last_failed_order = payload, order

    def _settle(self) -> bool:
        """Parse the kept lines and drop what no question reads (change lists). False when a
        kept line is not a whole record after all (see `read_ledger`)."""
        for track in self._tracks.values():
            for name in ("last_sent", "last_failed"):
                record = _whole(getattr(track, name))
                if record is False:
                    return False
                setattr(track, name, record)
            for key, (order, payload) in list(track.pending.items()):
                record = _whole(payload)
                if record is False:
                    return False
                track.pending[key] = (order, record)
        return True

    def _track(self, customer: str, kind: str) -> _Track | None:
        if self._records is not None and self._indexed < len(self._records):
            for record in self._records[self._indexed:]:
                self.add(record)
            self._indexed = len(self._records)
        return self._tracks.get((customer, kind))

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record in time order. A streamed view keeps none, so this reads the files again
        (memory grows with the ledger: for tests and small tools; the engine never calls it)."""
        if self._source is not None:
            return read_all_records(self._source)
        if self._records is None:
            self._records = []
        return self._records

    # -- the engine's questions (names and meaning kept stable for every caller) ---------------
    def sent_periods(self, customer: str, kind: SendKind = SendKind.BILLING) -> set[str]:
        track = self._track(customer, kind)
        return set(track.sent) if track else set()

    def last_sent(self, customer: str, kind: SendKind = SendKind.BILLING) -> dict[str, Any] | None:
        track = self._track(customer, kind)
        return _record(track.last_sent) if track else None

    def unsettled_intents(self, customer: str, kind: SendKind = SendKind.BILLING) -> list[dict[str, Any]]:
        """Intents with no result from the same run, nor a later sent or failed result for their
        period: a send that was interrupted and not yet settled."""
        track = self._track(customer, kind)
        if not track or not track.pending:
            return []
        return [_record(record) for _, record in sorted(track.pending.values(), key=lambda item: item[0])]

    def first_seen(self, customer: str, kind: SendKind = SendKind.BILLING) -> str | None:
        """When the tool first saw the customer (the schedule's never-sent rule), in `ts` form:
        the earliest `ts` of its records of this kind (intent or result, any status), or the
        first day of the earliest period they name if that is earlier (a run dated back with
        `--date`); None when there is none."""
        track = self._track(customer, kind)
        return track.first_ts if track else None

    def last_failed(self, customer: str, kind: SendKind = SendKind.BILLING) -> dict[str, Any] | None:
        """The latest `failed` result (drift: its partial writes are not hand edits)."""
        track = self._track(customer, kind)
        return _record(track.last_failed) if track else None

    def knows_run(self, run_id: str) -> bool:
        """Did run `run_id` write an intent or a result to this ledger? (A duplicate addition
        carrying its marker is then one this ledger can account for.)"""
        self._track("", "")
        return run_id in self._runs

    def customers(self) -> set[str]:
        self._track("", "")
        return {customer for customer, _ in self._tracks}


# The fields the index needs, at the start of every line this tool writes (`Ledger.append` puts
# them first, in this order). A line that matches, has no escapes there and is whole is indexed
# from them alone; only the records the index keeps (one last send per customer and kind, open
# intents) are parsed in full. Anything else (another key order, a hand edit) is parsed in full.
_PREFIX = re.compile(
    rb'\{"v":\d+,"ts":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)","run_id":"([^"\\]*)",'
    rb'"event":"(intent|result)","kind":"([^"\\]*)","customer":"([^"\\]*)","connectwise_company":"[^"\\]*",'
    rb'"period":"([^"\\]*)","trigger":"[^"\\]*"(?:,"status":"([^"\\]*)")?')


@overload
def _whole(payload: _Kept) -> bytes | Literal[False]: ...
@overload
def _whole(payload: _Kept | None) -> bytes | None | Literal[False]: ...
def _whole(payload: _Kept | None) -> bytes | None | Literal[False]:
    """A kept payload as the compact JSON of its slim record (a few hundred bytes, where the
    parsed record would take kilobytes: the index of 20,000 customers stays small; questions
    parse it again, in microseconds); False when a kept line does not parse."""
    if payload is None:
        return None
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = orjson.loads(payload)
        except ValueError:
            return False
        if not isinstance(payload, dict):
            return False
    # a copy of exact size: orjson's own buffer keeps its working capacity (kilobytes each)
    return bytes(memoryview(orjson.dumps(_slim(payload))))


@overload
def _record(payload: _Kept) -> dict[str, Any]: ...
@overload
def _record(payload: _Kept | None) -> dict[str, Any] | None: ...
def _record(payload: _Kept | None) -> dict[str, Any] | None:
    return orjson.loads(payload) if isinstance(payload, bytes) else payload


def _looks_whole(line: bytes) -> bool:
    """A cheap test that a line is not a record cut short by a killed append: it closes its
    object and its braces balance. A cut that passes (a string with unbalanced brackets
    exactly making up for it) is still caught: kept lines are parsed, and then the whole ledger
    is read the slow way."""
    stripped = line.rstrip()
    return stripped.endswith(b"}") and stripped.count(b"{") == stripped.count(b"}")


def read_ledger(path: Path) -> LedgerView:
    """The index of the ledger `path` names (all its files), built in one streaming pass."""
    view = _read_index(path, fast=True)
    if view is None:  # a kept line was not whole after all: read every record in full
        view = _read_index(path, fast=False)
    assert view is not None
    view._source = path
    return view


def _read_index(path: Path, fast: bool) -> LedgerView | None:
    files = ledger_file_list(path)
    view = LedgerView()
    # The checkpoint (ledger_checkpoint.py) holds this index as of some length of each file: start
    # from it and read only what was appended since. The slow path reads everything.
    start = (ledger_checkpoint.resume(path, [f.path for f in files], view, _Track) if fast else None) or {}
    covered: dict[Path, tuple[int, int]] = {}  # what this read saw, for the next checkpoint
    names: dict[bytes, str] = {}  # one str per customer, run id, period (bytes -> str once)

    def text(raw: bytes) -> str:
        value = names.get(raw)
        if value is None:
            value = names[raw] = raw.decode()
        return value

    prefix, note, looks_whole = (_PREFIX.match if fast else (lambda line: None)), view._note, _looks_whole
    counted = 0
    for rank, file in enumerate(files):
        offset, lines_before = start.get(file.path.name, (0, 0))
        with open(file.path, "rb") as handle:
            handle.seek(offset)
            number = lines_before
            for number, line in enumerate(handle, start=lines_before + 1):
                match = prefix(line)
                if match is not None and looks_whole(line):
                    ts, run_id, event, kind, customer, period, status = match.groups()
                    counted += 1
                    note(text(customer), text(kind), event.decode(), status and status.decode(),
                         run_id.decode(), text(period), (ts.decode(), rank, number), line)
                    continue
                if not line.strip():
                    continue
                for record, order in _parse_line(file.path, line, number, rank, view.warnings):
                    view.add(record, order)
            covered[file.path] = (handle.tell(), number)
    view.record_count += counted
    view._covered = covered
    # Kept lines are parsed once, at the end: memory holds one line per customer and kind
    # (and per open intent) meanwhile, never the records.
    return view if view._settle() else None


def update_checkpoint(path: Path) -> Path | None:
    """Write the ledger's checkpoint (ledger_checkpoint.py) as of now: read with the current one,
    so it costs what was appended since. A cache: failing to write it changes nothing else."""
    try:
        return ledger_checkpoint.write(path, read_ledger(path), _Track)
    except (OSError, LedgerCorrupt):
        return None


def read_all_records(path: Path) -> list[dict[str, Any]]:
    """Every record merged in time order (ties: file read order, then line). Memory grows with
    the ledger: for tests and small tools, not for the engine or the report."""
    located = list(iter_located(path))
    located.sort(key=lambda item: item.order)
    return [item.record for item in located]


# --------------------------------------------------------------------------- writing


class Ledger:
    """Appends records to the ledger `path` names, each to its period's file. Thread-safe:
    workers share one instance."""

    def __init__(self, path: Path, run_id: str | None = None) -> None:
        self.path = path
        self.run_id = run_id or new_run_id()
        self._lock = threading.Lock()

    def file_for(self, record: dict[str, Any]) -> Path:
        period = record.get("period")
        if isinstance(period, str) and PERIOD.match(period):
            return period_ledger_path(self.path, period)
        return self.path  # a record without a period (none is written today) keeps the old place

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        full = {"v": FORMAT_VERSION, "ts": _utc_now(), "run_id": self.run_id, **record}
        line = json.dumps(full, sort_keys=False, separators=(",", ":"), default=str) + "\n"
        path = self.file_for(full)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A previous run killed mid-write may have left a line without its newline.
            needs_newline = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
            with open(path, "a", encoding="utf-8") as handle:
                if needs_newline:
                    handle.write("\n")
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        return full

    def intent(self, *, kind: SendKind, customer: str, psa_company: str, period: str,
               trigger: Trigger, changes: Iterable[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return self.append({
            "event": Event.INTENT, "kind": kind, "customer": customer,
            "connectwise_company": psa_company, "period": period, "trigger": trigger,
            "changes": list(changes), **extra,
        })

    def result(self, *, kind: SendKind, customer: str, psa_company: str, period: str,
               trigger: Trigger, status: SendStatus, error: str | None, changes: Iterable[dict[str, Any]],
               additions: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return self.append({
            "event": Event.RESULT, "kind": kind, "customer": customer,
            "connectwise_company": psa_company, "period": period, "trigger": trigger,
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
        update_checkpoint(path)  # the next plan reads this apply's index, not every year
    finally:
        lock.release()
