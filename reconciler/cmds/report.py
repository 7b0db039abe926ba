"""`reconcile report`: the billing history in the ledger, as HTML pages or a Markdown summary.

A thin command over `reconciler.report`. Read-only: it never talks to ConnectWise and never
writes the ledger, so it is safe in any CI job. It exits 0 even when the period had failures:
the report shows them; failing the build is the scheduled job's business.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cmds.common import (
    PathProblem,
    Runtime,
    check_output_dir,
    config_option,
    reports_errors,
    sandbox_option,
    write_text_file,
)
from reconciler.config.diagnostics import display_path
from reconciler.ledger import ledger_files
from reconciler.report import (
    build_figures,
    history_of,
    load_names,
    render_markdown,
    write_html,
)
from reconciler.report.figures import report_periods
from reconciler.report.history import PERIOD_RE, current_period
from reconciler.repository import ConfigNotFound, ConfigRepository
from reconciler.runtime import default_ledger

DEFAULT_OUT = Path("out/report")


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
    explicit_ledger = ledger_path is not None
    try:
        repository = runtime.repository(config_dir)
    except ConfigNotFound:
        # A ledger alone is enough (names fall back to the ledger's keys); with neither a
        # config nor a ledger here, say where we looked.
        repository = ConfigRepository(Path.cwd().absolute() / "config")
        if not explicit_ledger and not ledger_files(repository.default_ledger(runtime.sandbox)):
            raise
    if ledger_path is None:
        ledger_path = repository.default_ledger(runtime.sandbox)
    if out_dir is not None:
        check_output_dir(out_dir, "--out", inside=repository.root)  # before reading a year of ledger

    if not ledger_files(ledger_path):
        if explicit_ledger:  # a typo must not produce a calm, empty report
            raise click.UsageError(f"no ledger at {display_path(ledger_path)} (nor shards beside it)")
        click.echo(f"warning: no ledger at {display_path(ledger_path)} yet; the report is empty", err=True)
    history = history_of(ledger_path)

    names = load_names(repository.config_dir)
    for warning in names.warnings:
        click.echo(f"warning: {warning}", err=True)

    if (
        customer is not None
        and customer not in history.customers
        and customer not in names.customers
    ):
        known = ", ".join(history.customers) or "none"
        raise click.UsageError(f"unknown customer {customer!r}; the ledger has: {known}")

    period = period or history.default_period(names.timezone) or current_period()
    figures = build_figures(history, period, names, customer)

    if fmt == "markdown":
        text = render_markdown(figures)
        if out_dir is None:
            click.echo(text, nl=False)
        else:
            _mkdir(out_dir)
            write_text_file(out_dir / "report.md", text, "--out")
            click.echo(f"wrote {out_dir / 'report.md'}", err=True)
        return

    target = out_dir or repository.root / DEFAULT_OUT
    _mkdir(target)
    try:
        pages = [build_figures(history, p, names, customer, with_customers=False)
                 for p in report_periods(history, names.timezone)]
        written = write_html(figures, target, pages)
    except OSError as error:
        raise PathProblem(f"--out {target}: cannot write: {error.strerror or error}") from None
    click.echo(f"wrote {display_path(written[0])}, {len(figures.customers)} customer page(s) and {len(pages)} period page(s)",
               err=True)


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PathProblem(f"--out {path}: cannot create the directory: {error.strerror or error}") from None
