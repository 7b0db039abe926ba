"""Escaping text from config files, Trend and ConnectWise before it reaches a terminal, Markdown or HTML.

A customer name, an agreement name or a ConnectWise error message is written by someone else:
a pull request author, a ConnectWise user, a server. GitHub renders PR comments and step
summaries as Markdown with inline HTML, so `</summary><!--` in a mapping name could hide the rest
of a plan, and `[x](https://...)` could plant a link. Every such text goes through `md_text`
(inline: table cells, `<summary>`, list items) or `code_line` (inside a fenced block).

Plain text is no safer: a newline in a customer name forges a plan line, and a right-to-left
override (U+202E) reorders one on screen, so `40 -> 4` can read `4 -> 04`. `plain_line` shows
every control character, and every bidirectional or invisible formatting character, as its
`\\uXXXX` escape (`\\n`, `\\t`, `\\r` for the common ones); the Markdown helpers apply it too.
"""

from __future__ import annotations

import html
import re

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that start
# markup inline (emphasis, code, links, tables, strikethrough). HTML's own are entity-escaped.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
_WHITESPACE = re.compile(r"\s+")
# C0 and C1 controls and DEL; the Arabic letter mark; zero-width and directional marks; line and
# paragraph separators; bidirectional embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069); word joiner and invisible operators; the byte-order mark / zero-width no-break
# space; interlinear annotation and the object replacement controls.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def has_unsafe(text: object) -> bool:
    """`text` holds a character `plain_line` would escape."""
    return _UNSAFE.search(str(text)) is not None


def plain_line(text: object) -> str:
    """`text` safe for one line of a terminal or log: controls and direction marks escaped."""
    return _UNSAFE.sub(lambda m: _NAMED.get(m.group(), f"\\u{ord(m.group()):04x}"), str(text))


def md_text(text: object) -> str:
    """`text` as literal inline Markdown: one line, no HTML, no Markdown markup."""
    flat = plain_line(_WHITESPACE.sub(" ", str(text)).strip())
    return _MARKDOWN.sub(r"\\\1", html.escape(flat, quote=True))


def code_line(text: object) -> str:
    """`text` as one line inside a fenced code block: line breaks flattened so no line of it can
    close the fence (a fence closes only on a line that starts with backticks)."""
    return plain_line(_WHITESPACE.sub(" ", str(text)).rstrip())
