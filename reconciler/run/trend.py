"""`reconcile trend products`: read LMPI's service plans, say which config product counts each
product code, and with `--write` record the codes in global.yaml (a line edit, undone when it
would leave the config invalid). See `reconciler.cmds.trend` for what the command promises."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from reconciler.config import ConfigInvalid, load_config
from reconciler.config.model import Config
from reconciler.config.trend_ids_writer import CannotEdit, add_trend_ids
from reconciler.runtime import Runtime
from reconciler.usage import TrendIds
from reconciler.usage.lmpi import lmpi_from_env


@dataclass
class TrendProducts:
    """What `trend products` found and did. `additions`: per product key, the codes global.yaml
    does not list yet; `uncounted`: codes (or plan ids) no product counts; `error`: why
    global.yaml was left unchanged (with `write`), else None."""

    rows: list[dict[str, Any]]
    additions: dict[str, list[str]]
    uncounted: list[str]
    write: bool
    path: Path  # global.yaml
    error: str | None = None

    @property
    def written(self) -> bool:
        return self.write and bool(self.additions) and self.error is None


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


def run_trend_products(runtime: Runtime, config_dir: Path | None, maps: tuple[str, ...], write: bool) -> TrendProducts:
    """Raises ConfigInvalid (the config) or UsageSourceError (LMPI) before anything is found."""
    folder = runtime.resolve_config_dir(config_dir)
    config = load_config(folder)
    mapped = _parse_maps(maps, config)
    with _lmpi_env(config, runtime.sandbox) as env:
        plans = lmpi_from_env(env).service_plans()
    rows = plan_rows(plans, TrendIds.from_products(config.products), mapped)
    additions: dict[str, list[str]] = {}
    for row in rows:
        code = row["product_code"]
        if row["counted_by"] and not row["listed"] and code:
            known = additions.setdefault(row["counted_by"], [])
            if code.casefold() not in {c.casefold() for c in known}:
                known.append(code)
    uncounted = sorted({r["product_code"] or r["service_plan_id"] for r in rows if not r["counted_by"]})
    result = TrendProducts(rows, additions, uncounted, write, folder / "global.yaml")
    if write and additions:
        result.error = _record(folder, additions)
    return result


def _record(folder: Path, additions: dict[str, list[str]]) -> str | None:
    """Add the codes to global.yaml; None when done, else why it was left unchanged."""
    path = folder / "global.yaml"
    try:
        text = add_trend_ids(path, additions, "product_codes")
    except CannotEdit as error:
        return f"error: {error}"
    original = path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    try:
        load_config(folder)  # the edit must leave a valid config, or it is undone
    except ConfigInvalid as error:
        path.write_text(original, encoding="utf-8")
        return f"error: the edit would make global.yaml invalid, left unchanged:\n{error}"
    return None
