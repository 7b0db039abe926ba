"""The CSV usage source: one row per (Trend customer, product) with a seat count.

    trend_customer_id,product,quantity[,workstations,servers,viruses_removed,spyware_removed]

Header names are matched after trimming spaces and lower-casing; columns may come in any
order; blank lines are skipped; a UTF-8 BOM (Excel's "CSV UTF-8") is accepted. Extras are
optional per row and summed per customer. Every row problem is collected and raised as one
`UsageInvalid`, each error as `PATH:LINE: error: MESSAGE`, like `reconcile validate`.

Another header (Trend's usage-report export, say) is read when global.yaml maps it under
`usage.columns` (our field -> the file's column): then other columns are ignored, the product
cell may hold a product key or any Trend id or name a product's `trend:` lists, rows of several
Trend plans counted by one product are summed, and a product no config product counts is a
warning (as with LMPI), not an error.

One row per customer, product and subscription: an export row repeated (the same customer and
the same product cell, and the same `subscription` cell when `usage.columns.subscription` maps
one) is refused at `file:line`, naming the line it repeats, whatever its quantity: 35 seats listed
twice must never bill 70. Rows are summed only when the source says they are different things:
another Trend plan or product in the product cell, or another subscription in the subscription
column; the plan then shows the parts (`Usage.parts`).

Decisions: unknown columns are an error (a misspelt `workstation` column silently ignored
would drop figures from executive summaries); a header-only file is valid and means "no
usage" (the plan's safety thresholds, not the parser, decide whether that is plausible);
quantities are plain non-negative integers of at most 9 digits (no `+5`, `1.0` or `1e3`; a
billion seats is a wrong column or file, refused here rather than left to a --force).

Untrusted content: the file may not be what it claims (a pull request can point usage.path at
any file in the repository), so messages quote a cell only as a short escaped excerpt
(`paths.excerpt`), never a whole line, and a file above `MAX_BYTES` (or a device or FIFO) is
refused before it is read, and one of more than `MAX_ROWS` lines before it is parsed.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler.config.diagnostics import display_path
from reconciler.config.paths import FileTooBig, excerpt, read_limited

from .base import EXTRA_FIELDS, Usage, UsageError, UsageInvalid, trend_key
from .trend_ids import TrendIds

REQUIRED = ("trend_customer_id", "product", "quantity")
# Sized for the largest MSP (docs/scale.md, "Usage files"): 100,000 customers with every product
# (600,000 rows of ~52 bytes, ~31 MB) fit with room; a wrong file (a database dump, a log) stops
# at whichever limit comes first, before it is parsed.
MAX_BYTES = 64 * 1024 * 1024  # 64 MiB: ~1.2 million rows as the bench writes them (52 bytes each)
MAX_ROWS = 1_000_000  # lines: ten rows per customer for 100,000 customers
MAX_ERRORS = 1_000  # row errors collected before reading stops
_INTEGER = re.compile(r"^[0-9]+$")
MAX_DIGITS = 9  # a count above 999,999,999 is a wrong column or a wrong file, and beyond what money.py prices
_NEGATIVE = re.compile(r"^-[0-9]+$")
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def read_csv(
    path: Path, products: Iterable[str], columns: Mapping[str, str] | None = None,
    trend_ids: TrendIds | None = None,
) -> Usage:
    """Parse a usage CSV. `products` are the known product keys (config.products); `columns`
    maps our fields to another header (config `usage.columns`), read with `trend_ids`."""
    shown = display_path(Path(path))
    text = _decode(Path(path), shown)
    if columns:
        known = trend_ids or TrendIds(known_products=frozenset(products))
        quantities, evidence, warnings, parts = _parse_mapped(text, shown, columns, known)
        return Usage(quantities=quantities, source=f"csv:{shown}", warnings=tuple(warnings),
                     basis="file", rows=tuple(evidence), parts=parts)
    rows = _parse(text, shown, set(products))
    listed: tuple[dict[str, Any], ...] = tuple(
        {"trend_customer_id": customer, "product": product, "quantity": quantity}
        for (customer, product), quantity in rows[0].items()
    )
    return Usage(quantities=rows[0], extra=rows[1], source=f"csv:{shown}", basis="file",
                 rows=listed + tuple(rows[2]))


def _parse_mapped(
    text: str, shown: str, columns: Mapping[str, str], trend_ids: TrendIds
) -> tuple[dict[tuple[str, str], int], list[dict[str, Any]], list[str], dict[tuple[str, str], tuple[tuple[str, int], ...]]]:
    """A file with its own header (Trend's export), read through the configured column names."""
    reader = csv.reader(io.StringIO(text, newline=""))
    wanted = {ours: theirs.strip().lower() for ours, theirs in columns.items()}
    index: dict[str, int] | None = None
    errors: list[UsageError] = []
    warnings: list[str] = []
    quantities: dict[tuple[str, str], int] = {}
    evidence: list[dict[str, Any]] = []
    first_seen: dict[tuple[str, str, str], int] = {}  # (customer, product cell, subscription) -> line
    parts: dict[tuple[str, str], list[tuple[str, int]]] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if index is None:
                header = [cell.strip().lower() for cell in row]
                missing = [f"{theirs!r} (usage.columns.{ours})" for ours, theirs in wanted.items()
                           if theirs not in header]
                if missing:
                    raise UsageInvalid([UsageError(shown, line, f"missing column(s) {', '.join(missing)}; "
                                                   f"the header has {', '.join(repr(h) for h in header)[:300]}")])
                index = {ours: header.index(theirs) for ours, theirs in wanted.items()}
                continue
            cells = {ours: (row[i].strip() if i < len(row) else "") for ours, i in index.items()}
            row_errors: list[str] = []
            customer, product_cell = cells["trend_customer_id"], cells["product"]
            if not customer:
                row_errors.append(f"empty {columns['trend_customer_id']}")
            if not product_cell:
                row_errors.append(f"empty {columns['product']}")
            quantity = _count(cells["quantity"], columns["quantity"], row_errors)
            errors.extend(UsageError(shown, line, message) for message in row_errors)
            if row_errors or quantity is None:
                continue
            subscription = cells.get("subscription", "")
            row_key = (trend_key(customer), product_cell.casefold(), subscription.casefold())
            if row_key in first_seen:
                named = f", {columns['subscription']} {excerpt(subscription)}" if "subscription" in columns else ""
                hint = "" if "subscription" in columns else (
                    "; if they are two subscriptions, map their subscription column as usage.columns.subscription")
                errors.append(UsageError(shown, line, (
                    f"duplicate row: customer {excerpt(customer)}, {columns['product']} {excerpt(product_cell)}{named} "
                    f"is already at line {first_seen[row_key]} (one row per customer, product and subscription; "
                    f"summing them would bill {quantity} seats twice){hint}")))
                continue
            first_seen[row_key] = line
            key = trend_ids.any_identifier(product_cell)
            if key is None:
                warnings.append(f"{shown}:{line}: customer {customer[:64]}: Trend product "
                                f"{product_cell[:64]!r} ({quantity} units) is counted by no product in "
                                "global.yaml; not counted")
                continue
            quantities[(customer, key)] = quantities.get((customer, key), 0) + quantity
            label = product_cell + (f" / {subscription}" if subscription else "")
            parts.setdefault((trend_key(customer), key), []).append((label, quantity))
            evidence.append({"trend_customer_id": customer, "product": key, "trend_product": product_cell,
                             **({"subscription": subscription} if "subscription" in columns else {}),
                             "quantity": quantity})
    except csv.Error as exc:
        errors.append(UsageError(shown, reader.line_num or 1, f"malformed CSV: {exc}"))
    if errors:
        raise UsageInvalid(errors)
    return quantities, evidence, warnings, {key: tuple(found) for key, found in parts.items() if len(found) > 1}


def _decode(path: Path, shown: str) -> str:
    try:
        data = read_limited(path, MAX_BYTES)
    except OSError as exc:
        raise UsageInvalid(
            [UsageError(shown, 1, f"cannot read usage file: {exc.strerror or exc}")]
        ) from None
    except FileTooBig as exc:
        raise UsageInvalid([UsageError(shown, 1, f"usage file: {exc}")]) from None
    if data.count(b"\n") > MAX_ROWS:
        raise UsageInvalid([UsageError(shown, MAX_ROWS + 1, f"usage file: more than {MAX_ROWS:,} lines; "
                                       "is this the right file?")])
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageInvalid(
            [
                UsageError(
                    shown,
                    line,
                    f"not UTF-8 text (byte 0x{data[exc.start]:02x}); is this a CSV file?",
                )
            ]
        ) from None
    if not text.strip():
        raise UsageInvalid(
            [UsageError(shown, 1, f"empty file; expected a header row {','.join(REQUIRED)}")]
        )
    binary = [
        UsageError(shown, n, "binary data (control characters); is this a CSV file?")
        for n, line in enumerate(text.splitlines(), start=1)
        if _BINARY.search(line)
    ]
    if binary:
        raise UsageInvalid(binary[:10])
    return text


def _parse(
    text: str, shown: str, products: set[str]
) -> tuple[dict[tuple[str, str], int], dict[str, dict[str, int]], list[dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 1
    errors: list[UsageError] = []
    quantities: dict[tuple[str, str], int] = {}
    first_seen: dict[tuple[str, str], int] = {}
    extra: dict[str, dict[str, int]] = {}
    suggestions: dict[str, str] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header, header_line = [cell.strip().lower() for cell in row], line
                _check_header(header, shown, line)
                continue
            if len(row) != len(header):
                errors.append(
                    UsageError(shown, line, f"expected {len(header)} fields, found {len(row)}")
                )
                continue
            cells = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
            row_errors: list[str] = []
            customer = cells["trend_customer_id"]
            if not customer:
                row_errors.append("empty trend_customer_id")
            product = _known_product(cells["product"], products)
            if not product:
                row_errors.append("empty product")
            elif product not in products:
                if product not in suggestions:  # one did-you-mean per distinct value
                    suggestions[product] = _unknown_product(product, products)
                row_errors.append(suggestions[product])
            quantity = _count(cells["quantity"], "quantity", row_errors)
            figures = {
                name: value
                for name in EXTRA_FIELDS
                if cells.get(name) and (value := _count(cells[name], name, row_errors)) is not None
            }
            # Trend ids are GUIDs and product keys are lower case: a row that differs from
            # an earlier one only in case is the same row, not a second customer.
            key = (trend_key(customer), product)
            if customer and product and key in first_seen:
                row_errors.append(
                    f"duplicate row for customer {customer} and product {product} "
                    f"(first at line {first_seen[key]})"
                )
            errors.extend(UsageError(shown, line, message) for message in row_errors)
            if len(errors) >= MAX_ERRORS:  # a wrong file: stop reading, say so at this line
                errors.append(UsageError(shown, line, f"more than {MAX_ERRORS} errors; stopped "
                                         "reading here (is this the right file?)"))
                break
            if row_errors:
                continue
            first_seen[key] = line
            assert quantity is not None
            quantities[key] = quantity
            if figures:
                totals = extra.setdefault(customer, {})
                for name, value in figures.items():
                    totals[name] = totals.get(name, 0) + value
    except csv.Error as exc:
        errors.append(UsageError(shown, reader.line_num or header_line, f"malformed CSV: {exc}"))
    if errors:
        raise UsageInvalid(errors)
    # Executive-summary figures are part of what a customer's run used: keep them as evidence.
    extra_rows = [{"trend_customer_id": customer, "extra": dict(sorted(figures.items()))}
                  for customer, figures in extra.items()]
    return quantities, extra, extra_rows


def _check_header(header: list[str], shown: str, line: int) -> None:
    allowed = (*REQUIRED, *EXTRA_FIELDS)
    problems = []
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        problems.append(
            f"missing column(s) {', '.join(missing)}; the header must include {','.join(REQUIRED)}"
        )
    unknown = [name for name in header if name not in allowed]
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(excerpt(u) for u in unknown[:3])}"
            f"{f' and {len(unknown) - 3} more' if len(unknown) > 3 else ''}; allowed: "
            f"{', '.join(allowed)}"
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        problems.append(f"duplicate column(s) {', '.join(duplicated)}")
    if problems:
        raise UsageInvalid([UsageError(shown, line, p) for p in problems])


def _count(cell: str, name: str, errors: list[str]) -> int | None:
    if _INTEGER.match(cell) and len(cell.lstrip("0")) > MAX_DIGITS:
        errors.append(f"{name} {excerpt(cell)} is out of range (at most {MAX_DIGITS} digits; no bill has "
                      "a billion seats)")
        return None
    if _INTEGER.match(cell):
        return int(cell)
    if _NEGATIVE.match(cell):
        errors.append(f"{name} must not be negative, got {cell}")
    elif not cell:
        errors.append(f"empty {name}")
    else:
        errors.append(f"{name} must be a whole number, got {excerpt(cell)}")
    return None


def _known_product(cell: str, products: set[str]) -> str:
    """The product key a cell names; product keys are lower case, so `WFBSS-SVC` is `wfbss-svc`."""
    folded = cell.lower()
    return folded if folded in products else cell


def _unknown_product(product: str, products: set[str]) -> str:
    message = f"unknown product {excerpt(product)}"
    close = difflib.get_close_matches(product, sorted(products), n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return message + f"; known products: {', '.join(sorted(products))}"
