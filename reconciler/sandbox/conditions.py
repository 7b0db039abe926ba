"""The ConnectWise `conditions` query grammar: a parser to a predicate over stored records.

Grammar (keywords case-insensitive, as SQL Server is behind the real API):

    expr       := term (OR term)*
    term       := factor (AND factor)*
    factor     := NOT factor | '(' expr ')' | comparison
    comparison := path op value
                | path [NOT] (contains | like) string
                | path [NOT] in '(' value (',' value)* ')'
    op         := = | != | <> | < | <= | > | >=
    value      := "str" | 'str' | number | [datetime] | null | true | false
    path       := name ('/' name)*          e.g. company/identifier, type/name

Semantics mirror SQL: any comparison with a missing (null) field is false except `= null` and
`!= null`; strings compare case-insensitively; `like` takes `%` or `*` (any run), `_` (one char).
Field names are resolved case-insensitively against the OpenAPI schema so an unknown field is a
400, like the real server. A quoted number against a numeric field is accepted (SQL Server
converts it implicitly); a number against a boolean field is rejected with CW's own wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from reconciler.sandbox.fields import SCHEMA_FIELDS

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


class ConditionError(ValueError):
    """A conditions string the server would answer with 400."""


@dataclass(frozen=True)
class Token:
    kind: str  # "str", "num", "dt", "word", "op", "(", ")", ","
    value: Any
    pos: int


_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<lp>\() | (?P<rp>\)) | (?P<comma>,)
      | (?P<dt>\[[^\]]*\])
      | (?P<num>-?\d+(?:\.\d+)?(?![A-Za-z_/]))
      | (?P<word>[A-Za-z_][A-Za-z0-9_/.]*)
      | (?P<quote>["'])
    )""",
    re.VERBOSE,
)

_BOOL_MSG = (
    "Expected a boolean value, not a {got}. String values should be enclosed with double or single "
    "quotes; DateTime values should be enclosed in square brackets; null values should be indicated "
    "by the keyword null."
)


def parse_datetime(text: str) -> datetime | None:
    """Parse CW's `YYYY-MM-DDTHH:MM:SSZ` (also tolerating a bare date or an offset)."""
    text = text.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            value = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(text, pos)
        if not match:
            raise ConditionError(f"Unexpected character {text[pos:].strip()[0]!r} at position {pos}.")
        start = match.start(match.lastgroup) if match.lastgroup else pos
        group = match.lastgroup
        if group == "quote":
            quote = match.group("quote")
            i, chars = match.end(), []
            while True:
                if i >= len(text):
                    raise ConditionError(f"Unterminated string starting at position {start}.")
                ch = text[i]
                if ch == "\\" and i + 1 < len(text):
                    chars.append(text[i + 1])
                    i += 2
                    continue
                if ch == quote:
                    break
                chars.append(ch)
                i += 1
            tokens.append(Token("str", "".join(chars), start))
            pos = i + 1
            continue
        raw = match.group(group or 0)  # every alternative of _TOKEN_RE is a named group
        if group == "dt":
            parsed = parse_datetime(raw[1:-1])
            if parsed is None:
                raise ConditionError(
                    f"Invalid datetime {raw}: use [YYYY-MM-DDTHH:MM:SSZ] at position {start}."
                )
            tokens.append(Token("dt", parsed, start))
        elif group == "num":
            tokens.append(Token("num", float(raw) if "." in raw else int(raw), start))
        elif group == "op":
            tokens.append(Token("op", "!=" if raw == "<>" else raw, start))
        elif group == "lp":
            tokens.append(Token("(", raw, start))
        elif group == "rp":
            tokens.append(Token(")", raw, start))
        elif group == "comma":
            tokens.append(Token(",", raw, start))
        else:
            tokens.append(Token("word", raw, start))
        pos = match.end()
    return tokens


_NULL = object()  # the `null` literal


