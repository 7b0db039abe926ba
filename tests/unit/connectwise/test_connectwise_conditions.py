"""`cond`/`all_of`/`any_of`: quoting, escaping, validation; values round-trip through a parser."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.connectwise import Condition, all_of, any_of, cond
from reconciler.connectwise.ratelimit import TokenBucket


def parse_string_literal(text: str) -> tuple[str, str]:
    """Reference parser: one leading `"..."` literal with backslash escapes -> (value, rest)."""
    assert text[0] == '"'
    out, i = [], 1
    while True:
        ch = text[i]
        if ch == "\\":
            out.append(text[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), text[i + 1 :]
        else:
            out.append(ch)
            i += 1


@pytest.mark.parametrize(
    "value,rendered",
    [
        ("ACME", '"ACME"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ('x" or 1=1 or name = "', '"x\\" or 1=1 or name = \\""'),
        (42, "42"),
        (-3, "-3"),
        (2.5, "2.5"),
        (1e-5, "0.00001"),
        (Decimal("10.50"), "10.50"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (date(2026, 11, 1), "[2026-11-01T00:00:00Z]"),
        (datetime(2026, 11, 1, 13, 5, 9), "[2026-11-01T13:05:09Z]"),
        (
            datetime(2026, 11, 1, 8, 0, tzinfo=timezone(timedelta(hours=-5))),
            "[2026-11-01T13:00:00Z]",
        ),
    ],
)
def test_values_render(value, rendered):
    assert cond("a/b", "=", value) == f"a/b = {rendered}"


def test_in_lists_and_operators():
    assert cond("company/id", "in", [3, 1]) == "company/id in (3, 1)"
    assert cond("name", "IN", ("a", 'b"')) == 'name in ("a", "b\\"")'
    assert cond("id", "not in", {2, 1}) == "id not in (1, 2)"
    assert cond("summary", "NOT   contains", "x") == 'summary not contains "x"'
    assert isinstance(cond("a", "=", 1), Condition)


@pytest.mark.parametrize(
    "field,op,value,exc",
    [
        ("name; drop", "=", "x", ValueError),
        ("1abc", "=", "x", ValueError),
        ("a b", "=", "x", ValueError),
        ("name", "==", "x", ValueError),
        ("name", "= 1 or", "x", ValueError),
        ("name", "in", "abc", TypeError),
        ("name", "in", [], ValueError),
        ("name", "=", ["a"], TypeError),
        ("name", "=", object(), TypeError),
        ("name", "=", float("nan"), ValueError),
        ("name", "=", b"bytes", TypeError),
    ],
)
def test_invalid_conditions_are_refused(field, op, value, exc):
    with pytest.raises(exc):
        cond(field, op, value)


def test_all_of_any_of():
    a, b, c = cond("a", "=", 1), cond("b", "=", 2), cond("c", "=", 3)
    assert all_of(a) == "a = 1"
    assert all_of(a, None, b) == "(a = 1 and b = 2)"
    assert all_of(a, any_of(b, c)) == "(a = 1 and (b = 2 or c = 3))"
    with pytest.raises(ValueError):
        all_of(None)
    with pytest.raises(TypeError):
        all_of(a, 'x = "raw"')  # type: ignore[arg-type]


@given(st.text())
def test_any_string_round_trips_through_quoting(text):
    rendered = cond("name", "=", text)
    prefix = "name = "
    assert rendered.startswith(prefix)
    value, rest = parse_string_literal(rendered[len(prefix) :])
    assert value == text and rest == ""


@given(st.lists(st.text(), min_size=1, max_size=5), st.text())
def test_strings_survive_the_sandbox_grammar(values, other):
    conditions = pytest.importorskip("reconciler.sandbox.conditions")
    rendered = all_of(cond("name", "in", values), any_of(cond("identifier", "=", other)))
    tokens = conditions.tokenize(rendered)
    strings = [t.value for t in tokens if t.kind == "str"]
    assert strings == [*values, other]
    words = [t.value.lower() for t in tokens if t.kind == "word"]
    assert words == ["name", "in", "and", "identifier"]  # nothing leaked out of the quotes


def test_token_bucket_bursts_then_waits():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(60, burst=3, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        bucket.acquire()
    assert slept == []
    bucket.acquire()
    assert slept and abs(sum(slept) - 1.0) < 1e-6  # 60/min = one per second
    assert TokenBucket(900).capacity == 90
