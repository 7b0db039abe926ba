"""A fast yes/no schema check, compiled once from the same JSON Schema, for the common valid case.

Why: jsonschema spends ~0.25 ms per small customer file even when it finds nothing; with
5,000 customers that alone is over a second on a CI runner. Nearly every file in a real run
is valid, so we first ask this check, which is a tree of closures over the few keywords our
schemas use. Only when it does not say "valid" does jsonschema run (and it alone words errors).

Contract: `check(x) is True` implies jsonschema finds no error. Keywords it does not know make
`compile_quick_check` return None (jsonschema then runs for every file); any case it is unsure
about at run time counts as "not known valid". tests/test_config_load.py cross-checks it
against jsonschema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from referencing import Registry
from referencing._core import Resolver

Check = Callable[[Any], bool]

_ANNOTATIONS = {
    "$schema",
    "$id",
    "$defs",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
}
_SUPPORTED = {
    "$ref",
    "type",
    "const",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "required",
    "minProperties",
    "properties",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "items",
    "minItems",
    "uniqueItems",
    "oneOf",
    "anyOf",
    "allOf",
}


class _Unsupported(Exception):
    pass


class _Unsure(Exception):
    pass


def compile_quick_check(schema: dict[str, Any], registry: Registry) -> Check | None:
    """The quick check for `schema`, or None when the schema uses keywords it does not know."""
    try:
        check = _compile(schema, registry.resolver(schema.get("$id", "")))
    except _Unsupported:
        return None

    def quick(instance: Any) -> bool:
        try:
            return check(instance)
        except _Unsure:
            return False

    return quick


def _is_type(value: Any, name: str) -> bool:
    # The type semantics of schemas.TYPE_CHECKER: bools are not numbers, 10.0 is not an integer
    # (apply could not use it), and a number is finite (.inf and .nan pass every min/max).
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int)
    if name == "number":
        return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    raise _Unsupported(name)


def _combined(combine: Callable[[Iterable[bool]], bool], branches: list[Check]) -> Check:
    """`combine` (any, all, exactly one) of the branches' answers."""
    return lambda x: combine(check(x) for check in branches)


def _compile(schema: Any, resolver: Resolver) -> Check:
    if schema is True:
        return lambda x: True
    if schema is False:
        return lambda x: False
    if not isinstance(schema, dict) or set(schema) - _SUPPORTED - _ANNOTATIONS:
        raise _Unsupported(schema)
    checks: list[Check] = []
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        checks.append(_compile(resolved.contents, resolved.resolver))
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        for name in types:
            _is_type(None, name)  # raises for an unknown type name at compile time
        checks.append(lambda x: any(_is_type(x, t) for t in types))
    if "const" in schema:
        const = schema["const"]
        if not isinstance(const, str):  # string equality is exact; others have JSON subtleties
            raise _Unsupported(const)
        checks.append(lambda x: isinstance(x, str) and x == const)
    if "enum" in schema:
        values = schema["enum"]
        if not all(isinstance(v, str) for v in values):
            raise _Unsupported(values)
        allowed = frozenset(values)
        checks.append(lambda x: isinstance(x, str) and x in allowed)
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda x: not isinstance(x, str) or search(x) is not None)
    if "minLength" in schema:
        low = schema["minLength"]
        checks.append(lambda x: not isinstance(x, str) or len(x) >= low)
    if "maxLength" in schema:
        high = schema["maxLength"]
        checks.append(lambda x: not isinstance(x, str) or len(x) <= high)
    if "minimum" in schema:
        minimum = schema["minimum"]
        checks.append(lambda x: not _is_type(x, "number") or x >= minimum)
    if "maximum" in schema:
        maximum = schema["maximum"]
        checks.append(lambda x: not _is_type(x, "number") or x <= maximum)
    if "required" in schema:
        required = tuple(schema["required"])
        checks.append(lambda x: not isinstance(x, dict) or all(k in x for k in required))
    if "minProperties" in schema:
        count = schema["minProperties"]
        checks.append(lambda x: not isinstance(x, dict) or len(x) >= count)
    if {"properties", "additionalProperties", "patternProperties"} & set(schema):
        checks.append(_object_check(schema, resolver))
    if "propertyNames" in schema:
        name_check = _compile(schema["propertyNames"], resolver)
        checks.append(lambda x: not isinstance(x, dict) or all(name_check(k) for k in x))
    if "items" in schema:
        item_check = _compile(schema["items"], resolver)
        checks.append(lambda x: not isinstance(x, list) or all(item_check(i) for i in x))
    if "minItems" in schema:
        count_items = schema["minItems"]
        checks.append(lambda x: not isinstance(x, list) or len(x) >= count_items)
    if schema.get("uniqueItems"):
        checks.append(_unique)
    for keyword, combine in (("oneOf", _exactly_one), ("anyOf", any), ("allOf", all)):
        if keyword in schema:
            branches = [_compile(branch, resolver) for branch in schema[keyword]]
            checks.append(_combined(combine, branches))
    if len(checks) == 1:
        return checks[0]
    return lambda x: all(check(x) for check in checks)


def _object_check(schema: dict[str, Any], resolver: Resolver) -> Check:
    properties = {k: _compile(v, resolver) for k, v in schema.get("properties", {}).items()}
    patterns = [
        (re.compile(p).search, _compile(v, resolver))
        for p, v in schema.get("patternProperties", {}).items()
    ]
    extra = schema.get("additionalProperties", True)
    extra_check = None if extra is True else _compile(extra, resolver)

    def check(x: Any) -> bool:
        if not isinstance(x, dict):
            return True
        for key, value in x.items():
            known = properties.get(key)
            matched = known is not None
            if known is not None and not known(value):
                return False
            for search, pattern_check in patterns:
                if search(key):
                    matched = True
                    if not pattern_check(value):
                        return False
            if not matched and extra_check is not None and not extra_check(value):
                return False
        return True

    return check


def _exactly_one(results: Any) -> bool:
    return sum(1 for ok in results if ok) == 1


def _unique(x: Any) -> bool:
    if not isinstance(x, list):
        return True
    if not all(isinstance(item, str) for item in x):
        raise _Unsure  # JSON equality of mixed types (1 vs 1.0 vs true) is jsonschema's job
    return len(set(x)) == len(x)
