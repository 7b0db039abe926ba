"""`reconcile doctor`: a read-only preflight of the configured ConnectWise and Trend tenants.

Parses options, runs `reconciler.doctor.run_doctor`, prints `reconciler.render.doctor`'s view
and maps the report to the exit code: 1 when any item is a blocker, else 0 (warnings
included). An unreadable config is the usual one line per problem and exit 1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cmds.common import Runtime, config_option, reports_errors, sandbox_option
from reconciler.config import load_config
from reconciler.doctor.run import run_doctor
from reconciler.render.doctor import render


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="How to print the checklist.")
@config_option
@sandbox_option
@click.pass_obj
@reports_errors
def doctor(runtime: Runtime, fmt: str, config_dir: Path | None) -> None:
    """Check the keys, rights, clock and every name the config uses against the tenants; writes nothing."""
    config = load_config(runtime.resolve_config_dir(config_dir))
    report = run_doctor(config, runtime.sandbox, today=datetime.now(UTC).date())
    click.echo(render(report, fmt), nl=False)
    raise SystemExit(1 if report.blocked else 0)
