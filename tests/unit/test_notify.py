"""reconciler/notify.py: which customers are billing problems, the ticket marker, and filing
tickets against the real sandbox (over loopback, through the real client)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests

from reconciler.apply import FailureKind
from reconciler.config.model import TicketSettings
from reconciler.connectwise import Client, ConnectWiseTarget, Credentials
from reconciler.notify import (
    SUMMARY_MAX,
    Problem,
    billing_problems,
    file_tickets,
    same_reason,
    ticket_summary,
    trusted_company_ids,
)
from reconciler.sandbox import SandboxServer
from reconciler.ticketbook import TicketBook
from tests.support.e2e import sandbox_stats, sandbox_target


@dataclass
class Result:  # the fields of apply's CustomerResult that notify reads
    customer: str
    status: str
    reason: str = ""
    period: str | None = "2026-11"
    psa_company: str = "Co"
    failure: FailureKind | None = None


def test_missed_failed_and_unsafe_customers_are_problems_and_nothing_else_is():
    results = [
        Result("a", "sent"), Result("b", "unchanged"), Result("c", "not due"), Result("d", "skipped"),
        Result("e", "summary sent"), Result("f", "would send"),
        Result("g", "missed", "billing for 2026-11 was due 2026-11-15"),
        Result("h", "failed", "HTTP 403 on finance/agreements", failure=FailureKind.ERROR),
        Result("i", "failed", "unsafe plan refused (use --force to apply): hes 42 -> 4", failure=FailureKind.UNSAFE),
        Result("j", "failed", "RuntimeError: boom", period=None, failure=FailureKind.ERROR),
    ]
    problems = billing_problems(results, fallback_period="2026-12")
    assert [(p.customer, p.kind, p.period) for p in problems] == [
        ("g", "missed", "2026-11"), ("h", "failed", "2026-11"), ("i", "unsafe", "2026-11"), ("j", "failed", "2026-12")]
    assert problems[1].reason == "HTTP 403 on finance/agreements"


def test_unsafe_is_what_apply_decided_never_what_the_reason_text_begins_with():
    """The reason is for people (it may be reworded, or begin with an interrupted period's text);
    the kind of problem, and so the ticket, follows apply's `failure`."""
    results = [
        Result("a", "failed", "hes 42 -> 4 is beyond max_change_percent", failure=FailureKind.UNSAFE),
        Result("b", "failed", "unsafe plan refused (use --force to apply): and then a 403", failure=FailureKind.ERROR),
        Result("c", "failed", "billing for 2026-10 was interrupted; unsafe plan refused (use --force to apply): x",
               failure=FailureKind.ERROR),
    ]
    assert [p.kind for p in billing_problems(results, "2026-12")] == ["unsafe", "failed", "failed"]


def test_a_problem_carries_the_company_the_tool_trusts_and_whether_the_customer_was_ever_sent():
    results = [Result("a", "missed"), Result("b", "failed", "x"), Result("c", "failed", "y")]
    problems = billing_problems(results, "2026-12", trusted_companies={"a": 11}, sent_customers={"a", "b"})
    assert [(p.company_id, p.ever_sent) for p in problems] == [(11, True), (None, True), (None, False)]


def test_the_trusted_company_is_the_checked_one_then_the_pinned_one_then_the_last_sent_one():
    last = {"a": {"connectwise_company_id": 5}, "b": {"connectwise_company_id": 6}, "c": {"connectwise_company_id": 7},
            "d": None}
    trusted = trusted_company_ids({"a": 1, "b": None, "c": None, "d": None}, {"b": 2, "c": None}, last)
    assert trusted == {"a": 1, "b": 2, "c": 7}  # d: nothing to trust, so no company id


def test_a_reason_that_differs_only_in_how_many_days_ago_is_the_same_reason():
    assert same_reason("was due 2026-11-15, 16 days ago, beyond") == same_reason("was due 2026-11-15, 17 days ago, beyond")
    assert same_reason("HTTP 403 on x") != same_reason("HTTP 404 on x")


def _problem(customer="fjord-architects", kind="missed", period="2026-11", reason="r", company_id=6,
             identifier="FjordArch", ever_sent=True) -> Problem:
    return Problem(customer, identifier, kind, period, reason, company_id, ever_sent)


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


@pytest.fixture
def book(tmp_path):
    return TicketBook.load(tmp_path / "state" / "ledger.tickets.json")


def reset_stats(sb: SandboxServer) -> None:
    sb.stats.clear()


NOW = datetime(2026, 12, 1, 11, 17, tzinfo=UTC)
BILLING = TicketSettings(board="Billing", status="New", type="Billing")


def file(sb, problems, run, book, now=NOW, settings=BILLING):
    return file_tickets(sandbox_target(sb), settings, problems, run, TicketBook.load(book.path), now)


def test_first_run_opens_a_ticket_and_later_runs_note_it_only_when_the_reason_changes_or_weekly(sb, book):
    first = file(sb, [_problem(reason="due 2026-11-15, 16 days ago")], "run-1", book)
    assert [(o.action, o.error) for o in first.outcomes] == [("opened", None)] and first.error is None
    (ticket,) = sb.store.all("ticket")
    assert ticket["id"] == first.outcomes[0].ticket_id
    assert (ticket["summary"], ticket["board"]["name"], ticket["status"]["name"], ticket["type"]["name"],
            ticket["company"]["identifier"]) == (
        "[reconcile] billing missed: fjord-architects 2026-11", "Billing", "New", "Billing", "FjordArch")
    assert ticket["automaticEmailContactFlag"] is False  # filed on the customer's company: no email to them
    (note,) = sb.store.all("ticket_note")
    assert note["internalAnalysisFlag"] is True and not note.get("detailDescriptionFlag")  # not in the portal
    assert "period 2026-11, is missed" in note["text"] and "due 2026-11-15" in note["text"]
    assert "reconcile apply --send-now --customer fjord-architects" in note["text"] and "run-1" in note["text"]
    assert TicketBook.load(book.path).get("missed|fjord-architects|2026-11").ticket_id == ticket["id"]

    same = file(sb, [_problem(reason="due 2026-11-15, 17 days ago")], "run-2", book, NOW + timedelta(days=1))
    assert [(o.action, o.ticket_id) for o in same.outcomes] == [("unchanged", ticket["id"])]
    changed = file(sb, [_problem(reason="HTTP 403 on finance/agreements")], "run-3", book, NOW + timedelta(days=2))
    assert [(o.action, o.ticket_id) for o in changed.outcomes] == [("updated", ticket["id"])]
    quiet = file(sb, [_problem(reason="HTTP 403 on finance/agreements")], "run-4", book, NOW + timedelta(days=8))
    weekly = file(sb, [_problem(reason="HTTP 403 on finance/agreements")], "run-5", book, NOW + timedelta(days=9))
    assert [o.action for o in quiet.outcomes + weekly.outcomes] == ["unchanged", "updated"]
    assert len(sb.store.all("ticket")) == 1
    notes = [n["text"] for n in sb.store.all("ticket_note")]
    assert notes[1:] == [("Still missed in run run-3 (2026-12-03 11:17 UTC), for another reason: HTTP 403 on "
                          "finance/agreements"),
                         "Still missed in run run-5 (2026-12-10 11:17 UTC), still: HTTP 403 on finance/agreements"]


class RecordingSession(requests.Session):
    """A requests session that keeps every URL it sends (to read the conditions sent)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def send(self, request, **kwargs):
        self.urls.append((request.method, request.url))
        return super().send(request, **kwargs)


def test_a_ticket_is_found_again_by_its_recorded_id_never_by_searching_its_text(sb, book):
    from urllib.parse import parse_qs, urlsplit

    c, session = sb.credentials, RecordingSession()
    target = ConnectWiseTarget(Client(sb.connectwise_url, Credentials(c.company_id, c.public_key, c.private_key,
                                                                      c.client_id), "2025.1", session=session,
                                      requests_per_minute=600000, backoff_factor=0.005))
    for run, reason in (("r1", "a"), ("r2", "b"), ("r3", "b")):
        file_tickets(target, BILLING, [_problem(reason=reason)], run, TicketBook.load(book.path), NOW)
    assert len(sb.store.all("ticket")) == 1 and len(sb.store.all("ticket_note")) == 2
    searches = [parse_qs(urlsplit(u).query).get("conditions", [""])[0] for method, u in session.urls
                if method == "GET" and urlsplit(u).path.endswith("/service/tickets")]
    assert searches and all("board/id = " in q and "closedFlag = false" in q for q in searches), searches
    assert not any("summary" in q or "[" in q for q in searches), searches  # no text: brackets are dates there


def test_another_problem_kind_or_period_gets_its_own_ticket_and_a_closed_one_is_not_reused(sb, book):
    settings = TicketSettings(board="Billing", company="AcmeDental")
    file(sb, [_problem(), _problem(kind="failed"), _problem(period="2026-12")], "r1", book, settings=settings)
    assert len(sb.store.all("ticket")) == 3
    assert {t["company"]["identifier"] for t in sb.store.all("ticket")} == {"AcmeDental"}  # the configured company
    first = sb.store.all("ticket")[0]
    c = sb.credentials  # an admin closes the first ticket in ConnectWise
    r = requests.patch(f"{sb.connectwise_url}/service/tickets/{first['id']}",
                       json=[{"op": "replace", "path": "status", "value": {"name": "Closed"}}],
                       auth=(f"{c.company_id}+{c.public_key}", c.private_key), headers={"clientId": "admin"}, timeout=10)
    assert r.status_code == 200 and r.json()["closedFlag"] is True
    # The next day nothing is to be written: no request, so the closing is not seen yet ...
    quiet = file(sb, [_problem(), _problem(kind="failed")], "r2", book, NOW + timedelta(days=1), settings=settings)
    assert [o.action for o in quiet.outcomes] == ["unchanged", "unchanged"]
    # ... and on the run that writes (here the weekly note), the closed ticket is replaced.
    run = file(sb, [_problem(), _problem(kind="failed")], "r3", book, NOW + timedelta(days=7), settings=settings)
    assert [o.action for o in run.outcomes] == ["opened", "updated"]
    assert run.outcomes[0].ticket_id not in {t["id"] for t in sb.store.all("ticket")[:3]}
    assert len(sb.store.all("ticket")) == 4


@pytest.mark.parametrize("settings, missing", [
    (TicketSettings(board="Billing Problems"),
     'board "Billing Problems" does not exist in ConnectWise (boards: Billing, Service Desk)'),
    (TicketSettings(board="Billing", status="Waiting"),
     'status "Waiting" does not exist on board "Billing" (statuses: Closed, In Progress, New)'),
    (TicketSettings(board="Billing", type="Invoice"),
     'type "Invoice" does not exist on board "Billing" (types: Billing, Problem)'),
    (TicketSettings(board="Billing", company="NoSuchCo"), 'company "NoSuchCo" (company) does not exist'),
])
def test_a_missing_board_status_type_or_company_is_one_error_for_the_run_and_no_post(sb, book, settings, missing):
    reset_stats(sb)
    problems = [_problem(customer=f"c{n}") for n in range(5)]
    run = file(sb, problems, "r1", book, settings=settings)
    assert run.error is not None and missing in run.error, run.error
    (line, is_error), = run.lines()
    assert is_error and line.startswith("ConnectWise tickets NOT filed for 5 problems (c0 missed 2026-11, ")
    assert all(o.action == "failed" for o in run.outcomes)
    assert sandbox_stats(sb)["by_method"].get("POST", 0) == 0 and sb.store.all("ticket") == []
    assert sandbox_stats(sb)["requests"] <= 3  # the lookups, once: not one failed POST per customer


def test_a_customer_whose_identifier_now_names_another_company_is_ticketed_on_its_own_company_by_id(sb, book):
    # Fjord (company 6) was billed before; its identifier now names Harbor Street Bakery's record.
    fjord = sb.store.find_one("company", identifier="FjordArch")
    harbor = sb.store.find_one("company", identifier="HarborBakery")
    sb.store.replace("company", {**fjord, "identifier": "FjordOld"})
    sb.store.replace("company", {**harbor, "identifier": "FjordArch"})
    run = file(sb, [_problem(company_id=fjord["id"])], "r1", book)
    assert run.outcomes[0].action == "opened"
    (ticket,) = sb.store.all("ticket")
    assert ticket["company"]["id"] == fjord["id"] != harbor["id"]


def test_a_never_sent_customer_is_ticketed_on_the_company_its_identifier_names_else_on_the_msps_own(sb, book):
    found = _problem("brightline", identifier="Brightline", company_id=None, ever_sent=False)
    lost = _problem("ghost", kind="failed", identifier="NoSuchCompany", company_id=None, ever_sent=False)
    sent_before = _problem("moved", identifier="Brightline", company_id=None, ever_sent=True)
    run = file(sb, [found, lost, sent_before], "r1", book)
    assert [o.action for o in run.outcomes] == ["opened", "opened", "opened"], run.lines()
    tickets = {t["summary"].split(": ")[1].split()[0]: t for t in sb.store.all("ticket")}
    assert tickets["brightline"]["company"]["identifier"] == "Brightline"
    # No trusted company: on the MSP's own company (the login's company id), naming the customer.
    assert tickets["ghost"]["company"]["identifier"] == sb.credentials.company_id
    assert tickets["moved"]["company"]["identifier"] == sb.credentials.company_id
    ghost_note = next(n for n in sb.store.all("ticket_note") if n["ticketId"] == tickets["ghost"]["id"])
    assert "ghost" in ghost_note["text"] and "NoSuchCompany" in ghost_note["text"] and "own company" in ghost_note["text"]


def test_the_msps_own_company_can_be_named_and_a_missing_one_fails_only_those_tickets(sb, book):
    lost = _problem("ghost", identifier="NoSuchCompany", company_id=None, ever_sent=False)
    named = file(sb, [lost], "r1", book, settings=TicketSettings(board="Billing", own_company="HarborBakery"))
    assert sb.store.get("ticket", named.outcomes[0].ticket_id)["company"]["identifier"] == "HarborBakery"
    other = tmp_book(book, "other")
    run = file_tickets(sandbox_target(sb), TicketSettings(board="Billing", own_company="Nope"),
                       [_problem("ghost2", identifier="X", company_id=None, ever_sent=False), _problem("ok")],
                       "r2", other, NOW)
    assert [o.action for o in run.outcomes] == ["failed", "opened"] and run.error is None
    assert "own_company" in run.outcomes[0].error


def tmp_book(book: TicketBook, name: str) -> TicketBook:
    return TicketBook.load(book.path.with_name(f"{name}.tickets.json"))


def test_a_lost_book_adopts_the_open_ticket_with_the_same_summary_instead_of_opening_another(sb, book):
    file(sb, [_problem()], "r1", book)
    book.path.unlink()
    run = file(sb, [_problem()], "r2", book)
    assert [o.action for o in run.outcomes] == ["updated"] and len(sb.store.all("ticket")) == 1


@pytest.mark.parametrize("count", [5, 60])
def test_standing_problems_cost_no_request_on_a_quiet_day_and_a_constant_few_when_one_changes(sb, book, count):
    def problems(reason_of_first: str) -> list[Problem]:
        return [_problem(customer=f"customer-{n:03d}", reason=reason_of_first if n == 0 else "due 2026-11-15, 16 days ago")
                for n in range(count)]

    opened = file(sb, problems("due 2026-11-15, 16 days ago"), "r1", book)
    assert {o.action for o in opened.outcomes} == {"opened"}
    reset_stats(sb)
    quiet = file(sb, problems("due 2026-11-15, 17 days ago"), "r2", book, NOW + timedelta(days=1))
    assert {o.action for o in quiet.outcomes} == {"unchanged"}
    assert sandbox_stats(sb)["requests"] == 0  # nothing to write: not even the lookups
    reset_stats(sb)
    one = file(sb, problems("HTTP 403 on finance/agreements"), "r3", book, NOW + timedelta(days=2))
    assert [o.action for o in one.outcomes].count("updated") == 1
    # board, status and type lookups, the one board search, and the note (its read-back snapshot
    # and POST): 6, for 5 problems as for 60.
    assert sandbox_stats(sb)["requests"] == 6, sandbox_stats(sb)["by_path"]
    assert sandbox_stats(sb)["by_method"] == {"GET": 5, "POST": 1}


def test_no_problem_costs_no_request(sb, book):
    reset_stats(sb)
    assert file(sb, [], "r1", book).outcomes == [] and sandbox_stats(sb)["requests"] == 0
