"""`escape`: `html.escape`, remembered for the texts a report repeats.

A 20,000-customer report escapes about ten million texts, nearly all of them the same few
thousand (periods, product and customer names, triggers, the time zone) page after page
(issue 22). Each distinct text is escaped once while it stays in use; the cache is bounded so
the one-off texts (times, error messages) cannot grow memory with the ledger.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape as html_escape


@lru_cache(maxsize=16384)
def escape(text: str) -> str:
    """`html.escape(text)` (quotes included), the same text for the same input."""
    return html_escape(text)
