"""A walk of every command with hostile input (issue 21): impossible dates, files the tool may
not read or write, a damaged sandbox, a full disk, Ctrl-C. Each ends in one line and exit 1
(130 for Ctrl-C), never a traceback. Real CLI in a subprocess, real sandbox over loopback.

Permission cases run the CLI without root's power to ignore file modes: as root, under
`unshare -U` (a user namespace in which the files' owner has no capabilities); as anyone else,
directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.e2e import RECONCILE, clean_env, ledger_records, make_repo, reconcile


def unprivileged() -> list[str]:
    return ["unshare", "-U"] if os.geteuid() == 0 else []


def run(repo: Path, *args: str, env: dict[str, str] | None = None, as_user: bool = False,
        stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    command = [*(unprivileged() if as_user else []), str(RECONCILE), *args]
    return subprocess.run(command, cwd=repo, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False,
                          env=env or clean_env(), timeout=120, stdin=subprocess.DEVNULL)


def assert_one_line_exit_1(result: subprocess.CompletedProcess, *expected: str) -> str:
    output = (result.stdout or "") + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert error_lines, output
    for text in expected:
        assert text in result.stderr, output
    return result.stderr


# ------------------------------------------------------------------ dates beyond the calendar


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1969-12-31"])
def test_a_date_beyond_the_supported_years_is_one_line(tmp_path, command, day):
    repo = make_repo(tmp_path)
    result = run(repo, "--sandbox", command, "--date", day)
    assert_one_line_exit_1(result, "--date", day)
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 3  # click's usage, hint, error


@pytest.mark.parametrize("day", ["1970-01-01", "9998-12-31"])
def test_the_first_and_last_supported_dates_plan(tmp_path, day):
    repo = make_repo(tmp_path)
    result = run(repo, "--sandbox", "plan", "--date", day)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode in (0, 1), result.stderr
    assert "Plan: " in result.stdout, result.stdout + result.stderr


# ------------------------------------------------------------------ files the tool may not use


def test_an_unreadable_customers_directory_is_an_error_at_its_path(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "config" / "customers").chmod(0)
    try:
        for args in (["validate"], ["--sandbox", "plan"], ["--sandbox", "import", "--all"]):
            result = run(repo, *args, as_user=True)
            output = result.stdout + result.stderr
            assert result.returncode == 1, (args, output)
            assert "Traceback" not in output, output
            assert "config/customers" in output and "ermission denied" in output, output
            assert "config OK" not in output
    finally:
        (repo / "config" / "customers").chmod(0o755)


def test_import_into_a_read_only_customers_directory_is_one_line(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "config" / "customers").chmod(0o555)
    try:
        result = run(repo, "--sandbox", "import", "--all", as_user=True)
    finally:
        (repo / "config" / "customers").chmod(0o755)
    assert_one_line_exit_1(result, "config/customers/", "ermission denied")


def test_trend_products_write_to_a_read_only_global_yaml_is_one_line(tmp_path):
    repo = make_repo(tmp_path)
    global_yaml = repo / "config" / "global.yaml"
    text = global_yaml.read_text()
    assert "    trend:\n      product_codes: [WFSAWXE3X]\n" in text
    global_yaml.write_text(text.replace("    trend:\n      product_codes: [WFSAWXE3X]\n", "", 1))  # something to write
    global_yaml.chmod(0o444)
    before = global_yaml.read_bytes()
    result = run(repo, "--sandbox", "trend", "products", "--map", "wfs-advanced=WFSAWXE3X", "--write", as_user=True)
    assert_one_line_exit_1(result, "global.yaml", "ermission denied")
    assert (repo / "config" / "global.yaml").read_bytes() == before


@pytest.mark.parametrize("mode", [0o555, 0o000])
def test_a_read_only_or_unreadable_sandbox_directory_is_one_line(tmp_path, mode):
    repo = make_repo(tmp_path)
    assert reconcile(repo, "--sandbox", "plan").returncode == 0  # creates .sandbox/sandbox.db
    (repo / ".sandbox").chmod(mode)
    try:
        result = run(repo, "--sandbox", "plan", as_user=True)
    finally:
        (repo / ".sandbox").chmod(0o755)
    assert_one_line_exit_1(result, ".sandbox")


# ------------------------------------------------------------------ a damaged sandbox


def test_a_garbage_sandbox_db_is_one_line_and_sandbox_reset_repairs_it(tmp_path):
    repo = make_repo(tmp_path)
    (repo / ".sandbox").mkdir()
    (repo / ".sandbox" / "sandbox.db").write_bytes(b"this is not SQLite\n" * 300)
    result = run(repo, "--sandbox", "plan")
    assert_one_line_exit_1(result, "sandbox.db", "reconcile sandbox reset")

    reset = run(repo, "sandbox", "reset")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "Traceback" not in reset.stdout + reset.stderr
    damaged = list((repo / ".sandbox").glob("sandbox.db.damaged-*"))
    assert len(damaged) == 1 and damaged[0].read_bytes().startswith(b"this is not SQLite")  # kept aside
    assert run(repo, "--sandbox", "plan").returncode == 0


@pytest.mark.parametrize("variable", ["SANDBOX_LATENCY_MS", "SANDBOX_FAULT_RATE", "SANDBOX_FAULT_SEED",
                                      "SANDBOX_RETRY_AFTER"])
def test_a_sandbox_variable_that_is_not_a_number_is_one_line(tmp_path, variable):
    repo = make_repo(tmp_path)
    result = run(repo, "--sandbox", "plan", env=clean_env(**{variable: "abc"}))
    assert_one_line_exit_1(result, variable, "'abc'")


# ------------------------------------------------------------------ output that cannot be written


@pytest.mark.parametrize("args", [["validate"], ["--sandbox", "plan"], ["--sandbox", "plan", "--format", "json"],
                                  ["--help"], ["--sandbox", "report", "--format", "markdown"]])
def test_output_to_a_full_device_is_one_line(tmp_path, args):
    repo = make_repo(tmp_path)
    with open("/dev/full", "w") as full:
        result = run(repo, *args, stdout=full)
    assert_one_line_exit_1(result, "cannot write the output", "No space left on device")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert errors == ["error: cannot write the output: No space left on device"], result.stderr


def test_output_into_a_closed_pipe_is_quiet(tmp_path):
    repo = make_repo(tmp_path)
    process = subprocess.Popen([str(RECONCILE), "--sandbox", "plan", "--verbose"], cwd=repo, env=clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head -c 0` does: the reader is gone before the plan is printed
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


# ------------------------------------------------------------------ Ctrl-C


@pytest.mark.parametrize("command", [["plan", "--send-now"], ["apply", "--send-now", "--auto-approve"]])
def test_ctrl_c_during_a_sandbox_run_is_one_line_and_the_ledger_stays_consistent(tmp_path, command):
    repo = make_repo(tmp_path)
    env = clean_env(SANDBOX_LATENCY_MS="1000", CI="true")
    process = subprocess.Popen([str(RECONCILE), "--sandbox", *command, "--workers", "1"], cwd=repo, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # well into the run: the sandbox is up and customers are being read (or sent)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert "interrupted" in stderr.lower(), stderr
    ledger_records(repo)  # every line is a whole record (the read raises otherwise)
    # A rerun converges: what was sent is not sent again, the rest is sent now, nothing fails.
    again = reconcile(repo, "--sandbox", "apply", "--send-now", "--auto-approve", env=clean_env(CI="true"))
    assert again.returncode == 0, again.stdout + again.stderr
    final = reconcile(repo, "--sandbox", "plan", "--send-now", env=clean_env(CI="true"))
    assert final.returncode == 0 and "No changes due." in final.stdout, final.stdout


# ------------------------------------------------------------------ nothing dropped in silence


def test_a_usage_row_whose_guid_is_in_braces_is_billed(tmp_path):
    repo = make_repo(tmp_path)
    csv = repo / "usage" / "seats.csv"
    acme = "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"
    csv.write_text(csv.read_text().replace(f"{acme},hes,38", f"{{{acme.upper()}}},hes,38"))
    result = reconcile(repo, "--sandbox", "plan", "--send-now", "--customer", "acme-dental")
    assert "quantity = 35 -> 38" in result.stdout, result.stdout + result.stderr
    assert "no usage" not in result.stdout


# ------------------------------------------------------------------ the question before sending


def test_apply_asks_a_person_at_a_terminal_even_when_its_output_is_piped(tmp_path):
    import pty

    repo = make_repo(tmp_path)
    env = clean_env(CI="false")  # not CI: only `true` or `1` are
    master, slave = pty.openpty()
    process = subprocess.Popen([str(RECONCILE), "--sandbox", "apply", "--send-now", "--customer", "acme-dental"],
                               cwd=repo, stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    os.write(master, b"no\n")  # as `reconcile apply | tee log` with a person typing `no`
    stdout, _ = process.communicate(timeout=120)
    os.close(master)
    assert process.returncode == 1, stdout
    assert b"Plan: " in stdout
    assert ledger_records(repo) == []
    from tests.support.e2e import sandbox_writes

    # Nothing billed: the only writes are the run lease's ticket, opened and closed (docs/lease.md).
    assert sandbox_writes(repo) == 2


# ------------------------------------------------------------------ rough edges


def test_report_out_creates_its_parents_inside_the_repository(tmp_path):
    repo = make_repo(tmp_path)  # a fresh clone: no out/
    assert reconcile(repo, "--sandbox", "apply", "--send-now", "--customer", "acme-dental",
                     env=clean_env(CI="true")).returncode == 0
    result = reconcile(repo, "--sandbox", "report", "--out", "out/report")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (repo / "out" / "report" / "index.html").is_file()


def test_report_out_still_refuses_a_missing_parent_outside_the_repository(tmp_path):
    repo = make_repo(tmp_path / "repo")
    result = reconcile(repo, "--sandbox", "report", "--out", str(tmp_path / "elsewhere" / "report"))
    assert_one_line_exit_1(result, "--out", "does not exist")
    assert not (tmp_path / "elsewhere").exists()


def test_a_changed_since_value_is_never_a_git_option(tmp_path):
    repo = make_repo(tmp_path)
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "init"]):
        subprocess.run(command, cwd=repo, check=True)
    result = run(repo, "--sandbox", "plan", "--changed-since=--output=written-by-git")
    assert_one_line_exit_1(result, "--changed-since")
    assert not (repo / "written-by-git").exists()


# ------------------------------------------------------------------ a saved plan with nulls


def _nulls(value, depth: int):
    """`value` with everything at `depth` (0: the top-level values) replaced by null."""
    if isinstance(value, dict):
        return {k: None if depth == 0 else _nulls(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [None if depth == 0 else _nulls(v, depth - 1) for v in value]
    return value


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 4])
def test_a_saved_plan_whose_values_are_null_is_one_line(tmp_path, depth):
    import json

    repo = make_repo(tmp_path)
    saved = reconcile(repo, "--sandbox", "plan", "--send-now", "--out", "plan.json")
    assert saved.returncode in (0, 2), saved.stderr
    plan = json.loads((repo / "plan.json").read_text())
    (repo / "plan.json").write_text(json.dumps(_nulls(plan, depth)))
    before = _additions(repo)
    result = run(repo, "--sandbox", "apply", "plan.json", "--auto-approve", env=clean_env(CI="true"))
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    assert _additions(repo) == before  # refused whole, or each customer failed: nothing billed


def _additions(repo: Path) -> list[dict]:
    from reconciler.sandbox import Store

    store = Store(repo / ".sandbox")
    try:
        return store.all("addition")
    finally:
        store.close()


# ------------------------------------------------------------------ the walk: every command, wrong input

# (id, arguments, extra environment). Each must end in exit 1 with a message and no traceback.
WALK = [
    ("unknown-command", ["nosuchcommand"], {}),
    ("config-missing", ["--config", "nowhere", "validate"], {}),
    ("config-is-a-file", ["--config", "usage/seats.csv", "plan"], {}),
    ("bare-job-config-missing", ["--dry-run", "--config", "nowhere"], {}),
    ("bare-job-no-credentials", ["--dry-run"], {}),
    ("validate-format", ["validate", "--format", "xml"], {}),
    ("validate-config-missing", ["validate", "--config", "nowhere"], {}),
    ("plan-no-credentials", ["plan"], {}),
    ("plan-date-not-a-day", ["--sandbox", "plan", "--date", "2026-02-30"], {}),
    ("plan-date-word", ["--sandbox", "plan", "--date", "yesterday"], {}),
    ("plan-date-year-1", ["--sandbox", "plan", "--date", "0001-01-01"], {}),
    ("plan-date-year-9999", ["--sandbox", "plan", "--date", "9999-12-31"], {}),
    ("plan-customer-unknown", ["--sandbox", "plan", "--customer", "nobody"], {}),
    ("plan-shard-beyond", ["--sandbox", "plan", "--shard", "5/4"], {}),
    ("plan-shard-word", ["--sandbox", "plan", "--shard", "half"], {}),
    ("plan-usage-missing", ["--sandbox", "plan", "--usage", "missing.csv"], {}),
    ("plan-usage-directory", ["--sandbox", "plan", "--usage", "config"], {}),
    ("plan-usage-binary", ["--sandbox", "plan", "--usage", "/bin/sh"], {}),
    ("plan-ledger-directory", ["--sandbox", "plan", "--ledger", "config"], {}),
    ("plan-out-no-directory", ["--sandbox", "plan", "--out", "nodir/plan.json"], {}),
    ("plan-out-directory", ["--sandbox", "plan", "--out", "config"], {}),
    ("plan-workers-zero", ["--sandbox", "plan", "--workers", "0"], {}),
    ("plan-changed-since-option", ["--sandbox", "plan", "--changed-since", "--output=x"], {}),
    ("plan-changed-since-no-git", ["--sandbox", "plan", "--changed-since", "main"], {}),
    ("plan-save-usage-file", ["--sandbox", "plan", "--save-usage", "usage/seats.csv"], {}),
    ("plan-format", ["--sandbox", "plan", "--format", "yaml"], {}),
    ("plan-latency-word", ["--sandbox", "plan"], {"SANDBOX_LATENCY_MS": "abc"}),
    ("plan-fault-kind", ["--sandbox", "plan"], {"SANDBOX_FAULT_KINDS": "gremlins"}),
    ("apply-no-credentials", ["apply", "--send-now"], {}),
    ("apply-plan-missing", ["--sandbox", "apply", "missing-plan.json"], {}),
    ("apply-plan-not-a-plan", ["--sandbox", "apply", "usage/seats.csv"], {}),
    ("apply-plan-binary", ["--sandbox", "apply", "/bin/sh"], {}),
    ("apply-report-no-directory", ["--sandbox", "apply", "--report", "nodir/r.json"], {}),
    ("apply-date-year-1", ["--sandbox", "apply", "--date", "0001-01-01"], {}),
    ("apply-ledger-unwritable", ["--sandbox", "apply", "--send-now", "--ledger", "/proc/version/ledger.jsonl"], {}),
    ("import-nothing-asked", ["--sandbox", "import"], {}),
    ("import-both", ["--sandbox", "import", "--all", "--company", "AcmeDental"], {}),
    ("import-unknown-company", ["--sandbox", "import", "--company", "NoSuchCompany"], {}),
    ("import-no-credentials", ["import", "--all"], {}),
    ("init-over-a-file", ["init", "usage/seats.csv"], {}),
    ("drift-no-credentials", ["drift"], {}),
    ("drift-usage-missing", ["--sandbox", "drift", "--usage", "missing.csv"], {}),
    ("drift-format", ["--sandbox", "drift", "--format", "pdf"], {}),
    ("report-period", ["--sandbox", "report", "--period", "2026-13"], {}),
    ("report-ledger-missing", ["--sandbox", "report", "--ledger", "missing.jsonl"], {}),
    ("report-out-file", ["--sandbox", "report", "--out", "usage/seats.csv"], {}),
    ("report-format", ["--sandbox", "report", "--format", "pdf"], {}),
    ("trend-no-credentials", ["trend", "products"], {}),
    ("trend-map-garbage", ["--sandbox", "trend", "products", "--map", "nonsense"], {}),
    ("trend-map-unknown-product", ["--sandbox", "trend", "products", "--map", "nope=abc"], {}),
    ("sandbox-port", ["sandbox", "serve", "--port", "99999"], {}),
    ("sandbox-latency-negative", ["sandbox", "serve", "--latency-ms", "-1"], {}),
    ("sandbox-fault-kind", ["sandbox", "serve", "--fault-kinds", "gremlins"], {}),
    ("sandbox-latency-env", ["sandbox", "serve", "--port", "0"], {"SANDBOX_LATENCY_MS": "abc"}),
    ("sandbox-data-file", ["sandbox", "serve", "--port", "0", "--data", "usage/seats.csv"], {}),
    ("sandbox-reset-data-file", ["sandbox", "reset", "--data", "usage/seats.csv"], {}),
]


@pytest.mark.parametrize("args,extra_env", [case[1:] for case in WALK], ids=[case[0] for case in WALK])
def test_every_command_with_wrong_input_is_one_clear_failure(tmp_path, args, extra_env):
    repo = make_repo(tmp_path)
    result = run(repo, *args, env=clean_env(**extra_env))
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    assert output.strip(), "a failure must say what went wrong"
