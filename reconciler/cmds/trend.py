"""`reconcile trend products`: what LMPI sells this partner, and which config product counts it.

Lists `GET /LMPI/v3/me/serviceplans` by 9-character product code (the `product_code` of a plan,
the same code a licence carries as its `product_id`), with the product's display name, the
plan's name and id beside it, and the product key in global.yaml that counts it: by the code
(`trend.product_codes`), else the plan id (`trend.service_plan_ids`), else the plan's name
(`trend.names`). Never by display name: Trend matches plans to licences by code.
`--map KEY=PRODUCT_CODE` assigns a code to a product; `--write` records, for every code a
product counts or is mapped to, the code under that product's `trend.product_codes` in
global.yaml (a line edit: comments and layout stay). Without `--write` nothing is written and
the command says what it would add (the run is `reconciler.run.trend`, the views
`reconciler.render.trend`). Codes no product counts are listed with "-": a product
this MSP does not resell needs nothing; one it does needs a `--map`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cmds.common import Runtime, config_option, reports_errors, sandbox_option
from reconciler.render.trend import product_notes, render_rows
from reconciler.run.trend import run_trend_products


@click.group()
def trend() -> None:
    """Trend Micro LMPI helpers (TM_LMPI_URL, TM_ACCESS_TOKEN, TM_SECRET_KEY)."""


@trend.command("products")
@config_option
@sandbox_option
@click.option("--map", "maps", multiple=True, metavar="PRODUCT=PRODUCT_CODE",
              help="Count this product code (or service plan id) as PRODUCT (a key in global.yaml). Repeatable.")
@click.option("--write", is_flag=True, help="Record the product codes in global.yaml (trend.product_codes).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
@reports_errors
def products(runtime: Runtime, config_dir: Path | None, maps: tuple[str, ...], write: bool, fmt: str) -> None:
    """List LMPI's product codes and the config product counting each; --write records them."""
    result = run_trend_products(runtime, config_dir, maps, write)
    click.echo(render_rows(result.rows, fmt), nl=False)
    out = sys.stderr if fmt == "json" else sys.stdout
    for line in product_notes(result):
        click.echo(line, file=out)
    if result.error:
        click.echo(result.error, err=True)
        sys.exit(1)
    if result.written:
        click.echo(f"wrote {result.path}", file=out)
