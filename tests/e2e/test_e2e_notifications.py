"""Issue 10, item 4 end to end: nothing fails quietly. The real CLI against the real sandbox.

A run in which any customer is missed, failed or unsafe exits 1 and says so in one line, and with
`notifications.connectwise_ticket` (on in the example config) files one ConnectWise ticket per
problem, customer and period, which later runs find again by the id recorded in the ticket
book (`.sandbox/ledger.tickets.json`) and note only when the reason changes (issue 19 item 6,
issue 22 item 3).
"""

import json

from reconciler.sandbox.scenarios import record_sent
from tests.support.e2e import ledger_records, make_repo, reconcile, sandbox_tickets, seed_missed

FJORD_TICKET = "[reconcile] billing missed: fjord-architects 2026-11"


def test_a_missed_customer_fails_the_run_and_opens_one_ticket_that_later_runs_update(tmp_path):
    repo = make_repo(tmp_path)
    seed_missed(repo, "2026-12-01")  # Fjord was billed for October, then never again
    first = reconcile(repo, "--sandbox", "apply", "--date", "2026-12-01", "--report", "run-report.json")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "\n1 customer needs attention: fjord-architects missed.\n" in first.stdout
    (ticket,) = sandbox_tickets(repo)
    assert ticket["summary"] == FJORD_TICKET
    assert (ticket["board"]["name"], ticket["status"]["name"], ticket["type"]["name"], ticket["company"]["identifier"]) == (
        "Billing", "New", "Billing", "FjordArch")
    assert f"ConnectWise ticket {ticket['id']} opened for fjord-architects (missed 2026-11)" in first.stdout
    (description,) = ticket["_notes"]
    assert "was due 2026-11-15" in description["text"] and "--send-now --customer fjord-architects" in description["text"]
    report = json.loads((repo / "run-report.json").read_text())
    assert report["tickets"] == [{"customer": "fjord-architects", "kind": "missed", "period": "2026-11",
                                  "summary": FJORD_TICKET, "action": "opened", "ticket_id": ticket["id"],
                                  "error": None}]

    book = json.loads((repo / ".sandbox/ledger.tickets.json").read_text())
    assert book["tickets"]["missed|fjord-architects|2026-11"]["ticket_id"] == ticket["id"]

    for day in ("2026-12-02", "2026-12-03"):
        again = reconcile(repo, "--sandbox", "apply", "--date", day)
        assert again.returncode == 1, again.stdout + again.stderr
        # Only "16 days ago" became "17 days ago": the same reason, so no note (issue 22).
        assert (f"ConnectWise ticket {ticket['id']} still open (same reason: no note) for fjord-architects"
                in again.stdout), again.stdout
    (ticket,) = sandbox_tickets(repo)  # still one ticket, and no note a person would have to read again
    assert len(ticket["_notes"]) == 1

    # The admin sends the missed period by hand; the next scheduled run is clean and files nothing.
    sent = reconcile(repo, "--sandbox", "apply", "--send-now", "--customer", "fjord-architects", "--date", "2026-11-20")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    clean = reconcile(repo, "--sandbox", "apply", "--date", "2026-12-04")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "need attention" not in clean.stdout and "needs attention" not in clean.stdout
    (ticket,) = sandbox_tickets(repo)
    assert len(ticket["_notes"]) == 1


def test_a_failed_customer_opens_a_ticket_and_a_ticket_that_cannot_be_filed_never_hides_the_failure(tmp_path):
    repo = make_repo(tmp_path)
    path = repo / "config/customers/brightline-logistics.yaml"
    path.write_text(path.read_text().replace("    name: Brightline M365\n  hes:", "    name: Brightline Office\n  hes:"))
    settings = repo / "config/global.yaml"
    settings.write_text(settings.read_text().replace("board: Billing", "board: Billing Problems"))

    result = reconcile(repo, "--sandbox", "apply", "--send-now", "--date", "2026-11-20")
    assert result.returncode == 1
    assert "1 customer needs attention: brightline-logistics failed." in result.stdout
    # A board that does not exist is one line for the run, naming the boards that do; no POST is tried.
    assert ('ConnectWise tickets NOT filed for 1 problem (brightline-logistics failed 2026-11): board '
            '"Billing Problems" does not exist in ConnectWise (boards: Billing, Service Desk)' in result.stderr), result.stderr
    assert result.stderr.count("NOT filed") == 1
    assert sandbox_tickets(repo) == []
    sent = {r["customer"] for r in ledger_records(repo) if r["event"] == "result" and r["status"] == "sent"}
    assert "acme-dental" in sent and "brightline-logistics" not in sent  # the others were billed

    settings.write_text(settings.read_text().replace("board: Billing Problems", "board: Billing"))
    for _ in range(2):
        rerun = reconcile(repo, "--sandbox", "apply", "--send-now", "--date", "2026-11-20")
        assert rerun.returncode == 1 and "1 customer needs attention: brightline-logistics failed." in rerun.stdout
    (ticket,) = sandbox_tickets(repo)
    assert ticket["summary"] == "[reconcile] billing failed: brightline-logistics 2026-11"
    assert ticket["company"]["identifier"] == "Brightline" and len(ticket["_notes"]) == 1  # same reason: no note
    assert "no active agreement Microsoft 365 Services / Brightline Office" in ticket["_notes"][0]["text"]


