"""The LMPI usage source: seat counts from Trend's Licensing Management Platform Integration API,
on one of two bases (`usage.basis` in global.yaml):

- `licensed` (`read_lmpi`): the units of enabled subscription licences now;
- `reported` (`read_reported`): Trend's monthly customer summary report, the figures Trend
  bills the MSP from (trend_report.py reads its rows: names, not ids).

Requests as Trend documents them (shared/reference/trend-lmpi-documented.md, docs/client.md):

- `GET /LMPI/v3/customers` requires `created_start` and `created_end`; every customer is listed
  with a range from `ALL_TIME_START` to now, `limit=100`, paging until `paging.total` is
  reached (fewer items than `total` is an error, never a silent drop).
- `GET /LMPI/v2.5/customers/subscriptions` requires exactly one range: the same created range.
- `GET /LMPI/v3/customers/{cid}/subscriptions/{sid}` gives a subscription's licences.
- `GET /LMPI/v3/me/serviceplans` is a bare JSON array of plans.
- `POST /LMPI/v3/reports/summary` with the report cycle body.

Signing: `x-signature` = Base64(HMAC-SHA256(secret, posix_time + METHOD + request_uri
[+ Base64(MD5(body))])). The request URI is built here, once, with `:` left unencoded as in
Trend's examples (`created_start=2000-01-01T00:00:00Z`), signed, and set on the prepared request
as is, so the bytes on the wire are the bytes signed whatever an HTTP library would re-encode.

Errors: Trend answers `{"error_subject", "error_message"}`, sometimes as `text/html`, so the
body is parsed whatever the content type, and both reach the one-line `LmpiError`. For
`AuthenticationFailurePosixTime` the line says this machine's clock is off (with Trend's offset
when its answer carried a `Date` header). Secrets never appear in an error: server text is
masked before it is cut.

The reusable API (what `reconcile doctor` and `reconcile trend products` call), every method
raising `LmpiError` with one line:

    client = lmpi_from_env(env)            # TM_LMPI_URL, TM_ACCESS_TOKEN, TM_SECRET_KEY
    client.customers() -> list[dict]       # every customer, all pages
    client.subscriptions() -> list[dict]   # every subscription, all pages
    client.subscription(cid, sid) -> dict  # one subscription with its licences
    client.service_plans() -> list[dict]   # the partner's service plans
    client.summary_report("YYYY-MM") -> list   # one report month's raw rows
    client.clock_offset() -> float         # Trend's clock minus ours, seconds (HTTP Date)
    read_reported(trend_ids, month, units, env, client)  # a month read as it would be billed

Quantities (licensed): for each enabled subscription, each enabled licence, sum `units` per
product key: the product whose `trend.product_codes` name the licence's 9-character
`product_id`, else whose `service_plan_ids` name the subscription's plan (trend_ids.py).
Unknown codes are reported in `Usage.warnings`, never silently dropped. GETs and the report
POST (a read) are retried on 429/5xx/transport errors (http.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from reconciler.http import retry_policy, session_for
from reconciler.secrets import check_env, redact

from .base import Usage, UsageSourceError, trend_key
from .trend_ids import TrendIds
from .trend_report import (
    UNITS,
    CustomerNames,
    ReportRowError,
    ServicePlans,
    SummaryRow,
    check_repeats,
    read_row,
    report_cycle,
    whole_units,
)

log = logging.getLogger(__name__)

ENV_URL = "TM_LMPI_URL"
ENV_TOKEN = "TM_ACCESS_TOKEN"
ENV_SECRET = "TM_SECRET_KEY"
PAGE_LIMIT = 100  # LMPI's maximum `limit`
# The start of "all time" for the required created ranges: before any LMPI record existed.
ALL_TIME_START = "2000-01-01T00:00:00Z"
CLOCK_SKEW_ALLOWED = 15 * 60  # seconds; Trend refuses a request further off

# Query characters sent as they are (Trend's examples send `:` in timestamps unencoded).
_QUERY_SAFE = ":"


class LmpiError(UsageSourceError):
    """LMPI could not be read: missing settings, refused request, HTTP or transport failure."""

    def __init__(self, message: str, subject: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.subject, self.status = subject, status


def signature(
    secret: str, posix_time: str, method: str, request_uri: str, body: bytes | None = None
) -> str:
    """The `x-signature` value for one request (tests check it against Trend's recipe)."""
    message = posix_time + method.upper() + request_uri
    if body:
        message += base64.b64encode(hashlib.md5(body).digest()).decode()
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def lmpi_time(seconds: float) -> str:
    """A timestamp as LMPI's ranges take it: `YYYY-MM-DDThh:mm:ssZ`."""
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def query_string(params: Mapping[str, Any]) -> str:
    """`k=v&...` in the given order, percent-encoded except for `:` (as Trend's examples)."""
    return "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe=_QUERY_SAFE)}" for k, v in params.items())


