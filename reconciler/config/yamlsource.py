"""YAML source: read one config file into plain data, remembering where every node was written.

Why not `yaml.safe_load`: it throws the marks away (so schema errors could only say
`file::$.billing.day`, check-jsonschema's top complaint) and it silently lets a duplicate key
win. Instead we `compose` the node tree with libyaml's C parser (fast; falls back to the pure
Python one) and build the data ourselves, recording a 1-based line:col for each node's value and
each mapping key, keyed by JSON path.

YAML 1.2: the YAML language server the README recommends reads the YAML 1.2 core schema, so
the loader does too (a resolver on libyaml's C loader, PyYAML's own extension point): `010` is
10, `0o17` is 15, `0x1F` is 31, `0b11`, `1_000`, `yes`/`no`/`on`/`off` and `1:30` are strings,
and only `true`/`True`/`TRUE` and `false`/`False`/`FALSE` are booleans. A value the two YAML
versions read differently then meets the schema, which says what to write instead.

Limits (a config file is a few hundred bytes; these stop hostile input in milliseconds, each
with a `file:line:col` error): a file holds at most `MAX_FILE_BYTES`, and at most
`MAX_LINES_AND_ITEMS` lines and flow-list commas together; a mapping or list at most
`MAX_ENTRIES` entries; building its data expands aliases (`*name`, `<<: *name`) at most
`MAX_ALIAS_EXPANSIONS` times and builds at most `MAX_NODES` values, so a billion-laughs or
merge-key bomb is refused before it costs memory.

Decisions:
- Mapping keys are always the literal key text: `on:` and `1:` stay the strings "on" and "1"
  (YAML 1.1 would turn them into True and 1, a classic config surprise).
- Timestamps stay strings: the schemas have no date fields and JSON has no date type.
- Tags other than the core scalar/collection ones (`!!binary`, `!custom`...) are errors.
- A duplicate key is an error at the second occurrence; the first value is kept so later
  messages point at the same place the reader sees first.
- Merge keys (`<<: *anchor`) work as in PyYAML's safe loader; explicit keys win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.config.diagnostics import Diagnostic, Level, display_path
from reconciler.config.paths import FileTooBig, read_limited

try:  # libyaml is an order of magnitude faster on thousands of customer files
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader

MAX_FILE_BYTES = 1024 * 1024  # 1 MiB: a customer file is about 500 bytes, global.yaml a few KB
MAX_ALIAS_EXPANSIONS = 1_000  # `*alias` / `<<: *alias` uses per file
MAX_NODES = 50_000  # values built per file, aliases expanded
# Lines plus commas: every YAML value needs one or the other, so this bounds the parser's work
# (libyaml builds a Python node per value) before it starts. global.yaml is about 60 lines.
MAX_LINES_AND_ITEMS = 20_000
# Keys of one mapping / items of one list: the largest real ones (products, agreements) hold a
# few dozen; thousands would cost seconds of did-you-mean suggestions for nothing.
MAX_ENTRIES = 1_000

JsonPath = tuple[str | int, ...]
LineCol = tuple[int, int]

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _TAG + "str", _TAG + "map", _TAG + "seq", _TAG + "merge"
_TIMESTAMP = _TAG + "timestamp"
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class _Core12Loader(_Base):  # type: ignore[misc]  # a base chosen at import (C or pure loader)
    """libyaml's parser with the YAML 1.2 core schema's implicit tags instead of YAML 1.1's."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}


# https://yaml.org/spec/1.2.2/#1032-tag-resolution (core schema), plus the merge key `<<`
# that the YAML language server also honours.
_CORE_RESOLVERS = (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
    ("merge", r"^<<$", ["<"]),
)
_CORE_PATTERNS = {_TAG + name: re.compile(pattern) for name, pattern, _ in _CORE_RESOLVERS}
for _name, _pattern, _first in _CORE_RESOLVERS:
    _Core12Loader.add_implicit_resolver(_TAG + _name, _CORE_PATTERNS[_TAG + _name], _first)


def _core_int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # "010" is ten: YAML 1.2 has no leading-zero octal


def _core_float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(text)


_SCALAR_CONSTRUCTORS: dict[str, Any] = {
    _TAG + "null": lambda text: None,
    _TAG + "bool": lambda text: text.lower() == "true",
    _TAG + "int": _core_int,
    _TAG + "float": _core_float,
}


class _TooBig(Exception):
    """A resource limit was hit while building; carries where and why."""

    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.line, self.col = node.start_mark.line + 1, node.start_mark.column + 1


