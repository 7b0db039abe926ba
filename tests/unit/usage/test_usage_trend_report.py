"""Pure parts of the reported basis: the report-month rule, the request body, reading a row,
matching names, refusing repeats."""

from __future__ import annotations

import pytest

from reconciler.usage.trend_report import (
    ADJUSTABLE_UNTIL_DAY,
    DEFAULT_UNITS,
    UNITS,
    CustomerNames,
    ReportRowError,
    ServicePlans,
    check_repeats,
    read_row,
    report_cycle,
    report_month_for,
)
from tests.support import documented_lmpi as doc


@pytest.mark.parametrize("period,month", [("2026-11", "2026-10"), ("2026-01", "2025-12"), ("2027-03", "2027-02")])
def test_a_billing_period_bills_the_report_of_the_month_before_it(period, month):
    assert report_month_for(period) == month


def test_report_cycle_is_the_documented_request_body():
    assert report_cycle("2026-10") == doc.REPORT_REQUEST


def test_the_report_is_adjustable_until_the_fifth():
    assert ADJUSTABLE_UNTIL_DAY == 5


def test_only_documented_figures_are_offered_and_provisioned_is_the_default():
    assert UNITS == ("provisioned", "used") and DEFAULT_UNITS == "provisioned"
    with pytest.raises(ReportRowError, match="must be one of provisioned, used"):
        read_row({**doc.REPORT_ROW, "chargeable": 30}, "chargeable")


def test_a_documented_row_reads_by_its_names():
    row = read_row(doc.REPORT_ROW, "provisioned")
    assert (row.customer, row.service_plan, row.product_name, row.units, row.figure) == (
        "Example Company", "WFBSS Monthly", "Worry-Free Business Security Services", 35, "provisioned")


@pytest.mark.parametrize("row,expected", [
    ({**doc.REPORT_ROW, "used": 30}, ("used", 30)),
    ({**doc.REPORT_ROW, "used_units": "30"}, ("used_units", 30)),
    ({**doc.REPORT_ROW, "used": 30, "used_units": 30}, ("used", 30)),
    ({**doc.REPORT_ROW, "used": None, "used_units": " 7 "}, ("used_units", 7)),
])
def test_the_used_figure_has_two_spellings(row, expected):
    read = read_row(row, "used")
    assert (read.figure, read.units) == expected


@pytest.mark.parametrize("row,state", [({**doc.REPORT_ROW, "used": None}, "is null"), (doc.REPORT_ROW, "is missing")])
def test_no_used_figure_is_refused_with_the_fix(row, state):
    with pytest.raises(ReportRowError, match=f"{state}.*bill usage.reported_units: provisioned"):
        read_row(row, "used")


def test_a_row_without_a_customer_name_or_not_an_object_is_refused():
    with pytest.raises(ReportRowError, match="has no 'customer' name"):
        read_row({**doc.REPORT_ROW, "customer": " "}, "provisioned")
    with pytest.raises(ReportRowError):
        read_row(["not", "a", "row"], "used")


def test_customer_names_match_ignoring_case_and_spaces_and_refuse_ambiguity():
    names = CustomerNames([{"customer_id": "A-1", "name": "Acme  Dental"}, {"customer_id": "b-2", "name": "Twin"},
                           {"customer_id": "c-3", "name": "twin "}])
    assert names.resolve(" ACME dental") == ("a-1", "")
    assert names.resolve("Twin") == (None, "ambiguous (2 Trend customers have it)")
    assert names.resolve("Nobody") == (None, "unknown")


def test_service_plans_give_the_product_code_narrowed_by_product_name():
    plans = ServicePlans([*doc.SERVICE_PLANS,
                          {"service_plan_id": "x", "name": "HES Monthly", "product": "Other", "product_code": "OTHERCODE"}])
    assert plans.match("wfbss monthly", "anything").product_code == "WFSBWXE3X"
    assert plans.match("HES Monthly", "Hosted Email Security").product_code == "HESMWXE3X"
    assert plans.match("HES Monthly", "Unknown product") is None  # two codes, no way to tell
    assert plans.match("No Such Plan", "Hosted Email Security") is None


def test_repeats_of_one_customer_plan_and_product_are_refused_but_two_plans_are_not():
    row = read_row(doc.REPORT_ROW, "provisioned")
    annual = read_row({**doc.REPORT_ROW, "service_plan": "WFBSS Annual"}, "provisioned")
    check_repeats([row, annual], "2026-10")
    shouted = read_row({**doc.REPORT_ROW, "customer": "EXAMPLE COMPANY"}, "provisioned")
    with pytest.raises(ReportRowError, match=r"report for 2026-10: row 3 repeats row 1"):
        check_repeats([row, annual, shouted], "2026-10")
