"""Usage sources: where seat counts come from. One file per source, one entry point."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .base import EXTRA_FIELDS, Usage, UsageError, UsageInvalid, UsageSourceError, trend_key
from .csv_source import read_csv
from .lmpi import LmpiError, read_lmpi
from .products import TREND_PRODUCT_IDS

if TYPE_CHECKING:
    from reconciler.config.model import Config


def read_usage(
    config: Config, override_csv: Path | None = None, env: Mapping[str, str] = os.environ
) -> Usage:
    """Seat counts from the CLI's `--usage PATH` if given, else from `config.usage.source`.

    Raises `UsageInvalid` (CSV problems, with file:line) or `UsageSourceError` (the source
    could not be read at all).
    """
    if override_csv is not None:
        return read_csv(Path(override_csv), config.products)
    if config.usage.source == "lmpi":
        return read_lmpi(config.products, env)
    if config.usage.path is None:
        raise UsageSourceError("usage.source is csv but usage.path is not set in global.yaml")
    return read_csv(config.usage.path, config.products)


__all__ = [
    "EXTRA_FIELDS",
    "LmpiError",
    "TREND_PRODUCT_IDS",
    "Usage",
    "UsageError",
    "UsageInvalid",
    "UsageSourceError",
    "read_csv",
    "read_lmpi",
    "read_usage",
    "trend_key",
]
