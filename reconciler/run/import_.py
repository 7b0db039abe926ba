"""`reconcile import`: write config/customers/<slug>.yaml from what ConnectWise already bills.

Reads global.yaml, ConnectWise (and LMPI for Trend ids), lets `reconciler.importer` decide
and render, and writes the files; returns an `Outcome` (one line per company, the warnings, the
counts) that `reconciler.render.import_` shows.

Only global.yaml has to be valid: existing customer files may still hold import placeholders
(a second `import --company X` after a first one must work), so they are read for their
`connectwise_company`/`trend_customer_id` only, never judged here (`reconcile validate` does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler import importer
from reconciler.config import ConfigInvalid
from reconciler.config.diagnostics import display_path
from reconciler.config.model import Config
from reconciler.outputs import PathProblem
from reconciler.repository import schema_modeline
from reconciler.runtime import Runtime, open_backends
from reconciler.usage import UsageSourceError
from reconciler.usage.lmpi import ENV_SECRET, ENV_TOKEN, ENV_URL, lmpi_from_env


def load_global(config_dir: Path, env: Mapping[str, str] = os.environ) -> tuple[Config, list[importer.ExistingFile], int]:
    """The Config of global.yaml alone, the existing customer files, and how many of them have
    problems. Raises ConfigInvalid when global.yaml (or the schemas) are invalid."""
    from reconciler.config.diagnostics import display_path
    from reconciler.config.load import ConfigCheck, build_config, check_config, customer_files
    from reconciler.config.schemas import load_schemas

    result = check_config(config_dir)
    files = customer_files(config_dir)
    inside = display_path(config_dir / "customers") + "/"  # a problem in one customer's file is not fatal
    customer_paths = {d.path for d in result.diagnostics if d.path.startswith(inside)}
    fatal = [d for d in result.diagnostics if d.level == "error" and d.path not in customer_paths]
    if fatal or result.global_doc is None:
        raise ConfigInvalid(fatal or result.diagnostics)
    config = build_config(config_dir, ConfigCheck(global_doc=result.global_doc), load_schemas(), env)
    data = {doc.path: doc.data for doc in result.customers}
    existing = []
    for path in files:
        doc = data.get(path)
        doc = doc if isinstance(doc, dict) else {}
        company, trend = doc.get("connectwise_company"), doc.get("trend_customer_id")
        existing.append(importer.ExistingFile(
            path, company if isinstance(company, str) and company else None,
            trend if isinstance(trend, str) else None))
    broken = len({d.path for d in result.diagnostics if d.level == "error" and d.path in customer_paths})
    return config, existing, broken


def lmpi_customers(env: Mapping[str, str]) -> tuple[list[dict[str, Any]] | None, str | None]:
    """LMPI's customer list when its settings are present (always with --sandbox), else None."""
    if not all(env.get(name) for name in (ENV_URL, ENV_TOKEN, ENV_SECRET)):
        return None, None
    try:
        return lmpi_from_env(env).customers(), None
    except UsageSourceError as error:
        return None, f"LMPI customers could not be read ({error}); Trend ids left as placeholders"


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    written: int = 0
    skipped: int = 0
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # files that could not be written


def prepare_config_dir(root: Path) -> list[str]:
    """Let import start from an empty config directory: create `customers/`, and when there is
    no `global.yaml`, start from the packaged template (`reconcile init`'s: it holds the product
    catalog import matches additions against). Says what it did; never replaces a file."""
    from reconciler.run.init import render

    lines = []
    global_yaml = root / "global.yaml"
    if not global_yaml.exists():
        root.mkdir(parents=True, exist_ok=True)
        text = render("global.yaml", "").split("\n", 1)[1]  # the modeline, for where it goes:
        modeline = schema_modeline(root.absolute().parent, global_yaml.absolute(), "global")
        global_yaml.write_text(f"{modeline}\n{text}", encoding="utf-8")
        lines.append(f"wrote    {display_path(global_yaml)} from the template: check its connectwise and products sections")
    if global_yaml.exists():
        (root / "customers").mkdir(exist_ok=True)
    return lines


def run_import(runtime: Runtime, config_dir: Path | None, companies: tuple[str, ...], overwrite: bool,
               now: datetime) -> Outcome:
    root = runtime.resolve_config_dir(config_dir)
    out = Outcome()
    try:
        out.lines += prepare_config_dir(root)
    except OSError as error:
        raise PathProblem(f"--config {display_path(root)}: cannot create it: {error.strerror or error}") from None
    config, existing, broken = load_global(root)
    if broken:
        out.warnings.append(f"{broken} existing customer file(s) have problems (see `reconcile validate`); "
                            "their connectwise_company is still respected")
    with open_backends(config, runtime.sandbox) as backends:
        records = importer.read_companies(backends.target, list(companies) or None, config.connectwise.workers)
        lmpi, lmpi_warning = lmpi_customers(backends.usage_env)
    if lmpi_warning:
        out.warnings.append(lmpi_warning)
    found = {r.company.identifier.casefold() for r in records if r.company}
    out.missing = [c for c in dict.fromkeys(companies) if c.casefold() not in found]

    billing = []
    for record in records:
        if importer.catalog_additions(record, config.products, now.date()):
            billing.append(record)
        elif companies:  # asked for by name: say why no file appears
            out.skipped += 1
            out.lines.append(f"skipped  {record.company.identifier if record.company else '?'}: no active additions of catalog products")

    actions = importer.plan_files(billing, existing, root / "customers", overwrite)
    assigned: set[str] = set()  # Trend ids given to files written in this run
    for action in actions:
        company = action.company
        if action.action == "skip":
            out.skipped += 1
            out.lines.append(f"skipped  {company.identifier} -> {display_path(action.path)}: {action.reason}")
            continue
        others = {f.trend_customer_id for f in existing
                  if f.trend_customer_id and f.path != action.path
                  and (f.psa_company or "").casefold() != company.identifier.casefold()}
        trend = importer.match_trend_customer(company.name, lmpi, others | assigned)
        imported = importer.build_customer(action.state, config.products, config.default_agreement_types, trend,
                                           now.date())
        assert imported is not None  # billing companies have catalog additions
        text = importer.render_customer(imported, now, schema_modeline(root.absolute().parent, action.path.absolute(),
                                                                       "customer"))
        try:
            action.path.parent.mkdir(parents=True, exist_ok=True)
            # "x" refuses a file that appeared since the directory was read: never clobber silently.
            with open(action.path, "w" if action.action == "overwrite" else "x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            out.skipped += 1
            out.lines.append(f"skipped  {company.identifier} -> {display_path(action.path)}: exists (--overwrite replaces it)")
            continue
        except OSError as error:  # a read-only customers/, a full disk: say so, try the others
            out.failed.append(f"{display_path(action.path)}: cannot write {company.identifier}'s file: "
                              f"{error.strerror or error}")
            continue
        if not imported.placeholder:
            assigned.add(imported.trend_customer_id)
        out.written += 1
        products = len(imported.mappings)
        trend_word = "Trend id TODO" if imported.placeholder else "Trend id from LMPI"
        verb = "replaced" if action.action == "overwrite" else "wrote   "
        out.lines.append(f"{verb} {company.identifier} -> {display_path(action.path)} "
                         f"({products} product{'s' if products != 1 else ''}; {trend_word})")
        out.warnings += imported.warnings
    return out
