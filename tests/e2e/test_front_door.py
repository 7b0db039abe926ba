"""The front door (issue 13): a config repository anywhere, paths that do not depend on the shell's
directory, one line instead of a traceback for every bad path, and outputs that say exactly
what happened. Real CLI, real sandbox over loopback."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
from pathlib import Path

import pytest

from reconciler.run.init import FILES, write_repository
from tests.support import REPO_ROOT
from tests.support.e2e import (
    RECONCILE,
    clean_env,
    ledger_records,
    make_repo,
    reconcile,
    sandbox_writes,
)

REPO = REPO_ROOT


def no_ci_env(**extra: str) -> dict[str, str]:
    env = clean_env(**extra)
    env.pop("CI", None)
    return env


# ------------------------------------------------------------------ a config repository anywhere


def test_commands_find_the_repository_from_a_subdirectory_and_keep_state_there(tmp_path):
    repo = make_repo(tmp_path / "billing")
    deep = repo / "config" / "customers"
    result = reconcile(deep, "--sandbox", "plan", "--send-now", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert (repo / ".sandbox" / "sandbox.db").exists() and not (deep / ".sandbox").exists()
    plan = json.loads(result.stdout)
    assert plan["warnings"][0] == f"no ledger yet at {repo}/.sandbox/ledger.jsonl: every customer is treated as never sent"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = reconcile(elsewhere, "--sandbox", "apply", "--auto-approve", "--config", str(repo / "config"),
                       "--customer", "acme-dental", "--send-now")
    assert result.returncode == 0, result.stderr + result.stdout
    assert ledger_records(repo), "the ledger belongs beside config/, not in the shell's directory"
    assert not (elsewhere / ".sandbox").exists() and not (elsewhere / "state").exists()
    assert not list((repo / ".sandbox").glob("*.lock"))[1:]  # at most the ledger's own lock


def test_no_config_directory_says_where_it_looked_and_how_to_point_elsewhere(tmp_path):
    for args in (("validate",), ("plan",), ("--sandbox", "apply"), ("drift",), ("report",), ("import", "--all")):
        result = reconcile(tmp_path, *args)
        assert result.returncode == 1, args
        assert f"no config/ directory in {tmp_path} or its parents" in result.stderr, args
        assert "--config" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_ledger_is_a_first_run_for_plan_but_refused_by_drift_and_report(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "plan", "--ledger", "typo/ledger.jsonl")
    assert result.returncode == 0, result.stderr
    assert "no ledger yet at typo/ledger.jsonl: every customer is treated as never sent" in result.stdout
    for args in (("--sandbox", "drift"), ("--sandbox", "report")):
        refused = reconcile(repo, *args, "--ledger", "typo/ledger.jsonl")
        assert refused.returncode == 1 and "typo/ledger.jsonl" in refused.stderr, args
    # with a ledger there is no such note
    assert reconcile(repo, "--sandbox", "apply", "--auto-approve", "--customer", "acme-dental",
                     "--send-now").returncode == 0
    assert "no ledger yet" not in reconcile(repo, "--sandbox", "plan").stdout


# ------------------------------------------------------------------ no tracebacks


def _busy_port() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    return listener


@pytest.fixture(scope="module")
def walk_repo(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("walk"))
    (repo / "a-file").write_text("not a directory\n")
    for name in ("a-dir", "a-dir.json", "a-dir.csv", "a-dir.jsonl"):  # where a file is expected
        (repo / name).mkdir()
    assert reconcile(repo, "--sandbox", "apply", "--auto-approve", "--customer", "acme-dental",
                     "--send-now").returncode == 0
    return repo


BAD_PATHS = {
    "missing directory": "no/such/dir/x",
    "under a file": "a-file/x",
    "unwritable": "/proc/reconcile-test/x",
    "a directory": "a-dir",
}
# Every command with every option that takes a path (output and input alike). Some bad-looking
# paths are fine: a --ledger that does not exist is a first run for plan and apply (the plan
# says so), import and sandbox reset create their directory, and a directory is what report
# --out and init want. Those may succeed; none may show a traceback.
MAY_SUCCEED = {  # in this order: the first runs at the end create their ledger's directory
    # directories where directories belong; inside the repository, report --out creates missing
    # parents (`--out out/report` in a fresh clone, issue 21), so it runs after init
    ("init", "{p}"): {"a directory"},
    ("--sandbox", "report", "--out", "{p}"): {"a directory", "missing directory"},
    ("--sandbox", "report", "--format", "markdown", "--out", "{p}"): {"a directory", "missing directory"},
    # the sandbox's state directory is created on demand, as `--sandbox` does
    ("sandbox", "reset", "--data", "{p}"): {"missing directory", "a directory"},
    # import into a config directory that does not exist yet creates it (README, import)
    ("--sandbox", "import", "--all", "--config", "{p}"): {"missing directory", "a directory"},
    ("--sandbox", "plan", "--ledger", "{p}.jsonl"): set(BAD_PATHS) - {"a directory"},
    ("--sandbox", "apply", "--dry-run", "--ledger", "{p}.jsonl"): set(BAD_PATHS) - {"a directory"},
    ("--sandbox", "apply", "--auto-approve", "--customer", "cedar-law", "--ledger", "{p}.jsonl"): {"missing directory"},
}
WALK = [
    ("validate", "--config", "{p}"),
    ("--sandbox", "plan", "--out", "{p}.json"),
    ("--sandbox", "plan", "--usage", "{p}.csv"),
    ("--sandbox", "plan", "--config", "{p}"),
    ("--sandbox", "apply", "--auto-approve", "--report", "{p}.json"),
    ("--sandbox", "apply", "--dry-run", "{p}.json"),
    ("--sandbox", "apply", "--dry-run", "--usage", "{p}.csv"),
    ("--sandbox", "drift", "--ledger", "{p}.jsonl"),
    ("--sandbox", "drift", "--usage", "{p}.csv"),
    ("--sandbox", "report", "--ledger", "{p}.jsonl"),
    ("--config", "{p}", "--sandbox", "--dry-run"),
    *MAY_SUCCEED,  # last: a first run creates its ledger's directory
]


@pytest.mark.parametrize("kind", list(BAD_PATHS))
def test_every_command_with_every_class_of_bad_path_is_one_line_never_a_traceback(walk_repo, kind):
    writes = sandbox_writes(walk_repo)
    for template in WALK:
        args = [a.replace("{p}", BAD_PATHS[kind]) for a in template]
        result = reconcile(walk_repo, *args)
        shown = result.stdout + result.stderr
        assert "Traceback" not in shown, (args, shown)
        if kind in MAY_SUCCEED.get(template, ()):
            assert result.returncode in (0, 1), (args, shown)
            assert "--ledger" not in args or "no ledger yet at" in result.stdout, (args, shown)
            continue
        assert result.returncode == 1, (args, shown)
        assert shown.strip(), (args, shown)  # validate's diagnostics are its stdout
    if kind not in ("missing directory", "a directory"):  # (a first run, an import, may send or read)
        assert sandbox_writes(walk_repo) == writes  # nothing was sent by any of them


def test_unusable_report_path_is_refused_before_anything_is_sent(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "apply", "--auto-approve", "--send-now", "--report", "missing/run.json")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: --report missing/run.json: directory {repo}/missing does not exist"
    assert sandbox_writes(repo) == 0 and ledger_records(repo) == []


def test_plan_out_into_a_missing_directory_is_one_line(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "plan", "--out", "nowhere/plan.json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: --out nowhere/plan.json: directory {repo}/nowhere does not exist"]


def test_sandbox_serve_on_a_port_in_use_is_one_line(tmp_path):
    busy = _busy_port()
    try:
        port = busy.getsockname()[1]
        result = reconcile(tmp_path, "sandbox", "serve", "--port", str(port), "--data", str(tmp_path / "sb"), timeout=30)
    finally:
        busy.close()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: --port {port}: the port is in use on 127.0.0.1; stop what is listening there, or pass another "
        "--port (0 picks a free one)"]


# ------------------------------------------------------------------ exact outputs


def test_apply_format_json_prints_one_json_document(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "apply", "--dry-run", "--format", "json", "--send-now")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # the whole of stdout: nothing after it
    assert document["dry_run"] is True
    assert {r["customer"] for r in document["results"]} == {c["customer"] for c in document["plan"]["customers"]}
    assert document["counts"] and "customer  " not in result.stdout


def test_verbose_lists_customers_with_nothing_to_change(tmp_path):
    repo = make_repo(tmp_path)
    assert reconcile(repo, "--sandbox", "apply", "--auto-approve", "--send-now").returncode in (0, 1)
    quiet = reconcile(repo, "--sandbox", "plan").stdout
    loud = reconcile(repo, "--sandbox", "plan", "--verbose").stdout

    def headers(text: str) -> set[str]:
        return {line.split(" (", 1)[0] for line in text.splitlines()
                if line.startswith("# ") and not line.startswith("# (") and ", ConnectWise " in line}

    assert "already match ConnectWise" in quiet and "already match ConnectWise" not in loud
    assert headers(quiet) < headers(loud) and len(headers(loud)) == 7
    assert "no changes: ConnectWise matches the configuration" in loud


def test_sandbox_is_accepted_on_both_sides_of_the_subcommand(tmp_path):
    repo = make_repo(tmp_path)
    before = reconcile(repo, "--sandbox", "plan", "--format", "json", "--date", "2026-11-03")
    after = reconcile(repo, "plan", "--sandbox", "--format", "json", "--date", "2026-11-03")
    assert before.returncode == after.returncode == 0, after.stderr
    assert json.loads(before.stdout)["customers"] == json.loads(after.stdout)["customers"]
    assert json.loads(after.stdout)["sandbox"] is True


def test_a_date_that_does_not_exist_says_so(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "plan", "--date", "2026-02-30")
    assert result.returncode == 1
    assert "2026-02-30: February 2026 has no day 30 (it has 28 days)" in result.stderr
    assert "does not match the format" not in result.stderr


def test_help_explains_send_now_and_every_sandbox_serve_option():
    plan_help = subprocess.run([str(RECONCILE), "plan", "--help"], capture_output=True, text=True).stdout
    assert "a plan shows what a send now would write" in " ".join(plan_help.split())
    import click

    from reconciler.cmds.sandbox import reset_command, serve

    for command in (serve, reset_command):
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"sandbox {command.name} {param.opts[0]} has no help"


def test_a_failed_customer_never_reads_as_matching(tmp_path):
    repo = make_repo(tmp_path)
    acme = repo / "config" / "customers" / "acme-dental.yaml"
    acme.write_text(acme.read_text().replace("connectwise_company: AcmeDental", "connectwise_company: NoSuchCompany"))
    for fmt in ("text", "markdown"):
        result = reconcile(repo, "--sandbox", "plan", "--format", fmt, "--customer", "acme-dental")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "FAILED" in result.stdout
        assert "ConnectWise matches the configuration" not in result.stdout
        assert "failed or unsafe: acme-dental" in result.stdout


# ------------------------------------------------------------------ apply asks on a terminal


def _run_on_a_terminal(repo: Path, args: list[str], answer: str, env: dict[str, str]) -> tuple[int, str]:
    master, slave = pty.openpty()
    process = subprocess.Popen([str(RECONCILE), *args], cwd=repo, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    os.write(master, answer.encode())
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    return process.wait(timeout=60), output.decode(errors="replace")


def test_apply_on_a_terminal_shows_the_plan_and_writes_only_after_yes(tmp_path):
    repo = make_repo(tmp_path)
    args = ["--sandbox", "apply", "--send-now", "--customer", "acme-dental"]
    code, output = _run_on_a_terminal(repo, args, "no\n", no_ci_env())
    assert code == 1, output
    assert "Plan: " in output and "Only 'yes' will be accepted" in output
    assert "apply cancelled: nothing was written" in output
    assert sandbox_writes(repo) == 2 and ledger_records(repo) == []  # the run lease's ticket: opened, closed

    code, output = _run_on_a_terminal(repo, args, "yes\n", no_ci_env())
    assert code == 0, output
    assert sandbox_writes(repo) > 0 and ledger_records(repo)


@pytest.mark.parametrize("skip", ["--auto-approve", "CI"])
def test_auto_approve_or_ci_skip_the_question(tmp_path, skip):
    repo = make_repo(tmp_path)
    args = ["--sandbox", "apply", "--send-now", "--customer", "acme-dental"]
    env = no_ci_env()
    if skip == "CI":
        env["CI"] = "true"
    else:
        args.append(skip)
    code, output = _run_on_a_terminal(repo, args, "", env)
    assert code == 0, output
    assert "Enter a value" not in output and sandbox_writes(repo) > 0


def test_without_a_terminal_apply_does_not_ask(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "apply", "--send-now", "--customer", "acme-dental", env=no_ci_env())
    assert result.returncode == 0 and "Enter a value" not in result.stdout


# ------------------------------------------------------------------ quiet set-up


def test_sandbox_reset_moves_the_ledger_aside_so_the_demo_plans_as_the_first_time(tmp_path):
    repo = make_repo(tmp_path)
    first = reconcile(repo, "--sandbox", "--dry-run").stdout
    assert reconcile(repo, "--sandbox", "apply", "--auto-approve").returncode in (0, 1)
    assert reconcile(repo, "--sandbox", "--dry-run").stdout != first
    reset = reconcile(repo, "sandbox", "reset")
    assert reset.returncode == 0, reset.stderr
    assert "Sandbox ledger moved aside to" in reset.stdout
    assert not (repo / ".sandbox" / "ledger.jsonl").exists()
    assert list((repo / ".sandbox" / "old-ledgers").glob("*/ledger*.jsonl"))  # one file per period
    assert reconcile(repo, "--sandbox", "--dry-run").stdout == first


def test_progress_shows_customers_and_is_off_in_ci(monkeypatch):
    import io

    from reconciler.run import plan_apply as plan_cmd

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(plan_cmd.sys, "stderr", terminal)
    monkeypatch.delenv("CI", raising=False)
    with plan_cmd.progress(30, "planning") as update:
        assert update is not None
        update(30)
    assert "30/30 customers" in terminal.getvalue()
    monkeypatch.setenv("CI", "true")
    with plan_cmd.progress(30, "planning") as update:
        assert update is None


def test_demo_second_run_does_not_reinstall(tmp_path):
    """scripts/demo installs once; afterwards it goes straight to the plan."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "demo").write_text((REPO / "scripts" / "demo").read_text())
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls"
    for name in ("python", "reconcile"):
        stub = bin_dir / name
        stub.write_text(f'#!/usr/bin/env bash\necho "{name} $*" >> "{calls}"\n')
        stub.chmod(0o755)
    for run in (1, 2):
        result = subprocess.run(["bash", str(tmp_path / "scripts" / "demo")], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    lines = calls.read_text().splitlines()
    assert lines == ["python -m pip install --quiet --disable-pip-version-check -e .",
                     "reconcile --sandbox --dry-run", "reconcile --sandbox --dry-run"]


# ------------------------------------------------------------------ reconcile init


def test_init_writes_a_config_repository_whose_relative_paths_are_right(tmp_path):
    root = tmp_path / "billing"
    lines = write_repository(root, "tmrm-billing-reconciler==9.9.9")
    assert all(line.startswith("wrote") for line in lines)
    for yaml_file in [root / "config" / "global.yaml", root / "config" / "customers" / "acme-dental.yaml"]:
        modeline = yaml_file.read_text().splitlines()[0]
        target = modeline.split("$schema=", 1)[1]
        assert (yaml_file.parent / target).resolve().is_file(), modeline
    usage = [line for line in (root / "config" / "global.yaml").read_text().splitlines() if "path:" in line]
    assert usage == ["  path: ../usage/seats.csv"] and (root / "usage" / "seats.csv").is_file()
    assert (root / "requirements.txt").read_text() == "tmrm-billing-reconciler==9.9.9\n"
    assert "tmrm-billing-reconciler==9.9.9" in (root / ".pre-commit-config.yaml").read_text()
    for workflow in ("billing", "drift", "pull-request"):
        text = (root / ".github" / "workflows" / f"{workflow}.yml").read_text()
        assert "pip install --quiet -r requirements.txt" in text and "install --quiet .\n" not in text
        # the same workflow as this repository's, but for the install line
        ours = (REPO / ".github" / "workflows" / f"{workflow}.yml").read_text()
        assert text.replace("-r requirements.txt  # the pinned tool version", ".") == ours
    # a second init keeps every file the user may have edited
    (root / "config" / "global.yaml").write_text("edited\n")
    again = write_repository(root, "x")
    assert (root / "config" / "global.yaml").read_text() == "edited\n"
    assert sum(1 for line in again if line.startswith("kept")) == len(FILES) + 1 + 2


def test_init_then_validate_and_plan_from_the_new_repository(tmp_path):
    root = tmp_path / "billing"
    result = reconcile(tmp_path, "init", "billing", "--requirement", "tmrm-billing-reconciler==0.1.0")
    assert result.returncode == 0, result.stderr
    assert reconcile(root, "validate").returncode == 0
    plan = reconcile(root, "--sandbox", "plan", "--send-now", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    assert [c["customer"] for c in json.loads(plan.stdout)["customers"]] == ["acme-dental"]


def test_init_from_an_editable_install_stops_and_asks_for_requirement_writing_nothing(tmp_path):
    # The suite runs from an editable install: no other machine could install that (issue 21).
    result = reconcile(tmp_path, "init", "billing")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: tmrm-billing-reconciler is an editable install of file://")
    assert "pass --requirement SPEC" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "billing").exists()


@pytest.mark.parametrize("spec", ["tmrm-billing-reconciler==1\n-e .", "--index-url=http://x tmrm-billing-reconciler",
                                  "requests==2.0", "tmrm-billing-reconciler @ ", "", 'tmrm-billing-reconciler"]\nx: [1'])
def test_init_refuses_a_requirement_that_is_not_one_requirement_of_this_tool(tmp_path, spec):
    result = reconcile(tmp_path, "init", "billing", "--requirement", spec)
    assert result.returncode == 1 and result.stderr.startswith("error: --requirement ")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "billing").exists()


