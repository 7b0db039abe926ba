"""Auditable usage: what the ledger records about the numbers a bill used, and the saved rows.

Each sent billing result in the ledger carries `usage`: the source, the basis, the Trend report
month (reported basis) and `hash`, the SHA-256 of the customer's counted rows in canonical
JSON (keys sorted, no spaces, rows sorted). `--save-usage DIR` writes those exact rows, so the
hash in the ledger can be recomputed from the saved file and the bill explained line by line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .base import Usage


def canonical(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as one canonical JSON text: the same rows give the same text in any order."""
    encoded = sorted(json.dumps(row, sort_keys=True, separators=(",", ":")) for row in rows)
    return "[" + ",".join(encoded) + "]"


def rows_hash(rows: Iterable[dict[str, Any]]) -> str:
    return "sha256:" + hashlib.sha256(canonical(rows).encode("utf-8")).hexdigest()


def audit_key(trend_customer_id: Any) -> str:
    """How rows are grouped by customer: Trend ids compare case-insensitively (they are GUIDs)."""
    return str(trend_customer_id).strip().casefold()


def rows_by_customer(usage: Usage) -> dict[str, list[dict[str, Any]]]:
    """Every counted row grouped by `audit_key`, built once per usage read and kept with it: a
    plan asks for every customer's rows, and scanning all rows per customer made a 20,000-customer
    plan quadratic (66 s of 107, issue 22)."""
    index = usage.__dict__.get("_audit_rows")  # Usage is frozen; the cache is not one of its fields
    if index is None:
        index = {}
        for row in usage.rows:
            index.setdefault(audit_key(row.get("trend_customer_id", "")), []).append(row)
        object.__setattr__(usage, "_audit_rows", index)
    return index


def rows_for(usage: Usage, trend_customer_id: str) -> list[dict[str, Any]]:
    """The counted rows of one customer, in the order the source counted them."""
    return list(rows_by_customer(usage).get(audit_key(trend_customer_id), ()))


def usage_record(usage: Usage, trend_customer_id: str) -> dict[str, Any]:
    """What a ledger result says about the usage behind one customer's bill."""
    record: dict[str, Any] = {"source": usage.source, "basis": usage.basis or None,
                              "report_month": usage.report_month}
    if usage.units:
        record["units"] = usage.units
    record["hash"] = rows_hash(rows_for(usage, trend_customer_id))
    return record


def save_usage(usage: Usage, directory: Path, name: str) -> Path:
    """Write every counted row, grouped by customer (lower-cased Trend id) with its hash, to
    DIRECTORY/usage-NAME.json."""
    customers: dict[str, dict[str, Any]] = {}
    for key, rows in rows_by_customer(usage).items():  # keyed like rows_for
        entry_rows = json.loads(canonical(rows))
        customers[key] = {"rows": entry_rows, "hash": rows_hash(entry_rows)}
    document = {
        "format_version": 1,
        "saved_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": usage.source, "basis": usage.basis or None, "report_month": usage.report_month,
        "units": usage.units, "warnings": list(usage.warnings),
        "customers": dict(sorted(customers.items())),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"usage-{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def save_usage_reads(usage: Usage, directory: Path, name: str) -> list[Path]:
    """Save this run's read, and every other Trend report month the run loaded for a customer
    whose period needed it (as usage-NAME-report-YYYY-MM.json)."""
    paths = [save_usage(usage, directory, name)]
    loaded = getattr(usage.other_month, "loaded", {})
    for month, other in sorted(loaded.items()):
        if month != usage.report_month:
            paths.append(save_usage(other, directory, f"{name}-report-{month}"))
    return paths