class LmpiSigner:
    """The LMPI headers for one request (the URI given is the one that will be sent)."""

    def __init__(self, access_token: str, secret_key: str, clock: Callable[[], float] = time.time):
        self._token, self._secret, self._clock = access_token, secret_key, clock

    def __repr__(self) -> str:
        return "LmpiSigner(access_token='***', secret_key='***')"

    def headers(self, method: str, request_uri: str, body: bytes | None) -> dict[str, str]:
        posix_time = str(int(self._clock()))
        return {
            "x-access-token": self._token,
            "x-posix-time": posix_time,
            "x-signature": signature(self._secret, posix_time, method, request_uri, body or None),
            "x-traceid": str(uuid.uuid4()),
            "content-type": "application/json",
        }

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """As a requests auth hook (signs the prepared request's own path and query)."""
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        request.headers.update(self.headers(request.method or "GET", request.path_url, body))
        return request


class LmpiClient:
    """The LMPI reads the usage source, `trend products` and `doctor` need."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        secret_key: str,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_factor: float = 0.5,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.clock = clock
        self._auth = LmpiSigner(access_token, secret_key, clock)
        self._secrets = (access_token, secret_key)
        # Trend's clock minus ours, from the last answer's `Date` header (None until one came).
        self.last_offset: float | None = None
        # The only POSTs this client sends are report queries: reads, safe to repeat.
        retry = retry_policy(max_retries, backoff_factor, ("GET", "POST"))
        self.session = session_for(self.base_url, retry, session)

    def __repr__(self) -> str:
        return f"LmpiClient({self.base_url!r})"

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        # Bytes, not `json=`: the signature covers the MD5 of exactly the body that is sent.
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return self._send("POST", path, data=data)

    def url_for(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        return f"{self.base_url}/{path}" + (f"?{query_string(params)}" if params else "")

    def _send(self, method: str, path: str, params: Mapping[str, Any] | None = None,
              data: bytes | None = None) -> Any:
        url = self.url_for(path, params)
        prepared = self.session.prepare_request(requests.Request(method, url, data=data))
        prepared.url = url  # exactly the URI signed below, whatever requests re-quoted
        parts = urlsplit(url)
        request_uri = parts.path + (f"?{parts.query}" if parts.query else "")
        prepared.headers.update(self._auth.headers(method, request_uri, data))
        try:
            response = self.session.send(prepared, timeout=self.timeout)
        except requests.RequestException as exc:
            raise LmpiError(f"LMPI {method} {path}: connection failed ({type(exc).__name__})") from None
        self._note_clock(response)
        if response.status_code >= 300:
            raise self._error(method, path, response)
        try:
            return response.json()
        except ValueError:
            raise LmpiError(f"LMPI {method} {path}: response is not JSON") from None

    def _note_clock(self, response: requests.Response) -> None:
        try:
            server = parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError, IndexError):
            return
        if server is not None and server.tzinfo is not None:
            self.last_offset = server.timestamp() - self.clock()

    def _error(self, method: str, path: str, response: requests.Response) -> LmpiError:
        subject, message = trend_error(response.content)
        if not (subject or message):
            message = response.reason or ""
        line = f"LMPI {method} {path}: HTTP {response.status_code}"
        if subject:
            line += f" {subject}"
        if message:
            line += f": {message.rstrip('.')}"
        line = redact(line, self._secrets)[:400]  # masked before cut: no half key
        if subject == "AuthenticationFailurePosixTime":
            line += "; " + clock_advice(self.last_offset)
        return LmpiError(line, subject, response.status_code)

    # ---- the reads ----------------------------------------------------------------------
    def all_time(self) -> dict[str, str]:
        """The created range covering every record up to now (required by both list calls)."""
        return {"created_start": ALL_TIME_START, "created_end": lmpi_time(self.clock())}

    def customers(self) -> list[dict[str, Any]]:
        """`GET /LMPI/v3/customers`: every customer (all pages)."""
        return self._paged("v3/customers", "customers", self.all_time())

    def subscriptions(self) -> list[dict[str, Any]]:
        """`GET /LMPI/v2.5/customers/subscriptions`: every subscription (one created range)."""
        return self._paged("v2.5/customers/subscriptions", "subscriptions", self.all_time())

    def subscription(self, customer_id: str, subscription_id: str) -> dict[str, Any]:
        body = self.get(
            f"v3/customers/{quote(customer_id, safe='')}/subscriptions/"
            f"{quote(subscription_id, safe='')}"
        )
        return body if isinstance(body, dict) else {}

    def service_plans(self) -> list[dict[str, Any]]:
        """`GET /LMPI/v3/me/serviceplans`: a bare array (an object holding a list is also read)."""
        body = self.get("v3/me/serviceplans")
        if isinstance(body, dict):
            body = next((v for v in body.values() if isinstance(v, list)), None)
        if not isinstance(body, list):
            raise LmpiError("LMPI GET v3/me/serviceplans: the answer is not a list of service plans")
        return [plan for plan in body if isinstance(plan, dict)]

    def summary_report(self, month: str) -> list[Any]:
        """`POST /LMPI/v3/reports/summary` for one report month ("YYYY-MM"): its rows."""
        body = self.post("v3/reports/summary", report_cycle(month))
        rows = body if isinstance(body, list) else (body or {}).get("summary")
        if not isinstance(rows, list):
            raise LmpiError(f"LMPI summary report for {month}: the answer has no summary list")
        return rows

    def clock_offset(self) -> float:
        """Trend's clock minus this machine's, in seconds, from an answer's `Date` header (even
        a refused answer carries one). Raises LmpiError when no answer had a Date."""
        self.last_offset = None
        try:
            self.get("v3/me/serviceplans")
        except LmpiError as error:
            if self.last_offset is None:
                raise
            log.debug("clock check answered %s", error)
        if self.last_offset is None:
            raise LmpiError("LMPI answered without a Date header: Trend's clock cannot be read")
        return self.last_offset

    def _paged(self, path: str, key: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Pages of `limit=100` until `paging.total` items (or, without a total, a short page)."""
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        page, total = 1, None
        while True:
            body = self.get(path, {**params, "page": page, "limit": PAGE_LIMIT})
            batch = (body or {}).get(key) if isinstance(body, dict) else body
            if not isinstance(batch, list):
                raise LmpiError(f"LMPI GET {path}: the answer has no {key} list")
            paging = body.get("paging") if isinstance(body, dict) else None
            total = _count((paging or {}).get("total")) if isinstance(paging, dict) else None
            fresh = [item for item in batch if isinstance(item, dict) and _identity(item) not in seen]
            seen.update(_identity(item) for item in fresh)
            items.extend(fresh)
            if not fresh or (total is not None and len(items) >= total) or (
                    total is None and len(batch) < PAGE_LIMIT):
                break
            page += 1
        if total is not None and len(items) < total:
            raise LmpiError(f"LMPI GET {path}: paging.total is {total} but the pages held {len(items)} "
                            f"{key}; refusing to bill from a partial list")
        return items