def test_init_writes_the_requirement_as_one_yaml_string_and_one_requirements_line(tmp_path):
    spec = "tmrm-billing-reconciler[extra] @ git+https://github.com/o/r@0123abc#subdirectory=a"
    assert reconcile(tmp_path, "init", "billing", "--requirement", spec).returncode == 0
    import yaml

    hook = yaml.safe_load((tmp_path / "billing" / ".pre-commit-config.yaml").read_text())
    assert hook["repos"][0]["hooks"][0]["additional_dependencies"] == [spec]
    assert (tmp_path / "billing" / "requirements.txt").read_text() == spec + "\n"


def test_init_refuses_a_dangling_link_with_one_line_and_writes_nothing(tmp_path):
    root, outside = tmp_path / "billing", tmp_path / "outside.csv"
    (root / "usage").mkdir(parents=True)
    (root / "usage" / "seats.csv").symlink_to(outside)
    result = reconcile(tmp_path, "init", "billing", "--requirement", "tmrm-billing-reconciler==0.1.0")
    assert result.returncode == 1 and result.stdout == "", result.stdout
    assert result.stderr == "error: billing/usage/seats.csv: is a symbolic link; init never writes through a link: " \
                            "remove it or replace it with a regular file\n"
    assert not outside.exists() and sorted(p.name for p in root.iterdir()) == ["usage"]