def format_json_path(path: JsonPath) -> str:
    """`("agreements", "hes", "name")` -> `$.agreements.hes.name`; odd keys get `['...']`."""
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _SIMPLE_KEY.match(part):
            out.append(f".{part}")
        else:
            out.append("['" + part.replace("\\", "\\\\").replace("'", "\\'") + "']")
    return "".join(out)


@dataclass
class YamlDocument:
    """One parsed file: its data plus where each value and each mapping key starts."""

    path: Path
    data: Any
    value_marks: dict[JsonPath, LineCol] = field(default_factory=dict)
    key_marks: dict[JsonPath, LineCol] = field(default_factory=dict)

    @property
    def display(self) -> str:
        return display_path(self.path)

    def mark(self, path: JsonPath) -> LineCol:
        """Where the value at `path` starts; for a path that does not exist, its nearest ancestor."""
        while path not in self.value_marks and path:
            path = path[:-1]
        return self.value_marks.get(path, (1, 1))

    def key_mark(self, path: JsonPath) -> LineCol:
        """Where the key naming `path` is written (the value's mark for list items and the root)."""
        return self.key_marks.get(path) or self.mark(path)

    def diagnostic(
        self, path: JsonPath, message: str, *, at_key: bool = False, level: Level = "error"
    ) -> Diagnostic:
        line, col = self.key_mark(path) if at_key else self.mark(path)
        return Diagnostic(self.display, line, col, message, format_json_path(path), level)


def read_yaml(path: Path) -> tuple[YamlDocument | None, list[Diagnostic]]:
    """Parse one file. Returns (document or None if unusable, diagnostics); never raises."""
    shown = display_path(path)

    def whole_file(message: str, line: int = 1, col: int = 1) -> tuple[None, list[Diagnostic]]:
        return None, [Diagnostic(shown, line, col, message)]

    try:
        raw = read_limited(path, MAX_FILE_BYTES)
    except OSError as error:
        return whole_file(f"cannot read file: {error.strerror or error}")
    except FileTooBig as error:
        return whole_file(str(error))
    nul = raw.find(b"\0")
    if nul >= 0:
        line, col = _byte_position(raw, nul)
        return whole_file("binary file (contains NUL bytes), not YAML", line, col)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, col = _byte_position(raw, error.start)
        return whole_file(
            f"not valid UTF-8 (byte 0x{raw[error.start]:02x}); save the file as UTF-8", line, col
        )
    crowded = _crowded_at(raw)
    if crowded is not None:
        line, col = _byte_position(raw, crowded)
        return whole_file(
            f"more than {MAX_LINES_AND_ITEMS:,} lines and list items: a config file is small "
            "(is this the right file?)",
            line,
            col,
        )
    try:
        root = yaml.compose(text, Loader=_Core12Loader)
    except yaml.YAMLError as error:
        line, col, message = _syntax_error(error, text)
        return whole_file(message, line, col)
    if root is None:
        return whole_file("file is empty: expected a mapping of settings")

    doc = YamlDocument(path=path, data=None)
    builder = _Builder(doc)
    try:
        doc.data = builder.build(root, ())
    except RecursionError:
        return whole_file("YAML is nested too deeply")
    except _TooBig as error:
        return whole_file(str(error), error.line, error.col)
    return doc, builder.diagnostics


