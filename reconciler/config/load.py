"""Config loading: read the config directory, check it all in one pass, build the `Config`.

Pipeline (each stage testable alone): `yamlsource.read_yaml` per file -> `schemas.schema_errors`
per file -> `checks` across files -> either diagnostics or the frozen model.

Decisions:
- Customer files are `customers/*.yaml` and `*.yml` (not recursive); other names there are
  ignored, so READMEs and editor backups do not break a run. Anything that looks like a
  customer but cannot be read as one (a broken symlink, a FIFO, `acme.YAML`, a YAML file in a
  subdirectory) is an error at its path: a customer is never dropped in silence.
- Two files with the same slug (`acme.yaml` and `acme.yml`) are an error on the second.
- Problems with the directory itself (no global.yaml, no customers/) sit at line 1:1 of the
  missing path.
- `CW_URL` / `CW_COMPANY_ID` override only when set and non-empty; they are not re-validated
  (they are the operator's, not the repository's).
- Paths in the `Config` (`root`, `Customer.path`) stay as given; only `usage.path` is made
  absolute, as model.py documents.
- Nothing leaves the repository (see paths.py): global.yaml or a customer file that is a
  symlink to outside the config directory's parent is not read, and a `usage.path` that
  resolves outside it is an error at its line.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.config import checks
from reconciler.config.diagnostics import ConfigInvalid, Diagnostic, display_path
from reconciler.config.model import (
    DEFAULT,
    AgreementRef,
    BillingSettings,
    Config,
    ConnectWiseSettings,
    Customer,
    NotificationSettings,
    Product,
    SafetySettings,
    SummarySettings,
    UsageSettings,
)
from reconciler.config.paths import excerpt, leaves, repository_root
from reconciler.config.schemas import Schemas, load_schemas, schema_errors
from reconciler.config.yamlsource import YamlDocument, read_yaml

CUSTOMER_SUFFIXES = (".yaml", ".yml")


@dataclass
class ConfigCheck:
    """The outcome of checking a config directory: diagnostics plus what was read."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    global_doc: YamlDocument | None = None
    customers: list[YamlDocument] = field(default_factory=list)  # parsed, in slug order
    global_files: int = 0
    customer_files: int = 0

    @property
    def ok(self) -> bool:
        return not any(d.level == "error" for d in self.diagnostics)


def customer_files(config_dir: Path) -> list[Path]:
    """The customer files of a config directory, in slug order (the readable ones; see
    `find_customer_files` for what is wrong with the others)."""
    return find_customer_files(config_dir)[0]


def find_customer_files(config_dir: Path) -> tuple[list[Path], list[Diagnostic]]:
    """The customer files of `config_dir`, in slug order, and a diagnostic for every entry of
    `customers/` that looks like a customer but cannot be read as one.

    Nothing that looks like a customer is skipped in silence: a dropped file is a customer
    nobody bills. A `.yaml`/`.yml` name (in any case) that is not a regular file (a dangling
    symlink, a symlink loop, a FIFO, a directory), an upper-case extension, a YAML file in a
    subdirectory, or a directory that cannot be listed is an error at its path. Other names
    (README.md, editor backups such as `acme.yaml~`) are not customers and stay ignored.
    """
    folder = config_dir / "customers"
    if not folder.is_dir():
        return [], []
    files: list[Path] = []
    problems: list[Diagnostic] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        return [], [_whole(folder, f"cannot list the customers directory: {error.strerror or error}")]
    for entry in entries:
        path = Path(entry.path)
        is_customer_name = path.suffix.lower() in CUSTOMER_SUFFIXES
        problem = _entry_problem(entry, path, is_customer_name)
        if problem:
            problems.append(_whole(path, problem))
        elif is_customer_name:
            files.append(path)
        elif _is_dir(entry):
            problems += _nested_customer_files(path)
    return sorted(files, key=lambda p: (p.stem, p.suffix)), problems


def _entry_problem(entry: os.DirEntry[str], path: Path, is_customer_name: bool) -> str | None:
    if entry.is_symlink():
        try:
            os.stat(path)
        except OSError as error:
            if not is_customer_name:
                return None  # a broken link named README is not a customer either
            if error.errno == errno.ELOOP:
                return "symlink loop: the link never reaches a file, so this customer cannot be read"
            return f"symlink to a missing file ({os.readlink(path)}): this customer cannot be read"
        if _is_dir(entry):
            return ("symlink to a directory: customer files must sit directly in customers/ "
                    "(files in subdirectories are not read)")
    if not is_customer_name:
        return None
    if path.suffix not in CUSTOMER_SUFFIXES:
        return (f"customer files end in lower-case .yaml or .yml: rename it to "
                f"{path.stem}{path.suffix.lower()} (this file is not read)")
    if _is_dir(entry):
        return "a directory named like a customer file: customer files must be files (this one is not read)"
    try:
        regular = entry.is_file()
    except OSError as error:
        return f"cannot read file: {error.strerror or error}"
    if not regular:
        return "not a regular file (a FIFO, socket or device): refusing to read it as a customer"
    return None


