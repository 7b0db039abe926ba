"""Renderings of config diagnostics: `text` for people, `json` for tools, `github` for CI.

All three take the same sorted list, so the command only picks one. Decisions:
- `text` and `github` print at most `MAX_PRINTED` (100) problems, then "... and N more";
  `json` lists them all (a tool may want every one).
- `text` ends with one summary line (`2 errors in 2 files` / `config OK: ...`).
- `json` is the bare list of diagnostics (path, line, col, level, message, json_path) so
  `jq '.[] | ...'` works without unwrapping; an empty list means valid.
- `github` emits workflow commands (`::error file=...,line=...,col=...,title=...::message`),
  escaped as GitHub requires, then the same summary line for the log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from reconciler.config.diagnostics import MAX_PRINTED, Diagnostic, more_line
from reconciler.render.common import RenderOptions, counted

FORMATS = ("text", "json", "github")


def render(
    diagnostics: Sequence[Diagnostic], fmt: str = "text", *, customer_files: int | None = None,
    options: RenderOptions = RenderOptions(),
) -> str:
    """Render diagnostics as `fmt`; `customer_files` (when known) goes into the OK summary;
    `options.verbose` prints every problem instead of the first `MAX_PRINTED`."""
    renderers: dict[str, Callable[[Sequence[Diagnostic], int | None, int], str]] = {
        "text": _text,
        "json": _json,
        "github": _github,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](diagnostics, customer_files, len(diagnostics) if options.verbose else MAX_PRINTED)


def summary(diagnostics: Sequence[Diagnostic], customer_files: int | None = None) -> str:
    errors = sum(1 for d in diagnostics if d.level == "error")
    warnings = len(diagnostics) - errors
    if not diagnostics:
        if customer_files is None:
            return "config OK"
        return f"config OK: 1 global file, {counted(customer_files, 'customer file')}"
    files = len({d.path for d in diagnostics})
    counts = [counted(errors, "error")] if errors else []
    counts += [counted(warnings, "warning")] if warnings else []
    return f"{', '.join(counts)} in {counted(files, 'file')}"


def _text(diagnostics: Sequence[Diagnostic], customer_files: int | None, shown: int) -> str:
    lines = [str(d) for d in diagnostics[:shown]] + _more(diagnostics, shown)
    return "\n".join([*lines, summary(diagnostics, customer_files)])


def _more(diagnostics: Sequence[Diagnostic], shown: int) -> list[str]:
    hidden = len(diagnostics) - shown
    return [more_line(hidden)] if hidden > 0 else []


def _json(diagnostics: Sequence[Diagnostic], customer_files: int | None, shown: int) -> str:
    return json.dumps(
        [
            {
                "path": d.path,
                "line": d.line,
                "col": d.col,
                "level": d.level,
                "message": d.message,
                "json_path": d.json_path,
            }
            for d in diagnostics
        ],
        indent=2,
    )


def _github(diagnostics: Sequence[Diagnostic], customer_files: int | None, shown: int) -> str:
    lines = [
        f"::{d.level} file={_property(d.path)},line={d.line},col={d.col},"
        "title=reconcile validate::"
        f"{_data(d.message + ' [' + d.json_path + ']')}"
        for d in diagnostics[:shown]
    ]
    return "\n".join([*lines, *_more(diagnostics, shown), summary(diagnostics, customer_files)])


def _data(text: str) -> str:
    # https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts escapeData
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
