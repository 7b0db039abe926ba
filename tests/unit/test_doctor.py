"""`reconcile doctor`'s verdicts and views, without a server: the checks are pure functions of
the config and what was read (reconciler/doctor/facts.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from reconciler.config import load_config
from reconciler.config.model import (
    AgreementRef,
    Config,
    SummarySettings,
    TicketSettings,
    UsageSettings,
)
from reconciler.doctor import checks as c
from reconciler.doctor.facts import ConnectWiseFacts, Endpoint, Failure, TrendFacts
from reconciler.doctor.report import Check, DoctorReport, Status
from reconciler.doctor.run import judge
from reconciler.render.doctor import render, summary_line
from reconciler.target import TicketReferences
from tests.support import REPO_ROOT

BOARD = TicketReferences("Billing", "New", None, board_id=2, status_id=4)


@pytest.fixture(scope="module")
def demo() -> Config:
    return load_config(REPO_ROOT / "config")


def lmpi(config: Config, basis: str = "reported", units: str = "used") -> Config:
    return dataclasses.replace(config, usage=UsageSettings(source="lmpi", basis=basis, reported_units=units))


def tickets(config: Config, **settings) -> Config:
    return dataclasses.replace(config, notifications=dataclasses.replace(
        config.notifications, connectwise_ticket=TicketSettings(**{"board": "Billing", "status": "New", **settings})))


def healthy(config: Config) -> ConnectWiseFacts:
    """What the demo tenant answers: everything the config names exists."""
    return ConnectWiseFacts(
        info={"version": "v2025.1.10333"}, login_company="sandbox",
        endpoints=(Endpoint("catalog", "procurement/catalog", "Procurement > Product Catalog"),),
        catalog=frozenset(p.catalog_item.casefold() for p in config.products.values()),
        agreement_types=frozenset(t.casefold() for t in c.agreement_types_named(config)),
        tickets=BOARD, ticket_companies={"own_company": ("sandbox", True)},
        solutions={name: True for name in c.solutions_named(config)},
        companies={cust.psa_company.casefold(): cust.connectwise_company_id or 1 for cust in config.customers},
    )


def trend_ok(config: Config, rows: list | None = None) -> TrendFacts:
    return TrendFacts(clock_offset=0.4, report_month="2026-11",
                      customers=[{"customer_id": cust.trend_customer_id.upper()} for cust in config.customers],
                      service_plans=[{"service_plan_id": "p"}],
                      report=rows if rows is not None else [{"customer": "Acme", "provisioned": 4, "used": 3}])


def test_a_healthy_tenant_passes_every_item(demo):
    config = lmpi(demo)
    items = judge(config, healthy(config), trend_ok(config))
    assert [i.key for i in items if not i.ok] == []
    report = DoctorReport(tuple(items))
    assert not report.blocked and summary_line(report).startswith(f"All {len(items)} checks passed")


# -- ConnectWise keys -------------------------------------------------------------------------

@pytest.mark.parametrize(("failure", "words", "fix"), [
    (Failure("GET system/info: HTTP 401 Unauthorized: Authentication failed", 401),
     "refused the keys or the clientId (HTTP 401)", "CW_PRIVATE_KEY"),
    (Failure("GET system/info: HTTP 401 Unauthorized: A clientId header is required", 401),
     "refused the clientId (HTTP 401)", "CW_CLIENT_ID"),
    (Failure("GET system/info: HTTP 403 Forbidden", 403), "accepted the keys, but the API member may not read",
     "Security Roles"),
    (Failure("GET system/info: HTTP 404 NotFound", 404), "404", "codebase"),
    (Failure("GET system/info: no response: could not connect", None), "could not reach ConnectWise",
     "connectwise.url"),
])
def test_keys_refused_say_which_refusal_and_its_fix(demo, failure, words, fix):
    check = c.connectwise_credentials(demo, ConnectWiseFacts(info=failure))
    assert check.status is Status.BLOCKER and words in check.detail and fix in check.fix


def test_missing_keys_are_a_blocker_and_every_connectwise_read_waits_for_them(demo):
    cw = ConnectWiseFacts(credentials_problem="missing ConnectWise credentials: set CW_CLIENT_ID")
    items = {i.key: i for i in judge(demo, cw, TrendFacts(used=False))}
    assert items["connectwise.credentials"].status is Status.BLOCKER
    assert "CW_CLIENT_ID" in items["connectwise.credentials"].detail
    for key in ("connectwise.catalog_items", "connectwise.agreement_types", "connectwise.ticket_board",
                "connectwise.management_solution", "customers.connectwise_company"):
        assert items[key].status is Status.WARNING, key
        assert items[key].detail == "not checked: connectwise.credentials failed"
    assert [i.key for i in items.values() if i.status is Status.BLOCKER] == ["connectwise.credentials"]


# -- endpoints and what the config names ------------------------------------------------------

def test_a_403_names_the_endpoint_and_the_security_role_to_change(demo):
    cw = dataclasses.replace(healthy(demo), endpoints=(
        Endpoint("catalog", "procurement/catalog", "Procurement > Product Catalog", Failure("x", 403)),
        Endpoint("additions", "finance/agreements/{agreement}/additions", "Finance > Agreements",
                 skipped="no agreement in ConnectWise yet to read it for"),
    ), catalog=None)
    denied, skipped = (c.endpoint(e, cw) for e in cw.endpoints)
    assert denied.status is Status.BLOCKER and denied.key == "connectwise.read.catalog"
    assert denied.detail == "the API member may not read procurement/catalog (HTTP 403)"
    assert "Procurement > Product Catalog" in denied.fix
    assert skipped.ok and "no agreement" in skipped.detail
    assert c.catalog_items(demo, cw).detail == "not checked: connectwise.read.catalog failed"


def test_catalog_items_compare_without_case_and_list_every_missing_one(demo):
    cw = dataclasses.replace(healthy(demo), catalog=frozenset({"tm-wfbss-svc", "tm-hes"}))
    check = c.catalog_items(demo, cw)
    assert check.status is Status.BLOCKER
    assert len(check.problems) == len(demo.products) - 2 and "cas (TM-CAS-M365)" in check.problems
    assert check.detail.startswith(f"{len(demo.products) - 2} of {len(demo.products)} products")


def test_an_agreement_type_a_customer_file_names_is_checked_too(demo):
    customer = dataclasses.replace(demo.customers[0], agreements={"hes": AgreementRef("Custom Type", "X")})
    config = dataclasses.replace(demo, customers=(customer, *demo.customers[1:]))
    check = c.agreement_types(config, healthy(demo))
    assert check.status is Status.BLOCKER and f"'Custom Type' ({customer.slug})" in check.detail


def test_tickets_off_is_fine_and_a_missing_board_leaves_status_and_type_unchecked(demo):
    off = dataclasses.replace(demo, notifications=dataclasses.replace(demo.notifications, connectwise_ticket=None))
    assert all(i.ok for i in c.ticket_checks(off, ConnectWiseFacts()))
    config = tickets(demo, type="Billing")
    cw = dataclasses.replace(healthy(demo), tickets=TicketReferences(
        "Billing", "New", "Billing", missing=('board "Billing" does not exist in ConnectWise (boards: Service Desk)',)))
    board, status, type_ = c.ticket_checks(config, cw)
    assert board.status is Status.BLOCKER and "(boards: Service Desk)" in board.detail
    assert status.detail == type_.detail == "not checked: connectwise.ticket_board failed"


def test_a_missing_status_or_type_is_its_own_blocker(demo):
    config = tickets(demo, status="Waiting", type="Dispute")
    cw = dataclasses.replace(healthy(demo), tickets=TicketReferences(
        "Billing", "Waiting", "Dispute", board_id=2, type_id=None, status_id=None,
        missing=('status "Waiting" does not exist on board "Billing" (statuses: New)',
                 'type "Dispute" does not exist on board "Billing" (types: Billing)')))
    board, status, type_ = c.ticket_checks(config, cw)
    assert board.ok and status.status is type_.status is Status.BLOCKER
    assert "(statuses: New)" in status.detail and "(types: Billing)" in type_.detail
    assert "notifications.connectwise_ticket.type" in type_.fix


def test_a_ticket_company_that_does_not_exist_blocks_and_a_missing_own_company_warns(demo):
    config = tickets(demo, company="MSP")
    cw = dataclasses.replace(healthy(demo), ticket_companies={"own_company": ("sandbox", True),
                                                              "company": ("MSP", False)})
    assert c.ticket_company(config, cw).status is Status.BLOCKER
    cw = dataclasses.replace(cw, ticket_companies={"own_company": ("sandbox", False)})
    warned = c.ticket_company(config, cw)
    assert warned.status is Status.WARNING and "own_company 'sandbox'" in warned.detail


def test_the_management_solution_is_checked_only_when_summaries_are_on(demo):
    cw = dataclasses.replace(healthy(demo), solutions={"TMRM Management Solution": False})
    check = c.management_solution(demo, cw)
    assert check.status is Status.BLOCKER and "'TMRM Management Solution'" in check.detail
    off = dataclasses.replace(demo, executive_summary=SummarySettings(enabled=False), customers=tuple(
        dataclasses.replace(x, executive_summary=SummarySettings(enabled=False)) for x in demo.customers))
    assert c.management_solution(off, cw).ok


def test_customer_companies_missing_or_not_the_pinned_one(demo):
    first, second = demo.customers[:2]
    pinned = dataclasses.replace(second, connectwise_company_id=99)
    config = dataclasses.replace(demo, customers=(first, pinned))
    cw = dataclasses.replace(healthy(demo), companies={second.psa_company.casefold(): 7})
    check = c.customer_companies(config, cw)
    assert check.status is Status.BLOCKER
    assert check.problems == (f"{first.slug} ({first.psa_company})",
                              f"{second.slug} ({second.psa_company} is company 7, the file pins 99)")


# -- Trend ------------------------------------------------------------------------------------

def test_trend_is_not_read_with_a_csv_usage_source(demo):
    items = judge(demo, healthy(demo), TrendFacts(used=False))
    trend = [i for i in items if i.key.startswith("trend.") or i.key == "customers.trend_customer"]
    assert len(trend) == 6 and all(i.ok and "usage.source is csv" in i.detail for i in trend)


def test_a_posix_time_refusal_is_the_clocks_blocker_and_the_reads_wait_for_it(demo):
    config = lmpi(demo)
    trend = TrendFacts(clock_offset=-1250.0, clock_failure=Failure(
        "LMPI GET v3/me/serviceplans: HTTP 401 AuthenticationFailurePosixTime", 401,
        "AuthenticationFailurePosixTime"))
    items = {i.key: i for i in judge(config, healthy(config), trend)}
    assert [k for k, i in items.items() if i.status is Status.BLOCKER] == ["trend.clock"]
    assert "21 min ahead of Trend's" in items["trend.clock"].detail
    assert items["trend.customers"].detail == "not checked: trend.clock failed"


@pytest.mark.parametrize(("offset", "status"), [(3.0, Status.OK), (-400.0, Status.WARNING),
                                                (1000.0, Status.BLOCKER), (None, Status.WARNING)])
def test_the_clock_offset_from_trends_date_header(demo, offset, status):
    assert c.trend_clock(lmpi(demo), TrendFacts(clock_offset=offset)).status is status


def test_trends_refused_keys_and_missing_settings(demo):
    config = lmpi(demo)
    refused = c.trend_credentials(config, TrendFacts(clock_failure=Failure(
        "LMPI GET v3/me/serviceplans: HTTP 401 AuthenticationFailureSignature", 401, "AuthenticationFailureSignature")))
    assert refused.status is Status.BLOCKER and "TM_SECRET_KEY" in refused.fix
    unset = c.trend_credentials(config, TrendFacts(settings_problem="usage source lmpi needs TM_LMPI_URL"))
    assert unset.status is Status.BLOCKER and "TM_LMPI_URL" in unset.detail


def test_a_refused_customers_or_service_plans_list_is_a_blocker(demo):
    config = lmpi(demo)
    trend = dataclasses.replace(trend_ok(config), customers=Failure("LMPI GET v3/customers: HTTP 400 "
                                                                    "InvalidParametersCreatedStart", 400),
                                service_plans=Failure("LMPI GET v3/me/serviceplans: HTTP 500", 500))
    assert c.trend_customers(config, trend).status is Status.BLOCKER
    assert "InvalidParametersCreatedStart" in c.trend_customers(config, trend).detail
    assert c.trend_service_plans(config, trend).status is Status.BLOCKER


@pytest.mark.parametrize(("rows", "units", "status"), [
    ([{"provisioned": 4, "used": None}], "used", Status.OK),  # null for some plans: present
    ([{"provisioned": "4", "used_units": "3"}], "used", Status.OK),  # the other documented spelling
    ([{"provisioned": 4}], "used", Status.BLOCKER),  # cut after provisioned, as Trend's examples
    ([{"provisioned": 4}], "provisioned", Status.OK),
    ([], "used", Status.WARNING),
])
def test_the_report_rows_carry_the_configured_unit_field(demo, rows, units, status):
    config = lmpi(demo, units=units)
    assert c.trend_report(config, trend_ok(config, rows)).status is status


def test_a_refused_report_blocks_only_the_reported_basis(demo):
    trend = dataclasses.replace(trend_ok(demo), report=Failure("LMPI POST v3/reports/summary: HTTP 403", 403))
    assert c.trend_report(lmpi(demo, "reported"), trend).status is Status.BLOCKER
    assert c.trend_report(lmpi(demo, "licensed"), trend).status is Status.WARNING


def test_trend_customer_ids_compare_without_case(demo):
    config = lmpi(demo)
    trend = dataclasses.replace(trend_ok(config), customers=trend_ok(config).customers[1:])
    check = c.customer_trend_ids(config, trend)
    first = config.customers[0]
    assert check.status is Status.BLOCKER and check.problems == (f"{first.slug} ({first.trend_customer_id})",)
    assert c.customer_trend_ids(config, trend_ok(config)).ok  # upper-case GUIDs from LMPI still match


# -- views and the exit rule ------------------------------------------------------------------

def test_warnings_alone_do_not_block_and_one_blocker_does():
    warning = Check("a", "A", Status.WARNING, "look")
    blocker = Check("b", "B", Status.BLOCKER, "broken", "fix it")
    assert not DoctorReport((warning,)).blocked
    assert DoctorReport((warning, blocker)).blocked
    assert summary_line(DoctorReport((warning, blocker))).startswith("1 blocker, 1 warning")


def test_text_view_shows_the_fix_and_no_control_characters_from_an_answer():
    report = DoctorReport((Check("connectwise.read.catalog", "read", Status.BLOCKER,
                                 "HTTP 500: \x1b[31mboom\n  ok fake line", "grant it"),))
    text = render(report, "text")
    assert "\x1b" not in text and not any(line.startswith("  ok") for line in text.splitlines())
    assert "BLOCKER  connectwise.read.catalog  HTTP 500: ?[31mboom ok fake line" in text
    assert "fix: grant it" in text


def test_json_view_is_the_whole_report():
    report = DoctorReport((Check("k", "t", Status.BLOCKER, "d", "f", ("p1", "p2")),), connectwise_url="u")
    data = json.loads(render(report, "json"))
    assert data["ok"] is False and data["counts"] == {"ok": 0, "warning": 0, "blocker": 1}
    assert data["checks"] == [{"key": "k", "title": "t", "status": "blocker", "detail": "d", "fix": "f",
                               "problems": ["p1", "p2"]}]


def test_urls_are_shown_without_user_password_or_query():
    from reconciler.doctor.run import _shown_url

    assert _shown_url("https://me:pa55@lmpi.example.com:8443/LMPI?token=abc") == "https://lmpi.example.com:8443/LMPI"
    assert _shown_url("") == ""
