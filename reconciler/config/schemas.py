"""Schema checks: JSON Schema 2020-12 validation of parsed YAML, with human messages at line:col.

The schemas live in the tool repository's top-level `schemas/` directory (shipped in the wheel
as `reconciler/schemas/`), are loaded and compiled once per process, each standing alone under
its `$id` (the customer schema carries a copy of the global `billing` and `executive_summary`
definitions it overrides, kept equal by a test).

Every error is reported (`iter_errors`), each at the offending node:
- a missing required key: at the key naming the mapping that lacks it (the first line of the
  file for the top-level mapping), because that is the line the user has to extend;
- an unknown key: at the unknown key itself, with a did-you-mean;
- a oneOf/anyOf failure: the errors of the branch the value was evidently aiming for (its
  `const`, type and discriminator properties fit), else one line naming the alternatives.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, cast

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry, Resource

from reconciler.config.diagnostics import Diagnostic
from reconciler.config.quickcheck import compile_quick_check
from reconciler.config.yamlsource import JsonPath, YamlDocument


def _integer(_checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _number(_checker: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, float) and math.isfinite(instance))


# The schema types mean what the code can use: JSON Schema calls 10.0 an integer, but a billing
# day of 10.0 crashed `apply`, and .inf/.nan pass every minimum/maximum. So an integer is a
# whole number written without a point, and a number is finite (quickcheck.py agrees).
TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine_many(
    {"integer": _integer, "number": _number}
)
# extend() makes a subclass of Draft202012Validator.
Validator: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]  # stubs: untyped
    Draft202012Validator, type_checker=TYPE_CHECKER
)


def _schema_dir() -> Path:
    """Where the JSON Schemas are: the repository's top-level `schemas/` is their one source.
    The build ships it inside the package as `reconciler/schemas/` (setup.py), so a wheel
    installed anywhere validates a config repository that holds only config/. From a source
    tree (an editable install, or tests) the package directory has no copy: read the source."""
    packaged = Path(str(resources.files("reconciler") / "schemas"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


SCHEMA_DIR = _schema_dir()
SCHEMA_FILES = {"global": "global.schema.json", "customer": "customer.schema.json"}
MAX_PER_FILE = 200  # schema problems reported per file
# `reconcile import` writes this where it cannot know the Trend customer id.
PLACEHOLDER_ID = "REPLACE-ME"

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing (null)",
}
# Keys too generic to stand alone in a message ("day must be 1-31": which day?).
_GENERIC_KEYS = {"day", "enabled", "timezone", "name", "type", "path", "url", "source"}


@dataclass(frozen=True)
class Schemas:
    """The compiled validators, or the diagnostics explaining why the schemas are unusable.

    `quick` holds, per kind, a fast yes/no check compiled from the same schema (see
    `quickcheck.py`): a file it passes is valid; anything else goes through jsonschema, which
    stays the only source of error messages.
    """

    validators: dict[str, Any]
    documents: dict[str, dict[str, Any]]
    problems: tuple[Diagnostic, ...] = ()
    quick: dict[str, Callable[[Any], bool]] = field(default_factory=dict)

    def defaults(self, kind: str, section: str) -> dict[str, Any]:
        """`default` of each property of a top-level section (following a local `$ref`)."""
        schema = self.documents[kind]
        node = schema.get("properties", {}).get(section, {})
        ref = node.get("$ref", "")
        if ref.startswith("#/"):
            node = _pointer(schema, ref[2:])
        return {
            key: sub["default"]
            for key, sub in node.get("properties", {}).items()
            if isinstance(sub, dict) and "default" in sub
        }

    def default(self, kind: str, *path: str) -> Any:
        node: Any = self.documents[kind]
        for key in path:
            node = node["properties"][key]
        return node.get("default")


def _pointer(document: dict[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = document
    for part in pointer.split("/"):
        node = node[part]
    found: dict[str, Any] = node
    return found


@functools.cache
def load_schemas(schema_dir: Path = SCHEMA_DIR) -> Schemas:
    """Read, check and compile both schemas once per process."""
    documents: dict[str, dict[str, Any]] = {}
    problems: list[Diagnostic] = []
    for kind, name in SCHEMA_FILES.items():
        path = schema_dir / name
        try:
            documents[kind] = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            problems.append(
                Diagnostic(str(path), 1, 1, f"cannot read schema: {error.strerror or error}")
            )
        except ValueError as error:
            line, col = getattr(error, "lineno", 1), getattr(error, "colno", 1)
            problems.append(Diagnostic(str(path), line, col, f"schema is not valid JSON: {error}"))
    for kind, document in documents.items():
        try:
            Draft202012Validator.check_schema(document)
        except SchemaError as error:
            problems.append(
                Diagnostic(
                    str(schema_dir / SCHEMA_FILES[kind]),
                    1,
                    1,
                    f"schema is not valid JSON Schema: {error.message}",
                    error.json_path,
                )
            )
    if problems:
        return Schemas({}, documents, tuple(problems))
    # Each schema stands alone under its `$id` (a URN: it names the schema without pretending to
    # be a URL anyone serves) and refers only to its own `$defs`, so check-jsonschema and editors
    # resolve it offline from the file alone; the registry names each by its `$id`.
    registry: Registry = Registry().with_resources(
        (document.get("$id", SCHEMA_FILES[kind]), Resource.from_contents(document))
        for kind, document in documents.items()
    )
    validators = {
        kind: Validator(document, registry=registry)
        for kind, document in documents.items()
    }
    quick = {}
    for kind, document in documents.items():
        check = compile_quick_check({"$id": SCHEMA_FILES[kind], **document}, registry)
        if check is not None:
            quick[kind] = check
    return Schemas(validators, documents, quick=quick)


def schema_errors(doc: YamlDocument, kind: str, schemas: Schemas) -> list[Diagnostic]:
    """All schema violations of one document, as diagnostics."""
    quick = schemas.quick.get(kind)
    if quick is not None and quick(doc.data):
        return []

    def every() -> Iterator[Diagnostic]:
        for error in schemas.validators[kind].iter_errors(doc.data):
            yield from _diagnostics(doc, error)

    # Stop early: a generated file with 20,000 unknown keys would otherwise cost a did-you-mean
    # each (seconds), for messages nobody reads past the first screen.
    found = list(itertools.islice(every(), MAX_PER_FILE + 1))
    if len(found) > MAX_PER_FILE:
        found[MAX_PER_FILE:] = [
            doc.diagnostic((), f"more than {MAX_PER_FILE} schema problems in this file; "
                           "fix these first (is this the right file?)")
        ]
    # oneOf branches and `required` can repeat themselves; keep each problem once.
    return list(dict.fromkeys(found))


def _diagnostics(doc: YamlDocument, error: ValidationError) -> Iterator[Diagnostic]:
    path: JsonPath = tuple(error.absolute_path)
    keyword = error.validator
    # set on every error jsonschema yields (the stubs also allow "unset")
    value: Any = error.validator_value
    schema: Any = error.schema
    if keyword in ("oneOf", "anyOf") and error.context:
        yield from _alternatives(doc, error, path)
    elif keyword == "required":
        for key in value:
            if (
                isinstance(error.instance, dict)
                and key not in error.instance
                and error.message.startswith(repr(key))
            ):
                hint = _hint(schema.get("properties", {}).get(key))
                hint = hint if len(hint) <= 60 else ""  # a long description buries the point
                yield doc.diagnostic(
                    path, f"missing required key '{key}'{_suffix(hint)}", at_key=True
                )
    elif keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        for key in error.instance:
            if key in known or any(p.search(key) for p in patterns):
                continue
            yield doc.diagnostic(path + (key,), _unknown_key(key, known), at_key=True)
    elif "propertyNames" in error.relative_schema_path:
        name: Any = error.instance
        hint = _hint(schema) or f"keys here must match {value}"
        yield doc.diagnostic(path + (name,), f"invalid key '{name}': {hint}", at_key=True)
    else:
        yield doc.diagnostic(path, _message(error, path))


def _alternatives(
    doc: YamlDocument, error: ValidationError, path: JsonPath
) -> Iterator[Diagnostic]:
    """Report the branch the value was aiming for, or say what the alternatives are."""
    branches: list[dict[str, Any]] = cast(list[dict[str, Any]], error.validator_value)
    plausible = [
        sub
        for sub in error.context
        # a oneOf/anyOf branch's error: its schema path starts at the branch's index
        if _plausible(branches[cast(int, sub.relative_schema_path[0])], error.instance)
    ]
    if plausible:
        chosen = best_match(plausible)
        index = chosen.relative_schema_path[0]
        for sub in plausible:
            if sub.relative_schema_path[0] == index:
                yield from _diagnostics(doc, sub)
        return
    wanted = [_describe(branch) for branch in branches]
    message = f"{_show(error.instance)} is not valid here: must be {' or '.join(wanted)}"
    consts = [str(b["const"]) for b in branches if "const" in b]
    if isinstance(error.instance, str):
        message += _did_you_mean(error.instance, consts)
    yield doc.diagnostic(path, message)


def _plausible(branch: dict[str, Any], instance: Any) -> bool:
    """Could the author have meant this branch? Judged on its const, type and discriminators."""
    if "const" in branch:
        return bool(instance == branch["const"])
    if "enum" in branch:
        return instance in branch["enum"]
    expected = branch.get("type")
    if expected and not _is_type(instance, expected):
        return False
    if isinstance(instance, dict):
        for key, sub in branch.get("properties", {}).items():
            if (
                isinstance(sub, dict)
                and "const" in sub
                and key in instance
                and instance[key] != sub["const"]
            ):
                return False
    return True


def _describe(branch: dict[str, Any]) -> str:
    if "const" in branch:
        return f"`{branch['const']}`"
    if branch.get("type") == "object":
        props = branch.get("properties", {})
        parts = [
            f"{k}: {v['const']}" for k, v in props.items() if isinstance(v, dict) and "const" in v
        ]
        parts += [k for k in branch.get("required", []) if not ("const" in props.get(k, {}))]
        return "a mapping with " + " and ".join(parts) if parts else "a mapping"
    return _type_words(branch.get("type", "any value"))


def _message(error: ValidationError, path: JsonPath) -> str:
    value: Any
    instance: Any
    schema: Any  # set on every error jsonschema yields (the stubs also allow "unset")
    keyword, value, instance, schema = (
        error.validator,
        error.validator_value,
        error.instance,
        error.schema,
    )
    label = _label(path)
    if keyword == "type":
        message = f"{label}: expected {_type_words(value)}, got {_show(instance)}"
        if (
            isinstance(instance, str)
            and value in ("integer", "number")
            and _looks_numeric(instance)
        ):
            message += " (remove the quotes)"
        elif value == "string" and isinstance(instance, (int, float, bool)):
            message += f' (quote it: "{_yaml_scalar(instance)}")'
        else:
            message += _yaml11_hint(instance, value)
        return message
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{error.message}: {label} must be {_range(schema)}"
    if keyword == "pattern":
        if (
            path == ("trend_customer_id",)
            and isinstance(instance, str)
            and instance.strip() == PLACEHOLDER_ID
        ):
            return (
                f"trend_customer_id is still the import placeholder {PLACEHOLDER_ID}: fill in the "
                "Trend customer id (the customer's GUID in Trend Micro Remote Manager)"
            )
        hint = _hint(schema)
        return f"{label} {_show(instance)} is not in the expected format{_suffix(hint or value)}"
    if keyword == "enum" and path == ("usage", "reported_units") and instance == "chargeable":
        return ("usage.reported_units: chargeable is not a figure of Trend's documented summary report: "
                "use provisioned (the default) or used")
    if keyword == "enum":
        choices = ", ".join(str(v) for v in value)
        return f"{label} must be one of: {choices} (got {_show(instance)})" + (
            _did_you_mean(instance, [str(v) for v in value]) if isinstance(instance, str) else ""
        )
    if keyword == "const":
        return f"{label} must be {value!r}, got {_show(instance)}"
    if keyword == "minLength":
        return (
            f"{label} must not be empty"
            if value == 1
            else f"{label} must be at least {value} characters"
        )
    if keyword == "maxLength":
        return f"{label} is {len(instance)} characters long, more than the maximum of {value}"
    if keyword == "minProperties":
        return f"{label} needs at least {value} entr{'y' if value == 1 else 'ies'}{_suffix(_hint(schema))}"
    if keyword == "minItems":
        return f"{label} needs at least {value} item{'' if value == 1 else 's'}"
    if keyword == "uniqueItems":
        repeated = next((item for index, item in enumerate(instance) if item in instance[:index]), None)
        return f"{label} lists {_show(repeated)} more than once"
    return f"{label}: {error.message}"


def _label(path: JsonPath) -> str:
    """A human name for the value at `path`: `billing day`, `connectwise_company`, `value`."""
    keys = [part for part in path if isinstance(part, str)]
    if not keys:
        return "value"
    if keys[-1] in _GENERIC_KEYS and len(keys) > 1:
        return f"{keys[-2].replace('_', ' ')} {keys[-1]}"
    return keys[-1]


def _range(schema: dict[str, Any]) -> str:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and high is not None:
        return f"{low}-{high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _unknown_key(key: str, known: list[str]) -> str:
    message = f"unknown key '{key}'"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"{message} (did you mean '{close[0]}'?)"
    return f"{message}; allowed keys: {', '.join(known)}" if known else message


def _did_you_mean(value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _hint(schema: Any) -> str:
    """The first sentence of a schema's description: the 'what is this' a message needs."""
    if not isinstance(schema, dict) or not schema.get("description"):
        return ""
    return re.split(r"(?<=\.)\s", schema["description"], maxsplit=1)[0].rstrip(".")


