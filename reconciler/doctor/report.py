"""What `reconcile doctor` finds: a checklist of items, each ok, a warning or a blocker.

A blocker is something that stops billing (the first `plan` would fail, or bill wrongly); a
warning is something a person should look at but that does not stop a run (a check that could
not run because an earlier one failed is a warning that says which). Every item that is not ok
carries the fix, in the words an MSP admin acts on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

DOCTOR_FORMAT_VERSION = 1


class Status(str, Enum):
    OK = "ok"
    WARNING = "warning"
    BLOCKER = "blocker"


@dataclass(frozen=True)
class Check:
    """One checklist item. `key` is stable (support and scripts match on it); `detail` is one
    line; `problems` lists every offending name when there are several (the detail shows the
    first few)."""

    key: str
    title: str
    status: Status
    detail: str
    fix: str = ""
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]
    connectwise_url: str = ""
    lmpi_url: str = ""
    sandbox: bool = False
    trend_used: bool = True  # usage.source is lmpi
    format_version: int = field(default=DOCTOR_FORMAT_VERSION)

    def count(self, status: Status) -> int:
        return sum(1 for check in self.checks if check.status is status)

    @property
    def blocked(self) -> bool:
        """Any blocker: the command exits 1."""
        return self.count(Status.BLOCKER) > 0

    def check(self, key: str) -> Check | None:
        return next((c for c in self.checks if c.key == key), None)
