"""What every command shares: where the config is, and whether we run against the sandbox."""

from __future__ import annotations

import calendar
import functools
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import click

from reconciler.errors import ReconcileError
from reconciler.outputs import (  # the path checks every command uses
    PathProblem,
    check_creatable_dir,
    check_output_dir,
    check_output_file,
    write_text_file,
)
from reconciler.runtime import Runtime  # what every command is passed

# What the commands import from here; the path checks and Runtime are re-exported.
__all__ = [
    "FIRST_YEAR", "LAST_YEAR", "PathProblem", "Runtime", "check_creatable_dir", "check_output_dir",
    "check_output_file", "config_option", "parse_date", "reports_errors", "sandbox_option", "write_text_file",
]

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# A run looks a month back (the period being billed) and months ahead (previews, the next
# invoice), and the ledger stamps times: the years Python's dates and POSIX times both hold.
FIRST_YEAR, LAST_YEAR = 1970, 9998


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """YYYY-MM-DD, saying why a well-formed date is not a day (click's DateTime only says
    "does not match the format", which is wrong for 2026-02-30)."""
    if value is None:
        return None
    match = _DATE.match(value)
    if not match:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-01")
    year, month, day = (int(part) for part in match.groups())
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise click.BadParameter(
            f"{value}: use a year from {FIRST_YEAR} to {LAST_YEAR} (a run reads the periods around the date)")
    if not 1 <= month <= 12:
        raise click.BadParameter(f"{value}: there is no month {month:02d} (months are 01-12)")
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise click.BadParameter(
            f"{value}: {calendar.month_name[month]} {year} has no day {day} (it has {days} days)")
    return datetime(year, month, day)


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
    stderr, its exit code (1), never a traceback. Put it under `@click.command` on every command
    (`tests/repo/test_errors.py` checks)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ReconcileError as error:
            click.echo(error.line(), err=True)
            sys.exit(error.exit_code)

    return run
