"""The sandbox HTTP server: ConnectWise + LMPI on loopback, state in DIR/sandbox.db.

Request pipeline (per request, in a ThreadingHTTPServer thread):
1. `/_sandbox/*` control endpoints: no auth, never counted as requests, never faulted.
2. Number the request; apply latency; decide a fault (faults.py). `drop`/`timeout`/status
   faults happen before any processing.
3. `/login/companyinfo/{co}`: unauthenticated codebase discovery.
   `/LMPI/...`: signature check (lmpi.py).
   `/v4_6_release/apis/3.0/...`: Basic auth, then the clientId header, then routes.py.
4. `drop_after`: the response is computed (and any write committed) but never sent.

A missing or empty `clientId` header gets 401 `{"code":"Unauthorized","message":"A clientId
header is required ..."}` (real CW's answer is unconfirmed; 401 keeps it in the auth class of
errors a client must not retry). Auth is checked before clientId.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from reconciler.sandbox.demo import seed_demo
from reconciler.sandbox.faults import FaultInjector, FaultPlan
from reconciler.sandbox.lmpi import Lmpi, LmpiReadings
from reconciler.sandbox.routes import API_VERSION, SERVER_VERSION, Api, Response, error
from reconciler.sandbox.store import DB_NAME, SandboxStateError, Store

CODEBASE = "v4_6_release/"
API_PREFIX = "/" + CODEBASE + "apis/3.0/"


@dataclass(frozen=True)
class SandboxCredentials:
    """Sandbox credentials. Fixed, well-known values: they protect nothing."""

    company_id: str = "sandbox"
    public_key: str = "sandbox-public"
    private_key: str = "sandbox-private"
    client_id: str = "sandbox-client"
    lmpi_access_token: str = "sandbox-lmpi-token"
    lmpi_secret_key: str = "sandbox-lmpi-secret"


def reset(data_dir: Path) -> Path | None:
    """Restore the demo data in `data_dir` (wipes everything else, zeroes the write counter).

    A damaged `sandbox.db` (the case reset is the documented fix for) is moved aside, kept
    for a look, and a new one made; returns where it went (None when it was fine)."""
    data_dir = Path(data_dir)
    moved = None
    try:
        store = Store(data_dir)
    except SandboxStateError as error:
        if not error.damaged:
            raise
        moved = _move_damaged_aside(data_dir / DB_NAME)
        store = Store(data_dir)
    try:
        store.clear()
        seed_demo(store)
    finally:
        store.close()
    return moved


def _move_damaged_aside(db: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = db.with_name(f"{db.name}.damaged-{stamp}")
    db.rename(target)
    for suffix in ("-wal", "-shm"):  # SQLite's side files belong to the damaged database
        side = db.with_name(db.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target


class _Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.requests = 0
            self.by_method: Counter[str] = Counter()
            self.by_path: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()

    def record(self, method: str, path: str) -> None:
        # ids collapse to {id} so by_path stays small with 5,000 customers
        shape = re.sub(r"/\d+(?=/|$)", "/{id}", path.split("?", 1)[0])
        shape = re.sub(r"/LMPI/v3/customers/[^/]+/subscriptions/[^/]+$",
                       "/LMPI/v3/customers/{id}/subscriptions/{id}", shape)
        with self._lock:
            self.requests += 1
            self.by_method[method] += 1
            self.by_path[f"{method} {shape}"] += 1

    def snapshot(self, writes: int) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "writes": writes, "by_method": dict(self.by_method),
                    "by_path": dict(self.by_path), "faults": dict(self.faults)}


class SandboxServer:
    """ConnectWise + LMPI simulator. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        data_dir: Path = Path(".sandbox"),
        port: int = 0,
        faults: FaultPlan | None = None,
        seed_demo: bool = True,
        company_id: str = "sandbox",
        public_key: str = "sandbox-public",
        private_key: str = "sandbox-private",
        host: str = "127.0.0.1",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.requested_port = port
        self.credentials = SandboxCredentials(company_id, public_key, private_key)
        self.store = Store(self.data_dir, updated_by=public_key)
        if seed_demo and self.store.is_empty():
            _seed(self.store, company_id)
        self.faults = FaultInjector(faults or FaultPlan())
        self.stats = _Stats()
        self.api = Api(self.store, updated_by=public_key)
        self.lmpi = Lmpi(self.store, self.credentials.lmpi_access_token, self.credentials.lmpi_secret_key)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> "SandboxServer":
        if self._httpd is not None:
            return self
        handler = type("BoundHandler", (_Handler,), {"sandbox": self})
        self._httpd = ThreadingHTTPServer((self.host, self.requested_port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.store.close()

    def serve_forever(self) -> None:
        """Block until KeyboardInterrupt (for the CLI)."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        finally:
            self.stop()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- addresses ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connectwise_url(self) -> str:
        return f"{self.base_url}/{CODEBASE}apis/3.0"

    @property
    def lmpi_url(self) -> str:
        """LMPI base: `{lmpi_url}/v3/customers` etc. (the usage source appends `v3/...`)."""
        return f"{self.base_url}/LMPI"

    def set_faults(self, plan: FaultPlan) -> None:
        self.faults.install(plan)

    def reset(self) -> None:
        """Restore the demo data (what POST /_sandbox/reset does)."""
        self.store.clear()
        _seed(self.store, self.credentials.company_id)
        self.stats.clear()

    # ---- request handling -----------------------------------------------------------------
    def authenticate(self, headers: Any) -> Response | None:
        header = headers.get("Authorization", "")
        creds = self.credentials
        ok = False
        if header[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                company, _, public = user.partition("+")
                ok = (company.lower() == creds.company_id.lower()
                      and hmac.compare_digest(public, creds.public_key)
                      and hmac.compare_digest(password, creds.private_key))
            except (ValueError, UnicodeDecodeError):
                ok = False
        if not ok:
            return error(401, "Unauthorized",
                         "Authentication failed: use Basic companyId+publicKey:privateKey.")
        if not (headers.get("clientId") or "").strip():
            return error(401, "Unauthorized",
                         "A clientId header is required for all API calls (any non-empty value "
                         "is accepted by the sandbox).")
        return None

    def dispatch(self, method: str, raw_path: str, headers: Any, body: bytes) -> Response:
        parts = urlsplit(raw_path)
        path = parts.path
        companyinfo = re.fullmatch(r"/login/companyinfo/([^/]+)/?", path)
        if companyinfo:
            return Response(200, {
                "CompanyName": "Sandbox MSP", "Codebase": CODEBASE, "VersionCode": "v2025.1",
                "VersionNumber": SERVER_VERSION, "CompanyID": companyinfo.group(1),
                "IsCloud": False, "SiteUrl": headers.get("Host", f"{self.host}:{self.port}"),
            })
        if path.startswith("/LMPI/"):
            return self.lmpi.handle(method, raw_path, headers, body)
        if path.startswith(API_PREFIX):
            denied = self.authenticate(headers)
            if denied:
                return denied
            resource = path[len(API_PREFIX):].strip("/")
            for denial in self.store.all("role_denial"):
                if resource == denial["path"] or resource.startswith(denial["path"] + "/"):
                    # Real CW's 403 body is unconfirmed; the status is what a client decides on.
                    return error(403, "Forbidden", "The API member's security role does not allow "
                                 f"access to {denial['path']}.")
            host = headers.get("Host") or f"{self.host}:{self.port}"
            base = f"http://{host}{API_PREFIX}"
            return self.api.handle(method, path[len(API_PREFIX):], parts.query, body, base)
        return error(404, "NotFound", f"No route for {path}.")

    def control(self, method: str, path: str, body: bytes) -> Response:
        if path == "/_sandbox/stats" and method == "GET":
            return Response(200, self.stats.snapshot(self.store.write_count))
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return Response(200, {"reset": True})
        if path == "/_sandbox/lmpi" and method == "POST":  # the LMPI readings (sandbox/lmpi.py)
            try:
                data = json.loads(body or b"{}")
                self.lmpi.readings = LmpiReadings(**data) if isinstance(data, dict) else LmpiReadings(used_field="?")
            except (ValueError, TypeError) as exc:
                return error(400, "InvalidObject", f"Invalid LMPI readings: {exc}")
            return Response(200, asdict(self.lmpi.readings))
        if path == "/_sandbox/faults" and method == "GET":
            return Response(200, self.faults.plan.to_json())
        if path == "/_sandbox/faults" and method == "POST":
            try:
                plan = FaultPlan.from_json(json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                return error(400, "InvalidObject", f"Invalid fault plan: {exc}")
            self.set_faults(plan)
            return Response(200, plan.to_json())
        return error(404, "NotFound", f"No sandbox control route {method} {path}.")


def _seed(store: Store, own_company: str) -> None:
    seed_demo(store, own_company)


class _Handler(BaseHTTPRequestHandler):
    sandbox: SandboxServer  # set on the bound subclass
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections like against real CW
    server_version = "ConnectWiseSandbox/1.0"

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            # The client went away mid-answer (Ctrl-C, its own timeout): nothing is left to
            # answer, and socketserver would print a traceback into the user's terminal.
            self.close_connection = True

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK
        # add ~40 ms to every keep-alive request, which would swamp the benchmarks.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # LMPI's answers carry the sandbox's Trend clock (a client reads its offset from `Date`).
        if timestamp is None and getattr(self, "path", "").startswith("/LMPI/"):
            timestamp = self.sandbox.lmpi.now()
        return super().date_time_string(timestamp)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests and the CLI print what matters

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        sandbox = self.sandbox
        path = urlsplit(self.path).path
        if path.startswith("/_sandbox/"):
            self._send(sandbox.control(method, path, body))
            return
        sandbox.stats.record(method, self.path)
        _number, fault = sandbox.faults.next()
        plan = sandbox.faults.plan
        if plan.latency_ms:
            time.sleep(plan.latency_ms / 1000)
        if fault:
            sandbox.stats.faults[fault] += 1
        if fault == "drop":
            self._drop()
            return
        if fault == "timeout":
            time.sleep(plan.timeout_seconds)
            self._drop()
            return
        if fault == "slow_commit":
            if method == "POST":
                time.sleep(plan.slow_commit_ms / 1000)
        elif fault and fault not in ("drop_after",):
            self._send(_fault_response(fault, plan))
            return
        try:
            response = sandbox.dispatch(method, self.path, self.headers, body)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must look like CW's 500, not hang
            response = error(500, "ConnectWiseApi", f"An unexpected error occurred: {exc!r}")
        if fault == "drop_after":
            self._drop()
            return
        self._send(response)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, response: Response) -> None:
        if isinstance(response.body, (bytes, str)):
            payload = response.body.encode() if isinstance(response.body, str) else response.body
            content_type = response.headers.pop("Content-Type", "text/html; charset=utf-8")
        elif response.body is None:
            payload, content_type = b"", "application/json; charset=utf-8"
        else:
            payload = json.dumps(response.body, separators=(",", ":")).encode()
            content_type = "application/json; charset=utf-8"
        self.send_response(response.status)
        if response.status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("api-current-version", API_VERSION)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if payload and response.status != 204:
            self.wfile.write(payload)


def _fault_response(kind: str, plan: FaultPlan) -> Response:
    if kind == "429":
        return Response(429, {"error": "ConnectWiseAPI",
                              "message": f"Too many requests. Please try again in {plan.retry_after} seconds."},
                        {"Retry-After": str(plan.retry_after)})
    if kind == "409":
        return error(409, "Conflict", "The record is possibly in use by another user. Please try again.")
    if kind == "500":
        return error(500, "ConnectWiseApi", "An error occurred, please try again. (sandbox fault)")
    reason = {"502": "Bad Gateway", "503": "Service Unavailable", "504": "Gateway Timeout"}[kind]
    html = f"<html><head><title>{kind} {reason}</title></head><body><h1>{kind} {reason}</h1></body></html>"
    return Response(int(kind), html)