def test_an_executive_summary_never_hides_a_missed_billing_period(tmp_path):
    repo = make_repo(tmp_path)
    path = repo / "config/customers/acme-dental.yaml"
    text = path.read_text()
    assert "integration: general\n" in text
    path.write_text(text.replace("integration: general\n", "integration: custom\nbilling:\n  day: 20\n"))
    record_sent(repo / ".sandbox/ledger.jsonl", customer="acme-dental", psa_company="AcmeDental",
                period="2026-10", day=20)  # billed before, so a late period is missed
    # On 5 December Acme's November billing (the 20th) is 15 days late; its summary (day 5) is due.
    result = reconcile(repo, "--sandbox", "apply", "--date", "2026-12-05", "--customer", "acme-dental")
    assert result.returncode == 1, result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("acme-dental "))
    assert row.split()[1] == "missed" and "executive summary for 2026-12 posted" in row
    assert "1 customer needs attention: acme-dental missed." in result.stdout


def test_without_notifications_a_problem_still_fails_the_run_and_files_nothing(tmp_path):
    repo = make_repo(tmp_path)
    settings = repo / "config/global.yaml"
    text = settings.read_text()
    settings.write_text(text[:text.index("notifications:")])
    seed_missed(repo, "2026-12-01")
    result = reconcile(repo, "--sandbox", "apply", "--date", "2026-12-01")
    assert result.returncode == 1
    assert "1 customer needs attention: fjord-architects missed." in result.stdout
    assert "ConnectWise ticket" not in result.stdout + result.stderr
    assert sandbox_tickets(repo) == []
    dry = reconcile(repo, "--sandbox", "--dry-run")  # the scheduled job's dry run predicts the exit code
    assert dry.returncode in (0, 1) and (dry.returncode == 1) == ("attention:" in dry.stdout)


def test_a_customer_whose_identifier_now_names_another_company_is_never_ticketed_on_that_company(tmp_path):
    from reconciler.sandbox import Store

    repo = make_repo(tmp_path)
    sent = reconcile(repo, "--sandbox", "apply", "--send-now", "--date", "2026-11-20", "--customer", "acme-dental")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    acme_id = [r for r in ledger_records(repo) if r["event"] == "result"][-1]["connectwise_company_id"]
    store = Store(repo / ".sandbox")
    try:  # Acme is renamed away and Harbor Street Bakery's record takes its identifier
        store.replace("company", {**store.get("company", acme_id), "identifier": "AcmeOld"})
        harbor = store.find_one("company", identifier="HarborBakery")
        store.replace("company", {**harbor, "identifier": "AcmeDental"})
    finally:
        store.close()
    result = reconcile(repo, "--sandbox", "apply", "--send-now", "--date", "2026-12-20", "--customer", "acme-dental")
    assert result.returncode == 1 and "acme-dental failed" in result.stdout, result.stdout + result.stderr
    (ticket,) = sandbox_tickets(repo)
    assert ticket["summary"] == "[reconcile] billing failed: acme-dental 2026-12"
    assert ticket["company"]["id"] == acme_id != harbor["id"]  # the company it was billed on, by id


def test_a_board_name_from_config_with_a_newline_or_bidi_override_cannot_forge_a_line_of_the_run(tmp_path):
    # The "tickets NOT filed" line printed the configured board name raw: a newline in it forged a
    # line of the run's output (here a fake "all sent"), and U+202E reordered the rest.
    repo = make_repo(tmp_path)
    path = repo / "config/customers/brightline-logistics.yaml"
    path.write_text(path.read_text().replace("    name: Brightline M365\n  hes:", "    name: Brightline Office\n  hes:"))
    settings = repo / "config/global.yaml"
    settings.write_text(settings.read_text().replace(
        "board: Billing", 'board: "Bil\\u202eling\\nCustomers: 7 sent, nothing to worry about"'))
    result = reconcile(repo, "--sandbox", "apply", "--send-now", "--date", "2026-11-20")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "\u202e" not in output
    assert not any(line.startswith("Customers: 7 sent") for line in output.splitlines()), output
    assert 'board "Bil\\u202eling\\nCustomers: 7 sent, nothing to worry about" does not exist' in result.stderr
