"""`plan --changed-since REF`: plan only what a pull request touches."""

import json
import subprocess
from pathlib import Path

from reconciler.run import select_changed
from tests.support.e2e import make_repo, reconcile


def test_customer_files_select_their_slugs_and_shared_files_select_everyone():
    config = Path("config")
    assert select_changed(["config/customers/acme-dental.yaml", "config/customers/x.yml"], config) == {"acme-dental", "x"}
    assert select_changed(["config/customers/acme-dental.yaml", "config/global.yaml"], config) is None
    assert select_changed(["schemas/customer.schema.json"], config) is None
    assert select_changed(["reconciler/schemas/customer.schema.json"], config) is None
    assert select_changed([], config) == frozenset()


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin"})


def test_plan_changed_since_a_git_ref_plans_only_the_changed_customer(tmp_path):
    repo = make_repo(tmp_path)
    _git(repo, "init", "-q")
    _git(repo, "add", "config", "usage")
    _git(repo, "commit", "-qm", "base")
    path = repo / "config/customers/granite-credit-union.yaml"
    path.write_text(path.read_text().replace("  workload-security: default\n", "  workload-security: default\n  wfs-advanced: default\n"))
    result = reconcile(repo, "--sandbox", "plan", "--send-now", "--format", "json", "--changed-since", "HEAD")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [c["customer"] for c in plan["customers"]] == ["granite-credit-union"]
    assert any(c["product"] == "wfs-advanced" and c["action"] == "create" for c in plan["changes"])

    bad = reconcile(repo, "--sandbox", "plan", "--changed-since", "no-such-ref")
    assert bad.returncode == 1 and "no-such-ref" in bad.stderr


def test_changed_since_outside_git_is_one_line_not_gits_usage_text(tmp_path):
    repo = make_repo(tmp_path)  # a config repository that is not (yet) in Git
    result = reconcile(repo, "--sandbox", "plan", "--changed-since", "origin/main")
    assert result.returncode == 1
    assert "is not in a git repository" in result.stderr and "usage: git diff" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
