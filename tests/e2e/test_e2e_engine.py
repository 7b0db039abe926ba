"""The engine end to end: the real CLI, in a subprocess, against the sandbox over loopback."""

import json
import re

from tests.support.e2e import (
    clean_env,
    ledger_records,
    make_repo,
    plan_json,
    reconcile,
    sandbox_tickets,
    sandbox_writes,
)

# Every apply that reads ConnectWise opens its run-lease ticket and closes it (docs/lease.md).
LEASE_WRITES = 2


def patch_addition_by_hand(repo, agreement_id: int, addition_id: int, quantity: int) -> None:
    """What an admin editing ConnectWise does: a PATCH over HTTP, outside this tool."""
    import requests

    from reconciler.sandbox import SandboxServer

    with SandboxServer(data_dir=repo / ".sandbox", port=0) as sb:
        c = sb.credentials
        response = requests.patch(
            f"{sb.connectwise_url}/finance/agreements/{agreement_id}/additions/{addition_id}",
            json=[{"op": "replace", "path": "quantity", "value": quantity}],
            auth=(f"{c.company_id}+{c.public_key}", c.private_key), headers={"clientId": "admin"}, timeout=10,
        )
        assert response.status_code == 200, response.text


def _customer(plan: dict, slug: str) -> dict:
    return next(c for c in plan["customers"] if c["customer"] == slug)


def test_dry_run_shows_real_changes_and_writes_nothing(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "--dry-run")
    out = result.stdout
    # The scheduled job runs on today's date: the demo's Fjord (day 15, never sent) is missed on
    # most days of a month, and a dry run exits as the real run would: 1 when anyone is missed.
    missed = re.findall(r"^# (\S+) \(.*\): MISSED$", out, re.MULTILINE)
    assert result.returncode == (1 if missed else 0), out + result.stderr
    if missed:
        assert f"need{'s' if len(missed) == 1 else ''} attention: " + ", ".join(f"{m} missed" for m in missed) in out
    assert "~ hes (TM-HES) on Managed Service / Acme Managed, addition 2: quantity = 35 -> 38" in out
    if re.search(r"^# fjord-architects \(.*\): due$", out, re.MULTILINE):
        assert re.search(r"\+ cas \(TM-CAS-M365\) on Microsoft 365 Services / Fjord M365 Protection: quantity = 29", out)
        assert "- cas (TM-CAS-M365) on Managed Service / Fjord Managed" in out
    else:  # the scheduled job reads only the customers it may write today, and says so
        assert "Fjord M365 Protection" not in out
        assert re.search(r"^# \(\d+ customers? not due today: ConnectWise not read", out, re.MULTILINE)
    assert "no customer file" in out and "no agreement mapping" in out  # reported, never dropped
    assert "Dry run: nothing was written" in out
    assert sandbox_writes(repo) == 0
    assert ledger_records(repo) == []


