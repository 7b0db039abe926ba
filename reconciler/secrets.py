"""Every form a secret can take in text, and scrubbing them out; checking key values up front.

A server or proxy that echoes a request back in an error body may show a key raw, URL-encoded
(`%2B`, `+` for a space), base64-encoded, or lower- or upper-cased (some proxies normalise
header text). Any of those reaching stdout, a ledger or a report is a leak, so `scrub` replaces
each form, case-insensitively, with `***`. It is applied where outside text enters our
messages (ConnectWise and LMPI errors), so everything downstream (ledger, run report, HTML and
Markdown reports, PR comments) only ever sees scrubbed text.

Key values themselves are checked before any request: whitespace or a line break (a secret
pasted with a trailing newline) made requests raise an error that printed the header value.
`malformed` names the variable and never shows the value.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

MASK = "***"
# Derived forms shorter than this are not masked: they would match ordinary words.
_MIN_FORM = 4


def forms(secret: str) -> set[str]:
    """`secret` raw, URL-encoded, base64-encoded (standard and URL-safe, padded or not), and
    JSON-slash-escaped. Case variants are handled by `scrub` matching case-insensitively."""
    if not secret:
        return set()
    found = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), secret.replace("/", "\\/")}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(secret.encode("utf-8")).decode("ascii")
        found |= {encoded, encoded.rstrip("="), quote(encoded, safe="")}
    return {f for f in found if f == secret or len(f) >= _MIN_FORM}


@functools.lru_cache(maxsize=32)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    every = sorted({f for s in secrets for f in forms(s)}, key=len, reverse=True)
    if not every:
        return None
    return re.compile("|".join(re.escape(f) for f in every), re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret replaced by `***`."""
    pattern = _pattern(tuple(sorted({s for s in secrets if s})))
    return pattern.sub(MASK, text) if pattern is not None and text else text


_BASIC = re.compile(r"(?i)(basic|bearer)\s+[A-Za-z0-9+/=._-]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`scrub`, and any `Basic ...`/`Bearer ...` credential blob masked too (whoever's it is)."""
    return _BASIC.sub(r"\1 ***", scrub(text, secrets))


def malformed(name: str, value: str) -> str | None:
    """Why the value of environment variable `name` cannot be a key, or None. Never shows it."""
    if any(c.isspace() for c in value):
        return (
            f"{name} contains whitespace or a line break (often a newline pasted at the end of "
            "the secret): set it again without it; the value is not shown"
        )
    if not value.isascii() or not value.isprintable():
        return (
            f"{name} contains characters an HTTP header cannot carry (non-ASCII or control "
            "characters): set it again; the value is not shown"
        )
    return None


def check_env(env: Mapping[str, str], names: Iterable[str]) -> str | None:
    """The first problem among the named (set) variables, or None."""
    for name in names:
        value = env.get(name)
        if value:
            problem = malformed(name, value)
            if problem:
                return problem
    return None
