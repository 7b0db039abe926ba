"""What every view shares: options, the sandbox banner, count phrases, escaped Markdown cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.render.escape import md_text

SANDBOX_TEXT = "Running against the embedded sandbox (demo data, no real ConnectWise)."


@dataclass(frozen=True)
class RenderOptions:
    """How a view is drawn; every renderer takes one (the JSON views ignore what does not apply)."""

    verbose: bool = False  # also list what has nothing to report


def sandbox_banner(sandbox: bool) -> list[str]:
    """The first lines of a text view made against the simulator."""
    return [SANDBOX_TEXT, ""] if sandbox else []


def counted(count: int, one: str, many: str | None = None) -> str:
    """`1 customer`, `2 customers` (`many` for irregular plurals)."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def cell(text: Any) -> str:
    """A Markdown table cell from config or ConnectWise text: escaped, never markup."""
    return "" if text is None else md_text(text)
