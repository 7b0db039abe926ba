"""Typed ConnectWise errors whose text is safe to print, log and put in a ledger.

An error carries what the caller needs to decide (status, CW's `code`) and what a human
needs to fix it (method, path, message, field errors). It never carries headers, the
request object or a response object: those hold the Authorization header, so keeping
them on an exception that may be logged or pickled is how keys leak.
"""

from __future__ import annotations

from typing import Any

# `redact` masks every form of every key and any Basic/Bearer blob (see reconciler.secrets); it
# stays importable from here, where the client has always found it.
from reconciler.secrets import redact  # noqa: F401  (re-exported)
from reconciler.target import TargetError


class ConnectWiseError(TargetError):
    """A ConnectWise request failed. `status` is None when no HTTP response arrived."""

    def __init__(
        self,
        status: int | None,
        code: str | None,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors or [])
        self.method = method
        # The path only: query strings are dropped so a long condition cannot bloat a ledger.
        self.path = path.split("?", 1)[0]
        super().__init__(status, code, message, self.errors)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        head = f"{where}: {status}" if where else status
        if self.code:
            head += f" {self.code}"
        text = f"{head}: {self.message}" if self.message else head
        details = [_error_text(e) for e in self.errors]
        details = [d for d in details if d]
        if details:
            text += " (" + "; ".join(details) + ")"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


def _error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    message = str(error.get("message") or error.get("code") or "")
    field = error.get("field")
    return f"{field}: {message}" if field and message else message


class BadRequest(ConnectWiseError):
    """400: the request is malformed or the object invalid; retrying unchanged cannot help."""


class AuthError(ConnectWiseError):
    """401 (bad keys / clientId) or 403 (the API member's role lacks rights)."""


class NotFound(ConnectWiseError):
    """404. On CW cloud this can also mean a wrong codebase or bad auth."""


class Conflict(ConnectWiseError):
    """409: record possibly in use."""


class RateLimited(ConnectWiseError):
    """429 still returned after the retry budget was spent."""


class ServerError(ConnectWiseError):
    """5xx still returned after the retry budget was spent (or a 5xx on a non-retried call)."""


class TransportError(ConnectWiseError):
    """No HTTP response: connection refused/reset, or timeouts, after retries."""


class AmbiguousWrite(ConnectWiseError):
    """A POST may or may not have been applied and reading it back was impossible.

    The caller must not blindly repeat the write; the next run's read of actual state
    settles it.
    """


_BY_STATUS: dict[int, type[ConnectWiseError]] = {
    400: BadRequest,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_class(status: int) -> type[ConnectWiseError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return ConnectWiseError


def parse_error_body(body: Any) -> tuple[str | None, str, list[dict[str, Any]]]:
    """(code, message, errors) from CW's `{code, message, errors[]}` or 429's `{error, message}`."""
    if not isinstance(body, dict):
        return None, "", []
    code = body.get("code") or body.get("error")
    message = body.get("message") or ""
    errors = body.get("errors") or []
    if not isinstance(errors, list):
        errors = [errors]
    return (str(code) if code is not None else None), str(message), errors
