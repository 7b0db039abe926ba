"""The ConnectWise Manage REST client: auth, paging, retries, a rate limit, safe creates.

Retry policy (why it looks like this):

* GET and PATCH are retried by urllib3's `Retry`, mounted through `HTTPAdapter`, on 429
  (honouring `Retry-After`, capped at `retry_after_max` seconds), 502, 503, 504, and on
  connection errors and read timeouts. A PATCH here is always a JSON Patch `replace`,
  which is idempotent, so repeating one whose response was lost is harmless.
* 500 is retried for GET only: CW documents some 500s as transient, but a 500 on a write
  may have half-applied it, and a repeated replace would hide that from the ledger.
* POST is *not* in `allowed_methods`: urllib3 then retries a POST only when the connection
  could not be established (nothing was sent), which is the one safe case. Any other POST
  failure (reset after sending, read timeout, 5xx) is ambiguous: `create` waits a little,
  asks the caller's `find_existing()` (plain retried GETs) whether the record now exists,
  returns it if so, and only otherwise POSTs again, at most `post_attempts` times.
  A 429 on POST means the server refused before doing anything, so it is re-sent after
  `Retry-After`.
* Attempts are bounded (`max_retries` retries per call; urllib3's own counter), backoff is
  exponential with jitter (`backoff_factor * 2**n` plus up to `backoff_factor` random).

Secrets: the keys live only in the per-request `auth`; never in URLs, never in errors (see
`errors.redact`). Exceptions are raised `from None` because requests' exceptions keep the
prepared request, whose headers hold the Authorization value.
"""

from __future__ import annotations

import base64
import builtins
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from reconciler.http import retry_policy, session_for
from reconciler.secrets import redact

from .conditions import FIELD, Condition
from .errors import (
    AmbiguousWrite,
    ConnectWiseError,
    TransportError,
    error_class,
    parse_error_body,
)
from .ratelimit import TokenBucket
from .resources import ResourcesMixin

log = logging.getLogger(__name__)
retry_log = logging.getLogger(__name__ + ".retry")  # INFO lines; the CLI shows them on a terminal

PAGE_SIZE = 1000  # CW's maximum
_ORDER_BY = re.compile(r"^[A-Za-z_][A-Za-z0-9_/]*( (asc|desc))?$", re.IGNORECASE)
_QUERY = re.compile(r"\?[^\s)'\"]*")


@dataclass(frozen=True, repr=False)
class Credentials:
    """An API member's keys. `repr`/`str` mask both keys so a logged object leaks nothing."""

    company_id: str
    public_key: str
    private_key: str
    client_id: str

    def __repr__(self) -> str:
        return (
            f"Credentials(company_id={self.company_id!r}, public_key='***', "
            "private_key='***', client_id='***')"
        )

    __str__ = __repr__

    @property
    def basic_auth(self) -> tuple[str, str]:
        return (f"{self.company_id}+{self.public_key}", self.private_key)

    def secrets(self) -> tuple[str, ...]:
        """Every string that must never appear in output: the keys, the client id and the Basic
        token (and its `user:password` text); `errors.redact` masks each in every form."""
        user, password = self.basic_auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return tuple(
            s for s in (self.private_key, self.public_key, self.client_id, token, f"{user}:{password}") if s
        )


