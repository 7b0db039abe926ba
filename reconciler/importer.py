"""`reconcile import`: customer files written from what ConnectWise already bills.

The core is pure: each company's `CompanyState` (the shape plan and drift decide on too: the
company, its agreements, the active additions on its active agreements) plus the global products
and default types and the day (`today`, read by the command) go in; `ImportedCustomer`s and
their YAML text come out. `read_companies` is the only function that talks to ConnectWise, and
`plan_files` decides, without touching the disk, which file each company goes to.

Decisions:
- A mapping must reproduce today's billing. A product billed on the company's single active
  agreement of a default type becomes `default`; anything else becomes `{type, name}` of the
  agreement that holds it. Every mapping is resolved back with `desired.resolve_agreement`; if it
  would not land on the same agreement (two active agreements share a type and name), the file
  says so in a `# WARNING` comment and the run prints a warning.
- A product billed on two agreements at once maps to the agreement with the larger quantity
  (summed per agreement; a tie goes to the lower agreement id), with a `# CONFLICT` comment and a
  warning: a human has to cancel one of them, the tool must not guess silently.
- Products keep the order of `global.yaml` `products` (the MSP's own order); top-level keys are
  always name, trend_customer_id, connectwise_company, agreements, integration.
- The Trend customer id comes from the LMPI customer whose `name` equals the company name
  (case-insensitive, whitespace runs collapsed). No match, several matches, or an id another
  customer file already uses: the `REPLACE-ME` placeholder with a `# TODO`, which
  `reconcile validate` rejects until someone fills it in.
- Slugs come from the company name (readable: `acme-dental-group`), else the identifier. A file
  that already names the same ConnectWise company keeps its slug (the slug keys the ledger), and
  is only replaced with `--overwrite`. A clash with another company's file gets the identifier
  appended; a clash with an unreadable file at that slug counts as "exists" (it may be this
  company's half-edited file).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from reconciler.config.model import DEFAULT, AgreementRef, Mapping, Product
from reconciler.config.schemas import PLACEHOLDER_ID
from reconciler.desired import CustomerError, resolve_agreement
from reconciler.render.escape import has_unsafe, plain_line
from reconciler.snapshot import active_agreement_ids, fan_out, read_company, read_directory
from reconciler.state import Addition, Agreement, Company, CompanyState, plain_number
from reconciler.target import Target

MODELINE = "# yaml-language-server: $schema=../../schemas/customer.schema.json"
SLUG_MAX = 60


@dataclass
class ImportedCustomer:
    """One customer file to write: the values, plus the comments that explain them."""

    state: CompanyState  # what ConnectWise holds for the company (its `company` is never None here)
    name: str
    trend_customer_id: str  # a GUID, or PLACEHOLDER_ID
    trend_note: str  # where the id came from, or why it is a placeholder
    mappings: dict[str, Mapping]  # product key -> DEFAULT or AgreementRef, in products order
    comments: dict[str, list[str]] = field(default_factory=dict)  # product key -> comment lines above it
    inline: dict[str, str] = field(default_factory=dict)  # product key -> trailing comment
    warnings: list[str] = field(default_factory=list)

    @property
    def company(self) -> Company:
        return _company_of(self.state)

    @property
    def placeholder(self) -> bool:
        return self.trend_customer_id == PLACEHOLDER_ID


# -- reading ConnectWise (the one impure function) ----------------------------------------------


def read_companies(target: Target, identifiers: Sequence[str] | None, workers: int = 8) -> list[CompanyState]:
    """Companies (all when `identifiers` is None), with the active additions of their active
    agreements (agreements in id order), through the shared reader (`reconciler.snapshot`).
    Every addition is kept; `catalog_additions` picks the catalog products (pure, so testable
    without a server)."""
    directory = read_directory(target, identifiers, ())

    def read(company: Company) -> CompanyState:
        state = read_company(target, directory, company.identifier, active_agreement_ids(directory, company.identifier))
        state.agreements.sort(key=lambda a: a.id)
        return state

    wanted = None if identifiers is None else {i.casefold() for i in identifiers}
    companies = [c for key, c in directory.companies.items() if wanted is None or key in wanted]
    states = fan_out(companies, read, workers)
    return sorted(states, key=lambda state: _company_of(state).identifier.casefold())


def _company_of(state: CompanyState) -> Company:
    """Import reads only companies the directory listed, so each state has its company."""
    if state.company is None:
        raise ValueError("import works on companies the PSA listed; this state has none")
    return state.company


# -- records -> mappings ---------------------------------------------------------------------


def catalog_additions(state: CompanyState, products: dict[str, Product], today: date) -> dict[str, list[Addition]]:
    """Product key -> the company's additions of that catalog product still billing `today`
    (ConnectWise's "active"), in products order."""
    by_identifier = {p.catalog_item.casefold(): key for key, p in products.items()}
    found: dict[str, list[Addition]] = {}
    for addition in state.all_additions:
        key = by_identifier.get(addition.product_identifier.casefold())
        if key is not None and addition.bills_on(today):
            found.setdefault(key, []).append(addition)
    return {key: found[key] for key in products if key in found}


def _default_agreement(state: CompanyState, default_types: tuple[str, ...]) -> Agreement | None:
    wanted = {t.casefold() for t in default_types}
    candidates = [a for a in state.agreements if a.active and a.type.casefold() in wanted]
    return candidates[0] if len(candidates) == 1 else None


def _quantity(additions: Iterable[Addition]) -> int | float:
    return plain_number(sum(a.quantity for a in additions))


def map_product(
    product: Product, additions: list[Addition], state: CompanyState, default_types: tuple[str, ...]
) -> tuple[Mapping, list[str], str, list[str]]:
    """(mapping, comment lines, inline comment, warnings) for one product's active additions."""
    agreements = {a.id: a for a in state.agreements}
    per_agreement: dict[int, list[Addition]] = {}
    for addition in additions:
        per_agreement.setdefault(addition.agreement_id, []).append(addition)
    # Larger billed quantity wins; the lower agreement id breaks a tie, so reruns agree.
    chosen_id = min(per_agreement, key=lambda aid: (-sum(a.quantity for a in per_agreement[aid]), aid))
    chosen = agreements[chosen_id]
    comments: list[str] = []
    warnings: list[str] = []
    where = _company_of(state).identifier

    def held(aid: int) -> str:
        adds = per_agreement[aid]
        ids = ", ".join(str(a.id) for a in adds)
        return f"{agreements[aid].label} (addition {ids}, quantity {_quantity(adds)})"

    if len(per_agreement) > 1:
        others = [aid for aid in sorted(per_agreement) if aid != chosen_id]
        comments += [
            f"CONFLICT: {product.catalog_item} is billed on {len(per_agreement)} agreements at once: "
            + "; ".join(held(aid) for aid in sorted(per_agreement)) + ".",
            f"Mapped to {chosen.label}, the larger quantity. Cancel the addition on "
            + " and ".join(agreements[aid].label for aid in others)
            + " in ConnectWise (or change this mapping) before the first apply.",
        ]
        warnings.append(
            f"{where}: {product.key} ({product.catalog_item}) is billed on {len(per_agreement)} agreements; "
            f"mapped to {chosen.label} (larger quantity), see the CONFLICT comment"
        )
    if len(per_agreement[chosen_id]) > 1:
        # The plan refuses a customer with two active additions of one product on one agreement.
        comments.append(f"WARNING: {held(chosen_id)} holds {len(per_agreement[chosen_id])} active "
                        f"{product.catalog_item} additions; cancel all but one before the first apply.")
        warnings.append(f"{where}: {product.key} has {len(per_agreement[chosen_id])} active additions on "
                        f"{chosen.label}; `reconcile plan` refuses that until one is cancelled")

    default = _default_agreement(state, default_types)
    mapping: Mapping = DEFAULT if default is not None and default.id == chosen_id else AgreementRef(chosen.type, chosen.name)
    inline = f"= {chosen.label}" if mapping == DEFAULT else ""
    try:
        resolved = resolve_agreement(product.key, mapping, list(state.agreements), default_types)
        if resolved.id != chosen_id:  # cannot happen today; guards against resolver changes
            raise CustomerError(f"{product.key}: resolves to {resolved.label}, not {chosen.label}")
    except CustomerError as error:
        comments.append(f"WARNING: this mapping does not resolve to the billing agreement: {error}")
        warnings.append(f"{where}: {error}")
    return mapping, comments, inline, warnings


def normalise_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def match_trend_customer(
    company_name: str, lmpi_customers: Sequence[dict[str, Any]] | None, taken_ids: Iterable[str] = ()
) -> tuple[str, str]:
    """(trend_customer_id or PLACEHOLDER_ID, note saying where it came from or why not)."""
    if lmpi_customers is None:
        return PLACEHOLDER_ID, "LMPI is not available (no TM_LMPI_URL/TM_ACCESS_TOKEN/TM_SECRET_KEY), so it could not be looked up"
    wanted = normalise_name(company_name)
    matches = sorted({str(c.get("customer_id")) for c in lmpi_customers
                      if c.get("customer_id") and normalise_name(str(c.get("name") or "")) == wanted})
    if not matches:
        return PLACEHOLDER_ID, f'no LMPI customer is named "{company_name}"'
    if len(matches) > 1:
        return PLACEHOLDER_ID, f'{len(matches)} LMPI customers are named "{company_name}" ({", ".join(matches)})'
    if matches[0].casefold() in {t.casefold() for t in taken_ids}:
        return PLACEHOLDER_ID, f'LMPI customer "{company_name}" has id {matches[0]}, which another customer file already uses'
    return matches[0], f'from the LMPI customer named "{company_name}"'


def build_customer(
    state: CompanyState, products: dict[str, Product], default_types: tuple[str, ...],
    trend: tuple[str, str], today: date,
) -> ImportedCustomer | None:
    """The customer file for one company, or None when it bills no catalog product `today`."""
    found = catalog_additions(state, products, today)
    if not found:
        return None
    company = _company_of(state)
    imported = ImportedCustomer(
        state=state, name=company.name or company.identifier, trend_customer_id=trend[0],
        trend_note=trend[1], mappings={},
    )
    for key, additions in found.items():
        mapping, comments, inline, warnings = map_product(products[key], additions, state, default_types)
        imported.mappings[key] = mapping
        if comments:
            imported.comments[key] = comments
        if inline:
            imported.inline[key] = inline
        imported.warnings += warnings
    if imported.placeholder:
        imported.warnings.append(f"{company.identifier}: trend_customer_id is {PLACEHOLDER_ID} ({trend[1]}); fill it in")
    if len(company.identifier) > 30:
        imported.warnings.append(f"{company.identifier}: identifier is longer than the schema's 30 characters")
    return imported


# -- YAML text -------------------------------------------------------------------------------


def _scalar(value: str) -> str:
    """A YAML scalar, quoted only when YAML needs it ("yes", "123", "a: b"). A value holding a
    control or bidirectional character (a ConnectWise name with U+202E) is written with YAML's
    `\\uXXXX` escapes, so the file shows it escaped in a review and still loads to the exact name."""
    text = yaml.safe_dump(value, allow_unicode=not has_unsafe(value), width=1 << 20)
    return text.removesuffix("\n...\n").strip()


def _comment(text: str, indent: str = "") -> str:
    return f"{indent}# {plain_line(' '.join(text.split()))}"


def render_customer(imported: ImportedCustomer, now: datetime, modeline: str = MODELINE) -> str:
    """The customer file's text: modeline (`repository.schema_modeline` for where the file
    goes), provenance, then the keys in their fixed order."""
    company = imported.company
    lines = [
        modeline,
        _comment(f"Imported by `reconcile import` from ConnectWise company {company.identifier} "
                 f"(\"{company.name}\", id {company.id}) on {now.strftime('%Y-%m-%d %H:%M UTC')}."),
        "# The mappings reproduce where each product is billed today; review them before merging.",
        f"name: {_scalar(imported.name)}",
    ]
    if imported.placeholder:
        lines += [
            _comment(f"TODO: {PLACEHOLDER_ID} is a placeholder: {imported.trend_note}."),
            "# TODO: put the customer's Trend Micro customer id (a GUID) here; `reconcile validate` fails until then.",
        ]
    else:
        lines.append(_comment(f"Trend customer id {imported.trend_note}."))
    lines += [
        f"trend_customer_id: {_scalar(imported.trend_customer_id)}",
        f"connectwise_company: {_scalar(company.identifier)}",
        "agreements:",
    ]
    for key, mapping in imported.mappings.items():
        lines += [_comment(c, "  ") for c in imported.comments.get(key, [])]
        if mapping == DEFAULT:
            inline = imported.inline.get(key)
            lines.append(f"  {key}: default" + (f"  # {plain_line(' '.join(inline.split()))}" if inline else ""))
        else:
            assert isinstance(mapping, AgreementRef)
            lines += [f"  {key}:", f"    type: {_scalar(mapping.type)}", f"    name: {_scalar(mapping.name)}"]
    lines.append("integration: general")
    return "\n".join(lines) + "\n"


# -- which file each company goes to ----------------------------------------------------------


@dataclass(frozen=True)
class ExistingFile:
    path: Path
    psa_company: str | None  # None: unreadable, or no connectwise_company in it
    trend_customer_id: str | None = None

    @property
    def slug(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class FileAction:
    state: CompanyState
    action: Literal["write", "overwrite", "skip"]
    path: Path
    reason: str = ""

    @property
    def company(self) -> Company:
        return _company_of(self.state)


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > SLUG_MAX:
        slug = slug[:SLUG_MAX].rsplit("-", 1)[0] or slug[:SLUG_MAX]
    return slug


def plan_files(
    companies: Sequence[CompanyState], existing: Sequence[ExistingFile], customers_dir: Path, overwrite: bool
) -> list[FileAction]:
    """Decide, per company (in the given order), where its file goes and whether to write it."""
    by_company: dict[str, list[ExistingFile]] = {}
    by_slug: dict[str, ExistingFile] = {}
    for file in existing:
        by_slug.setdefault(file.slug, file)
        if file.psa_company:
            by_company.setdefault(file.psa_company.casefold(), []).append(file)
    assigned: set[str] = set()
    actions: list[FileAction] = []
    for state in companies:
        company = _company_of(state)
        mine = by_company.get(company.identifier.casefold(), [])
        if len(mine) > 1:
            names = ", ".join(f.path.name for f in mine)
            actions.append(FileAction(state, "skip", mine[0].path, f"exists: {names} all name {company.identifier}"))
            continue
        if mine:
            file = mine[0]
            if overwrite:
                actions.append(FileAction(state, "overwrite", file.path, "replaced (--overwrite)"))
            else:
                actions.append(FileAction(state, "skip", file.path, "exists (--overwrite replaces it)"))
            assigned.add(file.slug)
            continue
        base = slugify(company.name) or slugify(company.identifier) or f"company-{company.id}"
        slug = base
        clash = by_slug.get(slug)
        if clash is not None and clash.psa_company is None and slug not in assigned:
            action: Literal["overwrite", "skip"] = "overwrite" if overwrite else "skip"
            reason = "replaced (--overwrite)" if overwrite else "exists (--overwrite replaces it)"
            actions.append(FileAction(state, action, clash.path, reason))
            assigned.add(slug)
            continue
        taken = set(by_slug) | assigned
        if slug in taken:
            slug = f"{base}-{slugify(company.identifier) or company.id}"
        number = 2
        while slug in taken:
            slug = f"{base}-{number}"
            number += 1
        assigned.add(slug)
        actions.append(FileAction(state, "write", customers_dir / f"{slug}.yaml"))
    return actions
