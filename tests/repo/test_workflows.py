"""The GitHub workflows: schema, actionlint (with shellcheck), and the rules they must keep.

actionlint and shellcheck come from ./scripts/install-actionlint. When they are missing these
tests FAIL (never skip): a workflow that nobody linted is how a billing run breaks at night.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.support import REPO_ROOT

ROOT = REPO_ROOT
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "pull-request.yml", "billing.yml", "drift.yml")
FILES = [WORKFLOWS / name for name in NAMES]
INSTALL_HINT = "run ./scripts/install-actionlint (installs actionlint into .venv and shellcheck)"
MARKER = "<!-- reconcile-plan -->"


# --- helpers -----------------------------------------------------------------------------------

def load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1: the bare key `on` parses as True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps_of(doc: dict):
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def step_named(doc: dict, name: str) -> dict:
    for _job, step in steps_of(doc):
        if step.get("name") == name:
            return step
    raise AssertionError(f"no step named {name!r}")


def step_with_id(doc: dict, step_id: str) -> dict:
    for _job, step in steps_of(doc):
        if step.get("id") == step_id:
            return step
    raise AssertionError(f"no step with id {step_id!r}")


def env_name(job: dict) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def expressions_in_run(doc: dict) -> list[str]:
    """Every `${{ ... }}` inside a run: script. Those are pasted into the script before bash
    parses it, so an input or event field there is a script-injection hole. Values reach
    scripts through `env:` instead."""
    found = []
    for job_id, step in steps_of(doc):
        for expr in re.findall(r"\$\{\{.*?\}\}", step.get("run", ""), flags=re.S):
            found.append(f"{job_id}/{step.get('name') or step.get('id')}: {expr}")
    return found


def find_tool(name: str, env_var: str) -> str | None:
    candidates = [os.environ.get(env_var), str(Path(sys.executable).parent / name),
                  str(ROOT / ".venv" / "bin" / name), shutil.which(name)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    binary = find_tool("actionlint", "ACTIONLINT")
    if binary is None:
        pytest.fail(f"actionlint not found; {INSTALL_HINT}")
    shellcheck = find_tool("shellcheck", "SHELLCHECK")
    if shellcheck is None:
        pytest.fail(f"shellcheck not found (actionlint would silently skip run: scripts); {INSTALL_HINT}")
    return [binary, "-no-color", "-oneline", "-pyflakes=", f"-shellcheck={shellcheck}"]


# --- linters -----------------------------------------------------------------------------------

def test_the_four_workflows_exist():
    assert sorted(p.name for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)


def test_workflows_match_githubs_workflow_schema():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, FILES)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_passes(actionlint):
    result = subprocess.run([*actionlint, *map(str, FILES)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_lints(actionlint, tmp_path):
    """Guard against a stub or a build without shellcheck: a known-bad workflow must fail."""
    bad = tmp_path / "bad.yml"
    bad.write_text(textwrap.dedent("""\
        on: pull_request
        permissions: {}
        jobs:
          x:
            runs-on: ubuntu-latest
            steps:
              - run: echo "${{ github.event.pull_request.title }}"
              - run: echo $UNQUOTED
    """))
    result = subprocess.run([*actionlint, str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "potentially untrusted" in result.stdout
    assert "SC2086" in result.stdout


# --- rules for every workflow ------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_top_level_permissions_are_least_privilege(name):
    doc = load(name)
    assert "permissions" in doc, "top-level permissions: is required"
    assert doc["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("name", NAMES)
def test_no_expressions_inside_run_scripts(name):
    assert expressions_in_run(load(name)) == []


def test_the_injection_rule_catches_inputs_and_events():
    doc = {"jobs": {"j": {"steps": [{"run": "echo ${{ inputs.customer }}"},
                                    {"run": "x\necho '${{ github.event.pull_request.title }}'"}]}}}
    assert len(expressions_in_run(doc)) == 2


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_by_major_version(name):
    for _job, step in steps_of(load(name)):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


@pytest.mark.parametrize("name", NAMES)
def test_every_job_has_a_timeout(name):
    for job_id, job in load(name)["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), job_id


def _write_scopes(doc: dict) -> set[str]:
    scopes = set()
    for job in doc["jobs"].values():
        for scope, level in (job.get("permissions") or {}).items():
            if level == "write":
                scopes.add(scope)
    return scopes


# --- ci.yml ------------------------------------------------------------------------------------

def test_ci_runs_the_test_command_on_push_and_pull_request():
    doc = load("ci.yml")
    assert "push" in doc["on"] and "pull_request" in doc["on"]
    runs = [step.get("run", "") for _job, step in steps_of(doc)]
    assert "./scripts/test" in runs  # which installs actionlint, shellcheck and Chromium itself
    assert _write_scopes(doc) == set()


# --- pull-request.yml --------------------------------------------------------------------------

def test_pr_plan_triggers_on_config_and_schema_changes():
    doc = load("pull-request.yml")
    assert set(doc["on"]) == {"pull_request"}
    assert sorted(doc["on"]["pull_request"]["paths"]) == ["config/**", "schemas/**"]


def test_pr_plan_concurrency_is_per_pr_and_cancels():
    conc = load("pull-request.yml")["concurrency"]
    assert "github.event.pull_request.number" in conc["group"]
    assert conc["cancel-in-progress"] is True


def test_pr_plan_job_credentials_and_permissions():
    doc = load("pull-request.yml")
    (job,) = doc["jobs"].values()
    assert env_name(job) == "plan-readonly"
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    for key in ("CW_PUBLIC_KEY", "CW_PRIVATE_KEY", "CW_CLIENT_ID"):
        assert job["env"][key] == f"${{{{ secrets.{key} }}}}"
    checkout = next(s for _j, s in steps_of(doc) if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0


def test_pr_plan_validates_then_plans_changed_customers_with_sandbox_fallback():
    doc = load("pull-request.yml")
    assert "reconcile validate --format github" in step_with_id(doc, "validate")["run"]
    plan = step_with_id(doc, "plan")["run"]
    for flag in ("plan", "--format markdown", "--send-now", "--changed-since", "origin/${BASE_REF}"):
        assert flag in plan
    assert "--sandbox" in plan
    mode = step_with_id(doc, "mode")["run"]
    assert "CW_PRIVATE_KEY" in mode and "-n" in mode


def test_pr_plan_summary_always_written_and_says_sandbox():
    doc = load("pull-request.yml")
    compose = step_named(doc, "Compose comment and summary")
    assert "always()" in compose["if"]
    assert "GITHUB_STEP_SUMMARY" in compose["run"]
    assert MARKER in compose["run"]
    assert compose["run"].index(MARKER) < compose["run"].index("Sandbox plan")


def test_pr_plan_comment_is_updated_not_duplicated_and_truncated():
    doc = load("pull-request.yml")
    step = step_named(doc, "Comment on the pull request")
    assert step["uses"].startswith("actions/github-script@")
    assert step["continue-on-error"] is True  # fork PRs get a read-only token
    script = step["with"]["script"]
    assert MARKER in script
    assert "updateComment" in script and "createComment" in script
    limit = int(re.search(r"const limit = (\d+);", script).group(1))
    assert limit < 65536 - 1000  # room for the truncation note


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node not installed (exercises the github-script body only)")
@pytest.mark.parametrize("existing", [False, True])
def test_pr_comment_script_creates_once_then_updates(tmp_path, existing):
    script = step_named(load("pull-request.yml"), "Comment on the pull request")["with"]["script"]
    (tmp_path / "comment.md").write_text(MARKER + "\n" + "x" * 70000 + "\n", encoding="utf-8")
    comments = [{"id": 1, "user": {"type": "User"}, "body": "LGTM " + MARKER}]
    if existing:
        comments.append({"id": 7, "user": {"type": "Bot"}, "body": MARKER + "\nold plan"})
    harness = textwrap.dedent("""\
        const calls = [];
        const comments = %s;
        const github = {
          paginate: async (fn, args) => comments,
          rest: { issues: {
            listComments: () => {},
            updateComment: async (a) => { calls.push(['update', a.comment_id, a.body.length, a.body]); },
            createComment: async (a) => { calls.push(['create', a.issue_number, a.body.length, a.body]);
                                          return { data: { html_url: 'u' } }; },
          } },
        };
        const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 5 } };
        const core = { info: () => {} };
        (async () => { %s
        })().then(() => console.log(JSON.stringify(calls)), (e) => { console.error(e); process.exit(1); });
    """) % (json.dumps(comments), script)
    (tmp_path / "h.js").write_text(harness, encoding="utf-8")
    result = subprocess.run([NODE, "h.js"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "RUN_URL": "https://example.invalid/run/1"})
    assert result.returncode == 0, result.stderr
    (call,) = json.loads(result.stdout)
    assert call[0] == ("update" if existing else "create")
    assert call[1] == (7 if existing else 5)
    assert call[2] < 65536
    assert call[3].startswith(MARKER) and "Plan truncated" in call[3]


# --- billing.yml -------------------------------------------------------------------------------

def test_billing_schedule_is_daily_and_off_the_hour():
    (entry,) = load("billing.yml")["on"]["schedule"]
    minute, hour, dom, month, dow = entry["cron"].split()
    assert minute.isdigit() and int(minute) not in (0, 30), "avoid the busy top/half of the hour"
    assert hour.isdigit() and (dom, month, dow) == ("*", "*", "*")


def test_billing_dispatch_inputs():
    inputs = load("billing.yml")["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"send_now", "customer", "date"}
    assert inputs["send_now"]["type"] == "boolean" and inputs["send_now"]["default"] is False
    for name in ("customer", "date"):
        assert inputs[name]["type"] == "string" and not inputs[name].get("required", False)


def test_billing_is_serialised_never_cancelled_in_production_with_only_contents_write():
    doc = load("billing.yml")
    assert doc["concurrency"] == {"group": "billing", "cancel-in-progress": False}
    (job,) = doc["jobs"].values()
    assert env_name(job) == "production"
    assert job["permissions"] == {"contents": "write"}
    assert _write_scopes(doc) == {"contents"}


def test_billing_apply_uses_the_ledger_branch_and_inputs_through_env():
    doc = load("billing.yml")
    ledger = step_with_id(doc, "ledger")
    assert "billing-ledger" in str(doc["jobs"]["billing"]["env"]["LEDGER_BRANCH"])
    assert "git fetch" in ledger["run"] and "git worktree add" in ledger["run"]
    assert "--orphan" in ledger["run"]
    apply = step_with_id(doc, "apply")
    # Apply must never run without the ledger: no always() on it.
    assert "always()" not in str(apply.get("if", ""))
    assert apply["continue-on-error"] is True
    run = apply["run"]
    assert 'apply --ledger "${LEDGER_DIR}/ledger.jsonl" --report run-report.json' in run
    for flag in ("--send-now", "--customer", "--date"):
        assert flag in run
    assert apply["env"] == {"SEND_NOW": "${{ inputs.send_now }}", "CUSTOMERS": "${{ inputs.customer }}",
                            "RUN_DATE": "${{ inputs.date }}"}


def test_billing_always_pushes_ledger_uploads_report_and_summarises_then_fails():
    doc = load("billing.yml")
    steps = [s for _j, s in steps_of(doc)]
    push = step_named(doc, "Push the ledger")
    assert "always()" in push["if"]
    assert "git push" in push["run"] and "pull --rebase" in push["run"]
    assert re.search(r"for attempt in", push["run"])
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert "always()" in upload["if"] and "run-report.json" in upload["with"]["path"]
    summary = step_named(doc, "Summary")
    assert "always()" in summary["if"] and "GITHUB_STEP_SUMMARY" in summary["run"]
    assert "<details" in summary["run"]
    last = steps[-1]
    assert "steps.apply.outcome == 'failure'" in last["if"] and "exit 1" in last["run"]
    order = [s.get("name") or s.get("id") for s in steps]
    assert order.index("Apply") < order.index("Push the ledger") < order.index(last["name"])


def _extract_billing_scripts(dest: Path) -> None:
    doc = load("billing.yml")
    for step_id, filename in (("ledger", "ledger.sh"), ("apply", "apply.sh")):
        (dest / filename).write_text(step_with_id(doc, step_id)["run"])
    (dest / "push.sh").write_text(step_named(doc, "Push the ledger")["run"])


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env=env).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_billing_ledger_scripts_create_branch_append_and_survive_a_push_race(tmp_path):
    """Run the workflow's own bash against a local remote, with a fake `reconcile`."""
    _extract_billing_scripts(tmp_path)
    remote = tmp_path / "remote.git"
    _git("init", "-q", "--bare", "-b", "main", str(remote), cwd=tmp_path)
    seed = tmp_path / "seed"
    _git("clone", "-q", str(remote), str(seed), cwd=tmp_path)
    (seed / "config.yaml").write_text("x: 1\n")
    _git("add", "config.yaml", cwd=seed)
    _git("commit", "-q", "-m", "init", cwd=seed)
    _git("push", "-q", "origin", "HEAD:main", cwd=seed)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "reconcile"
    fake.write_text(textwrap.dedent("""\
        #!/usr/bin/env bash
        echo "ARGS: $*" >> "$FAKE_ARGS"
        while [ $# -gt 0 ]; do
          if [ "$1" = --ledger ]; then echo "{\\"run\\": \\"$FAKE_ID\\"}" >> "${2%.jsonl}.2026-11.jsonl"; : > "$2.lock"; fi
          shift
        done
        echo '{}' > run-report.json
        exit "${FAKE_RC:-0}"
    """))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)

    def run_job(workspace: Path, scripts: list[str], **extra: str) -> None:
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
               "LEDGER_BRANCH": "billing-ledger", "LEDGER_DIR": str(workspace / "ledger-branch"),
               "GITHUB_OUTPUT": str(tmp_path / "out"), "RUN_ID": "1", "EVENT": "schedule",
               "FAKE_ARGS": str(tmp_path / "args"), **extra}
        for script in scripts:
            result = subprocess.run(["bash", "-e", str(tmp_path / script)], cwd=workspace, env=env,
                                    capture_output=True, text=True, timeout=60)
            expect = int(extra.get("EXPECT_" + script.split(".")[0].upper(), "0"))
            assert result.returncode == expect, f"{script}: {result.stdout}\n{result.stderr}"

    # First run: no ledger branch yet, so it is created as an orphan holding only the ledger.
    ws1 = tmp_path / "ws1"
    _git("clone", "-q", str(remote), str(ws1), cwd=tmp_path)
    run_job(ws1, ["ledger.sh", "apply.sh", "push.sh"], FAKE_ID="one")
    files = _git("ls-tree", "--name-only", "billing-ledger", cwd=remote).split()
    # The lock the real apply leaves beside the ledger (ledger.jsonl.lock) is never committed.
    assert sorted(files) == [".gitattributes", ".gitignore", "README.md", "ledger.2026-11.jsonl"]  # one file per period
    assert [p.name for p in (ws1 / "ledger-changes").iterdir()] == ["ledger.2026-11.jsonl"]  # the artifact's
    assert "config.yaml" not in files

    # Second run: another push lands between checkout and push; apply fails (exit 1) with inputs.
    ws2 = tmp_path / "ws2"
    _git("clone", "-q", str(remote), str(ws2), cwd=tmp_path)
    run_job(ws2, ["ledger.sh"])
    other = tmp_path / "other"
    _git("clone", "-q", "-b", "billing-ledger", str(remote), str(other), cwd=tmp_path)
    with (other / "ledger.2026-11.jsonl").open("a") as fh:
        fh.write('{"run": "other"}\n')
    _git("commit", "-q", "-am", "other", cwd=other)
    _git("push", "-q", cwd=other)
    run_job(ws2, ["apply.sh", "push.sh"], FAKE_ID="two", FAKE_RC="1", EXPECT_APPLY="1",
            SEND_NOW="true", CUSTOMERS="acme-dental, cedar-law", RUN_DATE="2026-11-01")
    ledger = _git("show", "billing-ledger:ledger.2026-11.jsonl", cwd=remote).splitlines()
    assert [json.loads(line)["run"] for line in ledger] == ["one", "other", "two"]
    assert "ledger.jsonl.lock" not in _git("ls-tree", "--name-only", "billing-ledger", cwd=remote).split()
    args = (tmp_path / "args").read_text().splitlines()[-1]
    assert args.endswith("--send-now --date 2026-11-01 --customer acme-dental --customer cedar-law")

    # Hostile inputs never reach the command line.
    for bad in ({"CUSTOMERS": "a;touch pwned"}, {"RUN_DATE": "$(touch pwned)"}):
        run_job(ws2, ["apply.sh"], EXPECT_APPLY="1", **bad)
    assert not (ws2 / "pwned").exists()
    assert len((tmp_path / "args").read_text().splitlines()) == 2