class _Builder:
    """Turns a composed node tree into dicts/lists/scalars, filling the document's marks."""

    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []
        self._active: set[int] = set()  # node ids being built: a recursive alias would loop
        self._built: set[int] = set()  # collection nodes built once: building again is an alias
        self._nodes = 0
        self._expansions = 0

    def _count(self, node: Node) -> None:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _TooBig(
                node,
                f"too many values: building this file would create more than {MAX_NODES:,} "
                "(an alias or merge-key bomb?)",
            )

    def build(self, node: Node, path: JsonPath) -> Any:
        self._count(node)
        self.doc.value_marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._active:
            self.diagnostics.append(self.doc.diagnostic(path, "recursive YAML alias"))
            return None
        if id(node) in self._built:
            self._expansions += 1
            if self._expansions > MAX_ALIAS_EXPANSIONS:
                raise _TooBig(
                    node,
                    f"too many alias expansions: more than {MAX_ALIAS_EXPANSIONS:,} uses of "
                    "`*alias` or `<<: *alias` in one file (an alias bomb?)",
                )
        self._built.add(id(node))
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                self._check_tag(node, _MAP, path)
                return self._mapping(node, path)
            self._check_tag(node, _SEQ, path)
            self._check_size(node, len(node.value), "items")
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        tag = node.tag
        if tag == _STR or tag == _TIMESTAMP:
            return node.value
        construct = _SCALAR_CONSTRUCTORS.get(tag)
        if construct is not None:
            if not _CORE_PATTERNS[tag].match(node.value):  # only an explicit `!!int yes` gets here
                self.diagnostics.append(
                    self.doc.diagnostic(path, f"{node.value!r} is not a YAML 1.2 {_short(tag)}")
                )
                return node.value
            try:
                return construct(node.value)
            except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
                self.diagnostics.append(
                    self.doc.diagnostic(path, f"number with {len(node.value):,} characters is too long")
                )
                return None
        self.diagnostics.append(self.doc.diagnostic(path, f"unsupported YAML tag {_short(tag)}"))
        return node.value

    def _check_tag(self, node: Node, expected: str, path: JsonPath) -> None:
        if node.tag != expected:
            self.diagnostics.append(
                self.doc.diagnostic(path, f"unsupported YAML tag {_short(node.tag)}")
            )

    def _check_size(self, node: Node, size: int, what: str) -> None:
        if size > MAX_ENTRIES:
            raise _TooBig(
                node, f"more than {MAX_ENTRIES:,} {what} in one mapping or list: is this the right file?"
            )

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        self._check_size(node, len(node.value), "keys")
        result: dict[str, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key_mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(
                    _at(self.doc, key_mark, path, "mapping keys must be plain text")
                )
                continue
            key = key_node.value
            child = path + (key,)
            if key in result:
                first_line, first_col = self.doc.key_marks[child]
                self.diagnostics.append(
                    _at(
                        self.doc,
                        key_mark,
                        child,
                        f"duplicate key '{key}' (first defined at line {first_line}:{first_col})",
                    )
                )
                continue
            self.doc.key_marks[child] = key_mark
            result[key] = self.build(value_node, child)
        for merge in merges:
            self._merge(result, merge, path)
        self._check_size(node, len(result), "keys")
        return result

    def _merge(self, result: dict[str, Any], merge: Node, path: JsonPath) -> None:
        sources = merge.value if isinstance(merge, SequenceNode) else [merge]
        for source in sources:
            self._count(source)
            if not isinstance(source, MappingNode):
                self.diagnostics.append(
                    self.doc.diagnostic(path, "`<<` merge needs a mapping or a list of mappings")
                )
                continue
            if id(source) in self._built:
                self._expansions += 1
                if self._expansions > MAX_ALIAS_EXPANSIONS:
                    raise _TooBig(
                        source,
                        f"too many alias expansions: more than {MAX_ALIAS_EXPANSIONS:,} uses of "
                        "`*alias` or `<<: *alias` in one file (a merge-key bomb?)",
                    )
            self._built.add(id(source))
            for key_node, value_node in source.value:
                self._count(key_node)
                if isinstance(key_node, ScalarNode) and key_node.value not in result:
                    child = path + (key_node.value,)
                    self.doc.key_marks[child] = (
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                    result[key_node.value] = self.build(value_node, child)


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _at(doc: YamlDocument, mark: LineCol, path: JsonPath, message: str) -> Diagnostic:
    return Diagnostic(doc.display, mark[0], mark[1], message, format_json_path(path))


def _crowded_at(raw: bytes) -> int | None:
    """Offset of the separator beyond MAX_LINES_AND_ITEMS, or None (counted in C first)."""
    if raw.count(b"\n") + raw.count(b",") <= MAX_LINES_AND_ITEMS:
        return None
    for seen, match in enumerate(re.finditer(rb"[\n,]", raw)):
        if seen == MAX_LINES_AND_ITEMS:
            return match.start()
    return None  # pragma: no cover - the counts above said there are more


def _byte_position(raw: bytes, offset: int) -> LineCol:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _syntax_error(error: yaml.YAMLError, text: str) -> tuple[int, int, str]:
    """Line, col and a readable message for a parser error, at the parser's problem mark."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    position = getattr(error, "position", None)
    if mark is not None:
        line, col = mark.line + 1, mark.column + 1
    elif isinstance(position, int):  # ReaderError: bad character
        offset = position
        line = text.count("\n", 0, offset) + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    else:
        line, col = 1, 1
    lines = text.splitlines()
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    indent = source_line[: len(source_line) - len(source_line.lstrip(" \t"))]
    if "\t" in indent:
        # libyaml's words for this ("cannot start any token") never mention the tab.
        return (
            line,
            indent.index("\t") + 1,
            "tab character in indentation: YAML indents with spaces only",
        )
    problem = getattr(error, "problem", None) or getattr(error, "reason", None) or str(error)
    if "another document" in problem:
        return line, col, "only one YAML document per file: remove the second `---` document"
    message = f"YAML syntax error: {problem}"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        message += f" ({context} at line {context_mark.line + 1})"
    elif context:
        message += f" ({context})"
    return line, col, message
