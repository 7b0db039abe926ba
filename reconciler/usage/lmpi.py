"""The LMPI usage source: seat counts from Trend's Licensing Management Platform Integration API,
on one of two bases (`usage.basis` in global.yaml):

- `licensed` (`read_lmpi`): the units of enabled subscription licenses now;
- `reported` (`read_reported`): Trend's monthly customer summary report, the figures Trend
  bills the MSP from (see trend_report.py for the month rule and the report's assumed fields).

Requests are signed as Trend documents (see docs/client.md): `x-signature` is
Base64(HMAC-SHA256(secret, posix_time + METHOD + request_uri [+ Base64(MD5(body))])) where
`request_uri` is the path and query exactly as sent, which is why signing happens in a
requests `AuthBase` on the *prepared* request (after requests has encoded the query).

Quantities: for each customer, each *enabled* subscription, each *enabled* license, sum
`units` per product key: the product whose `trend:` ids in global.yaml name the license's
`product_id` or the subscription's `service_plan_id` (trend_ids.py). Disabled subscriptions are
skipped as a whole (Trend does not bill them). Unknown product ids, and product keys this
MSP's config does not define, are reported in `Usage.warnings` and logged, never silently
dropped. GETs are retried like the ConnectWise client's (urllib3 Retry on 429/5xx/transport).
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
from typing import Any
from urllib.parse import quote

import requests

from reconciler.http import retry_policy, session_for
from reconciler.secrets import check_env, redact

from .base import Usage, UsageSourceError, trend_key
from .trend_ids import TrendIds
from .trend_report import UNITS, ReportRowError, read_row, report_cycle

log = logging.getLogger(__name__)

ENV_URL = "TM_LMPI_URL"
ENV_TOKEN = "TM_ACCESS_TOKEN"
ENV_SECRET = "TM_SECRET_KEY"
PAGE_LIMIT = 100  # LMPI's maximum `limit`


class LmpiError(UsageSourceError):
    """LMPI could not be read: missing settings, refused signature, HTTP or transport failure."""


def signature(
    secret: str, posix_time: str, method: str, request_uri: str, body: bytes | None = None
) -> str:
    """The `x-signature` value for one request (public so the sandbox and tests can verify)."""
    message = posix_time + method.upper() + request_uri
    if body:
        message += base64.b64encode(hashlib.md5(body).digest()).decode()
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class LmpiSigner(requests.auth.AuthBase):
    """Adds the LMPI headers to each prepared request."""

    def __init__(self, access_token: str, secret_key: str, clock: Callable[[], float] = time.time):
        self._token, self._secret, self._clock = access_token, secret_key, clock

    def __repr__(self) -> str:
        return "LmpiSigner(access_token='***', secret_key='***')"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        posix_time = str(int(self._clock()))
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        request.headers.update(
            {
                "x-access-token": self._token,
                "x-posix-time": posix_time,
                "x-signature": signature(
                    self._secret,
                    posix_time,
                    request.method or "GET",
                    request.path_url,
                    body or None,
                ),
                "x-traceid": str(uuid.uuid4()),
                "content-type": "application/json",
            }
        )
        return request


class LmpiClient:
    """Just the three LMPI reads the usage source needs."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        secret_key: str,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_factor: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._auth = LmpiSigner(access_token, secret_key)
        self._secrets = (access_token, secret_key)
        # The only POSTs this client sends are report queries: reads, safe to repeat.
        retry = retry_policy(max_retries, backoff_factor, ("GET", "POST"))
        self.session = session_for(self.base_url, retry, session)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        # Bytes, not `json=`: the signature covers the MD5 of exactly the body that is sent.
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return self._send("POST", path, data=data)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(
                method, f"{self.base_url}/{path}", auth=self._auth, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise LmpiError(f"LMPI {method} {path}: connection failed ({type(exc).__name__})") from None
        if response.status_code >= 300:
            try:
                detail = response.json().get("message") or ""
            except (ValueError, AttributeError):
                detail = response.reason or ""
            detail = redact(str(detail), self._secrets)[:300]  # masked before cut: no half key
            raise LmpiError(f"LMPI {method} {path}: HTTP {response.status_code} {detail}".rstrip())
        try:
            return response.json()
        except ValueError:
            raise LmpiError(f"LMPI {method} {path}: response is not JSON") from None

    def customers(self) -> list[dict[str, Any]]:
        return self._paged("v3/customers", "customers")

    def subscriptions(self) -> list[dict[str, Any]]:
        return self._paged("v2.5/customers/subscriptions", "subscriptions")

    def subscription(self, customer_id: str, subscription_id: str) -> dict[str, Any]:
        return self.get(
            f"v3/customers/{quote(customer_id, safe='')}/subscriptions/"
            f"{quote(subscription_id, safe='')}"
        )

    def service_plans(self) -> list[dict[str, Any]]:
        """`GET /LMPI/v3/me/serviceplans`: the plans this partner can sell."""
        body = self.get("v3/me/serviceplans")
        plans = body if isinstance(body, list) else (body or {}).get("service_plans") or []
        return [plan for plan in plans if isinstance(plan, dict)]

    def summary_report(self, month: str) -> list[Any]:
        """`POST /LMPI/v3/reports/summary` for one report month ("YYYY-MM"): its rows."""
        body = self.post("v3/reports/summary", report_cycle(month))
        rows = body if isinstance(body, list) else (body or {}).get("summary")
        if not isinstance(rows, list):
            raise LmpiError(f"LMPI summary report for {month}: the answer has no summary list")
        return rows

    def _paged(self, path: str, key: str) -> list[dict[str, Any]]:
        """Pages of `limit=100` until a short page; stops if a server ignores `page`."""
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        page = 1
        while True:
            body = self.get(path, {"page": page, "limit": PAGE_LIMIT})
            batch = body if isinstance(body, list) else (body or {}).get(key) or []
            fresh = [item for item in batch if _identity(item) not in seen]
            seen.update(_identity(item) for item in fresh)
            items.extend(fresh)
            if len(batch) < PAGE_LIMIT or not fresh:
                return items
            page += 1


def _identity(item: dict[str, Any]) -> str:
    return str(item.get("subscription_id") or item.get("customer_id") or sorted(item.items()))


def read_lmpi(
    trend_ids: TrendIds, env: Mapping[str, str], client: LmpiClient | None = None
) -> Usage:
    """Licensed seat counts now; settings from TM_LMPI_URL, TM_ACCESS_TOKEN, TM_SECRET_KEY."""
    client = client or lmpi_from_env(env)
    customers = {trend_key(str(c["customer_id"])) for c in client.customers() if c.get("customer_id")}
    quantities: dict[tuple[str, str], int] = {}
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for sub in client.subscriptions():
        customer_id, sub_id = sub.get("customer_id"), sub.get("subscription_id")
        if not customer_id or not sub_id or not sub.get("enabled", True):
            continue
        if customers and trend_key(str(customer_id)) not in customers:
            warnings.append(f"subscription {sub_id} belongs to unknown customer {customer_id}")
        detail = client.subscription(customer_id, sub_id)
        licenses = detail.get("licenses") if isinstance(detail, dict) else None
        plan_id = str(sub.get("service_plan_id") or "")
        for lic in licenses or sub.get("licenses") or []:
            if not lic.get("enabled", True):
                continue
            trend_id = str(lic.get("product_id") or "")
            units = lic.get("units") or 0
            key = _counted_by(trend_ids, customer_id, units, warnings, trend_id, plan_id)
            if key is None:
                continue
            if isinstance(units, bool) or not isinstance(units, int) or units < 0:
                # LMPI's answer is untrusted: 1.5, 1e308 or "NaN" seats must stop, not bill.
                raise LmpiError(redact(
                    f"LMPI subscription {str(sub_id)[:64]} of customer {str(customer_id)[:64]}: "
                    f"units {str(units)[:32]!r} is not a whole, non-negative number of seats",
                    getattr(client, "_secrets", ()),
                ))
            quantities[(customer_id, key)] = quantities.get((customer_id, key), 0) + units
            rows.append({"trend_customer_id": customer_id, "product": key, "subscription_id": sub_id,
                         "service_plan_id": plan_id, "product_id": trend_id, "units": units})
    # Customer and product ids come from the server: an echoing one must not leak our keys.
    warnings = [redact(w, getattr(client, "_secrets", ())) for w in warnings]
    for warning in warnings:
        log.warning("LMPI: %s", warning)
    return Usage(quantities=quantities, extra={}, source="lmpi", warnings=tuple(warnings),
                 basis="licensed", rows=_redacted(rows, client))


def read_reported(
    trend_ids: TrendIds, month: str, units: str, env: Mapping[str, str],
    client: LmpiClient | None = None,
) -> Usage:
    """Trend's summary report for `month` ("YYYY-MM"), billing its `units` figure
    (provisioned, used or chargeable) per customer and product."""
    if units not in UNITS:
        raise LmpiError(f"usage.reported_units must be one of {', '.join(UNITS)}, not {units!r}")
    client = client or lmpi_from_env(env)
    quantities: dict[tuple[str, str], int] = {}
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for raw in client.summary_report(month):
        try:
            row = read_row(raw, units)
        except ReportRowError as error:
            raise LmpiError(redact(f"LMPI summary report for {month}: {error}",
                                   getattr(client, "_secrets", ()))) from None
        count = row.units[units]
        key = _counted_by(trend_ids, row.customer_id, count, warnings, row.product_id,
                          row.service_plan_id, row.service_plan or row.product_name,
                          also_name=row.product_name)
        if key is None:
            continue
        quantities[(row.customer_id, key)] = quantities.get((row.customer_id, key), 0) + count
        rows.append({"trend_customer_id": row.customer_id, "product": key, "report_month": month,
                     "quantity": count, **row.evidence()})
    warnings = [redact(w, getattr(client, "_secrets", ())) for w in warnings]
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
                product_id: str, plan_id: str, name: str = "", also_name: str = "") -> str | None:
    """The product key counting a license or report row, or None after a warning saying why."""
    key = trend_ids.product_for(product_id, plan_id, name)
    if key is None and also_name:
        key = trend_ids.product_for(name=also_name)
    if key is None:
        shown = " / ".join(repr(part[:64]) for part in (product_id, plan_id, name) if part) or "''"
        warnings.append(
            f"customer {customer_id}: Trend product {shown} ({str(units)[:16]} units) is counted by no "
            "product in global.yaml (add its id under the product's trend:, see `reconcile trend "
            "products`); not counted"
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
