"""`reconcile`: the command-line entry point. Commands live in `reconciler/cmds/`, one per file.

Exit codes follow Terraform: 0 success (nothing to change), 1 error, 2 changes present (only
with --detailed-exitcode). click's own usage errors exit 2 by default, which a CI script would
read as "changes", so `main` remaps them to 1.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import TypeGuard

import click

from reconciler.cmds import common

# Each command's module is imported only when that command runs: `reconcile validate` on 5,000
# files should not pay for requests, deepdiff and the sandbox (most of a second).
COMMANDS = {
    "validate": "reconciler.cmds.validate:validate",
    "plan": "reconciler.cmds.plan:plan",
    "apply": "reconciler.cmds.plan:apply",
    "sandbox": "reconciler.cmds.sandbox:sandbox",
    "import": "reconciler.cmds.import_:import_command",
    "init": "reconciler.cmds.init:init_command",
    "drift": "reconciler.cmds.drift:drift",
    "report": "reconciler.cmds.report:report",
    "trend": "reconciler.cmds.trend:trend",
    "doctor": "reconciler.cmds.doctor:doctor",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "config_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Config directory holding global.yaml and customers/ (default: ./config).",
)
@click.option(
    "--sandbox", is_flag=True,
    help="Run against the embedded ConnectWise + Trend simulator (state in .sandbox/), no credentials needed.",
)
@click.option("--dry-run", is_flag=True, help="With no command: validate and plan, write nothing.")
@click.option("--date", "today", callback=common.parse_date, default=None, metavar="YYYY-MM-DD",
              help="With no command: treat this date as today (`./scripts/demo --date 2027-03-31`).")
@click.version_option(package_name="tmrm-billing-reconciler")
@click.pass_context
def cli(ctx: click.Context, config_dir: Path | None, sandbox: bool, dry_run: bool, today: datetime | None) -> None:
    """Billing-as-code: send Trend Micro seat counts to ConnectWise Manage agreements.

    With no command, runs the scheduled job: validate, plan, apply what is due.
    """
    ctx.obj = common.Runtime(config_dir=config_dir, sandbox=sandbox)
    if ctx.invoked_subcommand is None:
        from reconciler.cmds.plan import scheduled_job

        ctx.exit(scheduled_job(ctx.obj, dry_run=dry_run, today=today))
    # Ignoring them would be worse than refusing: `reconcile --dry-run apply` sent the bills.
    for given, option in ((dry_run, "--dry-run"), (today is not None, "--date")):
        if given:
            raise click.UsageError(f"{option} before a command applies only to the bare `reconcile`; put it after "
                                   f"the command: `reconcile {ctx.invoked_subcommand} {option}` (nothing was run)")


def _show_retries_on_a_terminal() -> None:
    """A person waiting at a terminal sees each ConnectWise retry as it happens (otherwise an
    unreachable server is half a minute of silence); CI logs and pipes stay quiet."""
    if not sys.stderr.isatty():
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    retry_log = logging.getLogger("reconciler.connectwise.client.retry")
    retry_log.addHandler(handler)
    retry_log.setLevel(logging.INFO)
    retry_log.propagate = False


def main(argv: list[str] | None = None) -> None:
    _show_retries_on_a_terminal()
    try:
        code = cli.main(args=argv, prog_name="reconcile", standalone_mode=False)
        sys.stdout.flush()  # a full disk or a closed pipe is found here, not at interpreter exit
    except click.exceptions.Exit as exit_:
        code = exit_.exit_code
    except click.ClickException as error:  # usage errors must never read as "changes present"
        error.show()
        code = 1
    except click.Abort as abort:  # click turns Ctrl-C into Abort; a refused prompt is one too
        if isinstance(abort.__context__, KeyboardInterrupt):
            code = _stopped_by(abort.__context__)
        else:
            click.echo("Aborted.", err=True)
            code = 1
    except (KeyboardInterrupt, OSError) as error:
        code = _stopped_by(error)
    except Exception as error:  # noqa: BLE001 - the last net: a bug, said as one line
        code = _internal_error(error)
    sys.exit(code or 0)


def _internal_error(error: Exception) -> int:
    """A bug in reconcile (nothing the user did): one `internal error` line, as the engine says
    for one customer's surprise, so it is visible and reportable; RECONCILE_DEBUG=1 adds the
    traceback for whoever fixes it. Exit 1: a run with a problem never exits 0."""
    if os.environ.get("RECONCILE_DEBUG", "").strip().lower() in ("1", "true"):
        traceback.print_exc()
    _say(f"internal error (a bug in reconcile; please report it with the command you ran): "
         f"{type(error).__name__}: {error}")
    return 1


def _stopped_by(error: BaseException) -> int:
    """The safety net for what the person or the machine did, not the code: Ctrl-C, a file or
    directory the tool may not read or write, a full disk, a closed pipe. One line, exit 130 for
    Ctrl-C (the shell's convention) and 1 otherwise. Whatever was sent before it is in the
    ledger already (each customer's record is written as it is sent), so a rerun converges.
    Any other exception is a bug: `_internal_error` says so."""
    if isinstance(error, BrokenPipeError) or _stdout_failed(error):
        _silence_stdout()
        if isinstance(error, BrokenPipeError):  # `| head`: the reader had enough; nothing to say
            return 1
        _say(f"error: cannot write the output: {error.strerror or error}")
        return 1
    if isinstance(error, KeyboardInterrupt):
        _say("Interrupted: stopped before the run finished (what was sent is in the ledger; a rerun "
             "sends the rest).")
        return 130
    assert isinstance(error, OSError)
    where = f"{error.filename}: " if error.filename else ""
    _say(f"error: {where}{error.strerror or error}")
    return 1


def _stdout_failed(error: BaseException) -> TypeGuard[OSError]:
    """True when `error` came from writing our own output (stdout has no file name)."""
    return isinstance(error, OSError) and error.filename is None and error.errno in (errno.ENOSPC, errno.EPIPE,
                                                                                     errno.EIO, errno.EFBIG)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what is still buffered
    cannot fail a second time ("Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _say(line: str) -> None:
    try:
        click.echo(line, err=True)
    except OSError:  # stderr is gone too: the exit code is all that is left
        pass
