"""A small subset of Trend Micro's Licensing Management Platform Integration (LMPI) API.

See shared/reference/trend-and-peers.md section 2 and its Addendum. Every request must carry
`x-access-token`, `x-posix-time` (within 15 minutes of our clock) and
`x-signature` = Base64(HMAC-SHA256(secret, posix_time + METHOD + request_uri [+ Base64(MD5(body))]))
where `request_uri` is the path plus `?query` exactly as sent; otherwise 401.

Endpoints:
    GET /LMPI/v3/customers?page=&limit=                       customers[] + paging{page,limit,total}
    GET /LMPI/v2.5/customers/subscriptions[?customer_id=]     subscriptions[] (no licenses)
    GET /LMPI/v3/customers/{customer_id}/subscriptions/{subscription_id}   one subscription + licenses[]
    GET /LMPI/v3/me/serviceplans                              service_plans[]

    POST /LMPI/v3/reports/summary {report_cycle_year, report_cycle_month}   summary[] (see below)

Product ids. The sandbox's Trend catalog (`DEMO_PRODUCTS`: product id -> name) is its own demo
data; the reconciler never reads it. The shipped config/global.yaml names the same ids under
each product's `trend:` block, which is what makes the demo bill.

The summary report is derived from the subscriptions, so the two bases agree on who has what:
one row per enabled license of an enabled subscription, `provisioned` = its units, `used` =
units - units // 8 (some seats idle), `chargeable` = units - units // 16 (the partner lowered
the bill part of the way). Every month within the last two years (Trend keeps two) up to the
current one has a report; a later or older month is a 400. Row fields follow
reconciler/usage/trend_report.py (confirmed names plus our assumed ones).

Error bodies (shape unconfirmed for real LMPI): `{"error_code": "...", "message": "..."}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.sandbox.routes import Response
from reconciler.sandbox.store import Store
from reconciler.usage.lmpi import (
    signature,  # one recipe, the client's (checked against Trend's in tests)
)

# The sandbox's demo Trend catalog: LMPI product id -> product name.
DEMO_PRODUCTS: dict[str, str] = {
    "WFBSS-SVC": "Worry-Free Business Security Services",
    "WFS-ADV": "Worry-Free Services Advanced",
    "CAS": "Cloud App Security",
    "HES": "Hosted Email Security",
    "APEX-ONE-SAAS": "Apex One SaaS",
    "C1-WLS": "Cloud One Workload Security",
}
REPORT_MONTHS_KEPT = 24

MAX_CLOCK_SKEW_SECONDS = 15 * 60
MAX_LIMIT = 100

_PLAN_NAMESPACE = uuid.UUID("6f1c1f5e-2b0a-4c36-9a8e-000000000001")


def service_plan_id(product_id: str) -> str:
    """A stable service-plan GUID per Trend product (one monthly plan each)."""
    return str(uuid.uuid5(_PLAN_NAMESPACE, product_id))


def service_plans() -> list[dict[str, Any]]:
    return [
        {
            "service_plan_id": service_plan_id(product_id),
            "name": f"{DEMO_PRODUCTS[product_id]} Monthly",
            "product": product_id,
            "product_code": (product_id.replace("-", "") + "MONTHLY")[:9],
            "version": "1",
            "initial_license_period_month": 1,
            "data_center": "US",
            "auto_renewal": True,
        }
        for product_id in DEMO_PRODUCTS
    ]


def report_units(units: int) -> dict[str, int]:
    """The report figures of one license (see the module docstring)."""
    return {"provisioned": units, "used": units - units // 8, "chargeable": units - units // 16}


def license_record(product_id: str, units: int, enabled: bool = True) -> dict[str, Any]:
    """One LMPI license line as returned inside a subscription."""
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


def _lmpi_error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error_code": code, "message": message})


class Lmpi:
    def __init__(self, store: Store, access_token: str, secret_key: str) -> None:
        self.store = store
        self.access_token = access_token
        self.secret_key = secret_key

    def check_signature(self, method: str, request_uri: str, headers: Mapping[str, str],
                        body: bytes) -> Response | None:
        token = headers.get("x-access-token", "")
        posix = headers.get("x-posix-time", "")
        given = headers.get("x-signature", "")
        if not hmac.compare_digest(token, self.access_token):
            return _lmpi_error(401, "Unauthorized", "Unknown x-access-token.")
        if not posix.isdigit() or abs(int(posix) - time.time()) > MAX_CLOCK_SKEW_SECONDS:
            return _lmpi_error(401, "Unauthorized", "x-posix-time is missing or more than 15 minutes off.")
        expected = signature(self.secret_key, posix, method, request_uri, body or None)
        if not hmac.compare_digest(given, expected):
            return _lmpi_error(401, "Unauthorized", "x-signature does not match the request.")
        return None

    def handle(self, method: str, request_uri: str, headers: Mapping[str, str], body: bytes) -> Response:
        denied = self.check_signature(method, request_uri, headers, body)
        if denied:
            return denied
        parts = urlsplit(request_uri)
        path = parts.path.rstrip("/")
        if path == "/LMPI/v3/reports/summary":
            if method != "POST":
                return _lmpi_error(405, "MethodNotAllowed", "Use POST for reports.")
            return self.summary(body)
        if method != "GET":
            return _lmpi_error(405, "MethodNotAllowed", "Only GET is implemented in the sandbox.")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path == "/LMPI/v3/customers":
            return self.customers(query)
        if path == "/LMPI/v2.5/customers/subscriptions":
            subs = sorted(self.store.all("lmpi_subscription"), key=lambda s: s["id"])
            if query.get("customer_id"):
                subs = [s for s in subs if s["customer_id"] == query["customer_id"]]
            if "page" in query or "limit" in query:  # optional paging, same rules as customers
                paged = self._page(query, subs)
                if isinstance(paged, Response):
                    return paged
                subs = paged
            return Response(200, {"subscriptions": [
                {k: v for k, v in s.items() if k not in ("licenses", "id", "_info")} for s in subs]})
        if path == "/LMPI/v3/me/serviceplans":
            return Response(200, {"service_plans": service_plans()})
        match = re.fullmatch(r"/LMPI/v3/customers/([^/]+)/subscriptions/([^/]+)", path)
        if match:
            customer_id, subscription_id = match.groups()
            for sub in self.store.all("lmpi_subscription"):
                if sub["customer_id"] == customer_id and sub["subscription_id"] == subscription_id:
                    return Response(200, {k: v for k, v in sub.items() if k not in ("id", "_info")})
            return _lmpi_error(404, "NotFound", "Subscription not found for this customer.")
        return _lmpi_error(404, "NotFound", f"No LMPI route {path}.")

    def summary(self, body: bytes) -> Response:
        """Report :: Customer :: Summary for one report cycle, from the subscriptions."""
        try:
            request = json.loads(body or b"{}")
            year, month = str(request["report_cycle_year"]), str(request["report_cycle_month"])
        except (ValueError, TypeError, KeyError):
            return _lmpi_error(400, "InvalidParameter", "report_cycle_year and report_cycle_month are required.")
        if not (re.fullmatch(r"\d{4}", year) and re.fullmatch(r"\d{2}", month) and 1 <= int(month) <= 12):
            return _lmpi_error(400, "InvalidParameter", "report_cycle_year is YYYY and report_cycle_month is MM.")
        now = time.gmtime()
        age = (now.tm_year - int(year)) * 12 + now.tm_mon - int(month)
        if not 0 <= age < REPORT_MONTHS_KEPT:
            return _lmpi_error(400, "InvalidParameter", "No report for this cycle (reports are kept for two years).")
        customers = {c["customer_id"]: c for c in self.store.all("lmpi_customer")}
        plans = {p["service_plan_id"]: p for p in service_plans()}
        rows = []
        for sub in sorted(self.store.all("lmpi_subscription"), key=lambda s: s["id"]):
            if not sub.get("enabled", True):
                continue
            customer = customers.get(sub["customer_id"], {})
            plan = plans.get(sub.get("service_plan_id"), {})
            for lic in sub.get("licenses") or []:
                if not lic.get("enabled", True):
                    continue
                product_id = lic.get("product_id")
                rows.append({
                    "customer": customer.get("name", ""), "customer_id": sub["customer_id"],
                    "city": customer.get("city", ""), "state": customer.get("country", "US"),
                    "owned_by_vendor": "Sandbox MSP", "created_by_vendor": "Sandbox MSP",
                    "product_name": DEMO_PRODUCTS.get(product_id, str(product_id)), "product_id": product_id,
                    "service_plan": plan.get("name", ""), "service_plan_id": sub.get("service_plan_id"),
                    "unit_type": "Seats", **report_units(int(lic.get("units") or 0)),
                })
        return Response(200, {"summary": rows})

    @staticmethod
    def _page(query: Mapping[str, str], items: list[dict[str, Any]]) -> list[dict[str, Any]] | Response:
        try:
            page = int(query.get("page", "1"))
            limit = int(query.get("limit", str(MAX_LIMIT)))
        except ValueError:
            return _lmpi_error(400, "InvalidParameter", "page and limit must be integers.")
        if page < 1 or not 1 <= limit <= MAX_LIMIT:
            return _lmpi_error(400, "InvalidParameter", f"page must be >= 1 and limit 1..{MAX_LIMIT}.")
        return items[(page - 1) * limit: page * limit]

    def customers(self, query: Mapping[str, str]) -> Response:
        customers = sorted(self.store.all("lmpi_customer"), key=lambda c: c["id"])
        chunk = self._page(query, customers)
        if isinstance(chunk, Response):
            return chunk
        page, limit = int(query.get("page", "1")), int(query.get("limit", str(MAX_LIMIT)))
        return Response(200, {
            "customers": [{k: v for k, v in c.items() if k not in ("id", "_info")} for c in chunk],
            "paging": {"page": page, "limit": limit, "total": len(customers)},
        })
