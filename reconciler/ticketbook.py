"""The ticket book: which ConnectWise ticket this tool opened for which billing problem.

A small JSON file beside the ledger (`state/ledger.tickets.json` for `--ledger
state/ledger.jsonl`; a shard's `state/ledger.1of4.tickets.json`), committed with it by the
billing workflow. It is not the ledger: the ledger records money sent, append-only and per
period; this records where a person is being told about a problem, and is rewritten whole (it
holds one entry per problem, customer and period). Keeping it apart leaves the ledger's format
and readers alone.

Why a file at all: a problem's ticket is found again by the id the tool recorded, never by
searching ticket text (`[` and `]` delimit date-times in ConnectWise `conditions`, and our
summaries hold brackets), and a standing problem costs no request at all to find its ticket.
Losing the file is harmless: the next run adopts its open tickets by exact summary from the
one board search it makes anyway (see `reconciler.notify`).

Written only under the ledger's lock (apply holds it while tickets are filed), atomically
(a temporary file renamed over the old one), so a killed run leaves the old book or the new.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


@dataclass(frozen=True)
class TicketEntry:
    ticket_id: int
    reason: str  # the problem's reason when the ticket was opened or last noted (see notify.same_reason)
    noted_on: date  # the day of the last note (or of the opening)

    def as_json(self) -> dict[str, Any]:
        return {"ticket_id": self.ticket_id, "reason": self.reason, "noted_on": self.noted_on.isoformat()}

    @classmethod
    def from_json(cls, data: Any) -> TicketEntry | None:
        """From the file (which a person may have edited): None for anything malformed."""
        if not isinstance(data, dict):
            return None
        ticket_id, reason, noted = data.get("ticket_id"), data.get("reason"), data.get("noted_on")
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or ticket_id <= 0:
            return None
        try:
            return cls(ticket_id, reason if isinstance(reason, str) else "", date.fromisoformat(str(noted)))
        except ValueError:
            return None


def book_path(ledger_path: Path) -> Path:
    """The ticket book beside a ledger (or shard ledger) path."""
    stem = ledger_path.stem if ledger_path.suffix else ledger_path.name
    return ledger_path.with_name(f"{stem}.tickets.json")


class TicketBook:
    """Problem key -> the ticket recorded for it. `load` tolerates a missing or broken file
    (the board search adopts the tickets again); `save` writes atomically."""

    def __init__(self, path: Path, entries: dict[str, TicketEntry] | None = None, found: bool = False) -> None:
        self.path = path
        self.entries = entries or {}
        self.found = found  # the file existed and was read

    @classmethod
    def load(cls, path: Path) -> TicketBook:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(path)
        tickets = data.get("tickets") if isinstance(data, dict) else None
        entries = {}
        for key, value in (tickets or {}).items() if isinstance(tickets, dict) else ():
            entry = TicketEntry.from_json(value)
            if isinstance(key, str) and entry is not None:
                entries[key] = entry
        return cls(path, entries, found=True)

    def get(self, key: str) -> TicketEntry | None:
        return self.entries.get(key)

    def put(self, key: str, entry: TicketEntry) -> None:
        self.entries[key] = entry

    def forget_before(self, period: str) -> None:
        """Drop entries of periods before `period` (keys end with `|YYYY-MM`): the book stays
        the size of the problems of about a year, not of the tool's whole history."""
        self.entries = {k: v for k, v in self.entries.items() if k.rsplit("|", 1)[-1] >= period}

    def save(self) -> None:
        body = {"format_version": FORMAT_VERSION,
                "tickets": {k: self.entries[k].as_json() for k in sorted(self.entries)}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(json.dumps(body, indent=1, sort_keys=True) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
