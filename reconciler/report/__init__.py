"""The billing report: ledger history -> HTML pages or a Markdown summary (see docs/report.md).

Pipeline, each stage testable alone: `history.read_ledger` (files) -> `history.build_history`
(pure model) -> `figures.build_figures` (what to show for one period) -> `html` / `markdown`.
"""

from reconciler.report.figures import Figures, build_figures
from reconciler.report.history import History, build_history, read_ledger
from reconciler.report.html import write_html
from reconciler.report.markdown import render_markdown
from reconciler.report.names import Names, load_names

__all__ = [
    "Figures",
    "History",
    "Names",
    "build_figures",
    "build_history",
    "load_names",
    "read_ledger",
    "render_markdown",
    "write_html",
]
