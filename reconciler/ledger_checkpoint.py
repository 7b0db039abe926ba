"""The ledger's checkpoint: the engine's index of the ledger as of some length of its files, so
a plan reads the checkpoint plus what was appended since instead of every year of history.

Every plan starts with `ledger.read_ledger`: per customer and kind, the periods sent, the last
send, the last failure and the unsettled intents (`LedgerView`). Built from the files alone
that costs a pass over every record ever written (391 MB and 2.6 s for 20,000 customers and 12
months, growing every month). The checkpoint is that index written down: its size grows with
the customers, not with the ledger's age.

- Written by `write` (through `ledger.update_checkpoint`) when an apply lets go of the ledger (`ledger.exclusive`), beside the
  ledger: `state/ledger.checkpoint.json` (`state/ledger.checkpoint.KofN.json` for a shard, so
  shards never write the same file). The billing workflow commits it with the ledger; a
  checkpoint that is missing, stale or damaged only costs time, never correctness.
- Read by `resume` (called from `ledger._read_index`): it covers each ledger file up to a
  byte offset. It is used only if every file it covers still starts with what it covered: the
  size is at least the covered one and the last 4 KiB before the covered offset hash the same
  (the ledger is append-only; a file rewritten or truncated, or a checkpoint from another
  ledger, fails this and the whole ledger is read as before). Then only the bytes after the
  covered offsets, and files it does not cover (a new period, another shard's file), are read.
- Unsettled intents of any age are part of the index, so they stay visible: an intent written
  years ago without a result is in the checkpoint until a result settles it, exactly as a full
  read would find it. `tests/unit/test_ledger_checkpoint.py` checks that an index resumed from a
  checkpoint equals the full read, for every cut point of a ledger with interrupted runs.
- The checkpoint names the index's fields (`_Track`); if the index changes shape (a new
  question the engine asks), an older checkpoint is ignored rather than misread.

Records are ordered by (timestamp, file read rank, line): the checkpoint stores a file's name
instead of its rank, and its line count, so a resumed index orders records exactly as a full
read does even when new files change the ranks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import orjson

FORMAT = 3  # 3: a header line (with the run ids), then one line per customer and kind, records as JSON text
TAIL = 4096  # bytes before a covered offset that must hash the same for the checkpoint to be used

# This module never imports reconciler.ledger (which calls it): the index's classes come in as
# arguments. A ledger path may name a shard: `ledger.2of4.jsonl`.
_SHARD = re.compile(r"^(.*)\.(\d+of\d+)$")


def _stem_and_shard(ledger_path: Path) -> tuple[str, str | None]:
    stem = ledger_path.stem if ledger_path.suffix else ledger_path.name
    match = _SHARD.match(stem)
    return (match.group(1), match.group(2)) if match else (stem, None)


def checkpoint_path(ledger_path: Path) -> Path:
    """`state/ledger.jsonl` -> `state/ledger.checkpoint.json`; a shard's ledger
    `state/ledger.2of4.jsonl` -> `state/ledger.checkpoint.2of4.json`."""
    stem, shard = _stem_and_shard(ledger_path)
    return ledger_path.parent / f"{stem}.checkpoint{f'.{shard}' if shard else ''}.json"


def _candidates(ledger_path: Path) -> list[Path]:
    stem, _ = _stem_and_shard(ledger_path)
    if not ledger_path.parent.is_dir():
        return []
    return sorted(p for p in ledger_path.parent.glob(f"{stem}.checkpoint*.json") if p.is_file())


def _tail_hash(path: Path, offset: int) -> str:
    with open(path, "rb") as handle:
        start = max(0, offset - TAIL)
        handle.seek(start)
        return hashlib.sha256(handle.read(offset - start)).hexdigest()


# The index's fields this module writes and reads. If `ledger._Track` gains a field (a new question
# the engine asks), the checkpoint is not used (nor written) until this module carries it too:
# a checkpoint without it would silently answer wrong. tests/unit/test_ledger_checkpoint.py fails.
KNOWN_FIELDS = ["sent", "last_sent", "last_sent_order", "last_failed", "last_failed_order", "pending", "first_ts"]


def fields_of(track_type: type) -> list[str]:
    return [f.name for f in dataclasses.fields(track_type)]


# --------------------------------------------------------------------------- reading


def resume(ledger_path: Path, files: list[Path], view: Any, track_type: type) -> dict[str, tuple[int, int]] | None:
    """Fill the empty index `view` (a LedgerView) from the best usable checkpoint and return, per
    covered file name, (offset, lines) to read on from; None when no checkpoint is usable (the
    caller reads everything; `view` is left empty)."""
    best: tuple[int, Path, dict[str, Any]] | None = None
    present = {path.name: path for path in files}
    fields = fields_of(track_type)
    if fields != KNOWN_FIELDS:
        return None
    for candidate in _candidates(ledger_path):
        header = _header(candidate, fields)
        if header is None or not _still_covers(header, present):
            continue
        covered = sum(entry["size"] for entry in header["files"])
        if best is None or covered > best[0]:
            best = (covered, candidate, header)
    if best is None:
        return None
    ranks = {path.name: rank for rank, path in enumerate(files)}
    try:
        tracks = _tracks(best[1], ranks, track_type)
    except (OSError, KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None
    view._tracks.update(tracks)
    view._runs.update(best[2]["runs"])  # LedgerView.knows_run: every run that wrote here
    view.record_count = best[2]["records"]
    return {entry["name"]: (entry["size"], entry["lines"]) for entry in best[2]["files"]}


def _header(path: Path, fields: list[str]) -> dict[str, Any] | None:
    """The checkpoint's first line: format, the index's fields, record count and covered files."""
    try:
        with open(path, "rb") as handle:
            header = orjson.loads(handle.readline())
    except (OSError, ValueError):
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("fields") != fields:
        return None
    files = header.get("files")
    runs = header.get("runs")
    if not isinstance(files, list) or not isinstance(header.get("records"), int) or not (
            isinstance(runs, list) and all(isinstance(run, str) for run in runs)):
        return None
    for entry in files:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and "/" not in entry["name"]
                and isinstance(entry.get("size"), int) and isinstance(entry.get("lines"), int)
                and isinstance(entry.get("tail"), str)):
            return None
    return header


def _still_covers(header: dict[str, Any], present: dict[str, Path]) -> bool:
    for entry in header["files"]:
        path = present.get(entry["name"])
        try:
            if path is None or path.stat().st_size < entry["size"] or _tail_hash(path, entry["size"]) != entry["tail"]:
                return False
        except OSError:
            return False
    return True


def _tracks(path: Path, ranks: dict[str, int], track_type: type) -> dict[tuple[str, str], Any]:
    """The tracks, one line each after the header, streamed: records stay the compact JSON text
    the index keeps (`ledger._whole`), never parsed here."""
    def order(value: list[Any]) -> tuple[Any, ...]:
        return (value[0], ranks[value[1]], value[2]) if value else ()

    def payload(value: str | None) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError("a record is kept as its JSON text")
        return value.encode()

    tracks = {}
    shared: dict[str, str] = {}  # one str per period and kind, as the full read keeps them
    with open(path, "rb") as handle:
        handle.readline()
        for line in handle:
            customer, kind, sent, last_sent, sent_order, last_failed, failed_order, pending, first_ts = orjson.loads(line)
            track = track_type()
            kind = shared.setdefault(kind, kind)
            track.sent = {shared.setdefault(period, period) for period in sent}
            track.last_sent, track.last_sent_order = payload(last_sent), order(sent_order)
            track.last_failed, track.last_failed_order = payload(last_failed), order(failed_order)
            track.pending = {(run_id, period): (order(when), payload(record))
                             for run_id, period, when, record in pending}
            track.first_ts = first_ts
            tracks[(customer, kind)] = track
    return tracks


# --------------------------------------------------------------------------- writing


def write(ledger_path: Path, view: Any, track_type: type) -> Path | None:
    """Write the checkpoint of `view`, the index `read_ledger(ledger_path)` just built (it notes
    what it read in `view._covered`). A cache: a failure to write it is ignored (None)."""
    covered = getattr(view, "_covered", None)
    if not covered or view.warnings or fields_of(track_type) != KNOWN_FIELDS:  # a torn record: let the next full read settle it
        return None
    target = checkpoint_path(ledger_path)
    temporary = target.with_name(target.name + ".tmp")
    try:
        with open(temporary, "wb") as out:
            for line in _lines(view, covered, track_type):
                out.write(line)
        os.replace(temporary, target)
    except OSError:
        return None
    return target


def _text(payload: Any) -> str | None:
    """A kept record as the JSON text the index holds (bytes after `ledger._settle`)."""
    if payload is None:
        return None
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload).decode()
    return orjson.dumps(payload).decode()


def _lines(view: Any, covered: dict[Path, tuple[int, int]], track_type: type) -> Any:
    """The header line, then one line per customer and kind (sorted: small Git deltas), streamed."""
    names = {rank: path.name for rank, path in enumerate(covered)}

    def order(value: tuple[Any, ...]) -> list[Any]:
        return [value[0], names[value[1]], value[2]] if value else []

    yield orjson.dumps({
        "format": FORMAT, "fields": fields_of(track_type), "records": view.record_count,
        "runs": sorted(view._runs),
        "files": [{"name": path.name, "size": size, "lines": count, "tail": _tail_hash(path, size)}
                  for path, (size, count) in covered.items()],
    }) + b"\n"
    for (customer, kind), track in sorted(view._tracks.items()):
        yield orjson.dumps([
            customer, kind, sorted(track.sent),
            _text(track.last_sent), order(track.last_sent_order),
            _text(track.last_failed), order(track.last_failed_order),
            [[run_id, period, order(when), _text(record)] for (run_id, period), (when, record) in track.pending.items()],
            track.first_ts,
        ]) + b"\n"
