"""Escaping text from config files and ConnectWise before it reaches Markdown or HTML.

A customer name, an agreement name or a ConnectWise error message is written by someone else:
a pull request author, a ConnectWise user, a server. GitHub renders PR comments and step
summaries as Markdown with inline HTML, so `</summary><!--` in a mapping name could hide the rest
of a plan, and `[x](https://...)` could plant a link. Every such text goes through `md_text`
(inline: table cells, `<summary>`, list items) or `code_line` (inside a fenced block).
"""

from __future__ import annotations

import html
import re

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that start
# markup inline (emphasis, code, links, tables, strikethrough). HTML's own are entity-escaped.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
_WHITESPACE = re.compile(r"\s+")


def md_text(text: object) -> str:
    """`text` as literal inline Markdown: one line, no HTML, no Markdown markup."""
    flat = _WHITESPACE.sub(" ", str(text)).strip()
    return _MARKDOWN.sub(r"\\\1", html.escape(flat, quote=True))


def code_line(text: object) -> str:
    """`text` as one line inside a fenced code block: line breaks flattened so no line of it can
    close the fence (a fence closes only on a line that starts with backticks)."""
    return _WHITESPACE.sub(" ", str(text)).rstrip()