def _global_absent_why(path: Path) -> str:
    if path.is_symlink():
        return f"global.yaml is a symlink to a missing file ({os.readlink(path)}): it cannot be read"
    if path.is_dir():
        return "global.yaml is a directory, not a file"
    if os.path.lexists(path):
        return "global.yaml is not a regular file (a FIFO, socket or device): refusing to read it"
    return "global.yaml is missing from the config directory"


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _nested_customer_files(folder: Path) -> list[Diagnostic]:
    """Customer-looking files below a subdirectory of customers/: they are not read, so each
    is an error (an `archive/` of old customers is fine once the files are renamed)."""
    problems: list[Diagnostic] = []

    def unreadable(error: OSError) -> None:
        where = Path(error.filename) if error.filename else folder
        problems.append(_whole(where, f"cannot list this directory inside customers/: {error.strerror or error}"))

    for directory, _dirs, names in os.walk(folder, onerror=unreadable):
        for name in sorted(names):
            if Path(name).suffix.lower() in CUSTOMER_SUFFIXES:
                problems.append(_whole(
                    Path(directory) / name,
                    "customer files must sit directly in customers/: this one, in a subdirectory, "
                    "is not read (move it up, or out of customers/)"))
    return problems


def check_config(config_dir: Path) -> ConfigCheck:
    """Check every file of `config_dir`; never raises for anything a user can put there."""
    result = ConfigCheck()
    schemas = load_schemas()
    result.diagnostics += schemas.problems
    if schemas.problems:  # without schemas nothing else can be judged fairly
        return result

    global_path = config_dir / "global.yaml"
    if not config_dir.is_dir():
        result.diagnostics.append(_whole(config_dir, "config directory not found"))
        return _sorted(result)
    root = repository_root(config_dir)
    if global_path.is_file() and leaves(global_path, root):
        result.global_files = 1
        result.diagnostics.append(_whole(global_path, _OUTSIDE))
    elif global_path.is_file():
        result.global_files = 1
        result.global_doc = _read(global_path, "global", schemas, result.diagnostics)
        if result.global_doc is not None:
            result.diagnostics += checks.check_global(result.global_doc)
            result.diagnostics += _usage_path_problems(result.global_doc, root)
    else:  # "missing" only when nothing is there: a FIFO or a directory is named as what it is
        result.diagnostics.append(_whole(global_path, _global_absent_why(global_path)))

    if not (config_dir / "customers").is_dir():
        result.diagnostics.append(
            _whole(config_dir / "customers", "customers/ directory is missing")
        )
    seen_slugs: dict[str, Path] = {}
    customers_outside = leaves(config_dir / "customers", root)
    files, discovery_problems = find_customer_files(config_dir)
    result.diagnostics += discovery_problems
    result.customer_files += len(discovery_problems)
    for path in files:
        result.customer_files += 1
        problem = checks.slug_problem(path)
        if problem:
            result.diagnostics.append(_whole(path, problem))
        if path.stem in seen_slugs:
            first = display_path(seen_slugs[path.stem])
            result.diagnostics.append(
                _whole(path, f"customer slug '{path.stem}' is also used by {first}")
            )
            continue
        seen_slugs[path.stem] = path
        # Resolving every path costs a syscall per component; only symlinks (or a customers/
        # directory that is itself a link out) can lead outside.
        if (customers_outside or path.is_symlink()) and leaves(path, root):
            result.diagnostics.append(_whole(path, _OUTSIDE))
            continue
        doc = _read(path, "customer", schemas, result.diagnostics)
        if doc is not None:
            result.customers.append(doc)
    result.diagnostics += checks.check_customers(result.global_doc, result.customers)
    return _sorted(result)


def validate_config(config_dir: Path) -> list[Diagnostic]:
    """Every problem in every file of the config directory, sorted by file, line and column."""
    return check_config(config_dir).diagnostics


def load_config(config_dir: Path, env: Mapping[str, str] = os.environ) -> Config:
    """The validated `Config`; raises `ConfigInvalid` listing every problem otherwise."""
    result = check_config(config_dir)
    if not result.ok or result.global_doc is None:
        raise ConfigInvalid(result.diagnostics)
    return build_config(config_dir, result, load_schemas(), env)


def _read(path: Path, kind: str, schemas: Schemas, sink: list[Diagnostic]) -> YamlDocument | None:
    doc, problems = read_yaml(path)
    sink += problems
    if doc is not None:
        # A value the YAML reader already refused (a bad tag, a number too long) needs no second
        # line from the schema about the placeholder it left there.
        flagged = {d.json_path for d in problems}
        sink += [d for d in schema_errors(doc, kind, schemas) if d.json_path not in flagged]
    return doc


_OUTSIDE = (
    "symlink to a file outside the repository: refusing to read it "
    "(config files must live inside the repository)"
)


