"""`reconcile validate`: check every config file in one pass (`config.check_config`); no
network, no credentials."""

from __future__ import annotations

from pathlib import Path

from reconciler.config.load import ConfigCheck, check_config
from reconciler.runtime import Runtime


def run_validate(runtime: Runtime, config_dir: Path | None) -> ConfigCheck:
    """Every problem of the config, with the customer files it read (for the summary)."""
    return check_config(runtime.resolve_config_dir(config_dir))
