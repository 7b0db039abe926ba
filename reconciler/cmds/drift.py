"""`reconcile drift`: a read-only report of what changed outside Git (the run is
`reconciler.run.drift`, the finding `reconciler.drift`, the view `reconciler.render.drift`).

Exit codes follow `plan`: 0 (drift or not), or with --detailed-exitcode 2 when anything
drifted; 1 on any error (invalid config, missing credentials, unreadable usage or ledger, a
ConnectWise error). A `--ledger` that names no file is an error, because a typo there would
otherwise read as "nothing sent yet, so no drift" in the weekly job.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cmds.common import Runtime, config_option, reports_errors, sandbox_option
from reconciler.render.drift import render as render_drift
from reconciler.run.drift import run_drift


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="How to print the report.")
@click.option("--ledger", "ledger_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Ledger file (default: state/ledger.jsonl beside config/; .sandbox/ledger.jsonl with --sandbox).")
@click.option("--usage", "usage_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Read seat counts from this CSV instead of the configured usage source.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when anything drifted (0 none, 1 error).")
@config_option
@sandbox_option
@click.pass_obj
@reports_errors
def drift(runtime: Runtime, fmt: str, ledger_path: Path | None, usage_path: Path | None,
          detailed_exitcode: bool, config_dir: Path | None) -> None:
    """Report what changed in ConnectWise outside Git since the last send. Writes nothing."""
    report = run_drift(runtime, config_dir, ledger_path, usage_path)
    click.echo(render_drift(report, fmt), nl=False)
    sys.exit(2 if detailed_exitcode and report.drifted else 0)
