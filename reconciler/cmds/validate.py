"""`reconcile validate`: check every config file in one pass; exit 0 if valid, 1 if not.

A thin wire from `run.validate` (`config.check_config`) to `render.validation.render`; no network, no
credentials. Diagnostics go to stdout (they are the command's output, as with yamllint).
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cmds import common


@click.command()
@common.config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text: PATH:LINE:COL lines; json: a list of objects; github: workflow annotations.",
)
@click.option("--verbose", is_flag=True, help="Print every problem, not only the first 100.")
@click.pass_context
@common.reports_errors
def validate(ctx: click.Context, config_dir: Path | None, fmt: str, verbose: bool) -> None:
    """Check config/ against the schemas and across files; report every problem at file:line:col."""
    from reconciler.render.common import RenderOptions
    from reconciler.render.validation import render
    from reconciler.run.validate import run_validate

    runtime = ctx.obj if isinstance(ctx.obj, common.Runtime) else common.Runtime()
    result = run_validate(runtime, config_dir)
    click.echo(render(result.diagnostics, fmt, customer_files=result.customer_files,
                      options=RenderOptions(verbose=verbose)))
    ctx.exit(0 if result.ok else 1)
