"""The config repository: the directory that holds `config/`. Every path the tool picks by
itself (the default ledger, `.sandbox/`, the report's output) lives there, so a command gives
the same answer from any directory: the repository root, `config/customers/`, or elsewhere with
`--config PATH`.

Found as Git finds its repository: the working directory or the nearest parent holding
`config/` (a parent only counts when its `config/` holds `global.yaml`, so an unrelated
`config` folder higher up is never picked). `--config DIR` names the config directory
itself; its parent is then the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import ReconcileError

SANDBOX_DIR_NAME = ".sandbox"
LEDGER_IN_REPO = Path("state/ledger.jsonl")


class ConfigNotFound(ReconcileError):
    """No config directory where one was looked for: the message says where and what to do."""


@dataclass(frozen=True)
class ConfigRepository:
    config_dir: Path  # absolute

    @property
    def root(self) -> Path:
        return self.config_dir.parent

    @property
    def sandbox_dir(self) -> Path:
        return self.root / SANDBOX_DIR_NAME

    def default_ledger(self, sandbox: bool) -> Path:
        return self.sandbox_dir / "ledger.jsonl" if sandbox else self.root / LEDGER_IN_REPO


def locate(config_dir: Path | None = None, cwd: Path | None = None) -> ConfigRepository:
    """The config repository for `--config DIR` (taken as given, even when it does not exist, so
    `validate` can say so at the path the user typed) or, without it, found from `cwd`."""
    here = (cwd or Path.cwd()).absolute()
    if config_dir is not None:
        return ConfigRepository(_absolute(config_dir, here))
    found = find(here)
    if found is None:
        raise ConfigNotFound(
            f"no config/ directory in {here} or its parents: run this in your billing repository "
            "(the directory holding config/), or pass --config PATH/TO/config "
            "(`reconcile init DIR` creates one)"
        )
    return found


def find(here: Path) -> ConfigRepository | None:
    """The nearest repository at or above `here`, or None."""
    if (here / "config").is_dir():
        return ConfigRepository(here / "config")
    for parent in here.parents:
        if (parent / "config" / "global.yaml").is_file():
            return ConfigRepository(parent / "config")
    return None


def root_or_cwd(cwd: Path | None = None) -> Path:
    """The repository root when there is one (commands that work without a config, such as
    `sandbox serve`, still keep their state in the repository), else the working directory."""
    here = (cwd or Path.cwd()).absolute()
    found = find(here)
    return found.root if found else here


def _absolute(path: Path, here: Path) -> Path:
    # normpath, not resolve(): a symlinked config directory keeps the name the user gave it.
    return Path(os.path.normpath(path if path.is_absolute() else here / path))


def schema_modeline(root: Path, yaml_file: Path, kind: str) -> str:
    """The `yaml-language-server` line that points an editor at the schema, relative to the
    YAML file: the repository's `schemas/` (the copy `reconcile init` writes, or in the tool's own
    repository the source itself)."""
    target = root / "schemas" / f"{kind}.schema.json"
    relative = os.path.relpath(target, yaml_file.parent).replace(os.sep, "/")
    return f"# yaml-language-server: $schema={relative}"
