"""What `reconcile report` says on stderr: its warnings and the files it wrote. (The report
itself, Markdown and HTML pages, is `reconciler.report`'s.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.config.diagnostics import display_path

if TYPE_CHECKING:
    from reconciler.run.report import ReportRun


def warning_line(text: str) -> str:
    return f"warning: {text}"


def written_line(run: ReportRun) -> str:
    if run.fmt == "markdown":
        return f"wrote {run.written[0]}"
    return (f"wrote {display_path(run.written[0])}, {run.customer_pages} customer page(s) and "
            f"{run.period_pages} period page(s)")