class _Retry(Retry):
    """urllib3 Retry plus: 500 for GET only, a Retry-After cap, and a per-attempt hook."""

    def __init__(
        self,
        *args: Any,
        on_retry: Callable[[], None] | None = None,
        retry_after_cap: float = 60.0,
        on_wait: Callable[[Retry, float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.on_retry = on_retry
        self.retry_after_cap = retry_after_cap
        self.on_wait = on_wait

    def new(self, **kw: Any) -> _Retry:
        new = super().new(**kw)
        new.on_retry, new.retry_after_cap, new.on_wait = self.on_retry, self.retry_after_cap, self.on_wait
        return new

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 500 and method.upper() != "GET":
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            return min(super().parse_retry_after(retry_after), self.retry_after_cap)
        except Exception:  # a garbage header must not crash the call; fall back to backoff
            return 0.0

    def sleep(self, response: Any = None) -> None:
        # urllib3's sleep, with the wait known beforehand so it can be announced.
        wait = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        if not wait:  # as urllib3: no (or a zero) Retry-After means the exponential backoff
            wait = self.get_backoff_time()
        if self.on_wait is not None:
            self.on_wait(self, wait)
        if wait > 0:
            time.sleep(wait)
        # Called right before every retry attempt: count it and take a rate-limit token.
        if self.on_retry is not None:
            self.on_retry()


class Client(ResourcesMixin):
    """A ConnectWise Manage API client; safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        api_version: str,
        timeout: float = 30.0,
        requests_per_minute: int = 900,
        max_retries: int = 6,
        backoff_factor: float = 0.5,
        session: requests.Session | None = None,
        *,
        retry_after_max: float = 60.0,
        post_attempts: int = 3,
        burst: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.api_version = api_version
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.retry_after_max = retry_after_max
        self.post_attempts = max(1, post_attempts)
        # requests_per_minute <= 0 disables the client-side limit (the server's 429s remain).
        self._bucket = TokenBucket(requests_per_minute, burst) if requests_per_minute > 0 else None
        self._count = 0
        self._count_lock = threading.Lock()
        self._secrets = credentials.secrets()
        self._headers = {
            "clientId": credentials.client_id,
            "Accept": f"application/vnd.connectwise.com+json; version={api_version}",
            "Content-Type": "application/json",
        }
        retry = retry_policy(
            max_retries, backoff_factor, ("GET", "PATCH"), retry_class=_Retry,
            on_retry=self._before_attempt, retry_after_cap=retry_after_max, on_wait=self._announce_retry,
        )
        self.session = session_for(self.base_url, retry, session, pool_maxsize=32)

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, {self.credentials!r}, {self.api_version!r})"

    # -- counters ---------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """HTTP requests actually sent by this client, retries included."""
        with self._count_lock:
            return self._count

    def _announce_retry(self, retry: Retry, wait: float) -> None:
        """One line per retry (shown on a terminal by the CLI), so a long wait is never silent."""
        last = retry.history[-1] if retry.history else None
        if last is None:
            return
        if last.status:
            why = f"HTTP {last.status}"
        else:
            why = re.sub(r"<[^>]* object at 0x[0-9a-f]+>: ?", "", str(last.error or "no response"))
        path = urlsplit(last.url or "").path
        retry_log.info("ConnectWise %s %s: %s; retry %d of %d in %.1f s", last.method, path,
                       redact(why, self._secrets), len(retry.history), self.max_retries, wait)

    def _before_attempt(self) -> None:
        if self._bucket is not None:
            self._bucket.acquire()
        with self._count_lock:
            self._count += 1

    # -- public verbs -----------------------------------------------------------------------

    def list(
        self,
        path: str,
        conditions: Condition | None = None,
        fields: str | list[str] | tuple[str, ...] | None = None,
        order_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every record of a collection, following `Link: rel="next"` (pageSize=1000): the
        pages of `pages`, joined."""
        records: list[dict[str, Any]] = []
        for page in self.pages(path, conditions, fields, order_by):
            records.extend(page)
        return records

    def pages(
        self,
        path: str,
        conditions: Condition | None = None,
        fields: str | builtins.list[str] | tuple[str, ...] | None = None,
        order_by: str | None = None,
    ) -> Iterator[builtins.list[dict[str, Any]]]:
        """A collection one page of parsed JSON at a time, following `Link: rel="next"`
        (pageSize=1000). A reader that keeps only what it needs of each page holds one page of
        JSON at a time, not the whole list (20,000 companies' agreements as JSON were the peak
        of a plan's memory, issue 22). The request for the next page is made only when asked.

        The next link's *query* is used against our own base URL, never its host: a server
        (or proxy) naming another host must not receive our Authorization header. With no
        Link header at all, a full page means "ask for the next page number".
        """
        params: dict[str, Any] = {"pageSize": PAGE_SIZE, "page": 1}
        if conditions is not None:
            if not isinstance(conditions, Condition):
                raise TypeError("conditions must be built with cond()/all_of()/any_of()")
            params["conditions"] = str(conditions)
        if fields:
            names = [fields] if isinstance(fields, str) else list(fields)
            for name in names:
                if not FIELD.match(name):
                    raise ValueError(f"invalid field name {name!r}")
            params["fields"] = ",".join(names)
        if order_by:
            if not _ORDER_BY.match(order_by):
                raise ValueError(f"invalid orderBy {order_by!r}")
            params["orderBy"] = order_by
        seen: set[tuple[tuple[str, str], ...]] = set()
        while True:
            response = self._request("GET", path, params=params)
            page = self._body(response, "GET", path)
            if not isinstance(page, list):
                raise ConnectWiseError(
                    response.status_code, None, "expected a JSON array", method="GET", path=path
                )
            nxt = response.links.get("next")
            last = not (nxt and nxt.get("url")) and (
                "Link" in response.headers or len(page) < int(params.get("pageSize", PAGE_SIZE)))
            status = response.status_code
            del response  # its body's bytes: the parsed page is what the reader keeps
            yield page
            if last:
                return
            if nxt and nxt.get("url"):
                params = {**params, **dict(parse_qsl(urlsplit(nxt["url"]).query))}
            else:
                params = {**params, "page": int(params.get("page", 1)) + 1}
            key = tuple(sorted((k, str(v)) for k, v in params.items()))
            if key in seen:  # a server repeating itself would otherwise loop forever
                raise ConnectWiseError(
                    status,
                    None,
                    "paging loops back on itself",
                    method="GET",
                    path=path,
                )
            seen.add(key)

    def get(self, path: str) -> dict[str, Any]:
        return cast("dict[str, Any]", self._body(self._request("GET", path), "GET", path))

    def patch(self, path: str, operations: builtins.list[dict[str, Any]]) -> dict[str, Any]:  # `list` is a method here
        """PATCH with a JSON Patch array (never PUT: PUT nulls every field it omits)."""
        if not isinstance(operations, list) or not operations:
            raise ValueError("operations must be a non-empty list")
        for operation in operations:
            if not isinstance(operation, dict) or operation.get("op") not in (
                "add",
                "replace",
                "remove",
            ):
                raise ValueError(f"not a JSON Patch operation: {operation!r}")
            if not isinstance(operation.get("path"), str):
                raise ValueError(f"JSON Patch operation without a path: {operation!r}")
        return cast("dict[str, Any]", self._body(self._request("PATCH", path, body=operations), "PATCH", path))

    def delete(self, path: str) -> None:
        """DELETE a record; one that is already gone (404, e.g. a retry whose first answer was
        lost) counts as deleted."""
        response = self._request("DELETE", path)
        if response.status_code >= 300 and response.status_code != 404:
            raise self._http_error(response, "DELETE", path)

    def create(
        self,
        path: str,
        body: dict[str, Any],
        find_existing: Callable[[], dict[str, Any] | None],
    ) -> dict[str, Any]:
        """POST `body`; on an ambiguous failure, read back with `find_existing` before retrying.

        Returns the created record (from the POST response or from `find_existing`).
        Raises the typed error for a clean 4xx; `AmbiguousWrite` when the outcome is unknown
        and the read-back itself failed; the last ServerError/TransportError when every
        attempt failed and read-back proved nothing was created.
        """
        last: ConnectWiseError | None = None
        ambiguous_attempts = 0
        rate_limited = 0
        while True:
            try:
                response = self._send("POST", path, body=body)
            except requests.RequestException as exc:
                error: ConnectWiseError = self._transport_error("POST", path, exc)
                if _never_sent(exc):
                    raise error from None  # urllib3 already retried the connect; nothing was sent
            else:
                if response.status_code < 300:
                    return cast("dict[str, Any]", self._body(response, "POST", path))
                error = self._http_error(response, "POST", path)
                if response.status_code == 429:
                    rate_limited += 1
                    if rate_limited > self.max_retries:
                        raise error
                    time.sleep(self._retry_after(response, rate_limited))
                    continue
                if response.status_code < 500:
                    raise error
            ambiguous_attempts += 1
            log.warning("POST %s: outcome unknown (%s); reading back before any retry", path, error)
            time.sleep(self._backoff(ambiguous_attempts))
            try:
                found = find_existing()
            except ConnectWiseError as exc:
                raise AmbiguousWrite(
                    error.status,
                    error.code,
                    f"outcome unknown ({error.message}) and read-back failed: {exc}",
                    method="POST",
                    path=path,
                ) from None
            if found is not None:
                log.info("POST %s: found the record after an ambiguous failure", path)
                return found
            last = error
            if ambiguous_attempts >= self.post_attempts:
                raise last

    # -- plumbing ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _send(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> requests.Response:
        """One logical request (urllib3 may retry inside it); raises requests' exceptions."""
        self._before_attempt()
        data = json.dumps(body) if body is not None else None
        response = self.session.request(
            method,
            self._url(path),
            params=params,
            data=data,
            headers=self._headers,
            auth=self.credentials.basic_auth,
            timeout=self.timeout,
            allow_redirects=False,
        )
        log.debug("%s %s -> %s", method, path, response.status_code)
        return response

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> requests.Response:
        started = time.monotonic()
        try:
            return self._send(method, path, params=params, body=body)
        except requests.RequestException as exc:
            error = self._transport_error(method, path, exc)
            waited = time.monotonic() - started
            if waited >= 1:  # retries happened: say how long the tool kept trying
                error.message += f" (gave up after {waited:.0f} s of retries)"
            raise error from None

    def _body(self, response: requests.Response, method: str, path: str) -> Any:
        """The answer's JSON (a record for get/patch/create, which say so; a page of them for list)."""
        if response.status_code >= 300:
            raise self._http_error(response, method, path)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise ConnectWiseError(
                response.status_code, None, "response is not JSON", method=method, path=path
            ) from None

    def _http_error(self, response: requests.Response, method: str, path: str) -> ConnectWiseError:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        code, message, errors = parse_error_body(payload)
        if not message:
            message = response.reason or redact(response.text or "", self._secrets)[:200]
        errors = [
            {k: redact(str(v), self._secrets) for k, v in e.items() if v is not None}
            if isinstance(e, dict)
            else redact(str(e), self._secrets)
            for e in errors
        ]
        cls = error_class(response.status_code)
        return cls(
            response.status_code,
            code and redact(code, self._secrets),
            redact(message, self._secrets),
            errors,
            method=method,
            path=path,
        )

    def _transport_error(self, method: str, path: str, exc: Exception) -> TransportError:
        reason: Any = exc.args[0] if exc.args else exc
        if isinstance(reason, MaxRetryError) and reason.reason is not None:
            reason = reason.reason
        if isinstance(exc, requests.Timeout):
            kind = "timed out"
        elif _never_sent(exc):
            kind = "could not connect"
        else:
            kind = "connection failed"
        detail = _QUERY.sub("", redact(str(reason), self._secrets))
        detail = re.sub(r"<[^>]* object at 0x[0-9a-f]+>: ?", "", detail)
        return TransportError(
            None, type(exc).__name__, f"{kind}: {detail}", method=method, path=path
        )

    def _backoff(self, attempt: int) -> float:
        base = self.backoff_factor * (2.0 ** (attempt - 1))  # 2.0: an int power of a negative exponent types as Any
        return min(30.0, base + random.uniform(0, self.backoff_factor))

    def _retry_after(self, response: requests.Response, attempt: int) -> float:
        try:
            return max(0.0, min(float(response.headers["Retry-After"]), self.retry_after_max))
        except (KeyError, ValueError):
            return self._backoff(attempt)


def _never_sent(exc: BaseException) -> bool:
    """True when the connection was never established, so the server saw nothing."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


__all__ = ["Client", "Credentials", "PAGE_SIZE"]
