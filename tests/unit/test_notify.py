"""reconciler/notify.py: which customers are billing problems, the ticket marker, and filing
tickets against the real sandbox (over loopback, through the real client)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import requests

from reconciler.config.model import TicketSettings
from reconciler.connectwise import Client, ConnectWiseTarget, Credentials
from reconciler.notify import SUMMARY_MAX, Problem, billing_problems, file_tickets, ticket_summary
from reconciler.sandbox import SandboxServer


@dataclass
class Result:  # the fields of apply's CustomerResult that notify reads
    customer: str
    status: str
    reason: str = ""
    period: str | None = "2026-11"
    connectwise_company: str = "Co"


def test_missed_failed_and_unsafe_customers_are_problems_and_nothing_else_is():
    results = [
        Result("a", "sent"), Result("b", "unchanged"), Result("c", "not due"), Result("d", "skipped"),
        Result("e", "summary sent"), Result("f", "would send"),
        Result("g", "missed", "billing for 2026-11 was due 2026-11-15"),
        Result("h", "failed", "HTTP 403 on finance/agreements"),
        Result("i", "failed", "unsafe plan refused (use --force to apply): hes 42 -> 4"),
        Result("j", "failed", "RuntimeError: boom", period=None),
    ]
    problems = billing_problems(results, fallback_period="2026-12")
    assert [(p.customer, p.kind, p.period) for p in problems] == [
        ("g", "missed", "2026-11"), ("h", "failed", "2026-11"), ("i", "unsafe", "2026-11"), ("j", "failed", "2026-12")]
    assert problems[1].reason == "HTTP 403 on finance/agreements"


def _problem(customer="fjord-architects", kind="missed", period="2026-11", reason="r") -> Problem:
    return Problem(customer, "FjordArch", kind, period, reason)


def test_the_ticket_summary_is_a_stable_marker_of_kind_customer_and_period():
    summary = ticket_summary(_problem(reason="16 days ago"))
    assert summary == "[reconcile] billing missed: fjord-architects 2026-11"
    assert ticket_summary(_problem(reason="17 days ago")) == summary  # the reason changes daily
    assert len({ticket_summary(_problem(kind=k)) for k in ("missed", "failed", "unsafe")}) == 3
    assert ticket_summary(_problem(period="2026-12")) != summary


def test_a_long_customer_name_still_fits_and_stays_distinct():
    first, second = "x" * 150 + "-one", "x" * 150 + "-two"
    a, b = ticket_summary(_problem(first, kind="unsafe")), ticket_summary(_problem(second, kind="unsafe"))
    assert len(a) <= SUMMARY_MAX and len(b) <= SUMMARY_MAX and a != b
    assert a == ticket_summary(_problem(first, kind="unsafe")) and a.endswith(" 2026-11")


@pytest.fixture
def sb(tmp_path):
    with SandboxServer(data_dir=tmp_path / "sb", port=0) as server:
        yield server


def client_for(sb: SandboxServer) -> ConnectWiseTarget:
    c = sb.credentials
    return ConnectWiseTarget(Client(sb.connectwise_url, Credentials(c.company_id, c.public_key, c.private_key,
                                                                    c.client_id), "2025.1",
                                    requests_per_minute=600000, backoff_factor=0.005))


NOW = datetime(2026, 12, 1, 11, 17, tzinfo=UTC)


def test_first_run_opens_a_ticket_later_runs_add_notes_to_it(sb):
    client, settings = client_for(sb), TicketSettings(board="Billing", status="New")
    first = file_tickets(client, settings, [_problem(reason="due 2026-11-15, 16 days ago")], "run-1", NOW)
    assert [(o.action, o.error) for o in first] == [("opened", None)]
    (ticket,) = sb.store.all("ticket")
    assert ticket["id"] == first[0].ticket_id
    assert (ticket["summary"], ticket["board"]["name"], ticket["status"]["name"], ticket["company"]["identifier"]) == (
        "[reconcile] billing missed: fjord-architects 2026-11", "Billing", "New", "FjordArch")
    assert ticket["automaticEmailContactFlag"] is False  # filed on the customer's company: no email to them
    (note,) = sb.store.all("ticket_note")
    assert note["internalAnalysisFlag"] is True and not note.get("detailDescriptionFlag")  # not in the portal
    assert "period 2026-11, is missed" in note["text"] and "due 2026-11-15" in note["text"]
    assert "reconcile apply --send-now --customer fjord-architects" in note["text"] and "run-1" in note["text"]

    for run in ("run-2", "run-3"):
        again = file_tickets(client, settings, [_problem(reason="still due")], run, NOW)
        assert [(o.action, o.ticket_id) for o in again] == [("updated", ticket["id"])]
    assert len(sb.store.all("ticket")) == 1
    assert all(n["internalAnalysisFlag"] for n in sb.store.all("ticket_note"))
    notes = [n["text"] for n in sb.store.all("ticket_note")]
    assert notes[1:] == ["Still missed in run run-2 (2026-12-01 11:17 UTC): still due",
                         "Still missed in run run-3 (2026-12-01 11:17 UTC): still due"]


def test_another_problem_kind_or_period_gets_its_own_ticket_and_a_closed_one_is_not_reused(sb):
    client, settings = client_for(sb), TicketSettings(board="Billing", company="AcmeDental")
    file_tickets(client, settings, [_problem(), _problem(kind="failed"), _problem(period="2026-12")], "r1", NOW)
    assert len(sb.store.all("ticket")) == 3
    assert {t["company"]["identifier"] for t in sb.store.all("ticket")} == {"AcmeDental"}  # the configured company
    first = sb.store.all("ticket")[0]
    c = sb.credentials  # an admin closes the first ticket in ConnectWise
    r = requests.patch(f"{sb.connectwise_url}/service/tickets/{first['id']}",
                       json=[{"op": "replace", "path": "status", "value": {"name": "Closed"}}],
                       auth=(f"{c.company_id}+{c.public_key}", c.private_key), headers={"clientId": "admin"}, timeout=10)
    assert r.status_code == 200 and r.json()["closedFlag"] is True
    (outcome,) = file_tickets(client, settings, [_problem()], "r2", NOW)
    assert outcome.action == "opened" and outcome.ticket_id not in {t["id"] for t in sb.store.all("ticket")[:3]}
    assert len(sb.store.all("ticket")) == 4


def test_a_ticket_that_cannot_be_filed_is_reported_and_the_others_still_are(sb):
    client = client_for(sb)
    outcomes = file_tickets(client, TicketSettings(board="Billing"),
                            [Problem("ghost", "NoSuchCompany", "failed", "2026-11", "company not found"),
                             _problem()], "r1", NOW)
    assert [o.action for o in outcomes] == ["failed", "opened"]
    assert "NoSuchCompany" in outcomes[0].error and "ghost (failed 2026-11)" in outcomes[0].line()
    wrong_board = file_tickets(client, TicketSettings(board="Nope"), [_problem(kind="unsafe")], "r1", NOW)
    assert wrong_board[0].action == "failed" and "Nope" in wrong_board[0].error
    assert len(sb.store.all("ticket")) == 1
