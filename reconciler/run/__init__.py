"""The orchestration layer: one module per command, each turning what the command was asked
into a run and returning a result object (`plan_apply` for plan, apply and the scheduled job;
`drift`, `import_`, `report`, `trend`, `validate`, `init`, `sandbox`, `doctor`). The commands in
`reconciler/cmds/` parse options, print the result with a view from `reconciler/render/` and
pick the exit code.

The names of `plan_apply` (once the module `reconciler/run.py`) stay importable from here, loaded
on first use, so `reconcile validate` does not pay for the HTTP stack by importing the package.
"""

from __future__ import annotations

import importlib
from typing import Any

_PLAN_APPLY = (
    "ApplyNotApproved", "ApplyRun", "Invocation", "changed_customer_slugs", "confirm_apply", "make_plan",
    "needs_confirmation", "progress", "run_apply", "run_plan", "run_scheduled_job", "save_plan", "select_changed",
)
__all__ = list(_PLAN_APPLY)


def __getattr__(name: str) -> Any:
    if name in _PLAN_APPLY:
        return getattr(importlib.import_module("reconciler.run.plan_apply"), name)
    raise AttributeError(f"module 'reconciler.run' has no attribute {name!r}")
