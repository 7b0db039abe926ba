"""Facts from Trend's published LMPI pages (shared/reference/trend-lmpi-documented.md), written
down as test data, and a replay server that answers what a test hands it and records the raw
bytes each request arrived with.

Nothing here is imported from `reconciler`: the signature recipe is written again from Trend's
description, so a test that checks the client (or the sandbox) with it checks it against the
page, not against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# ---- facts ------------------------------------------------------------------------------------

HEADERS = ("x-access-token", "x-posix-time", "x-signature", "x-traceid", "content-type")
TIME_FORMAT_EXAMPLE = "2017-04-01T00:00:00Z"  # `YYYY-MM-DDThh:mm:ssZ`, `:` unencoded in examples
LIMIT_MAX, LIMIT_DEFAULT = 100, 25
CLOCK_SKEW_SECONDS = 15 * 60

# customersquery30: the answer's shape (one customer as the page lists its fields).
CUSTOMER = {"customer_id": "0f7d4f9e-2b57-4c1e-9d2a-8f3b6c5a4e11", "name": "Example Company",
            "address": "1 Main St", "city": "Austin", "state": "TX", "postal_code": "78701",
            "country": "US", "status": "Active", "note": "", "emergency_email": "it@example.com"}

# lmpiv25customerssubs: one subscription.
SUBSCRIPTION = {"subscription_id": "7C1B8C3A-55E0-4D69-A4C2-3A0AF0B8F2D2", "name": "WFBSS monthly",
                "enabled": True, "is_auto_renewal": True, "auto_renewal_month": 1,
                "service_plan_id": "A1B2C3D4-0000-4000-8000-000000000001",
                "customer_id": "0F7D4F9E-2B57-4C1E-9D2A-8F3B6C5A4E11"}  # upper case on this page

# customerssubscriptio_004: licences carry 9-character product codes (the page's example).
PRODUCT_CODE_EXAMPLE = "WFSBWXE3X"
LICENCE = {"ac_code": "WFSBWXE3X-0000-0000-0000", "product_id": PRODUCT_CODE_EXAMPLE,
           "start_date": "2026-01-01T00:00:00Z", "end_date": "2027-01-01T00:00:00Z",
           "grace_period": 30, "units": 35, "enabled": True}

# partnersserviceplanl: a BARE array; `product` is a display name, `product_code` the code.
SERVICE_PLANS = [
    {"service_plan_id": "A1B2C3D4-0000-4000-8000-000000000001", "name": "WFBSS Monthly",
     "product": "Worry-Free Business Security Services", "product_code": PRODUCT_CODE_EXAMPLE, "version": "1"},
    {"service_plan_id": "A1B2C3D4-0000-4000-8000-000000000002", "name": "WFBSS Annual",
     "product": "Worry-Free Business Security Services", "product_code": PRODUCT_CODE_EXAMPLE, "version": "1"},
    {"service_plan_id": "A1B2C3D4-0000-4000-8000-000000000003", "name": "HES Monthly",
     "product": "Hosted Email Security", "product_code": "HESMWXE3X", "version": "2"},
]

# reportcustomersummar: the request body, and a row as published: names, no ids.
REPORT_REQUEST = {"report_cycle_year": "2026", "report_cycle_month": "10"}
REPORT_ROW = {"customer": "Example Company", "city": "Austin", "state": "TX",
              "owned_by_vendor": "Example MSP", "created_by_vendor": "Example MSP",
              "product_name": "Worry-Free Business Security Services", "service_plan": "WFBSS Monthly",
              "provisioned": 35}
REPORT_ROW_KEYS = frozenset(REPORT_ROW)

# generalerrorcodes: the error body, served with Content-Type text/html in the example.
def error_body(subject: str, message: str) -> bytes:
    return json.dumps({"error_subject": subject, "error_message": message}).encode()


def trend_signature(secret: str, posix_time: str, method: str, request_uri: str, body: bytes = b"") -> str:
    """Trend's recipe: Base64(HMAC-SHA256(secret, posix time + METHOD + request URI
    [+ Base64(MD5(body))]))."""
    payload = posix_time + method.upper() + request_uri
    if body:
        payload += base64.b64encode(hashlib.md5(body).digest()).decode()
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()


# ---- a replay server ---------------------------------------------------------------------------

@dataclass
class Seen:
    method: str
    raw_uri: str  # the request line's target, byte for byte
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Replay:
    """`answer(seen) -> (status, headers, body)`; every request is recorded in `seen`."""

    answer: Callable[[Seen], Answer]
    seen: list[Seen] = field(default_factory=list)
    date: str | None = None  # a fixed `Date` header, if a test wants one

    def __enter__(self) -> Self:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                return replay.date or super().date_time_string(timestamp)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length) if length else b"")
                replay.seen.append(seen)
                status, headers, body = replay.answer(seen)
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/LMPI"


def json_answer(body: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def html_error(status: int, subject: str, message: str) -> Answer:
    return status, {"Content-Type": "text/html"}, error_body(subject, message)