def trend_error(content: bytes) -> tuple[str, str]:
    """(error_subject, error_message) of a Trend error body, whatever its content type said;
    printable characters only, short."""
    try:
        body = json.loads(content or b"")
    except (ValueError, UnicodeDecodeError):
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    subject = body.get("error_subject") or body.get("error_code") or ""
    message = body.get("error_message") or body.get("message") or ""
    return _printable(subject, 80), _printable(message, 300)


def clock_advice(offset: float | None) -> str:
    if offset is None:
        return ("this machine's clock is off from Trend's by more than 15 minutes: set it right "
                "(e.g. enable NTP) and run again")
    direction = "ahead of" if offset > 0 else "behind"
    return (f"this machine's clock is off: Trend's clock is {abs(offset):.0f} s {direction} this machine's (at most "
            f"{CLOCK_SKEW_ALLOWED // 60} minutes are allowed); set it right (e.g. enable NTP) and run again")


def _printable(value: Any, limit: int) -> str:
    text = " ".join(str(value).split())
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]


def _count(value: Any) -> int | None:
    try:
        return whole_units(value, "paging.total")
    except ReportRowError:
        return None


def _identity(item: dict[str, Any]) -> str:
    return str(item.get("subscription_id") or item.get("customer_id") or sorted(item.items()))


