"""`reconcile report`: the billing history in the ledger, as HTML pages or a Markdown summary.

A thin command over `reconciler.run.report` (which reads the ledger and builds
`reconciler.report`'s figures and pages). Read-only: it never talks to ConnectWise and never
writes the ledger, so it is safe in any CI job. It exits 0 even when the period had failures:
the report shows them; failing the build is the scheduled job's business.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cmds.common import (
    Runtime,
    config_option,
    reports_errors,
    sandbox_option,
)
from reconciler.render.report_run import warning_line, written_line
from reconciler.run.report import DEFAULT_OUT, PERIOD_RE, default_ledger, run_report


def _period(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not PERIOD_RE.match(value):
        raise click.BadParameter(f"{value!r} is not a period; use YYYY-MM, e.g. 2026-11")
    return value


@click.command()
@click.option(
    "--period",
    callback=_period,
    metavar="YYYY-MM",
    help="Billing period to report; history is the 12 periods ending here "
    "(default: the latest period in the ledger, else the current month).",
)
@click.option(
    "--customer", metavar="SLUG", help="Only this customer (its config file name without .yaml)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help=f"Output directory (default for html: {DEFAULT_OUT} beside config/; markdown prints to "
    "stdout unless --out is given, then writes DIR/report.md).",
)
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"Ledger file; shards beside it are read too (default: {default_ledger(False)} beside config/, "
    f"or {default_ledger(True)} with --sandbox).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "markdown"]),
    default="html",
    show_default=True,
    help="html pages, or a Markdown summary for CI step summaries.",
)
@config_option
@sandbox_option
@click.pass_context
@reports_errors
def report(
    ctx: click.Context,
    period: str | None,
    customer: str | None,
    out_dir: Path | None,
    ledger_path: Path | None,
    fmt: str,
    config_dir: Path | None,
) -> None:
    """Write the billing report: seats per product over 12 periods, changes and failures.

    Reads the ledger (never ConnectWise). Customer and product names come from the config
    when it is readable; otherwise the ledger's keys are shown.
    """
    runtime = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
    result = run_report(runtime, period, customer, out_dir, ledger_path, fmt, config_dir,
                        warn=lambda text: click.echo(warning_line(text), err=True))
    if result.text is not None:
        click.echo(result.text, nl=False)
    else:
        click.echo(written_line(result), err=True)