def _usage_path_problems(doc: YamlDocument, root: Path) -> list[Diagnostic]:
    usage = doc.data.get("usage") if isinstance(doc.data, dict) else None
    path = usage.get("path") if isinstance(usage, dict) else None
    if not isinstance(path, str) or not path:
        return []
    target = doc.path.parent / path
    if "\0" in path or leaves(target, root) or ".git" in target.resolve().parts:
        return [
            doc.diagnostic(
                ("usage", "path"),
                f"usage.path {excerpt(path)} leads outside the repository (or into .git): the "
                "usage CSV must live inside it, e.g. usage/seats.csv next to config/ "
                "(write ../usage/seats.csv)",
            )
        ]
    return []


def _whole(path: Path, message: str) -> Diagnostic:
    return Diagnostic(display_path(path), 1, 1, message)


def _sorted(result: ConfigCheck) -> ConfigCheck:
    result.diagnostics.sort(key=lambda d: d.sort_key)
    return result


# --- building the model (only ever on a config that passed every check) ---------------------


def build_config(
    config_dir: Path, result: ConfigCheck, schemas: Schemas, env: Mapping[str, str]
) -> Config:
    assert result.global_doc is not None
    data: dict[str, Any] = result.global_doc.data

    def section(name: str) -> dict[str, Any]:
        return {**schemas.defaults("global", name), **data.get(name, {})}

    connectwise = section("connectwise")
    for key, variable in (("url", "CW_URL"), ("company_id", "CW_COMPANY_ID")):
        if env.get(variable):
            connectwise[key] = env[variable]
    billing = BillingSettings(**section("billing"))
    summary = SummarySettings(**section("executive_summary"), timezone=billing.timezone)

    usage_data = data.get("usage") or {}
    usage = UsageSettings()
    if usage_data:
        path = usage_data.get("path")
        usage = UsageSettings(
            source=usage_data["source"],
            path=(result.global_doc.path.parent / path).resolve() if path else None,
            basis=usage_data.get("basis", "licensed"),
            reported_units=usage_data.get("reported_units", "provisioned"),
            columns=dict(usage_data["columns"]) if usage_data.get("columns") else None,
        )
    default_types = section("agreements").get("default_types") or ()

    return Config(
        root=config_dir,
        connectwise=ConnectWiseSettings(**connectwise),
        products={
            key: Product(
                key=key, name=p["name"], catalog_item=p["connectwise_product"],
                trend_product_ids=tuple((p.get("trend") or {}).get("product_codes") or ())
                + tuple((p.get("trend") or {}).get("product_ids") or ()),
                trend_service_plan_ids=tuple((p.get("trend") or {}).get("service_plan_ids") or ()),
                trend_names=tuple((p.get("trend") or {}).get("names") or ()),
            )
            for key, p in data["products"].items()
        },
        default_agreement_types=tuple(default_types),
        billing=billing,
        executive_summary=summary,
        usage=usage,
        safety=SafetySettings(**section("safety")),
        customers=tuple(_customer(doc, billing, summary, schemas) for doc in result.customers),
        notifications=NotificationSettings.from_yaml(data.get("notifications")),
    )


def _customer(
    doc: YamlDocument, billing: BillingSettings, summary: SummarySettings, schemas: Schemas
) -> Customer:
    """One customer's record. Memory (issue 22, 20,000 files): a `general` customer shares the
    global settings objects, and the words every file repeats (product keys, `default`, agreement
    types and names) are interned, so 20,000 customers hold one copy of each, not 20,000."""
    data: dict[str, Any] = doc.data
    integration = data.get("integration") or schemas.default("customer", "integration")
    if integration == "custom":
        # Field by field: a custom block states only what differs from global.yaml.
        billing = replace(billing, **data.get("billing", {}))
        summary = replace(summary, **data.get("executive_summary", {}))
    if summary.timezone != billing.timezone:
        summary = replace(summary, timezone=billing.timezone)
    intern = sys.intern
    return Customer(
        slug=doc.path.stem,
        path=doc.path,
        name=data.get("name", ""),
        trend_customer_id=data["trend_customer_id"],
        psa_company=data["connectwise_company"],
        agreements={
            intern(product): DEFAULT
            if value == DEFAULT
            else AgreementRef(type=intern(value["type"]), name=intern(value["name"]))
            for product, value in data["agreements"].items()
        },
        integration="custom" if integration == "custom" else "general",  # the schema allows only these
        billing=billing,
        executive_summary=summary,
        mapping_locations={
            intern(product): "{}:{}:{}".format(doc.display, *doc.key_mark(("agreements", product)))
            for product in data["agreements"]
        },
        also_bills_to={
            intern(product): tuple(AgreementRef(type=intern(ref["type"]), name=intern(ref["name"])) for ref in refs)
            for product, refs in (data.get("also_bills_to") or {}).items()
        },
        connectwise_company_id=data.get("connectwise_company_id"),
    )