def test_apply_send_now_then_plan_send_now_shows_nothing_and_a_rerun_writes_nothing(tmp_path):
    repo = make_repo(tmp_path)
    first = reconcile(repo, "--sandbox", "apply", "--send-now")
    assert first.returncode == 0, first.stdout + first.stderr
    writes = sandbox_writes(repo)
    assert writes == 4 + 6 + LEASE_WRITES  # acme update, cedar create, fjord cancel + create; 6 executive summaries
    again = reconcile(repo, "--sandbox", "plan", "--send-now", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout
    assert "No changes due" in again.stdout
    rerun = reconcile(repo, "--sandbox", "apply")
    assert rerun.returncode == 0
    assert sandbox_writes(repo) == writes
    manual = [r for r in ledger_records(repo) if r["event"] == "result"]
    assert {r["trigger"] for r in manual} == {"manual"}
    assert all(r["status"] == "sent" for r in manual)


def test_plan_detailed_exitcode_is_2_with_due_changes_and_json_has_the_contract_fields(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "plan", "--send-now", "--detailed-exitcode", "--format", "json")
    assert result.returncode == 2
    plan = json.loads(result.stdout)
    assert plan["format_version"] == "1.1"  # 1.1 added money (issue 12)
    for customer in plan["customers"]:
        assert {"customer", "connectwise_company", "due", "status", "reason"} <= set(customer)
    for change in plan["changes"]:
        assert {"action", "customer", "connectwise_company", "agreement", "product", "before", "after"} <= set(change)
        assert change["action"] in ("create", "update", "cancel")
    update = next(c for c in plan["changes"] if c["action"] == "update")
    assert (update["customer"], update["product"], update["before"], update["after"]) == ("acme-dental", "hes", 35, 38)


def test_usage_error_exits_1_not_2(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "plan", "--detailed-exitcode", "--bogus-flag")
    assert result.returncode == 1


def test_day_31_customer_due_on_the_last_day_of_february_and_sent_once(tmp_path):
    repo = make_repo(tmp_path)
    assert _customer(plan_json(repo, "--date", "2027-02-28"), "cedar-law")["due"] is True
    assert _customer(plan_json(repo, "--date", "2027-02-27"), "cedar-law")["due"] is False
    assert _customer(plan_json(repo, "--date", "2028-02-29"), "cedar-law")["due"] is True
    for _ in range(2):
        result = reconcile(repo, "--sandbox", "apply", "--date", "2027-02-28", "--customer", "cedar-law")
        assert result.returncode == 0, result.stdout + result.stderr
    sends = [(r["kind"], r["period"], r["status"], r["trigger"])
             for r in ledger_records(repo) if r["event"] == "result" and r["customer"] == "cedar-law"]
    assert sends == [("billing", "2027-02", "sent", "scheduled"), ("summary", "2027-02", "sent", "scheduled")]
    assert "already sent" in result.stdout


def test_mapping_to_a_missing_agreement_fails_only_that_customer(tmp_path):
    repo = make_repo(tmp_path)
    path = repo / "config/customers/brightline-logistics.yaml"
    data = path.read_text().replace("name: Brightline M365\n  hes:", "name: Brightline M365\n  hes:", 1)
    path.write_text(data.replace("    name: Brightline M365\n  hes:", "    name: Brightline Office\n  hes:"))
    result = reconcile(repo, "--sandbox", "apply", "--send-now")
    assert result.returncode == 1
    line = next(row for row in result.stdout.splitlines() if row.startswith("brightline-logistics"))
    assert "failed" in line and "no active agreement Microsoft 365 Services / Brightline Office" in line
    assert "Microsoft 365 Services / Brightline M365" in line  # the agreements that exist are named
    sent = {r["customer"] for r in ledger_records(repo) if r["event"] == "result" and r["status"] == "sent"}
    assert {"acme-dental", "cedar-law", "fjord-architects"} <= sent and "brightline-logistics" not in sent


def test_usage_missing_a_customer_does_not_zero_its_additions(tmp_path):
    repo = make_repo(tmp_path)
    csv = repo / "usage/seats.csv"
    csv.write_text("".join(row for row in csv.read_text().splitlines(True) if not row.startswith("3f2b6c1e")))
    result = reconcile(repo, "--sandbox", "apply", "--send-now")
    assert result.returncode == 0, result.stdout
    line = next(row for row in result.stdout.splitlines() if row.startswith("acme-dental"))
    assert "skipped" in line and "no rows" in line
    plan = plan_json(repo, "--send-now", "--customer", "acme-dental")
    assert plan["changes"] == []
    assert not any(r.get("customer") == "acme-dental" for r in ledger_records(repo))


def test_a_large_drop_is_unsafe_and_needs_force(tmp_path):
    repo = make_repo(tmp_path)
    csv = repo / "usage/seats.csv"
    csv.write_text(csv.read_text().replace("3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60,wfbss-svc,42", "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60,wfbss-svc,4"))
    plan = plan_json(repo, "--send-now", "--customer", "acme-dental")
    acme = _customer(plan, "acme-dental")
    assert acme["status"] == "unsafe" and "42 -> 4" in acme["reason"]
    refused = reconcile(repo, "--sandbox", "apply", "--send-now", "--customer", "acme-dental")
    assert refused.returncode == 1 and "use --force" in refused.stdout
    assert "1 customer needs attention: acme-dental unsafe." in refused.stdout
    assert sandbox_writes(repo) == 1 + LEASE_WRITES  # nothing billed: the one write is the ticket that says so
    assert [t["summary"].rsplit(" ", 1)[0] for t in sandbox_tickets(repo)] == ["[reconcile] billing unsafe: acme-dental"]
    forced = reconcile(repo, "--sandbox", "apply", "--send-now", "--customer", "acme-dental", "--force")
    assert forced.returncode == 0, forced.stdout
    assert sandbox_writes(repo) == 1 + 3 + 2 * LEASE_WRITES  # two quantity updates and the executive summary


def test_saved_plan_refuses_when_connectwise_changed_and_names_the_record(tmp_path):
    repo = make_repo(tmp_path)
    saved = reconcile(repo, "--sandbox", "plan", "--send-now", "--out", "plan.json")
    assert saved.returncode == 0
    patch_addition_by_hand(repo, agreement_id=1, addition_id=2, quantity=36)
    result = reconcile(repo, "--sandbox", "apply", "plan.json")
    assert result.returncode == 1
    line = next(row for row in result.stdout.splitlines() if row.startswith("acme-dental"))
    assert "ConnectWise changed since the plan was saved: addition 2 (TM-HES) quantity 35 -> 36" in line
    fjord = next(row for row in result.stdout.splitlines() if row.startswith("fjord-architects"))
    assert "sent" in fjord


def test_no_credentials_without_sandbox_is_a_clear_error(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "plan")
    assert result.returncode == 1
    assert "CW_PUBLIC_KEY, CW_PRIVATE_KEY, CW_CLIENT_ID" in result.stderr


def test_real_credentials_path_against_a_running_sandbox(tmp_path):
    from reconciler.sandbox import SandboxServer

    repo = make_repo(tmp_path)
    with SandboxServer(data_dir=tmp_path / "cw", port=0) as sb:
        env = clean_env(CW_URL=sb.connectwise_url, CW_COMPANY_ID=sb.credentials.company_id,
                        CW_PUBLIC_KEY=sb.credentials.public_key, CW_PRIVATE_KEY=sb.credentials.private_key,
                        CW_CLIENT_ID="test-client")
        result = reconcile(repo, "apply", "--send-now", "--ledger", "state/ledger.jsonl", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert sb.store.write_count == 4 + 6 + LEASE_WRITES
    assert ledger_records(repo, "state/ledger.jsonl")


def test_invalid_config_exits_1_with_file_line_and_writes_nothing(tmp_path):
    repo = make_repo(tmp_path)
    path = repo / "config/customers/cedar-law.yaml"
    path.write_text(path.read_text().replace("day: 31", "day: 32"))
    result = reconcile(repo, "--sandbox", "apply", "--send-now")
    assert result.returncode == 1
    assert re.search(r"cedar-law.yaml:\d+:\d+: error:", result.stdout + result.stderr)
    assert sandbox_writes(repo) == 0


def test_a_run_that_fails_before_any_customer_still_writes_its_report(tmp_path):
    repo = make_repo(tmp_path)
    csv = repo / "usage/seats.csv"
    csv.write_text(csv.read_text() + "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60,cas,-3\n")
    result = reconcile(repo, "--sandbox", "apply", "--send-now", "--report", "run-report.json")
    assert result.returncode == 1
    assert re.search(r"seats\.csv:20: error: .*negative", result.stderr) and "error: usage" not in result.stderr
    report = json.loads((repo / "run-report.json").read_text())
    assert report["customers"] == [] and "seats.csv:20" in report["error"]
