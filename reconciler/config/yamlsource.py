"""YAML source: read one config file into plain data, remembering where every node was written.

Why not `yaml.safe_load`: it throws the marks away (so schema errors could only say
`file::$.billing.day`, check-jsonschema's top complaint) and it silently lets a duplicate key
win. Instead we `compose` the node tree with libyaml's C parser (fast; falls back to the pure
Python one) and build the data ourselves, recording a 1-based line:col for each node's value and
each mapping key, keyed by JSON path.

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

try:  # libyaml is an order of magnitude faster on thousands of customer files
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

JsonPath = tuple[str | int, ...]
LineCol = tuple[int, int]

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _TAG + "str", _TAG + "map", _TAG + "seq", _TAG + "merge"
_TIMESTAMP = _TAG + "timestamp"
# int/float/bool/null via PyYAML's own resolvers, so "0x1F", ".inf" and "~" mean what YAML says.
_SCALAR_CONSTRUCTORS = {
    _TAG + name: yaml.constructor.SafeConstructor.yaml_constructors[_TAG + name]
    for name in ("int", "float", "bool", "null")
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


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
        raw = path.read_bytes()
    except OSError as error:
        return whole_file(f"cannot read file: {error.strerror or error}")
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
    try:
        root = yaml.compose(text, Loader=_Loader)
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
    return doc, builder.diagnostics


class _Builder:
    """Turns a composed node tree into dicts/lists/scalars, filling the document's marks."""

    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []
        self._active: set[int] = set()  # node ids being built: a recursive alias would loop

    def build(self, node: Node, path: JsonPath) -> Any:
        self.doc.value_marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._active:
            self.diagnostics.append(self.doc.diagnostic(path, "recursive YAML alias"))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                self._check_tag(node, _MAP, path)
                return self._mapping(node, path)
            self._check_tag(node, _SEQ, path)
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        tag = node.tag
        if tag == _STR or tag == _TIMESTAMP:
            return node.value
        construct = _SCALAR_CONSTRUCTORS.get(tag)
        if construct is not None:
            return construct(_CONSTRUCTOR, node)
        self.diagnostics.append(self.doc.diagnostic(path, f"unsupported YAML tag {_short(tag)}"))
        return node.value

    def _check_tag(self, node: Node, expected: str, path: JsonPath) -> None:
        if node.tag != expected:
            self.diagnostics.append(
                self.doc.diagnostic(path, f"unsupported YAML tag {_short(node.tag)}")
            )

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
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
        return result

    def _merge(self, result: dict[str, Any], merge: Node, path: JsonPath) -> None:
        sources = merge.value if isinstance(merge, SequenceNode) else [merge]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.diagnostics.append(
                    self.doc.diagnostic(path, "`<<` merge needs a mapping or a list of mappings")
                )
                continue
            for key_node, value_node in source.value:
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


def _byte_position(raw: bytes, offset: int) -> LineCol:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _syntax_error(error: yaml.YAMLError, text: str) -> tuple[int, int, str]:
    """Line, col and a readable message for a parser error, at the parser's problem mark."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        line, col = mark.line + 1, mark.column + 1
    elif isinstance(getattr(error, "position", None), int):  # ReaderError: bad character
        offset = error.position  # type: ignore[attr-defined]
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
