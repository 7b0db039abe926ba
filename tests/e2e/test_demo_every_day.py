"""Issue 21, item 1: `./scripts/demo` (the scheduled job as a dry run against the sandbox demo
data) exits 0 on every day of the year. The demo data has no ledger, so every customer is new,
and a customer the tool never saw has nothing to miss: it is due from its first billing date on.

One copy of the repository and one process for all 366 days (the real CLI in-process with
`--date`; `apply --dry-run` is what the bare `reconcile --sandbox --dry-run` runs)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from click.testing import CliRunner

from reconciler.cli import cli
from tests.support.e2e import ledger_records, make_repo, sandbox_writes

ROW = re.compile(r"^(?P<customer>[a-z0-9-]+)\s{2,}(?P<status>would send|not due|skipped|unchanged|summary sent|"
                 r"missed|failed|sent)\s", re.MULTILINE)


def test_the_demo_exits_0_on_every_day_of_a_year_and_sends_each_customer_each_month(tmp_path):
    repo = make_repo(tmp_path)
    runner = CliRunner()
    due_months: dict[str, set[str]] = {}
    first = date(2027, 1, 1)
    for offset in range(366):  # 2027-01-01 .. 2028-01-01
        today = first + timedelta(days=offset)
        result = runner.invoke(cli, ["--config", str(repo / "config"), "--sandbox", "apply", "--dry-run",
                                     "--date", today.isoformat()])
        assert result.exception is None or isinstance(result.exception, SystemExit), (today, result.exception)
        assert result.exit_code == 0, f"{today}: exit {result.exit_code}\n{result.output}"
        assert "MISSED" not in result.output and "attention" not in result.output, f"{today}\n{result.output}"
        rows = {m["customer"]: m["status"] for m in ROW.finditer(result.output)}
        assert len(rows) == 7, f"{today}: {rows}"
        for customer, status in rows.items():
            if status in ("would send", "unchanged"):  # due: sends, or finds nothing to change
                due_months.setdefault(customer, set()).add(today.strftime("%Y-%m"))
    assert sandbox_writes(repo) == 0 and ledger_records(repo) == []
    # Not green by sending nothing: each customer with billing on is due in every month of 2027.
    months = {f"2027-{m:02d}" for m in range(1, 13)}
    assert set(due_months) == {"acme-dental", "brightline-logistics", "cedar-law", "evergreen-clinic",
                               "fjord-architects", "granite-credit-union"}
    for customer, seen in due_months.items():
        assert months <= seen, f"{customer} is never due in {sorted(months - seen)}"


def test_the_documented_missed_scenario_shows_a_missed_customer_and_fails_the_run(tmp_path):
    from reconciler.periods import next_period
    from tests.support.e2e import reconcile

    repo = make_repo(tmp_path)
    reset = reconcile(repo, "sandbox", "reset", "--scenario", "missed")
    assert reset.returncode == 0, reset.stderr
    (history,) = ledger_records(repo)
    assert (history["customer"], history["status"], history["day"]) == ("fjord-architects", "sent", 15)
    missed = next_period(history["period"])
    on = f"{next_period(missed)}-01"  # 16 or 17 days after the missed period's 15th
    result = reconcile(repo, "--sandbox", "apply", "--dry-run", "--date", on)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 customer needs attention: fjord-architects missed." in result.stdout
    assert f"billing for {missed} was due {missed}-15" in result.stdout
    # the plain demo again after a reset
    assert reconcile(repo, "sandbox", "reset").returncode == 0
    assert reconcile(repo, "--sandbox", "apply", "--dry-run", "--date", on).returncode == 0
