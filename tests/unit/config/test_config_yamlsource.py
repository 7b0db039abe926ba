"""yamlsource: data with marks, duplicate keys, syntax errors and junk as diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config.yamlsource import format_json_path, read_yaml


def write(tmp_path: Path, content: str | bytes, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_marks_for_values_and_keys(tmp_path):
    doc, problems = read_yaml(write(tmp_path, "a: 1\nb:\n  c: [x, y]\n  d: {e: true}\n"))
    assert problems == []
    assert doc.data == {"a": 1, "b": {"c": ["x", "y"], "d": {"e": True}}}
    assert doc.mark(("a",)) == (1, 4)
    assert doc.key_mark(("b", "c")) == (3, 3)
    assert doc.mark(("b", "c", 1)) == (3, 10)
    assert doc.mark(("b", "d", "e")) == (4, 10)
    assert doc.mark(("b", "missing")) == (3, 3)  # nearest ancestor: the mapping under b


def test_keys_stay_literal_and_timestamps_stay_strings(tmp_path):
    doc, _ = read_yaml(write(tmp_path, "on: true\n1: x\nwhen: 2026-01-01\n"))
    assert doc.data == {"on": True, "1": "x", "when": "2026-01-01"}


def test_duplicate_key_is_reported_at_second_key(tmp_path):
    doc, problems = read_yaml(write(tmp_path, "billing:\n  day: 1\n  day: 2\n"))
    assert [(p.line, p.col) for p in problems] == [(3, 3)]
    assert "duplicate key 'day'" in problems[0].message and "line 2" in problems[0].message
    assert problems[0].json_path == "$.billing.day"
    assert doc.data == {"billing": {"day": 1}}


def test_syntax_error_at_problem_mark(tmp_path):
    path = write(tmp_path, "a: [1, 2\nb: 3\n")
    doc, problems = read_yaml(path)
    assert doc is None
    (problem,) = problems
    assert (problem.path, problem.line) == (str(path), 2)
    assert "YAML syntax error" in problem.message


def test_tab_indented_line(tmp_path):
    _, problems = read_yaml(write(tmp_path, "billing:\n  day: 1\n\tprune: true\n"))
    (problem,) = problems
    assert (problem.line, problem.col) == (3, 1)
    assert "tab character in indentation" in problem.message


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n"])
def test_empty_file(tmp_path, content):
    doc, problems = read_yaml(write(tmp_path, content))
    assert doc is None
    assert [(p.line, p.col) for p in problems] == [(1, 1)]
    assert "file is empty" in problems[0].message


def test_invalid_utf8(tmp_path):
    _, problems = read_yaml(write(tmp_path, b"name: ok\nx: \xff\xfe\n"))
    (problem,) = problems
    assert (problem.line, problem.col) == (2, 4)
    assert "not valid UTF-8" in problem.message


def test_nul_bytes(tmp_path):
    _, problems = read_yaml(write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00"))
    (problem,) = problems
    assert "binary file" in problem.message


def test_second_document_and_unsupported_tag(tmp_path):
    _, problems = read_yaml(write(tmp_path, "a: 1\n---\nb: 2\n"))
    assert problems[0].line == 2 and "one YAML document" in problems[0].message
    _, problems = read_yaml(write(tmp_path, "a: !!binary aGk=\n"))
    assert "unsupported YAML tag !!binary" in problems[0].message


def test_merge_keys_and_recursive_alias(tmp_path):
    doc, problems = read_yaml(
        write(tmp_path, "base: &b {day: 1, prune: true}\nc:\n  <<: *b\n  day: 2\n")
    )
    assert problems == [] and doc.data["c"] == {"day": 2, "prune": True}
    _, problems = read_yaml(write(tmp_path, "x: &a [*a]\n"))
    assert "recursive" in problems[0].message


def test_unreadable_path(tmp_path):
    _, problems = read_yaml(tmp_path / "nope.yaml")
    assert "cannot read file" in problems[0].message


def test_format_json_path():
    assert format_json_path(()) == "$"
    assert format_json_path(("agreements", "wfbss-svc", "name")) == "$.agreements.wfbss-svc.name"
    assert format_json_path(("a", 0, "odd key")) == "$.a[0]['odd key']"
