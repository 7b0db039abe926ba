"""Trend Micro's Licensing Management Platform Integration (LMPI) API, as Trend's pages show it.

Written from shared/reference/trend-lmpi-documented.md (Trend's public LMPI reference), never
from the client's assumptions: where the two disagree, this follows the pages, and where the
pages are unclear, `LmpiReadings` plays each reading so the tests can try the client on all.

Every request must carry `x-access-token`, `x-posix-time`, `x-signature`, `x-traceid` and
`content-type: application/json`:
- a missing header: 400 `MissingHeader<Name>` (`MissingHeaderAccessToken`, `...PosixTime`,
  `...Signature`, `...TraceId`, `...ContentType`);
- another content type: 415 `InvalidHeaderContentType`;
- an unknown token: 401 `AuthenticationFailureAccessToken`;
- a posix time more than 15 minutes from the sandbox's Trend clock: 401
  `AuthenticationFailurePosixTime`;
- a signature other than Base64(HMAC-SHA256(secret, posix_time + METHOD + request URI as
  received [+ Base64(MD5(body))])): 401 `AuthenticationFailureSignature`.
Errors answer `{"error_subject", "error_message"}`, served as `text/html` by default because
Trend's own example answer is (`error_content_type` switches to JSON).

Endpoints:
    GET /LMPI/v3/customers?created_start=&created_end=[&page=&limit=]
        the range is required (`YYYY-MM-DDThh:mm:ssZ`, else 400 `InvalidParameters<Field>`);
        `limit` 1-100 (default 25); `{"paging": {total, limit, page}, "customers": [...]}`
    GET /LMPI/v2.5/customers/subscriptions?(created_start&created_end | modified_start&modified_end)
        exactly one range (else 400); records strictly inside it; paged like customers
    GET /LMPI/v3/customers/{cid}/subscriptions/{sid}     one subscription with `licenses`
    GET /LMPI/v3/me/serviceplans                          a bare JSON array of plans
    POST /LMPI/v3/reports/summary {report_cycle_year, report_cycle_month}
        `{"summary": [...]}`, rows WITHOUT ids: customer (name), city, state, owned_by_vendor,
        created_by_vendor, product_name (display name), service_plan (plan name), provisioned,
        and the used figure (see LmpiReadings); months from the current one back two years.

Demo data: `DEMO_PRODUCTS` (9-character product code -> display name) and `SERVICE_PLANS`
(one monthly plan per product, and an annual Hosted Email Security plan, so one product can
be sold through two plans). The report is derived from the subscriptions, one row per
customer, service plan and product: `provisioned` = the units of its enabled licences in
enabled subscriptions, `used` = provisioned - provisioned // 8 (some seats idle).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.sandbox.routes import Response
from reconciler.sandbox.store import Store

# The sandbox's demo Trend catalog: 9-character licence product code -> product display name.
DEMO_PRODUCTS: dict[str, str] = {
    "WFSBWXE3X": "Worry-Free Business Security Services",
    "WFSAWXE3X": "Worry-Free Services Advanced",
    "CASMWXE3X": "Cloud App Security",
    "HESMWXE3X": "Hosted Email Security",
    "APX1WXE3X": "Apex One SaaS",
    "C1WLWXE3X": "Cloud One Workload Security",
}
ANNUAL_PLANS = ("HESMWXE3X",)  # products also sold on a yearly plan
REPORT_MONTHS_KEPT = 24
MAX_CLOCK_SKEW_SECONDS = 15 * 60
MAX_LIMIT, DEFAULT_LIMIT = 100, 25
DEFAULT_CREATED = "2024-01-01T00:00:00Z"  # records without their own creation time
REQUIRED_HEADERS = {"x-access-token": "AccessToken", "x-posix-time": "PosixTime",
                    "x-signature": "Signature", "x-traceid": "TraceId", "content-type": "ContentType"}

_PLAN_NAMESPACE = uuid.UUID("6f1c1f5e-2b0a-4c36-9a8e-000000000001")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@dataclass
class LmpiReadings:
    """The readings Trend's pages leave open, one switch each (tests set them; `reconcile
    sandbox` and the CLI's `--sandbox` read `SANDBOX_LMPI_READINGS`, `key=value;...`).

    - `used_field`: the report's used figure is `used`, `used_units`, or `none` (rows cut
      after `provisioned`, as every published example is);
    - `units_as`: report figures as `int` or digit `string`s (`"290"`);
    - `null_used`: product codes whose used figure is null (`*`: every product);
    - `error_content_type`: `text/html` (Trend's example answer) or `application/json`;
    - `clock_offset`: seconds the sandbox's Trend clock is ahead of this machine's (posix-time
      check and the `Date` header);
    - `duplicate_rows`: every report row is sent twice (a broken report).
    """

    used_field: str = "used"
    units_as: str = "int"
    null_used: tuple[str, ...] = ()
    error_content_type: str = "text/html"
    clock_offset: int = 0
    duplicate_rows: bool = False

    def __post_init__(self) -> None:
        if self.used_field not in ("used", "used_units", "none"):
            raise ValueError("used_field is used, used_units or none")
        if self.units_as not in ("int", "string"):
            raise ValueError("units_as is int or string")
        self.null_used = tuple(self.null_used)

    @classmethod
    def from_text(cls, text: str) -> LmpiReadings:
        values: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for pair in filter(None, (p.strip() for p in text.split(";"))):
            key, _, value = pair.partition("=")
            key, value = key.strip(), value.strip()
            if key not in known:
                raise ValueError(f"unknown LMPI reading {key!r}; known: {', '.join(sorted(known))}")
            if key == "null_used":
                values[key] = tuple(v.strip() for v in value.split(",") if v.strip())
            elif key == "clock_offset":
                try:
                    values[key] = int(value)
                except ValueError:
                    raise ValueError(f"clock_offset={value!r} is not a whole number of seconds") from None
            elif key == "duplicate_rows":
                values[key] = value.lower() in ("1", "true", "yes")
            else:
                values[key] = value
        return cls(**values)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LmpiReadings:
        env = os.environ if env is None else env
        try:
            return cls.from_text(env.get("SANDBOX_LMPI_READINGS", ""))
        except ValueError as error:  # said with the variable's name: it is what the user typed
            raise ValueError(f"SANDBOX_LMPI_READINGS={env['SANDBOX_LMPI_READINGS']!r}: {error}") from None


def service_plan_id(product_code: str, term: str = "monthly") -> str:
    """A stable service-plan GUID per Trend product and term."""
    return str(uuid.uuid5(_PLAN_NAMESPACE, f"{product_code}:{term}"))


def service_plans() -> list[dict[str, Any]]:
    plans = []
    for code, name in DEMO_PRODUCTS.items():
        for term in ("monthly", "annual") if code in ANNUAL_PLANS else ("monthly",):
            plans.append({
                "service_plan_id": service_plan_id(code, term),
                "name": f"{name} {term.capitalize()}",
                "product": name,
                "product_code": code,
                "version": "1",
                "initial_license_period_month": 1 if term == "monthly" else 12,
                "data_center": "US",
                "auto_renewal": True,
            })
    return plans


def license_record(product_id: str, units: int, enabled: bool = True) -> dict[str, Any]:
    """One LMPI licence as returned inside a subscription (`product_id`: a product code)."""
    return {
        "product_id": product_id,
        "ac_code": "AC-" + hashlib.sha1(f"{product_id}:{units}".encode()).hexdigest()[:20].upper(),
        "units": units,
        "enabled": enabled,
        "license_start_date": "2024-01-01T00:00:00Z",
        "license_expiration_date": "2027-12-31T23:59:59Z",
        "start_charge_date": "2024-01-01T00:00:00Z",
        "grace_period": 30,
    }


def trend_signature(secret: str, posix_time: str, method: str, request_uri: str, body: bytes) -> str:
    """Trend's recipe (the sandbox's own copy: it must not trust the client's)."""
    text = f"{posix_time}{method.upper()}{request_uri}"
    if body:
        text += base64.b64encode(hashlib.md5(body).digest()).decode("ascii")
    mac = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("id", "licenses") and not k.startswith("_")}


def _seconds(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


class Lmpi:
    def __init__(self, store: Store, access_token: str, secret_key: str,
                 readings: LmpiReadings | None = None) -> None:
        self.store = store
        self.access_token = access_token
        self.secret_key = secret_key
        self.readings = readings if readings is not None else LmpiReadings.from_env()

    def now(self) -> float:
        """The sandbox's Trend clock."""
        return time.time() + self.readings.clock_offset

    def error(self, status: int, subject: str, message: str) -> Response:
        body = json.dumps({"error_subject": subject, "error_message": message})
        return Response(status, body, {"Content-Type": self.readings.error_content_type})

    def check_request(self, method: str, request_uri: str, headers: Mapping[str, str],
                      body: bytes) -> Response | None:
        for header, name in REQUIRED_HEADERS.items():
            if not (headers.get(header) or "").strip():
                return self.error(400, f"MissingHeader{name}", f"The {header} header is required.")
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return self.error(415, "InvalidHeaderContentType", "content-type must be application/json.")
        if not hmac.compare_digest(headers.get("x-access-token", ""), self.access_token):
            return self.error(401, "AuthenticationFailureAccessToken", "The access token is not valid.")
        posix = headers.get("x-posix-time", "").strip()
        if not posix.isdigit() or abs(int(posix) - self.now()) > MAX_CLOCK_SKEW_SECONDS:
            return self.error(401, "AuthenticationFailurePosixTime",
                              "The posix time is more than 15 minutes away from the server time.")
        expected = trend_signature(self.secret_key, posix, method, request_uri, body)
        if not hmac.compare_digest(headers.get("x-signature", ""), expected):
            return self.error(401, "AuthenticationFailureSignature", "The signature does not match.")
        return None

    def handle(self, method: str, request_uri: str, headers: Mapping[str, str], body: bytes) -> Response:
        denied = self.check_request(method, request_uri, headers, body)
        if denied:
            return denied
        parts = urlsplit(request_uri)
        path = parts.path.rstrip("/")
        if path == "/LMPI/v3/reports/summary":
            if method != "POST":
                return self.error(405, "MethodNotAllowed", "Use POST for reports.")
            return self.summary(body)
        if method != "GET":
            return self.error(405, "MethodNotAllowed", "Only GET is implemented in the sandbox.")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if path == "/LMPI/v3/customers":
            return self.customers(query)
        if path == "/LMPI/v2.5/customers/subscriptions":
            return self.subscriptions(query)
        if path == "/LMPI/v3/me/serviceplans":
            return Response(200, service_plans())
        match = re.fullmatch(r"/LMPI/v3/customers/([^/]+)/subscriptions/([^/]+)", path)
        if match:
            customer_id, subscription_id = (m.lower() for m in match.groups())
            for sub in self.store.all("lmpi_subscription"):
                if (str(sub["customer_id"]).lower(), str(sub["subscription_id"]).lower()) == (
                        customer_id, subscription_id):
                    return Response(200, {**_public(sub), "licenses": sub.get("licenses") or []})
            return self.error(404, "NotFound", "Subscription not found for this customer.")
        return self.error(404, "NotFound", f"No LMPI route {path}.")

    # ---- ranges and pages -----------------------------------------------------------------
    def _range(self, query: Mapping[str, str], prefix: str) -> tuple[float, float] | Response:
        bounds = []
        for edge in ("start", "end"):
            name = f"{prefix}_{edge}"
            value = query.get(name, "")
            if not _TIME.fullmatch(value):
                field = "".join(p.capitalize() for p in name.split("_"))
                return self.error(400, f"InvalidParameters{field}",
                                  f"{name} is required in the format YYYY-MM-DDThh:mm:ssZ.")
            try:
                bounds.append(_seconds(value))
            except ValueError:
                field = "".join(p.capitalize() for p in name.split("_"))
                return self.error(400, f"InvalidParameters{field}", f"{name} is not a valid time.")
        return bounds[0], bounds[1]

    def _page(self, query: Mapping[str, str], items: list[dict[str, Any]], key: str) -> Response:
        try:
            page = int(query.get("page", "1"))
        except ValueError:
            page = 0
        if page < 1:
            return self.error(400, "InvalidParametersPage", "page must be an integer of 1 or more.")
        try:
            limit = int(query.get("limit", str(DEFAULT_LIMIT)))
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            return self.error(400, "InvalidParametersLimit", f"limit must be an integer from 1 to {MAX_LIMIT}.")
        chunk = items[(page - 1) * limit: page * limit]
        return Response(200, {"paging": {"total": len(items), "limit": limit, "page": page},
                              key: [_public(item) for item in chunk]})

    def customers(self, query: Mapping[str, str]) -> Response:
        span = self._range(query, "created")
        if isinstance(span, Response):
            return span
        start, end = span
        inside = [c for c in sorted(self.store.all("lmpi_customer"), key=lambda c: c["id"])
                  if start < _seconds(c.get("_created") or DEFAULT_CREATED) < end]
        return self._page(query, inside, "customers")

    def subscriptions(self, query: Mapping[str, str]) -> Response:
        given = [prefix for prefix in ("created", "modified")
                 if f"{prefix}_start" in query or f"{prefix}_end" in query]
        if len(given) != 1:
            subject = "InvalidParametersCreatedStart" if not given else "InvalidParametersModifiedStart"
            return self.error(400, subject, "Exactly one date range is required: created_start and "
                              "created_end, or modified_start and modified_end.")
        span = self._range(query, given[0])
        if isinstance(span, Response):
            return span
        start, end = span
        stamp = "_created" if given[0] == "created" else "_modified"
        subs = [s for s in sorted(self.store.all("lmpi_subscription"), key=lambda s: s["id"])
                if start < _seconds(s.get(stamp) or s.get("_created") or DEFAULT_CREATED) < end]
        return self._page(query, subs, "subscriptions")

    # ---- the monthly report -----------------------------------------------------------------
    def summary(self, body: bytes) -> Response:
        """Report :: Customer :: Summary for one report cycle, from the subscriptions."""
        try:
            request = json.loads(body or b"{}")
            year, month = str(request["report_cycle_year"]), str(request["report_cycle_month"])
        except (ValueError, TypeError, KeyError):
            return self.error(400, "InvalidParametersReportCycle",
                              "report_cycle_year and report_cycle_month are required.")
        if not (re.fullmatch(r"\d{4}", year) and re.fullmatch(r"\d{2}", month) and 1 <= int(month) <= 12):
            return self.error(400, "InvalidParametersReportCycle",
                              "report_cycle_year is YYYY and report_cycle_month is MM.")
        now = time.gmtime(self.now())
        age = (now.tm_year - int(year)) * 12 + now.tm_mon - int(month)
        if not 0 <= age < REPORT_MONTHS_KEPT:
            return self.error(400, "InvalidParametersReportCycle",
                              "No report for this cycle (reports are kept for two years).")
        return Response(200, {"summary": self.summary_rows()})

    def summary_rows(self) -> list[dict[str, Any]]:
        customers = {str(c["customer_id"]).lower(): c for c in self.store.all("lmpi_customer")}
        plans = {p["service_plan_id"]: p for p in service_plans()}
        totals: dict[tuple[str, str, str], int] = {}
        for sub in sorted(self.store.all("lmpi_subscription"), key=lambda s: s["id"]):
            if not sub.get("enabled", True):
                continue
            plan = plans.get(sub.get("service_plan_id"), {})
            for lic in sub.get("licenses") or []:
                if not lic.get("enabled", True):
                    continue
                code = str(lic.get("product_id"))
                key = (str(sub["customer_id"]).lower(), plan.get("name", ""), DEMO_PRODUCTS.get(code, code))
                totals[key] = totals.get(key, 0) + int(lic.get("units") or 0)
        rows = []
        by_name = {name: code for code, name in DEMO_PRODUCTS.items()}
        for (customer_id, plan_name, product), units in totals.items():
            customer = customers.get(customer_id, {})
            row: dict[str, Any] = {
                "customer": customer.get("name", ""), "city": customer.get("city", ""),
                "state": customer.get("state", ""), "owned_by_vendor": "Sandbox MSP",
                "created_by_vendor": "Sandbox MSP", "product_name": product, "service_plan": plan_name,
                "provisioned": self._units(units),
            }
            if self.readings.used_field != "none":
                code = by_name.get(product, product)
                null = "*" in self.readings.null_used or code in self.readings.null_used
                row[self.readings.used_field] = None if null else self._units(units - units // 8)
            rows.append(row)
            if self.readings.duplicate_rows:
                rows.append(dict(row))
        return rows

    def _units(self, value: int) -> int | str:
        return str(value) if self.readings.units_as == "string" else value
