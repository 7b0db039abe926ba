"""`reconcile import`: write config/customers/<slug>.yaml from what ConnectWise already bills.

Thin: parses options, runs `reconciler.run.import_` (which reads and writes), prints
`reconciler.render.import_`'s lines and exits 1 when a company was not found or a file not
written.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cmds.common import Runtime, config_option, reports_errors, sandbox_option
from reconciler.render.import_ import import_output
from reconciler.run.import_ import run_import


@click.command("import")
@click.option("--company", "companies", multiple=True, metavar="IDENTIFIER",
              help="ConnectWise company identifier to import. Repeatable.")
@click.option("--all", "import_all", is_flag=True,
              help="Every company with at least one active addition of a catalog product.")
@click.option("--overwrite", is_flag=True, help="Replace customer files that already exist for a company.")
@config_option
@sandbox_option
@click.pass_obj
@reports_errors
def import_command(runtime: Runtime, companies: tuple[str, ...], import_all: bool, overwrite: bool,
                   config_dir: Path | None) -> None:
    """Write customer files from what ConnectWise already bills (never overwrites without --overwrite)."""
    if bool(companies) == import_all:
        raise click.UsageError("give --company IDENTIFIER (repeatable) or --all, not both")

    out = run_import(runtime, config_dir, companies, overwrite, datetime.now(UTC))
    for text, to_stderr in import_output(out):
        click.echo(text, err=to_stderr)
    sys.exit(1 if out.missing or out.failed else 0)
