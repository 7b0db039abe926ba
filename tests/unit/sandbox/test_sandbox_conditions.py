"""The ConnectWise conditions grammar (reconciler/sandbox/conditions.py), without HTTP."""

from __future__ import annotations

import pytest

from reconciler.sandbox.conditions import ConditionError, parse_conditions, parse_order_by

AGREEMENT = {
    "id": 7, "name": 'Acme "Managed" \\ Plan', "agreementStatus": "Active", "cancelledFlag": False,
    "billAmount": 125.5, "startDate": "2024-03-01T00:00:00Z",
    "company": {"id": 3, "identifier": "AcmeDental", "name": "Acme Dental Group"},
    "type": {"id": 2, "name": "Managed Service"},
}
ADDITION = {"id": 9, "quantity": 42, "product": {"id": 1, "identifier": "TM-WFBSS-SVC"}, "agreementId": 7}


def matches(text: str, record: dict = AGREEMENT, schema: str = "Agreement") -> bool:
    return parse_conditions(text, schema).predicate(record)


@pytest.mark.parametrize("text, expected", [
    ('company/identifier = "AcmeDental"', True),
    ('company/identifier="acmedental"', True),  # case-insensitive like SQL Server
    ("company/identifier = 'AcmeDental'", True),
    ('company/identifier != "AcmeDental"', False),
    ("id = 7", True), ("id > 6 and id < 8", True), ("id >= 8", False), ("id <= 7", True),
    ('id = "7"', True),  # SQL Server converts a quoted number
    ("billAmount > 125.25", True),
    ("cancelledFlag = false", True), ("cancelledFlag = TRUE", False),
    ("startDate > [2024-01-01T00:00:00Z]", True), ("startDate < [2024-01-01T00:00:00Z]", False),
    ("dateCancelled = null", True), ("dateCancelled != null", False), ("company/id != null", True),
    ('type/name contains "manag"', True), ('type/name not contains "manag"', False),
    ('type/name like "Man%"', True), ('type/name like "*Service"', True), ('type/name like "Man"', False),
    ('type/name not like "Cloud%"', True),
    ('company/identifier in ("Brightline", "AcmeDental")', True),
    ("company/id in (1, 2)", False), ("company/id not in (1, 2)", True),
    ('(id = 1 or id = 7) and agreementStatus = "Active"', True),
    ('id = 1 OR id = 2 Or type/name = "Managed Service"', True),
    ('not (id = 7)', False),
    (r'name = "Acme \"Managed\" \\ Plan"', True),
    ('AgreementStatus = "active"', True),  # field names case-insensitive too
    ('dateCancelled > [2020-01-01T00:00:00Z]', False),  # null compares false
    ('dateCancelled not like "x%"', False),
])
def test_valid_conditions(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_addition_paths() -> None:
    assert matches('product/identifier = "TM-WFBSS-SVC" and agreementId = 7', ADDITION, "Addition")
    assert matches("cancelledDate = null", ADDITION, "Addition")


@pytest.mark.parametrize("text", [
    'company/identifier = "Acme',  # unterminated string
    "id = ",  # missing value
    "id 7",  # missing operator
    "(id = 7",  # missing parenthesis
    "id = 7 and",  # dangling and
    "nosuchfield = 1",  # unknown field
    "company/nosuch = 1",  # unknown sub-field
    "company = 1",  # a reference must be compared by a sub-field
    "cancelledFlag = 1",  # number against boolean
    "startDate > [yesterday]",  # bad datetime
    'id = Acme',  # unquoted string
    "id in 1, 2",  # in without parentheses
    "id < null",
    "id = 7 id = 8",
    "",
])
def test_invalid_conditions(text: str) -> None:
    with pytest.raises(ConditionError):
        parse_conditions(text, "Agreement")


def test_bool_error_uses_connectwise_wording() -> None:
    with pytest.raises(ConditionError, match="Expected a boolean value, not a numeric"):
        parse_conditions("cancelledFlag = 1", "Agreement")


def test_top_level_equalities_feed_the_index() -> None:
    cond = parse_conditions('company/identifier = "AcmeDental" and id > 1', "Agreement")
    assert cond.equalities == ((("company", "identifier"), "acmedental"),)
    assert parse_conditions('id = 1 or id = 2', "Agreement").equalities == ()
    assert parse_conditions('(id = 1 and id = 2)', "Agreement").equalities == ()


def test_order_by() -> None:
    assert parse_order_by("company/name asc, id desc", "Agreement") == [
        (("company", "name"), "string", False), (("id",), "integer", True)]
    with pytest.raises(ConditionError):
        parse_order_by("id sideways", "Agreement")
