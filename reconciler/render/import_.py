"""The view of `reconcile import`: one line per company, the warnings, the summary and what to
do next. Names and identifiers come from ConnectWise: shown escaped (a U+202E would reorder the
line)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.render.escape import plain_line

if TYPE_CHECKING:
    from reconciler.run.import_ import Outcome


NEXT = ("Next: fill in any REPLACE-ME ids, run `reconcile validate`, then "
        "`reconcile plan --send-now` should show no create or cancel caused by the mappings.")


def import_output(out: Outcome) -> list[tuple[str, bool]]:
    """The lines to print, in order, as (text, to stderr) pairs."""
    lines: list[tuple[str, bool]] = []
    for line in out.lines:
        lines.append((plain_line(line), False))
    for warning in out.warnings:
        lines.append((f"warning: {plain_line(warning)}", False))
    for identifier in out.missing:
        lines.append((f"error: --company {plain_line(identifier)}: no ConnectWise company has this identifier", True))
    summary = (f"Import: {out.written} written, {out.skipped} skipped, {len(out.warnings)} "
               f"warning{'s' if len(out.warnings) != 1 else ''}")
    for line in out.failed:
        lines.append((f"error: {plain_line(line)}", True))
    if out.missing:
        summary += f", {len(out.missing)} not found"
    if out.failed:
        summary += f", {len(out.failed)} not written"
    lines.append((summary + ".", False))
    if out.written:
        lines.append((NEXT, False))
    return lines
