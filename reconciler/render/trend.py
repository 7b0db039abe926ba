"""Views of `reconcile trend products`: the table (or JSON) of LMPI's product codes and the
lines that say what --write adds. LMPI's answer is untrusted: no control character reaches
the screen."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.run.trend import TrendProducts

COLUMNS = ("product_code", "product", "name", "service_plan_id", "counted_by")
HEADINGS = ("product_code", "product", "service_plan", "service_plan_id", "counted_by")


def printable(value: Any) -> str:
    # LMPI's answer is untrusted: no terminal escape sequences or line breaks reach the screen.
    return "".join(ch if ch.isprintable() else "?" for ch in str(value or "-"))[:80]


def products_table(rows: list[dict[str, Any]]) -> str:
    cells = [HEADINGS] + [tuple(printable(r[h]) for h in COLUMNS) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))).rstrip() for c in cells) + "\n"


def products_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2) + "\n"


def render_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    return products_json(rows) if fmt == "json" else products_table(rows)


def product_notes(result: TrendProducts) -> list[str]:
    """What is left to do (or what --write adds), one line each, before any error or `wrote`."""
    lines = []
    if result.uncounted:
        lines.append(f"{len(result.uncounted)} product code(s) counted by no product: map the ones you resell with "
                     "--map PRODUCT=PRODUCT_CODE")
    if not result.additions:
        lines.append("global.yaml already lists every counted product code.")
        return lines
    for key, ids in result.additions.items():
        lines.append(f"{key}: {'adding' if result.write else 'would add'} product_codes "
                     f"{', '.join(printable(i) for i in ids)}")
    if not result.write:
        lines.append("Run with --write to record them in global.yaml.")
    return lines
