"""`reconcile report`: read the ledger (never ConnectWise) and the config's names, and build the
billing report: Markdown text, or HTML pages written to a directory. Read-only on the ledger.
`reconciler.report` builds the figures and the pages; `reconciler.cmds.report` is the command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from reconciler.config.diagnostics import display_path
from reconciler.outputs import PathProblem, check_output_dir, write_text_file
from reconciler.report import (
    build_figures,
    history_of,
    load_names,
    render_markdown,
    write_html,
)
from reconciler.report.figures import report_periods
from reconciler.ledger import ledger_files
from reconciler.report.history import PERIOD_RE as PERIOD_RE  # the command checks --period
from reconciler.report.history import current_period
from reconciler.repository import ConfigNotFound, ConfigRepository
from reconciler.runtime import Runtime
from reconciler.runtime import default_ledger as default_ledger  # the command's help

DEFAULT_OUT = Path("out/report")


@dataclass
class ReportRun:
    """What the report run produced: the Markdown `text` to print (markdown without --out), or
    the files it wrote (`written`; for html the index first), with the page counts."""

    fmt: str
    text: str | None = None
    written: list[Path] = field(default_factory=list)
    customer_pages: int = 0
    period_pages: int = 0


def run_report(runtime: Runtime, period: str | None, customer: str | None, out_dir: Path | None,
               ledger_path: Path | None, fmt: str, config_dir: Path | None,
               warn: Callable[[str], None]) -> ReportRun:
    """`warn` is called with each warning as it is found (before any later refusal)."""
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
        warn(f"no ledger at {display_path(ledger_path)} yet; the report is empty")
    history = history_of(ledger_path)

    names = load_names(repository.config_dir)
    for warning in names.warnings:
        warn(warning)

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
            return ReportRun(fmt, text=text)
        _mkdir(out_dir)
        write_text_file(out_dir / "report.md", text, "--out")
        return ReportRun(fmt, written=[out_dir / "report.md"])

    target = out_dir or repository.root / DEFAULT_OUT
    _mkdir(target)
    try:
        pages = [build_figures(history, p, names, customer, with_customers=False)
                 for p in report_periods(history, names.timezone)]
        written = write_html(figures, target, pages)
    except OSError as error:
        raise PathProblem(f"--out {target}: cannot write: {error.strerror or error}") from None
    return ReportRun(fmt, written=written, customer_pages=len(figures.customers), period_pages=len(pages))


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PathProblem(f"--out {path}: cannot create the directory: {error.strerror or error}") from None
