"""`reconcile doctor`: a read-only preflight of the configured ConnectWise and Trend tenants.

Parses options, runs `reconciler.run.doctor` (which loads the config and reads the tenants),
prints `reconciler.render.doctor`'s view and maps the report to the exit code: 1 when any item
is a blocker, else 0 (warnings included). An invalid config is the usual one line per problem
and exit 1. See docs/doctor.md.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cmds.common import Runtime, config_option, reports_errors, sandbox_option
from reconciler.render.doctor import render
from reconciler.run.doctor import run_doctor


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="How to print the checklist.")
@config_option
@sandbox_option
@click.pass_obj
@reports_errors
def doctor(runtime: Runtime, fmt: str, config_dir: Path | None) -> None:
    """Check the keys, rights, clock and every name the config uses against the tenants; writes nothing."""
    report = run_doctor(runtime, config_dir)
    click.echo(render(report, fmt), nl=False)
    raise SystemExit(1 if report.blocked else 0)
