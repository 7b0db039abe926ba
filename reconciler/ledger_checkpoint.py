"""The ledger's checkpoint: the engine's index of the ledger as of some length of its files, so
a plan reads the checkpoint plus what was appended since instead of every year of history.

Every plan starts with `ledger.read_ledger`: per customer and kind, the periods sent, the last
send, the last failure and the unsettled intents (`LedgerView`). Built from the files alone
that costs a pass over every record ever written (391 MB and 2.6 s for 20,000 customers and 12
months, growing every month). The checkpoint is that index written down: its size grows with
the customers, not with the ledger's age.

- Written by `update` when an apply lets go of the ledger (`ledger.exclusive`), beside the
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from reconciler.ledger import LedgerFile, LedgerView

FORMAT = 1
TAIL = 4096  # bytes before a covered offset that must hash the same for the checkpoint to be used


def checkpoint_path(ledger_path: Path) -> Path:
    """`state/ledger.jsonl` -> `state/ledger.checkpoint.json`; a shard's ledger
    `state/ledger.2of4.jsonl` -> `state/ledger.checkpoint.2of4.json`."""
    from reconciler.ledger import _split_base

    directory, stem, _, shard = _split_base(ledger_path)
    return directory / f"{stem}.checkpoint{f'.{shard}' if shard else ''}.json"


def _candidates(ledger_path: Path) -> list[Path]:
    from reconciler.ledger import _split_base

    directory, stem, _, _ = _split_base(ledger_path)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"{stem}.checkpoint*.json") if p.is_file())


def _tail_hash(path: Path, offset: int) -> str:
    with open(path, "rb") as handle:
        start = max(0, offset - TAIL)
        handle.seek(start)
        return hashlib.sha256(handle.read(offset - start)).hexdigest()


def _fields() -> list[str]:
    from reconciler.ledger import _Track

    return [f.name for f in dataclasses.fields(_Track)]


# --------------------------------------------------------------------------- reading


def resume(ledger_path: Path, files: list[LedgerFile]) -> tuple[LedgerView, dict[str, tuple[int, int]]] | None:
    """The index as of the best usable checkpoint, and per covered file name (offset, lines)
    to read on from; None when no checkpoint is usable (the caller reads everything)."""
    best: tuple[int, Path, dict[str, Any]] | None = None
    present = {f.path.name: f.path for f in files}
    for candidate in _candidates(ledger_path):
        document = _load(candidate)
        if document is None or not _still_covers(document, present):
            continue
        covered = sum(entry["size"] for entry in document["files"])
        if best is None or covered > best[0]:
            best = (covered, candidate, document)
    if best is None:
        return None
    ranks = {f.path.name: rank for rank, f in enumerate(files)}
    try:
        view = _view(best[2], ranks)
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return view, {entry["name"]: (entry["size"], entry["lines"]) for entry in best[2]["files"]}


def _load(path: Path) -> dict[str, Any] | None:
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("fields") != _fields():
        return None
    files, tracks = document.get("files"), document.get("tracks")
    if not isinstance(files, list) or not isinstance(tracks, list) or not isinstance(document.get("records"), int):
        return None
    for entry in files:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and "/" not in entry["name"]
                and isinstance(entry.get("size"), int) and isinstance(entry.get("lines"), int)
                and isinstance(entry.get("tail"), str)):
            return None
    return document


def _still_covers(document: dict[str, Any], present: dict[str, Path]) -> bool:
    for entry in document["files"]:
        path = present.get(entry["name"])
        try:
            if path is None or path.stat().st_size < entry["size"] or _tail_hash(path, entry["size"]) != entry["tail"]:
                return False
        except OSError:
            return False
    return True


def _view(document: dict[str, Any], ranks: dict[str, int]) -> LedgerView:
    from reconciler.ledger import LedgerView, _Track

    def order(value: list[Any]) -> tuple:
        return (value[0], ranks[value[1]], value[2]) if value else ()

    def payload(value: Any) -> bytes | None:
        return None if value is None else orjson.dumps(value)

    view = LedgerView()
    for customer, kind, data in document["tracks"]:
        track = _Track()
        track.sent = set(data["sent"])
        track.last_sent, track.last_sent_order = payload(data["last_sent"]), order(data["last_sent_order"])
        track.last_failed, track.last_failed_order = payload(data["last_failed"]), order(data["last_failed_order"])
        track.pending = {(run_id, period): (order(when), orjson.dumps(record))
                         for run_id, period, when, record in data["pending"]}
        view._tracks[(customer, kind)] = track
    view.record_count = document["records"]
    return view


# --------------------------------------------------------------------------- writing


def update(ledger_path: Path) -> Path | None:
    """Write the checkpoint of the ledger `ledger_path` names (read with the current checkpoint,
    so this costs what was appended since). A cache: any failure to write it is ignored."""
    from reconciler.ledger import read_ledger

    try:
        view = read_ledger(ledger_path)
        covered = getattr(view, "_covered", None)
        if covered is None or view.warnings:  # a torn record: let the next full read settle it
            return None
        target = checkpoint_path(ledger_path)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_bytes(_dump(view, covered))
        os.replace(temporary, target)
        return target
    except OSError:
        return None


def _dump(view: LedgerView, covered: dict[Path, tuple[int, int]]) -> bytes:
    from reconciler.ledger import _record

    names = {rank: path.name for rank, path in enumerate(covered)}

    def order(value: tuple) -> list[Any]:
        return [value[0], names[value[1]], value[2]] if value else []

    lines = [b'{"format":%d,"fields":%s,"records":%d,"files":[' % (FORMAT, orjson.dumps(_fields()), view.record_count)]
    lines.append(b",\n".join(orjson.dumps({"name": path.name, "size": size, "lines": count,
                                           "tail": _tail_hash(path, size)})
                             for path, (size, count) in covered.items()))
    lines.append(b'],"tracks":[')
    tracks = []
    for (customer, kind), track in sorted(view._tracks.items()):  # one line per customer: small Git deltas
        tracks.append(orjson.dumps([customer, kind, {
            "sent": sorted(track.sent),
            "last_sent": _record(track.last_sent), "last_sent_order": order(track.last_sent_order),
            "last_failed": _record(track.last_failed), "last_failed_order": order(track.last_failed_order),
            "pending": [[run_id, period, order(when), _record(record)]
                        for (run_id, period), (when, record) in track.pending.items()],
        }]))
    lines.append(b",\n".join(tracks))
    lines.append(b"]}\n")
    return b"\n".join(lines)
