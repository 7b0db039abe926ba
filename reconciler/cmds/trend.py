"""`reconcile trend products`: what LMPI sells this partner, and which config product counts it.

Lists `GET /LMPI/v3/me/serviceplans` by 9-character product code (the `product_code` of a plan,
the same code a licence carries as its `product_id`), with the product's display name, the
plan's name and id beside it, and the product key in global.yaml that counts it: by the code
(`trend.product_codes`), else the plan id (`trend.service_plan_ids`), else the plan's name
(`trend.names`). Never by display name: Trend matches plans to licences by code.
`--map KEY=PRODUCT_CODE` assigns a code to a product; `--write` records, for every code a
product counts or is mapped to, the code under that product's `trend.product_codes` in
global.yaml (a line edit: comments and layout stay). Without `--write` nothing is written and
the command says what it would add. Codes no product counts are listed with "-": a product
this MSP does not resell needs nothing; one it does needs a `--map`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from reconciler.cmds.common import Runtime, config_option, reports_errors, sandbox_option
from reconciler.config import ConfigInvalid, load_config
from reconciler.config.model import Config
from reconciler.config.trend_ids_writer import CannotEdit, add_trend_ids
from reconciler.usage import TrendIds, UsageSourceError
from reconciler.usage.lmpi import lmpi_from_env


@contextmanager
def _lmpi_env(config: Config, sandbox: bool) -> Iterator[Mapping[str, str]]:
    if not sandbox:
        yield os.environ  # only the TM_* variables are needed, not ConnectWise's keys
        return
    from reconciler.runtime import open_backends

    with open_backends(config, True) as backends:
        yield backends.usage_env


def plan_rows(plans: list[dict[str, Any]], trend_ids: TrendIds, maps: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per service plan, by product code, with the product key counting it (a --map
    of its code, or of its plan id, wins)."""
    rows = []
    for plan in plans:
        plan_id = str(plan.get("service_plan_id") or "").strip()
        code = str(plan.get("product_code") or "").strip()
        counted = (maps.get(code.casefold()) if code else None) or maps.get(plan_id.casefold()) \
            or trend_ids.product_for(code, plan_id, plan.get("name"))
        rows.append({"product_code": code, "product": str(plan.get("product") or ""),
                     "name": str(plan.get("name") or ""), "service_plan_id": plan_id,
                     "counted_by": counted, "listed": bool(code) and code.casefold() in trend_ids.product_ids})
    return sorted(rows, key=lambda r: (r["product_code"].casefold(), r["name"].casefold()))


def _parse_maps(values: tuple[str, ...], config: Config) -> dict[str, str]:
    maps = {}
    for value in values:
        key, sep, code = value.partition("=")
        if not sep or not code.strip():
            raise click.BadParameter(f"{value!r}: use PRODUCT=PRODUCT_CODE", param_hint="--map")
        if key.strip() not in config.products:
            raise click.BadParameter(f"{key!r} is not a product in global.yaml ({', '.join(config.products)})",
                                     param_hint="--map")
        maps[code.strip().casefold()] = key.strip()
    return maps


def _printable(value: Any) -> str:
    # LMPI's answer is untrusted: no terminal escape sequences or line breaks reach the screen.
    return "".join(ch if ch.isprintable() else "?" for ch in str(value or "-"))[:80]


COLUMNS = ("product_code", "product", "name", "service_plan_id", "counted_by")
HEADINGS = ("product_code", "product", "service_plan", "service_plan_id", "counted_by")


def _table(rows: list[dict[str, Any]]) -> str:
    cells = [HEADINGS] + [tuple(_printable(r[h]) for h in COLUMNS) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))).rstrip() for c in cells) + "\n"


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
    try:
        folder = runtime.resolve_config_dir(config_dir)
        config = load_config(folder)
        mapped = _parse_maps(maps, config)
        with _lmpi_env(config, runtime.sandbox) as env:
            plans = lmpi_from_env(env).service_plans()
    except ConfigInvalid as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    except UsageSourceError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    rows = plan_rows(plans, TrendIds.from_products(config.products), mapped)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(_table(rows), nl=False)
    additions: dict[str, list[str]] = {}
    for row in rows:
        code = row["product_code"]
        if row["counted_by"] and not row["listed"] and code:
            known = additions.setdefault(row["counted_by"], [])
            if code.casefold() not in {c.casefold() for c in known}:
                known.append(code)
    uncounted = sorted({r["product_code"] or r["service_plan_id"] for r in rows if not r["counted_by"]})
    out = sys.stderr if fmt == "json" else sys.stdout
    if uncounted:
        click.echo(f"{len(uncounted)} product code(s) counted by no product: map the ones you resell with "
                   "--map PRODUCT=PRODUCT_CODE", file=out)
    if not additions:
        click.echo("global.yaml already lists every counted product code.", file=out)
        return
    for key, ids in additions.items():
        click.echo(f"{key}: {'adding' if write else 'would add'} product_codes "
                   f"{', '.join(_printable(i) for i in ids)}", file=out)
    if not write:
        click.echo("Run with --write to record them in global.yaml.", file=out)
        return
    path = folder / "global.yaml"
    try:
        text = add_trend_ids(path, additions, "product_codes")
    except CannotEdit as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    original = path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    try:
        load_config(folder)  # the edit must leave a valid config, or it is undone
    except ConfigInvalid as error:
        path.write_text(original, encoding="utf-8")
        click.echo(f"error: the edit would make global.yaml invalid, left unchanged:\n{error}", err=True)
        sys.exit(1)
    click.echo(f"wrote {path}", file=out)
