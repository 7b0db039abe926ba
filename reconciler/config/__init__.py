"""The config package: YAML files in, a validated frozen `Config` (or every problem) out.

`load_config`, `validate_config`, `Diagnostic` and `ConfigInvalid` are imported lazily so that
modules needing only the records (`reconciler.config.model`) do not pay for jsonschema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.config.diagnostics import ConfigInvalid, Diagnostic
    from reconciler.config.load import check_config, load_config, validate_config

__all__ = ["ConfigInvalid", "Diagnostic", "check_config", "load_config", "validate_config"]

_HOMES = {
    "ConfigInvalid": "reconciler.config.diagnostics",
    "Diagnostic": "reconciler.config.diagnostics",
    "check_config": "reconciler.config.load",
    "load_config": "reconciler.config.load",
    "validate_config": "reconciler.config.load",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
