"""Building ConnectWise `conditions` strings without ever pasting user text raw.

CW's query grammar (see docs/client.md): `field op value`, strings in double quotes,
numbers bare, `true`/`false`/`null`, datetimes in `[YYYY-MM-DDTHH:MM:SSZ]`, `in (a, b)`,
joined with `and`/`or` and parentheses. Customer identifiers and product names come from
YAML files anyone can edit in a pull request, so every value goes through `render_value`
and every field name through a whitelist pattern. The result is a `Condition` (a `str`
subclass) and `Client.list` accepts only `Condition`, so a hand-built string cannot slip
in by accident. URL-encoding is left to requests' `params`.

Decisions: naive datetimes are taken as UTC; a string escapes `\\` and `"` with a
backslash (CW's documented quoting is silent on escapes; this is the C#-style form its
parser accepts and the sandbox implements); floats must be finite.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_/]*$")
OPERATORS = frozenset(
    {
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "contains",
        "like",
        "in",
        "not contains",
        "not like",
        "not in",
    }
)
_LIST_OPERATORS = frozenset({"in", "not in"})


class Condition(str):
    """A conditions expression built by `cond`, `all_of` or `any_of`."""


def quote(text: str) -> str:
    """`text` as a double-quoted CW string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_value(value: Any) -> str:
    """One literal in CW syntax. Raises TypeError/ValueError for anything else."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"condition value must be finite, got {value!r}")
        # Plain decimal notation: the grammar has no exponents (1e-05 would be a syntax error).
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"condition value must be finite, got {value!r}")
        return format(value, "f")
    if isinstance(value, datetime):
        moment = value.astimezone(timezone.utc) if value.tzinfo is not None else value
        return "[" + moment.strftime("%Y-%m-%dT%H:%M:%SZ") + "]"
    if isinstance(value, date):
        return "[" + value.strftime("%Y-%m-%dT00:00:00Z") + "]"
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"cannot use {type(value).__name__} as a condition value")


def cond(field: str, op: str, value: Any) -> Condition:
    """One condition: `cond("company/identifier", "=", "ACME")` is `company/identifier = "ACME"`.

    `in`/`not in` take a non-empty list, tuple or set (sets are sorted for stable URLs).
    """
    if not isinstance(field, str) or not FIELD.match(field):
        raise ValueError(f"invalid condition field name {field!r}")
    norm_op = " ".join(str(op).split()).lower()
    if norm_op not in OPERATORS:
        raise ValueError(f"invalid condition operator {op!r}; expected one of {sorted(OPERATORS)}")
    if norm_op in _LIST_OPERATORS:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise TypeError(f"operator {norm_op!r} needs a list of values")
        items = list(value)
        if isinstance(value, (set, frozenset)):
            items.sort(key=lambda v: (type(v).__name__, v))
        if not items:
            raise ValueError(f"operator {norm_op!r} needs at least one value")
        rendered = "(" + ", ".join(render_value(v) for v in items) + ")"
    else:
        if isinstance(value, (list, tuple, set, frozenset)):
            raise TypeError(f"operator {norm_op!r} takes one value, not a list")
        rendered = render_value(value)
    return Condition(f"{field} {norm_op} {rendered}")


def _join(word: str, conditions: tuple[Condition | None, ...]) -> Condition:
    parts = [c for c in conditions if c is not None]
    for part in parts:
        if not isinstance(part, Condition):
            raise TypeError("combine only conditions built with cond(), all_of() or any_of()")
    if not parts:
        raise ValueError(f"{word}: no conditions given")
    if len(parts) == 1:
        return parts[0]
    return Condition("(" + f" {word} ".join(parts) + ")")


def all_of(*conditions: Condition | None) -> Condition:
    """`(a and b and ...)`; None arguments are skipped so optional filters read naturally."""
    return _join("and", conditions)


def any_of(*conditions: Condition | None) -> Condition:
    """`(a or b or ...)`; None arguments are skipped."""
    return _join("or", conditions)
