"""What every command shares: where the config is, and whether we run against the sandbox."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

from reconciler.errors import ReconcileError
from reconciler.outputs import (  # noqa: F401 - the path checks every command uses
    PathProblem,
    check_creatable_dir,
    check_output_dir,
    check_output_file,
    write_text_file,
)
from reconciler.runtime import Runtime  # noqa: F401 - what every command is passed

config_option = click.option(
    "--config", "config_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Config directory (default: the global --config, else config/ in this directory or the "
         "nearest parent holding one). Paths the tool picks itself resolve against its parent.",
)


def _sandbox_here(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and isinstance(ctx.obj, Runtime):
        ctx.obj.sandbox = True


# `reconcile plan --sandbox` means what `reconcile --sandbox plan` means, as --config does.
sandbox_option = click.option(
    "--sandbox", is_flag=True, expose_value=False, callback=_sandbox_here,
    help="Run against the embedded ConnectWise + Trend simulator (same as the global --sandbox).",
)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """The one handler for expected failures (`reconciler.errors.ReconcileError`): its line(s) on
    stderr, exit 1, never a traceback. Put it under `@click.command` on every command."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ReconcileError as error:
            click.echo(error.line(), err=True)
            sys.exit(1)

    return run