def read_lmpi(
    trend_ids: TrendIds, env: Mapping[str, str], client: LmpiClient | None = None
) -> Usage:
    """Licensed seat counts now; settings from TM_LMPI_URL, TM_ACCESS_TOKEN, TM_SECRET_KEY."""
    client = client or lmpi_from_env(env)
    secrets = getattr(client, "_secrets", ())
    customers = {trend_key(str(c["customer_id"])) for c in client.customers() if c.get("customer_id")}
    quantities: dict[tuple[str, str], int] = {}
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for sub in client.subscriptions():
        customer_id, sub_id = sub.get("customer_id"), sub.get("subscription_id")
        if not customer_id or not sub_id or not sub.get("enabled", True):
            continue  # a disabled subscription is a cancelled one: Trend does not bill it
        customer_id = str(customer_id)
        if customers and trend_key(customer_id) not in customers:
            warnings.append(f"subscription {sub_id} belongs to unknown customer {customer_id}")
        detail = client.subscription(customer_id, str(sub_id))
        licenses = detail.get("licenses") if isinstance(detail, dict) else None
        plan_id = str(sub.get("service_plan_id") or "")
        for lic in licenses or sub.get("licenses") or []:
            if not isinstance(lic, dict) or not lic.get("enabled", True):
                continue
            code = str(lic.get("product_id") or "")
            raw_units = lic.get("units")
            key = _counted_by(trend_ids, customer_id, raw_units, warnings, code, plan_id)
            if key is None:
                continue
            try:  # LMPI's answer is untrusted: 1.5, 1e308 or "NaN" seats must stop, not bill
                units = whole_units(0 if raw_units is None else raw_units, "units")
            except ReportRowError as error:
                raise LmpiError(redact(
                    f"LMPI subscription {str(sub_id)[:64]} of customer {customer_id[:64]}: {error}",
                    secrets)) from None
            quantities[(customer_id, key)] = quantities.get((customer_id, key), 0) + units
            rows.append({"trend_customer_id": customer_id, "product": key, "subscription_id": sub_id,
                         "service_plan_id": plan_id, "product_id": code, "units": units})
    # Customer and product ids come from the server: an echoing one must not leak our keys.
    warnings = [redact(w, secrets) for w in warnings]
    for warning in warnings:
        log.warning("LMPI: %s", warning)
    return Usage(quantities=quantities, extra={}, source="lmpi", warnings=tuple(warnings),
                 basis="licensed", rows=_redacted(rows, client))