def test_init_dot_in_an_existing_repository_refreshes_schemas_and_restores_nothing(tmp_path):
    root = tmp_path / "billing"
    assert reconcile(tmp_path, "init", "billing", "--requirement", "tmrm-billing-reconciler==0.1.0").returncode == 0
    for name in ("config/customers/acme-dental.yaml", "usage/seats.csv", ".github/workflows/billing.yml"):
        (root / name).unlink()
    (root / "schemas" / "customer.schema.json").write_text("{}")
    result = reconcile(root, "init", ".", "--requirement", "tmrm-billing-reconciler==0.1.0")
    assert result.returncode == 0, result.stderr
    assert not (root / "usage" / "seats.csv").exists() and not (root / "config" / "customers" / "acme-dental.yaml").exists()
    assert not (root / ".github" / "workflows" / "billing.yml").exists()
    assert "updated  schemas/customer.schema.json" in result.stdout
    assert (root / "schemas" / "customer.schema.json").read_text() == (REPO / "schemas" / "customer.schema.json").read_text()


def test_the_modelines_of_this_repository_point_at_the_top_level_schemas():
    files = [REPO / "config" / "global.yaml", *sorted((REPO / "config" / "customers").glob("*.yaml"))]
    for path in files:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target.is_file() and target.parent == REPO / "schemas", path


def test_retries_are_shown_on_a_terminal_and_nowhere_else(monkeypatch):
    """The CLI shows the client's per-retry lines on stderr only when stderr is a terminal."""
    import io
    import logging

    from reconciler import cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    retry_log = logging.getLogger("reconciler.connectwise.client.retry")
    monkeypatch.setattr(retry_log, "handlers", [])
    monkeypatch.setattr(retry_log, "propagate", True)
    pipe = io.StringIO()
    monkeypatch.setattr(cli.sys, "stderr", pipe)
    cli._show_retries_on_a_terminal()
    assert retry_log.handlers == []
    terminal = Terminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    cli._show_retries_on_a_terminal()
    retry_log.info("ConnectWise GET /x: HTTP 503; retry 1 of 6 in 0.5 s")
    assert terminal.getvalue() == "ConnectWise GET /x: HTTP 503; retry 1 of 6 in 0.5 s\n"
