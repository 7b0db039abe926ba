"""The bare `reconcile` (the scheduled job) and its own options: `./scripts/demo` passes its extra
arguments to `reconcile --sandbox --dry-run`, so `./scripts/demo --date 2027-03-31` is how a new
MSP checks the demo on another day. And the options of the bare command mean nothing to a
command: `reconcile --dry-run apply` sent the bills (the global --dry-run was ignored in silence)."""

from __future__ import annotations

from tests.support.e2e import ledger_records, make_repo, reconcile, sandbox_writes


def test_the_demo_takes_a_date_and_plans_that_day_like_apply_dry_run(tmp_path):
    repo = make_repo(tmp_path)
    bare = reconcile(repo, "--sandbox", "--dry-run", "--date", "2027-03-31")
    assert bare.returncode == 0, bare.stdout + bare.stderr
    same = reconcile(repo, "--sandbox", "apply", "--dry-run", "--date", "2027-03-31")
    assert bare.stdout == same.stdout
    assert "for 2027-03" in bare.stdout
    bad = reconcile(repo, "--sandbox", "--dry-run", "--date", "2027-02-30")
    assert bad.returncode == 1 and "February 2027 has no day 30" in bad.stderr
    assert sandbox_writes(repo) == 0 and ledger_records(repo) == []


def test_the_bare_commands_options_before_a_command_are_refused_not_ignored(tmp_path):
    repo = make_repo(tmp_path)
    sent = reconcile(repo, "--sandbox", "--dry-run", "apply", "--send-now", "--auto-approve")
    assert sent.returncode == 1, sent.stdout + sent.stderr
    assert "reconcile apply --dry-run" in sent.stderr
    dated = reconcile(repo, "--sandbox", "--date", "2027-03-31", "plan")
    assert dated.returncode == 1 and "reconcile plan --date" in dated.stderr
    assert sandbox_writes(repo) == 0 and ledger_records(repo) == []