def read_reported(
    trend_ids: TrendIds, month: str, units: str, env: Mapping[str, str],
    client: LmpiClient | None = None,
) -> Usage:
    """Trend's summary report for `month` ("YYYY-MM"), billing its `units` figure
    (`provisioned` or `used`) per customer and product; rows matched to customers by name and
    to products through the service plans (trend_report.py). Any row that cannot be read,
    matched to exactly one customer, or that repeats another, refuses the whole month."""
    if units not in UNITS:
        raise LmpiError(f"usage.reported_units must be one of {', '.join(UNITS)}, not {units!r}")
    client = client or lmpi_from_env(env)
    secrets = getattr(client, "_secrets", ())

    def refused(problems: list[str]) -> LmpiError:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return LmpiError(redact(f"LMPI summary report for {month}: {'; '.join(problems[:3])}{more}", secrets))

    raw_rows = client.summary_report(month)
    parsed: list[SummaryRow] = []
    problems: list[str] = []
    for number, raw in enumerate(raw_rows, 1):
        try:
            parsed.append(read_row(raw, units))
        except ReportRowError as error:
            problems.append(f"row {number}: {error}")
    if problems:
        raise refused(problems)
    try:
        check_repeats(parsed, month)
    except ReportRowError as error:
        raise refused([str(error)]) from None
    names = CustomerNames(client.customers()) if parsed else CustomerNames(())
    plans = ServicePlans(client.service_plans()) if parsed else ServicePlans(())
    customer_of: list[str] = []
    for row in parsed:
        customer_id, why = names.resolve(row.customer)
        if customer_id is None:
            problems.append(f"customer name {row.customer[:64]!r} is {why} in Trend's customers list "
                            "(rows are matched by name: rename one in Trend, or check the customer exists)")
        customer_of.append(customer_id or "")
    if problems:
        raise refused(sorted(set(problems)))
    quantities: dict[tuple[str, str], int] = {}
    parts: dict[tuple[str, str], list[str]] = {}
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for row, customer_id in zip(parsed, customer_of):
        plan = plans.match(row.service_plan, row.product_name)
        code, plan_id = (plan.product_code, plan.service_plan_id) if plan else ("", "")
        key = _counted_by(trend_ids, customer_id, row.units, warnings, code, plan_id, row.service_plan,
                          also_name=row.product_name)
        if key is None:
            continue
        quantities[(customer_id, key)] = quantities.get((customer_id, key), 0) + row.units
        parts.setdefault((customer_id, key), []).append(f"{row.units} ({row.service_plan[:64]})")
        rows.append({"trend_customer_id": customer_id, "product": key, "report_month": month,
                     "quantity": row.units, "customer": row.customer, "service_plan": row.service_plan,
                     "product_name": row.product_name, "product_code": code, "service_plan_id": plan_id,
                     row.figure: row.units})
    for (customer_id, key), pieces in parts.items():
        if len(pieces) > 1:
            warnings.append(f"customer {customer_id}: {key} = {' + '.join(pieces)} = "
                            f"{quantities[(customer_id, key)]} {units} units, summed from {len(pieces)} "
                            f"service plans in Trend's {month} report")
    warnings = [redact(w, secrets) for w in warnings]
    for warning in warnings:
        log.warning("LMPI: %s", warning)
    return Usage(quantities=quantities, extra={}, source="lmpi", warnings=tuple(warnings),
                 basis="reported", report_month=month, units=units, rows=_redacted(rows, client))


def _redacted(rows: list[dict[str, Any]], client: LmpiClient) -> tuple[dict[str, Any], ...]:
    """The evidence rows with every server-given text masked like warnings are: the rows are
    saved to files and CI artifacts, where an echoed key must never land."""
    secrets = getattr(client, "_secrets", ())
    return tuple({name: redact(value, secrets) if isinstance(value, str) else value
                  for name, value in row.items()} for row in rows)


def _counted_by(trend_ids: TrendIds, customer_id: str, units: Any, warnings: list[str],
                product_code: str, plan_id: str, name: str = "", also_name: str = "") -> str | None:
    """The product key counting a licence or report row, or None after a warning saying why."""
    key = trend_ids.product_for(product_code, plan_id, name)
    if key is None and also_name:
        key = trend_ids.product_for(name=also_name)
    if key is None:
        shown = " / ".join(repr(part[:64]) for part in (product_code, plan_id, name, also_name) if part) or "''"
        warnings.append(
            f"customer {customer_id}: Trend product {shown} ({str(units)[:16]} units) is counted by no "
            "product in global.yaml (add its product code under the product's trend.product_codes, "
            "see `reconcile trend products`); not counted"
        )
    return key


def lmpi_from_env(env: Mapping[str, str] = os.environ) -> LmpiClient:
    """A client from the environment (for tools that want the raw API)."""
    missing = [name for name in (ENV_URL, ENV_TOKEN, ENV_SECRET) if not env.get(name)]
    if missing:
        raise LmpiError(
            f"usage source lmpi needs environment variable(s) {', '.join(missing)} "
            f"(set {ENV_URL}, {ENV_TOKEN} and {ENV_SECRET})"
        )
    problem = check_env(env, (ENV_TOKEN, ENV_SECRET))
    if problem:
        raise LmpiError(problem)
    return LmpiClient(env[ENV_URL], env[ENV_TOKEN], env[ENV_SECRET])
