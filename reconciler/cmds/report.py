"""`reconcile report`: the billing history in the ledger, as HTML pages or a Markdown summary.

A thin command over `reconciler.report`. Read-only: it never talks to ConnectWise and never
writes the ledger, so it is safe in any CI job. It exits 0 even when the period had failures:
the report shows them; failing the build is the scheduled job's business.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cmds.common import Runtime, config_option
from reconciler.report import (
    LedgerError,
    build_figures,
    history_of,
    load_names,
    render_markdown,
    write_html,
)
from reconciler.report.history import PERIOD_RE, current_period, ledger_files
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
    help=f"Output directory (default for html: {DEFAULT_OUT}; markdown prints to "
    "stdout unless --out is given, then writes DIR/report.md).",
)
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"Ledger file; shards beside it are read too (default: {default_ledger(False)}, "
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
@click.pass_context
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
    if ledger_path is None:
        ledger_path = default_ledger(runtime.sandbox)

    if not ledger_files(ledger_path):
        if explicit_ledger:  # a typo must not produce a calm, empty report
            raise click.UsageError(f"no ledger at {ledger_path} (nor shards beside it)")
        click.echo(f"warning: no ledger at {ledger_path} yet; the report is empty", err=True)
    try:
        history = history_of(ledger_path)
    except LedgerError as error:
        raise click.ClickException(str(error)) from None

    names = load_names(runtime.resolve_config_dir(config_dir))
    for warning in names.warnings:
        click.echo(f"warning: {warning}", err=True)

    if (
        customer is not None
        and customer not in history.customers
        and customer not in names.customers
    ):
        known = ", ".join(history.customers) or "none"
        raise click.UsageError(f"unknown customer {customer!r}; the ledger has: {known}")

    period = period or history.latest_period() or current_period()
    figures = build_figures(history, period, names, customer)

    if fmt == "markdown":
        text = render_markdown(figures)
        if out_dir is None:
            click.echo(text, nl=False)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "report.md").write_text(text, encoding="utf-8")
            click.echo(f"wrote {out_dir / 'report.md'}", err=True)
        return

    written = write_html(figures, out_dir or DEFAULT_OUT)
    click.echo(f"wrote {written[0]} and {len(written) - 1} customer page(s)", err=True)
