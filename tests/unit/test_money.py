"""The money of a plan: pure rules (no server)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from reconciler.config.model import SafetySettings
from reconciler.money import invoice_warnings, monthly_amount, price_change, show, totals
from reconciler.plan import safety_verdict

D = Decimal


def test_a_change_says_what_it_does_to_the_monthly_invoice():
    money = price_change("update", 35, 38, currency="USD", unit_price=D("4.20"), unit_cost=D("2.50"))
    assert (money.before, money.after, money.delta) == (D("147.00"), D("159.60"), D("12.60"))
    assert money.describe() == "+3 x $4.20 = +$12.60/mo"
    assert money.margin_delta == D("5.10")


def test_less_included_is_not_billed_and_a_create_starts_from_nothing():
    assert monthly_amount(10, D("3.00"), D("4")) == D("18.00")
    create = price_change("create", None, 5, currency="EUR", unit_price=D("2.50"), unit_cost=None)
    assert (create.before, create.after) == (D("0.00"), D("12.50"))
    assert create.margin_delta is None  # cost unknown: no margin is made up
    cancel = price_change("cancel", 7, None, currency="EUR", unit_price=D("2.50"), unit_cost=D("1"))
    assert cancel.delta == D("-17.50")


def test_currencies_are_never_added_together():
    result = totals([
        price_change("update", 1, 3, currency="USD", unit_price=D("10"), unit_cost=D("4")),
        price_change("update", 5, 2, currency="EUR", unit_price=D("1.10"), unit_cost=D("1")),
        price_change("create", None, 1, currency="USD", unit_price=D("0.05"), unit_cost=None),
    ])
    assert result.currencies == ["EUR", "USD"]
    assert (result.more["USD"], result.net("USD"), result.net("EUR")) == (D("20.05"), D("20.05"), D("-3.30"))
    assert result.margin["EUR"] == D("-0.30") and "USD" in result.margin_unknown
    assert result.as_json()["USD"]["net"] == "20.05"  # decimal strings, never floats


@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 5000),
                          st.decimals(min_value=0, max_value=500, places=4)), max_size=20))
def test_the_net_is_exactly_the_sum_of_the_changes(rows):
    moneys = [price_change("update", b, a, currency="USD", unit_price=p, unit_cost=None) for b, a, p in rows]
    assert totals(moneys).net("USD") == sum((m.delta for m in moneys), D(0))


def test_show_formats_by_currency():
    assert show(D("-1234.5"), "USD", signed=True) == "-$1,234.50"
    assert show(D("3"), "CHF", signed=True) == "+CHF 3.00"
    assert show(D("3"), None) == "3.00 (currency unknown)"


def test_an_invoice_already_out_and_proration_off_are_warned():
    out = invoice_warnings("hes", "create", "Managed Service / Acme", date(2026, 11, 1), date(2026, 12, 1),
                           "Monthly", False)
    assert any("2026-11-01 invoice" in w and "already out" in w and "2026-12-01" in w for w in out)
    assert any("proration is off" in w for w in out)
    on_time = invoice_warnings("hes", "update", "A", date(2026, 11, 15), date(2026, 12, 1), "Monthly", True)
    assert on_time == []


def test_money_limits_make_a_plan_unsafe_with_the_amounts():
    safety = SafetySettings(max_monthly_increase=100, max_monthly_decrease=50, max_monthly_change_percent=40)
    reasons = safety_verdict([], 0, True, safety, {"USD": (D("200.00"), D("320.00"))})
    assert any("+$120.00" in r and "max_monthly_increase $100.00" in r for r in reasons)
    assert any("60%" in r and "max_monthly_change_percent 40%" in r for r in reasons)
    assert safety_verdict([], 0, True, safety, {"EUR": (D("200.00"), D("180.00"))}) == []
    falls = safety_verdict([], 0, True, safety, {"EUR": (D("200.00"), D("140.00"))})
    assert any("-€60.00" in r and "max_monthly_decrease €50.00" in r for r in falls)


def test_figures_out_of_decimal_range_are_refused_by_name_not_an_arithmetic_error():
    import pytest

    from reconciler.money import MoneyOutOfRange

    with pytest.raises(MoneyOutOfRange, match=r"unit price 1e\+26 is out of range"):
        price_change("create", None, 4, currency="USD", unit_price=D("1E+26"), unit_cost=None)
    with pytest.raises(MoneyOutOfRange, match=r"quantity 1e\+30 is out of range"):
        price_change("update", 1, 10**30, currency="USD", unit_price=D("4.20"), unit_cost=None)
    with pytest.raises(MoneyOutOfRange):
        monthly_amount(D("1E+27"), D("1"))
    with pytest.raises(MoneyOutOfRange):
        price_change("update", 1, 2, currency="USD", unit_price=D("NaN"), unit_cost=None)


def test_a_zero_or_negative_price_is_a_warning():
    from reconciler.money import price_warnings

    free = price_change("update", 1, 2, currency="USD", unit_price=D("0"), unit_cost=None)
    credit = price_change("create", None, 2, currency="EUR", unit_price=D("-1.50"), unit_cost=None)
    assert price_warnings("hes", "Managed Service / M", free) == [
        "hes on Managed Service / M: ConnectWise prices it at $0.00 a unit, so it bills nothing; check the "
        "catalog item or the addition's price before sending"]
    assert "at -€1.50 a unit, so it bills a negative price (a credit)" in price_warnings("cas", "X / Y", credit)[0]
    paid = price_change("update", 1, 2, currency="USD", unit_price=D("0.01"), unit_cost=None)
    assert price_warnings("hes", "X / Y", paid) == [] and price_warnings("hes", "X / Y", None) == []
