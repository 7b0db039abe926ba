"""Add Trend ids (product codes, service plan ids) to products in global.yaml, keeping the rest of
the file as written.

Used by `reconcile trend products --write` (which records product codes). The edit is textual (lines are inserted, nothing is
re-serialised), so comments, order and quoting elsewhere stay exactly as the MSP wrote them;
the positions come from PyYAML's node marks. Ids are written as JSON strings, which YAML reads
back verbatim whatever characters LMPI put in them. A product written in flow style
(`{name: ..., ...}`) is not edited: the caller reports it for a hand edit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.errors import ReconcileError


class CannotEdit(ReconcileError):
    """global.yaml is shaped so that a safe line edit is not possible."""


def _value(mapping: Node | None, key: str) -> Node | None:
    if not isinstance(mapping, MappingNode):
        return None
    pair: tuple[Node, Node]
    for pair in mapping.value:
        key_node, value_node = pair
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return value_node
    return None


def _last_line(node: Node) -> int:
    """0-based line of the last character that belongs to `node`."""
    if isinstance(node, MappingNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1][1])
    if isinstance(node, SequenceNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1])
    end = node.end_mark
    return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line


def add_service_plan_ids(path: Path, additions: Mapping[str, Sequence[str]]) -> str:
    """`add_trend_ids` for `trend.service_plan_ids`."""
    return add_trend_ids(path, additions, "service_plan_ids")


def add_trend_ids(path: Path, additions: Mapping[str, Sequence[str]], kind: str = "product_codes") -> str:
    """The new text of global.yaml with `additions` (product key -> ids) added to each
    product's `trend.<kind>` list, skipping ids already there."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    products = _value(root, "products")
    inserts: list[tuple[int, list[str]]] = []  # (insert before 0-based line, new lines)
    replacements: list[tuple[int, int, str]] = []  # flow sequence spans (start, end, text)
    for key, ids in additions.items():
        product = _value(products, key) if products is not None else None
        if not isinstance(product, MappingNode) or product.flow_style or not product.value:
            raise CannotEdit(f"product {key} in {path.name} is not a block mapping; add its ids by hand")
        trend = _value(product, "trend")
        if trend is None:
            indent = " " * product.value[0][0].start_mark.column
            inserts.append((_last_line(product) + 1, [f"{indent}trend:\n",
                                                      f"{indent}  {kind}: {_flow(ids)}\n"]))
            continue
        if not isinstance(trend, MappingNode) or trend.flow_style or not trend.value:
            raise CannotEdit(f"products.{key}.trend in {path.name} is not a block mapping; add its ids by hand")
        plans = _value(trend, kind)
        if plans is None:
            indent = " " * trend.value[0][0].start_mark.column
            inserts.append((_last_line(trend) + 1, [f"{indent}{kind}: {_flow(ids)}\n"]))
            continue
        if not isinstance(plans, SequenceNode):
            raise CannotEdit(f"products.{key}.trend.{kind} in {path.name} is not a list")
        present = [item.value for item in plans.value if isinstance(item, ScalarNode)]
        new = [i for i in ids if i.casefold() not in {p.casefold() for p in present}]
        if not new:
            continue
        if plans.flow_style and plans.start_mark.line != plans.end_mark.line:
            raise CannotEdit(f"products.{key}.trend.{kind} in {path.name} spans lines; add its ids by hand")
        if plans.flow_style:
            replacements.append((plans.start_mark.index, plans.end_mark.index, _flow([*present, *new])))
        else:
            indent = " " * plans.start_mark.column
            inserts.append((_last_line(plans) + 1, [f"{indent}- {json.dumps(i)}\n" for i in new]))
    # Flow-list replacements work on character offsets: apply them first, last one first.
    for start, end, replacement in sorted(replacements, reverse=True):
        text = text[:start] + replacement + text[end:]
    if replacements:
        lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for before, new_lines in sorted(inserts, key=lambda item: item[0], reverse=True):
        lines[before:before] = new_lines
    return "".join(lines)


def _flow(ids: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in ids) + "]"
