"""Pure parts of the reported basis: the report-month rule, the request body, reading a row."""

from __future__ import annotations

import pytest

from reconciler.usage.trend_report import (
    ADJUSTABLE_UNTIL_DAY,
    SUMMARY_FIELDS,
    ReportRowError,
    read_row,
    report_cycle,
    report_month_for,
)


@pytest.mark.parametrize("period,month", [("2026-11", "2026-10"), ("2026-01", "2025-12"), ("2027-03", "2027-02")])
def test_a_billing_period_bills_the_report_of_the_month_before_it(period, month):
    assert report_month_for(period) == month


def test_report_cycle_is_the_documented_request_body():
    assert report_cycle("2026-01") == {"report_cycle_year": "2026", "report_cycle_month": "01"}


def test_the_report_is_adjustable_until_the_fifth():
    assert ADJUSTABLE_UNTIL_DAY == 5


def row(**override):
    base = {"customer": "Acme", "customer_id": "c-1", "product_name": "Hosted Email Security",
            "service_plan": "HES Monthly", "service_plan_id": "p-1", "product_id": "HES",
            "provisioned": 40, "used": 35, "chargeable": 38}
    base.update(override)
    return base


def test_reads_the_figures_and_identifiers():
    read = read_row(row(), "chargeable")
    assert (read.customer_id, read.product_id, read.service_plan_id) == ("c-1", "HES", "p-1")
    assert read.units == {"provisioned": 40, "used": 35, "chargeable": 38}
    assert read.evidence()["service_plan"] == "HES Monthly"


def test_figures_not_billed_may_be_missing_but_the_billed_one_may_not():
    assert read_row(row(used=None), "chargeable").units == {"provisioned": 40, "chargeable": 38}
    with pytest.raises(ReportRowError, match="chargeable 'None'"):
        read_row(row(chargeable=None), "chargeable")


@pytest.mark.parametrize("bad", [1.5, "12", -1, True])
def test_units_that_are_not_whole_numbers_stop_the_read(bad):
    with pytest.raises(ReportRowError, match="not a whole, non-negative number"):
        read_row(row(provisioned=bad), "chargeable")


def test_a_row_without_a_customer_id_names_the_assumption():
    with pytest.raises(ReportRowError, match="customer_id.*unconfirmed assumption") as info:
        read_row(row(customer_id=None), "chargeable")
    assert "Acme" in str(info.value)
    with pytest.raises(ReportRowError):
        read_row(["not", "a", "row"], "used")


def test_confirmed_field_names_are_trends():
    # The names Trend's public reference shows; the rest are assumptions documented in docs/client.md.
    for name in ("customer_name", "service_plan", "product_name", "provisioned"):
        assert SUMMARY_FIELDS[name] in ("customer", "service_plan", "product_name", "provisioned")
