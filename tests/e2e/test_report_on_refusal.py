"""`apply --report FILE` leaves its report whatever refuses the run before any customer, so the
billing workflow's artifact always says what happened (reconciler/errors.py: every failure a
user can cause is a ReconcileError, which `run_apply` records before it stops)."""

from __future__ import annotations

import json

from tests.support.e2e import ledger_records, make_repo, reconcile, sandbox_writes


def _refused_with_report(repo, *args, cwd=None):
    result = reconcile(cwd or repo, "--sandbox", "apply", "--auto-approve", "--report", str(repo / "report.json"), *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    report = json.loads((repo / "report.json").read_text())
    assert report["error"] and report["error"] in result.stderr, (report, result.stderr)
    assert report["customers"] == [] and report["counts"] == {}
    return result.stderr, report


def test_a_refused_damaged_plan_file_still_writes_the_report(tmp_path):
    repo = make_repo(tmp_path)
    saved = reconcile(repo, "--sandbox", "plan", "--send-now", "--out", "plan.json")
    assert saved.returncode == 0, saved.stderr
    text = (repo / "plan.json").read_text()
    (repo / "plan.json").write_text(text[: len(text) // 2])
    stderr, report = _refused_with_report(repo, "plan.json")
    assert "plan.json: not a plan saved by `reconcile plan --out`: not JSON" in report["error"]
    assert sandbox_writes(repo) == 0 and not ledger_records(repo)


def test_a_changed_since_outside_git_still_writes_the_report(tmp_path):
    """Was click's exception: `Error: ...` and no report at all."""
    repo = make_repo(tmp_path)
    stderr, report = _refused_with_report(repo, "--changed-since", "main")
    assert "--changed-since main:" in report["error"] and "is not in a git repository" in report["error"]
    assert not ledger_records(repo)


def test_no_config_directory_still_writes_the_report(tmp_path):
    """Was click's exception (ConfigNotFound): no report. With --ledger the run needs no config
    repository to name its ledger, so the refusal comes from reading the config."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stderr, report = _refused_with_report(elsewhere, "--ledger", str(elsewhere / "ledger.jsonl"), cwd=elsewhere)
    assert f"no config/ directory in {elsewhere}" in report["error"]
