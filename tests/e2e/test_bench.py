"""bench/run.py runs in the suite at a small size, so it cannot rot (issue 22).

The whole script, as a person runs it: a 60-customer world, its plan, a 12-month ledger, the
report and the month of scheduled runs through the real CLI against the sandbox. The numbers
are checked for consistency, not for speed (performance goals live in bench/README.md).
"""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO_ROOT


def _table(output: str, header_start: str) -> list[list[str]]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("*").replace(",", "") for cell in line.strip("|").split("|")])
    return rows


def test_the_bench_runs_and_counts_what_the_scheduled_job_sends(tmp_path):
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--sizes", "60", "--latency-ms", "0",
         "--latency-sizes", "0", "--history-sizes", "60", "--ledger-months", "12,36", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr

    (plan,) = _table(run.stdout, "| customers | workers |")
    requests, bound = int(plan[2]), int(plan[3])
    assert 0 < requests <= bound + 5

    days = _table(run.stdout, "| customers | day |")
    assert [row[1] for row in days] == ["billing day (the 1st)", "executive-summary day (the 5th)",
                                        "nobody due (the 20th)"]
    for row in days:
        total, directory, additions, summaries, writes, tickets, other = (int(cell) for cell in row[5:12])
        assert total == directory + additions + summaries + writes + tickets + other, row
    billing = days[0]
    assert int(billing[2]) == 60 and int(billing[9]) > 0  # everyone due; writes made
    # The world has problem customers (refusals, no usage): the real job files tickets for them,
    # and the bench counts those requests.
    assert int(billing[4]) > 0 and int(billing[10]) > 0
    summary_day = days[1]
    assert int(summary_day[9]) > 0  # executive summaries posted: the world names a solution it has

    history = _table(run.stdout, "| customers | what |")
    assert [row[1] for row in history][:3] == [
        "12-month ledger: load the index without a checkpoint (every record)",
        "12-month ledger: write the checkpoint (as an apply does at its end)",
        "12-month ledger: load the index from the checkpoint"]
    assert history[0][2] == history[2][2]  # the same records, whichever way they were read
    assert any(row[1] == "36-month ledger: load the index from the checkpoint" for row in history)
    assert any("report --format html" in row[1] for row in history)
    assert any("report --format markdown" in row[1] for row in history)