def _like_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch in "%*":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[":  # SQL LIKE escape: [%] matches a literal %
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                out.append("[" + re.escape(pattern[i + 1 : end]) + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


class FieldResolver:
    """Maps a condition path to (canonical path, field type) using the OpenAPI schema."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def resolve(self, path: str, allow_ref: bool = False) -> tuple[tuple[str, ...], str]:
        schema, parts, ftype = self.schema, [], "object"
        segments = path.split("/")
        for index, segment in enumerate(segments):
            fields = SCHEMA_FIELDS.get(schema, {})
            lowered = {name.lower(): name for name in fields}
            name = lowered.get(segment.lower())
            if name is None:
                raise ConditionError(f"Unknown field '{path}' for {self.schema}.")
            parts.append(name)
            ftype = fields[name]
            if ftype.startswith("ref:"):
                schema = ftype[4:]
            elif index < len(segments) - 1:
                raise ConditionError(f"Unknown field '{path}' for {self.schema}: {name} has no fields.")
        if ftype.startswith("ref:") and not allow_ref:
            raise ConditionError(f"Field '{path}' is a reference: compare one of its fields, e.g. {path}/id.")
        return tuple(parts), ftype


def get_path(record: Record, path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _coerce_literal(value: Any, ftype: str, path: str) -> Any:
    """Check a literal against the field type; return it in the form comparisons use."""
    if value is _NULL:
        return _NULL
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        got = "numeric" if isinstance(value, (int, float)) else "string"
        raise ConditionError(_BOOL_MSG.format(got=got) + f" (field {path})")
    if ftype in ("integer", "number"):
        if isinstance(value, bool):
            raise ConditionError(f"Expected a numeric value for {path}, not a boolean.")
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, str):
            try:
                return float(value) if "." in value else int(value)
            except ValueError:
                pass
        raise ConditionError(f"Expected a numeric value for {path}.")
    if ftype == "datetime":
        if isinstance(value, datetime):
            return value
        if isinstance(value, str) and (parsed := parse_datetime(value)):
            return parsed
        raise ConditionError(
            f"Expected a DateTime value for {path}: DateTime values should be enclosed in square brackets."
        )
    # string-ish fields: compare as text, case-insensitively
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ").lower()
    return str(value).lower()


def _field_value(record: Record, path: tuple[str, ...], ftype: str) -> Any:
    value = get_path(record, path)
    if value is None:
        return None
    if ftype == "datetime":
        return parse_datetime(str(value))
    if ftype in ("integer", "number", "boolean"):
        return value
    return str(value).lower()


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class _Parser:
    def __init__(self, text: str, resolver: FieldResolver) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.resolver = resolver
        # (canonical path, lowered literal) for top-level `and`-ed equalities: lets the store use an index
        self.equalities: list[tuple[tuple[str, ...], Any]] = []

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise ConditionError("Unexpected end of conditions.")
        self.i += 1
        return token

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.value.lower() == word

    def parse(self) -> Predicate:
        if not self.tokens:
            raise ConditionError("Empty conditions.")
        predicate = self.expr(top=True)
        if self.peek() is not None:
            token = self.peek()
            assert token is not None
            raise ConditionError(f"Unexpected {token.value!r} at position {token.pos}.")
        return predicate

    def expr(self, top: bool = False) -> Predicate:
        terms = [self.term(top)]
        while self.is_word("or"):
            self.take()
            terms.append(self.term(False))
        if len(terms) > 1:
            if top:
                self.equalities.clear()  # an `or` at the top makes no single equality binding
            return lambda r: any(t(r) for t in terms)
        return terms[0]

    def term(self, top: bool) -> Predicate:
        factors = [self.factor(top)]
        while self.is_word("and"):
            self.take()
            factors.append(self.factor(top))
        if len(factors) > 1:
            return lambda r: all(f(r) for f in factors)
        return factors[0]

    def factor(self, top: bool) -> Predicate:
        if self.is_word("not"):
            self.take()
            inner = self.factor(False)
            return lambda r: not inner(r)
        token = self.peek()
        if token is not None and token.kind == "(":
            self.take()
            inner = self.expr(False)
            closing = self.take()
            if closing.kind != ")":
                raise ConditionError(f"Expected ')' at position {closing.pos}.")
            return inner
        return self.comparison(top)

    def literal(self) -> Any:
        token = self.take()
        if token.kind in ("str", "num", "dt"):
            return token.value
        if token.kind == "word":
            word = token.value.lower()
            if word == "null":
                return _NULL
            if word in ("true", "false"):
                return word == "true"
        raise ConditionError(
            f"Invalid value {token.value!r} at position {token.pos}. String values should be enclosed "
            "with double or single quotes; DateTime values should be enclosed in square brackets; "
            "null values should be indicated by the keyword null."
        )

    def comparison(self, top: bool) -> Predicate:
        field = self.take()
        if field.kind != "word" or field.value.lower() in ("and", "or", "not"):
            raise ConditionError(f"Expected a field name at position {field.pos}, got {field.value!r}.")
        path, ftype = self.resolver.resolve(field.value)
        shown = "/".join(path)
        negate = False
        if self.is_word("not"):
            self.take()
            negate = True
        op_token = self.take()
        op: str = op_token.value.lower() if op_token.kind in ("word", "op") else ""  # "": refused below
        if op_token.kind == "word" and op in ("contains", "like", "in"):
            pass
        elif op_token.kind == "op" and not negate:
            pass
        else:
            raise ConditionError(f"Expected an operator after {field.value} at position {op_token.pos}.")

        if op == "in":
            opening = self.take()
            if opening.kind != "(":
                raise ConditionError(f"Expected '(' after in at position {opening.pos}.")
            values = [_coerce_literal(self.literal(), ftype, shown)]
            while (token := self.take()).kind == ",":
                values.append(_coerce_literal(self.literal(), ftype, shown))
            if token.kind != ")":
                raise ConditionError(f"Expected ')' or ',' at position {token.pos}.")
            wanted = [v for v in values if v is not _NULL]
            null_ok = len(wanted) != len(values)

            def in_list(r: Record) -> bool:
                value = _field_value(r, path, ftype)
                if value is None:
                    return null_ok and not negate
                return (value in wanted) != negate

            return in_list

        value = self.literal()
        if op in ("contains", "like"):
            if value is _NULL or not isinstance(value, str):
                raise ConditionError(f"{op} needs a quoted string value (field {shown}).")
            if op == "contains":
                needle = value.lower()

                def contains(r: Record) -> bool:
                    got = get_path(r, path)
                    return got is not None and ((needle in str(got).lower()) != negate)

                return contains
            regex = _like_regex(value)

            def like(r: Record) -> bool:
                got = get_path(r, path)
                return got is not None and ((regex.fullmatch(str(got)) is not None) != negate)

            return like

        literal = _coerce_literal(value, ftype, shown)
        if literal is _NULL:
            if op not in ("=", "!="):
                raise ConditionError(f"null can only be compared with = or != (field {shown}).")
            want_null = op == "="
            return lambda r: (get_path(r, path) is None) == want_null
        if op == "=" and top and ftype != "datetime":
            self.equalities.append((path, literal))
        compare = _COMPARE[op]

        def compare_field(r: Record) -> bool:
            got = _field_value(r, path, ftype)
            if got is None:
                return False
            try:
                return compare(got, literal)
            except TypeError:
                return False

        return compare_field


@dataclass(frozen=True)
class Condition:
    predicate: Predicate
    equalities: tuple[tuple[tuple[str, ...], Any], ...]  # top-level `and`-ed `field = literal`


def parse_conditions(text: str, schema: str) -> Condition:
    """Parse `text` for records of OpenAPI `schema` (e.g. "Agreement"); raises ConditionError."""
    parser = _Parser(text, FieldResolver(schema))
    predicate = parser.parse()
    return Condition(predicate, tuple(parser.equalities))


def parse_order_by(text: str, schema: str) -> list[tuple[tuple[str, ...], str, bool]]:
    """`orderBy=field asc, other desc` -> [(path, type, descending)]."""
    resolver = FieldResolver(schema)
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ConditionError(f"Invalid orderBy {part.strip()!r}: expected 'field asc|desc'.")
        path, ftype = resolver.resolve(words[0])
        keys.append((path, ftype, len(words) == 2 and words[1].lower() == "desc"))
    return keys
