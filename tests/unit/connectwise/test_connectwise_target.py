"""ConnectWise JSON into the seam's records: its answers are untrusted."""

from decimal import Decimal

from reconciler.connectwise.target import addition_from, agreement_from


def test_a_currency_code_is_three_letters_or_unknown_never_markup():
    # The code goes into the Markdown money table of a pull-request comment.
    base = {"id": 1, "name": "A", "type": {"name": "T"}, "company": {"id": 2}}
    assert agreement_from({**base, "currency": {"currencyCode": "eur"}}).currency == "EUR"
    for bad in ("<b>", "U$", "EURO", "", 7, None):
        assert agreement_from({**base, "currency": {"currencyCode": bad}}).currency is None


def test_money_is_read_as_exact_decimals_and_junk_is_unknown():
    addition = addition_from({"id": 3, "product": {"identifier": "X"}, "quantity": 2, "unitPrice": 4.2,
                              "unitCost": "NaN", "lessIncluded": True}, 9)
    assert addition.unit_price == Decimal("4.2") and addition.unit_cost is None
    assert addition.less_included == Decimal(0)
