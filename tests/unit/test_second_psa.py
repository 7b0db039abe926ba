"""A second PSA touches its own package and the wiring list, nothing else (issue 23).

The sketch (tests/support/memory_psa.py: the in-memory target plus `connect`) is registered the
one way the architecture allows, by replacing `reconciler.runtime.TARGETS`, and the real CLI
runs `plan` and `apply` through it in-process: no other module is patched, edited or told about
it. It keeps no executive summaries and no tickets, and the run honours that: the shipped config
asks for both.
"""

from __future__ import annotations

import json
import os
import shutil

from click.testing import CliRunner

from reconciler import runtime
from reconciler.cli import cli
from tests.support import REPO_ROOT, memory_psa

DAY = "2026-12-05"  # the shipped config's billing (day 1, within catch-up) and summary day (5)


def _repo(tmp_path):
    for name in ("config", "usage"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name)
    return tmp_path / "config"


def _run(monkeypatch, tmp_path, *args: str, env: dict[str, str] | None = None):
    monkeypatch.setattr(runtime, "TARGETS", {"memory": "tests.support.memory_psa"})  # the wiring list, only
    for name in [n for n in os.environ if n.startswith(("CW_", "TM_", "SANDBOX_", "RECONCILE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("CI", raising=False)
    memory_psa.CONNECTED.clear()
    return CliRunner().invoke(cli, ["--config", str(_repo(tmp_path)), *args], env=env or {"MEMORY_PSA_TOKEN": "t"},
                              catch_exceptions=False)


def test_plan_and_apply_run_through_a_psa_registered_in_the_wiring_list_alone(monkeypatch, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    planned = _run(monkeypatch, tmp_path, "plan", "--date", DAY, "--ledger", str(ledger), "--format", "json")
    plan = json.loads(planned.output)
    creates = [c for c in plan["changes"] if c["action"] == "create"]
    assert creates and all(c["kind"] == "addition" for c in creates)  # no summary planned
    assert plan["summary"]["executive_summaries"] == 0
    assert sum("keeps no executive summaries" in w for w in plan["warnings"]) == 1

    applied = _run(monkeypatch, tmp_path / "again", "apply", "--date", DAY, "--ledger", str(ledger), "--auto-approve")
    (target,) = memory_psa.CONNECTED
    made = [w for w in target.writes if w[0] == "create_addition"]
    assert len(made) == len(creates)
    assert not [w for w in target.writes if w[0] in ("post_summary", "open_ticket")]
    assert [w[0] for w in target.writes if "lease" in w[0]] == ["take_lease", "end_lease"]
    # brightline-logistics names agreements the sketch's made-up tenant lacks: a problem (exit 1),
    # which would be ticketed; this PSA keeps no tickets, so a note says none was filed.
    assert applied.exit_code == 1 and "brightline-logistics  failed" in applied.output, applied.output
    assert "MemoryPSA keeps no service tickets: no ticket filed for 1 problem" in applied.output


def test_the_sketchs_missing_credentials_are_its_own_one_line(monkeypatch, tmp_path):
    result = _run(monkeypatch, tmp_path, "plan", "--date", DAY, env={"MEMORY_PSA_TOKEN": ""})
    assert result.exit_code == 1
    assert "missing MemoryPSA credentials: set MEMORY_PSA_TOKEN" in result.output
    assert "CW_" not in result.output
