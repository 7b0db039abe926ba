"""A usage CSV exported from Trend's console, read through `usage.columns` (no LMPI keys needed)."""

from __future__ import annotations

import pytest

from reconciler.config.model import Product
from reconciler.usage import TrendIds, UsageInvalid, read_csv

PRODUCTS = {
    "hes": Product("hes", "HES", "TM-HES", trend_product_ids=("HES",), trend_names=("Hosted Email Security",)),
    "wfbss-svc": Product("wfbss-svc", "WFBSS", "TM-WFBSS", trend_service_plan_ids=("plan-w1", "plan-w2")),
}
IDS = TrendIds.from_products(PRODUCTS)
COLUMNS = {"trend_customer_id": "Customer ID", "product": "Service Plan", "quantity": "Chargeable Units"}

EXPORT = """\
Customer,Customer ID,Service Plan,Unit Type,Provisioned Units,Used Units,Chargeable Units,Comments
Acme,c-1,Hosted Email Security,Seats,40,35,38,
Acme,c-1,plan-w1,Seats,20,20,20,
Acme,c-1,PLAN-W2,Seats,5,4,5,"moved, mid-month"
Acme,c-1,wfbss-svc,Seats,1,1,1,
Bravo,c-2,Cloud Edge,Seats,3,3,3,
"""


def write(tmp_path, text: str):
    path = tmp_path / "trend-export.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_mapped_columns_read_trends_export(tmp_path):
    usage = read_csv(write(tmp_path, EXPORT), PRODUCTS, columns=COLUMNS, trend_ids=IDS)
    # Names, service plan ids (any case) and product keys all count; plans of one product add up.
    assert usage.quantities == {("c-1", "hes"): 38, ("c-1", "wfbss-svc"): 26}
    assert usage.basis == "file" and usage.source.startswith("csv:")
    (warning,) = usage.warnings
    assert ":6:" in warning and "'Cloud Edge'" in warning and "counted by no product" in warning
    assert {row["trend_product"] for row in usage.rows} == {"Hosted Email Security", "plan-w1", "PLAN-W2", "wfbss-svc"}


def test_another_units_column_bills_another_figure(tmp_path):
    columns = dict(COLUMNS, quantity="provisioned units")  # header names compare case-insensitively
    usage = read_csv(write(tmp_path, EXPORT), PRODUCTS, columns=columns, trend_ids=IDS)
    assert usage.quantities[("c-1", "hes")] == 40


def test_a_missing_mapped_column_is_one_clear_error_at_the_header(tmp_path):
    with pytest.raises(UsageInvalid) as info:
        read_csv(write(tmp_path, EXPORT), PRODUCTS, columns=dict(COLUMNS, quantity="Billable"), trend_ids=IDS)
    (error,) = info.value.errors
    assert error.line_number == 1 and "'billable' (usage.columns.quantity)" in error.message


def test_bad_cells_are_reported_with_their_lines(tmp_path):
    text = EXPORT.replace("Acme,c-1,plan-w1,Seats,20,20,20,", "Acme,,plan-w1,Seats,20,20,twenty,")
    with pytest.raises(UsageInvalid) as info:
        read_csv(write(tmp_path, text), PRODUCTS, columns=COLUMNS, trend_ids=IDS)
    messages = [str(e) for e in info.value.errors]
    assert any(":3: error: empty Customer ID" in m for m in messages)
    assert any(":3: error: Chargeable Units must be a whole number, got 'twenty'" in m for m in messages)


def test_our_own_header_still_works_unchanged(tmp_path):
    usage = read_csv(write(tmp_path, "trend_customer_id,product,quantity\nc-1,hes,3\n"), PRODUCTS)
    assert usage.quantities == {("c-1", "hes"): 3}
    assert usage.rows == ({"trend_customer_id": "c-1", "product": "hes", "quantity": 3},)


TWICE = """\
Customer,Customer ID,Service Plan,Subscription,Chargeable Units
Acme,c-1,Hosted Email Security,SUB-1,35
Acme,c-1,Hosted Email Security,SUB-1,35
"""


def test_a_row_listed_twice_is_refused_at_both_lines_never_billed_twice(tmp_path):
    with pytest.raises(UsageInvalid) as info:
        read_csv(write(tmp_path, TWICE), PRODUCTS, columns=COLUMNS, trend_ids=IDS)
    (error,) = info.value.errors
    assert error.line_number == 3 and "is already at line 2" in error.message
    assert "summing them would bill 35 seats twice" in error.message
    assert "usage.columns.subscription" in error.message  # how to say they are two subscriptions
    # The same rows with a subscription column that names the same subscription: still one row.
    with pytest.raises(UsageInvalid) as info:
        read_csv(write(tmp_path, TWICE), PRODUCTS, columns=dict(COLUMNS, subscription="Subscription"), trend_ids=IDS)
    assert "Subscription 'SUB-1' is already at line 2" in info.value.errors[0].message


def test_a_repeat_in_another_case_or_with_another_quantity_is_still_a_duplicate(tmp_path):
    text = TWICE.replace("Acme,c-1,Hosted Email Security,SUB-1,35\n", "Acme,C-1,hosted email security,SUB-1,36\n", 1)
    with pytest.raises(UsageInvalid) as info:
        read_csv(write(tmp_path, text), PRODUCTS, columns=COLUMNS, trend_ids=IDS)
    assert info.value.errors[0].line_number == 3


def test_two_subscriptions_are_summed_when_the_source_says_so_and_the_parts_are_kept(tmp_path):
    text = TWICE.replace("SUB-1,35\n", "SUB-2,12\n").replace("SUB-2,12\n", "SUB-1,35\n", 1)
    usage = read_csv(write(tmp_path, text), PRODUCTS, columns=dict(COLUMNS, subscription="Subscription"),
                     trend_ids=IDS)
    assert usage.quantities == {("c-1", "hes"): 47}
    assert usage.parts_for("C-1") == {"hes": (("Hosted Email Security / SUB-1", 35),
                                              ("Hosted Email Security / SUB-2", 12))}
    assert [row["subscription"] for row in usage.rows] == ["SUB-1", "SUB-2"]
