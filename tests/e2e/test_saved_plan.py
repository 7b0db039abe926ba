"""A saved plan file is input a person can damage: any malformed part is one line, exit 1."""

from __future__ import annotations

import json

from tests.support.e2e import make_repo, reconcile, sandbox_writes


def test_a_damaged_saved_plan_is_one_line_and_writes_nothing(tmp_path):
    repo = make_repo(tmp_path)
    saved = reconcile(repo, "--sandbox", "plan", "--date", "2026-11-30", "--out", "plan.json")
    assert saved.returncode in (0, 2), saved.stderr
    plan = json.loads((repo / "plan.json").read_text())
    addition = next(c for c in plan["changes"] if c["kind"] == "addition")
    damages = [
        lambda p: addition["money"].update(unit_price="twelve"),  # money that is not a number
        lambda p: p["changes"].append({"customer": "acme-dental"}),  # a change with no action
        lambda p: p.update(customers=[{"name": "no key"}]),
        lambda p: p["options"].update(date="30/11/2026"),
    ]
    for damage in damages:
        broken = json.loads((repo / "plan.json").read_text())
        addition = next(c for c in broken["changes"] if c["kind"] == "addition")
        damage(broken)
        (repo / "broken.json").write_text(json.dumps(broken))
        result = reconcile(repo, "--sandbox", "apply", "broken.json", "--auto-approve")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr and "broken.json" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sandbox_writes(repo) == 0
