"""`reconcile`: the command-line entry point. Commands live in `reconciler/cmds/`, one per file.

Exit codes follow Terraform: 0 success (nothing to change), 1 error, 2 changes present (only
with --detailed-exitcode). click's own usage errors exit 2 by default, which a CI script would
read as "changes", so `main` remaps them to 1.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

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
        return getattr(importlib.import_module(module), attribute)


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
@click.version_option(package_name="tmrm-billing-reconciler")
@click.pass_context
def cli(ctx: click.Context, config_dir: Path | None, sandbox: bool, dry_run: bool) -> None:
    """Billing-as-code: send Trend Micro seat counts to ConnectWise Manage agreements.

    With no command, runs the scheduled job: validate, plan, apply what is due.
    """
    ctx.obj = common.Runtime(config_dir=config_dir, sandbox=sandbox)
    if ctx.invoked_subcommand is None:
        from reconciler.run import run_scheduled_job

        ctx.exit(run_scheduled_job(ctx.obj, dry_run=dry_run))


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
    except click.exceptions.Exit as exit_:
        code = exit_.exit_code
    except click.ClickException as error:  # usage errors must never read as "changes present"
        error.show()
        code = 1
    except click.Abort:
        click.echo("Aborted.", err=True)
        code = 1
    sys.exit(code or 0)
