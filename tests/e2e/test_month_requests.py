"""A month of daily scheduled runs against the sandbox: ConnectWise is asked only on days with work.

The scheduled job is `reconcile apply` on the day's date (what `reconcile` alone runs, with the
date given so the test can walk a month). The sandbox counts every request it serves
(`/_sandbox/stats`). A day without work (nobody due, no summary due, nothing interrupted) must
cost no request at all, not even the directory lists; a day with work reads and writes.
(The demo world has a customer whose billing problem is reported on every run: those days cost
the ticket note's requests, and nothing else.)
"""

from __future__ import annotations

import subprocess
from datetime import date, timedelta

from reconciler.sandbox import SandboxServer
from tests.support.e2e import RECONCILE, clean_env, ledger_records, make_repo


def sends(repo) -> int:
    """Ledger records of sends (intents and results); `problem` records, which every run writes
    for a standing problem, are the ticket's work, not a send."""
    return sum(1 for r in ledger_records(repo, "state/ledger.jsonl") if r.get("event") in ("intent", "result"))


def test_a_month_of_scheduled_runs_reads_connectwise_only_on_days_with_work(tmp_path):
    repo = make_repo(tmp_path)
    with SandboxServer(data_dir=tmp_path / "cw", port=0, seed_demo=True) as server:
        c = server.credentials
        env = clean_env(CW_URL=server.connectwise_url, CW_COMPANY_ID=c.company_id, CW_PUBLIC_KEY=c.public_key,
                        CW_PRIVATE_KEY=c.private_key, CW_CLIENT_ID="month-test")
        days: list[tuple[str, int, int, int]] = []  # (day, requests, ledger records added, sandbox writes)
        day = date(2026, 11, 1)
        while day.month == 11:
            requests_before = server.stats.snapshot(0)["requests"]
            writes_before, records_before = server.store.write_count, sends(repo)
            run = subprocess.run([str(RECONCILE), "apply", "--date", day.isoformat(), "--ledger", "state/ledger.jsonl"],
                                 cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False)
            assert "Traceback" not in run.stdout + run.stderr
            days.append((day.isoformat(), server.stats.snapshot(0)["requests"] - requests_before,
                         sends(repo) - records_before,
                         server.store.write_count - writes_before))
            day += timedelta(days=1)

    with_work = [d for d in days if d[2] or d[3]]
    quiet = [d for d in days if not d[2] and not d[3]]
    assert [d for d in quiet if d[1]] == []  # no work, no request
    assert all(d[1] > 0 for d in with_work)
    worked = {d[0] for d in with_work}
    assert {"2026-11-01", "2026-11-05"} <= worked  # the billing day and the summary day
    assert len(quiet) >= 10, days
    # A day whose only work is a billing-problem ticket (a customer missed or refused, reported
    # every run until someone acts) costs the ticket's requests alone: the board and status
    # lookups and the one board search, then the notes read-back snapshot and the POST per note
    # or ticket; no directory or additions read. A standing problem whose reason did not change
    # is noted at most weekly, and costs nothing in between (docs/tickets.md).
    ticket_only = [d for d in with_work if not d[2]]
    assert all(d[1] <= 3 + 2 * d[3] for d in ticket_only), ticket_only
    assert len(ticket_only) <= 5, ticket_only  # weekly, not daily