# --- drift.yml ---------------------------------------------------------------------------------

def test_drift_weekly_read_only_and_drift_is_a_warning():
    doc = load("drift.yml")
    (entry,) = doc["on"]["schedule"]
    minute, _hour, _dom, _month, dow = entry["cron"].split()
    assert minute.isdigit() and int(minute) not in (0, 30) and dow != "*"
    assert "workflow_dispatch" in doc["on"]
    (job,) = doc["jobs"].values()
    assert env_name(job) == "plan-readonly"
    assert _write_scopes(doc) == set()
    run = step_named(doc, "Drift")["run"]
    assert "reconcile drift --format markdown --ledger" in run and "--detailed-exitcode" in run
    assert "::warning" in run and "GITHUB_STEP_SUMMARY" in run


@pytest.mark.parametrize("where", ["stdout", "stderr"])
def test_a_failing_pr_plan_puts_its_reason_in_the_comment(tmp_path, where):
    """The Compose step's own bash, run as GitHub would after a plan that exited 1: the reason
    must reach the comment whether the plan wrote it to stdout (a failed customer, in plan.md)
    or to stderr (an error that stopped the plan, plan.err)."""
    compose = step_named(load("pull-request.yml"), "Compose comment and summary")["run"]
    (tmp_path / "compose.sh").write_text(compose)
    reason = "acme-dental: no ConnectWise company with identifier NoSuchCompany"
    (tmp_path / "plan.md").write_text(f"| acme-dental | x | FAILED | 0 | {reason} |\n" if where == "stdout" else "")
    (tmp_path / "plan.err").write_text(f"error: {reason}\n" if where == "stderr" else "")
    env = {**os.environ, "SANDBOX": "false", "VALIDATE": "success", "PLAN": "failure", "PLAN_EXIT": "1",
           "HEAD_SHA": "0123456789abcdef", "RUN_URL": "https://example.invalid/run",
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    result = subprocess.run(["bash", "-e", str(tmp_path / "compose.sh")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    comment = (tmp_path / "comment.md").read_text()
    assert "Plan failed" in comment and reason in comment


def test_billing_keeps_the_usage_rows_the_ledger_hashes_in_the_artifact():
    doc = load("billing.yml")
    assert "--save-usage usage-rows" in step_with_id(doc, "apply")["run"]
    upload = step_named(doc, "Upload run report and ledger")
    assert "usage-rows/*.json" in upload["with"]["path"]
