"""`Diagnostic`: one problem in one config file, at `file:line:col` with its JSON path.

Every stage of config checking (YAML reading, schema validation, cross-file checks) speaks
this one record, so the reporters and `ConfigInvalid` never care which stage found a problem.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler.errors import ReconcileError

Level = Literal["error", "warning"]

# Text and annotation output stop after this many problems and end with "... and N more": a
# broken generator can produce millions, and nobody reads past the first screens anyway.
MAX_PRINTED = 100


def more_line(hidden: int) -> str:
    return f"... and {hidden} more problem{'' if hidden == 1 else 's'} (fix these first, or use --format json)"


@dataclass(frozen=True)
class Diagnostic:
    """A problem at a 1-based line and column of a file.

    Problems that belong to a file as a whole (empty file, missing file, bad file name) sit at
    1:1 so every diagnostic can be rendered, clicked and annotated the same way.
    """

    path: str
    line: int
    col: int
    message: str
    json_path: str = "$"
    level: Level = "error"

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}:{self.col}: {self.level}: {self.message} [{self.json_path}]"
        )

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.col, self.message)


class ConfigInvalid(ReconcileError):
    """Raised by `load_config` when any file has an error; `diagnostics` holds them all."""

    located = True  # one `PATH:LINE:COL: error:` line per problem

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: list[Diagnostic] = sorted(diagnostics, key=lambda d: d.sort_key)
        super().__init__(self.diagnostics)

    def __str__(self) -> str:
        errors = sum(1 for d in self.diagnostics if d.level == "error")
        lines = [f"config is invalid ({errors} error{'' if errors == 1 else 's'}):"]
        lines += [str(d) for d in self.diagnostics[:MAX_PRINTED]]
        if len(self.diagnostics) > MAX_PRINTED:
            lines.append(more_line(len(self.diagnostics) - MAX_PRINTED))
        return "\n".join(lines)


def display_path(path: Path) -> str:
    """The path as the user gave it, made relative to the working directory when it lies below it.

    Relative paths stay as given (`../other/config/global.yaml` is what the user typed);
    absolute ones below cwd are shortened so editors and GitHub annotations can use them.
    """
    text = str(path)
    if not path.is_absolute():
        return text
    # String work, not `relative_to`: this runs once per file, 20,000 times in a big validate.
    cwd = os.getcwd()
    prefix = cwd if cwd.endswith(os.sep) else cwd + os.sep
    return text[len(prefix):] if text.startswith(prefix) else text
