"""What every command shares: where the config is, and whether we run against the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click


@dataclass
class Runtime:
    config_dir: Path | None = None
    sandbox: bool = False

    def resolve_config_dir(self, override: Path | None = None) -> Path:
        return override or self.config_dir or Path("config")


config_option = click.option(
    "--config", "config_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Config directory (default: the global --config, else ./config).",
)