def _suffix(hint: str) -> str:
    return f" ({hint})" if hint else ""


def _type_words(expected: str | list[str]) -> str:
    if isinstance(expected, list):
        return " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
    return _TYPE_WORDS.get(expected, expected)


def _is_type(instance: Any, expected: str | list[str]) -> bool:
    if isinstance(expected, list):
        return any(_is_type(instance, t) for t in expected)
    return bool(TYPE_CHECKER.is_type(instance, expected))


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, str):
        return repr(value)
    return _yaml_scalar(value)


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_YAML11_BOOLS = {
    **dict.fromkeys(("yes", "y", "on"), "true"),
    **dict.fromkeys(("no", "n", "off"), "false"),
}


def _yaml11_hint(instance: Any, expected: str | list[str]) -> str:
    """What to write instead, for values YAML 1.1 tools read differently than YAML 1.2 does."""
    if expected == "boolean" and isinstance(instance, str):
        word = _YAML11_BOOLS.get(instance.lower())
        if word:
            return f" (YAML 1.2 reads {instance} as text: write {word})"
    if expected == "integer" and isinstance(instance, float) and math.isfinite(instance):
        if instance.is_integer():
            return f" (write {int(instance)}, without a decimal point)"
    if expected == "integer" and isinstance(instance, str):
        text = instance.replace("_", "")
        for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
            try:
                if text.lower().startswith(prefix):
                    return f" (YAML 1.2 reads {instance} as text: write {int(text[2:], base)})"
            except ValueError:
                break
        if text.isdigit():
            return f" (YAML 1.2 reads {instance} as text: write {int(text)})"
    return ""


def _looks_numeric(text: str) -> bool:
    if "_" in text:  # Python's float() reads 1_000; YAML 1.2 does not
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True
