"""The core decides from what it is given: no module of it reads the clock.

The run's day is read once, at the edge (a command, `run.py`), and passed in (`PlanOptions.now`
or `--date`, `find_drift(today=...)`), so a plan is a function of its inputs and a test can say
which day it is. Checked over the source (no imports executed): a call of `datetime.now()`,
`date.today()`, `time.time()` or the like in one of these modules fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

CORE = ("engine", "plan", "desired", "schedule", "state", "money", "drift", "periods", "importer")
CLOCKS = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "monotonic_ns"),
    ("time", "perf_counter"), ("time", "localtime"), ("time", "gmtime"),
}


def clock_reads(path: Path) -> list[str]:
    """`file:line: what` for every call of a clock in the module's source."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
        if (name, node.func.attr) in CLOCKS:
            found.append(f"{path.name}:{node.lineno}: {name}.{node.func.attr}()")
    return found


@pytest.mark.parametrize("module", CORE)
def test_the_core_reads_no_clock(module):
    path = REPO_ROOT / "reconciler" / f"{module}.py"
    assert path.exists(), f"{module} moved: update CORE"
    assert clock_reads(path) == []


def test_the_check_finds_a_clock_read(tmp_path):
    # The check itself can fail: these are the reads the core used to have.
    sample = tmp_path / "sample.py"
    sample.write_text("import time\nfrom datetime import UTC, date, datetime\n"
                      "a = datetime.now(UTC).date()\nb = date.today()\nc = time.monotonic()\n"
                      "d = datetime.datetime.now()\ne = today_in(zone, now)\n", encoding="utf-8")
    assert sorted(clock_reads(sample)) == ["sample.py:3: datetime.now()", "sample.py:4: date.today()",
                                           "sample.py:5: time.monotonic()", "sample.py:6: datetime.now()"]
