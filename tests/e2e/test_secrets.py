"""No secret ever leaves the process: not in output, logs, the plan file, the ledger, or reports.

One full run with distinctive fake keys against a sandbox started with those keys (usage from
the LMPI sandbox, signed with the fake Trend keys): plan (--out), apply --send-now (--report),
drift, report (html and markdown), then the same with 30% faults of every kind, then a wrong
private key (401) and a wrong Trend secret (LMPI 401). Logging is captured at DEBUG (urllib3
included). Every printed, logged and written byte is then searched for each secret, the Basic
auth value, and the wrong keys.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.sandbox import FaultPlan, SandboxServer
from reconciler.sandbox.faults import FAULT_KINDS
from reconciler.sandbox.lmpi import Lmpi
from tests.support.e2e import make_repo

PUBLIC = "PUBKEY-zq81-LEAKCHECK"
PRIVATE = "PRIVKEY-x7Vq-LEAKCHECK"
CLIENT_ID = "CLIENTID-9a1c-LEAKCHECK"
TM_TOKEN = "TMTOKEN-44be-LEAKCHECK"
TM_SECRET = "TMSECRET-c0de-LEAKCHECK"
WRONG_PRIVATE = "WRONGPRIV-77aa-LEAKCHECK"
WRONG_TM_SECRET = "WRONGTM-5e5e-LEAKCHECK"
COMPANY = "leakco"


def basic(company: str, public: str, private: str) -> str:
    return base64.b64encode(f"{company}+{public}:{private}".encode()).decode()


SECRETS = {
    "CW_PUBLIC_KEY": PUBLIC, "CW_PRIVATE_KEY": PRIVATE, "CW_CLIENT_ID": CLIENT_ID,
    "TM_ACCESS_TOKEN": TM_TOKEN, "TM_SECRET_KEY": TM_SECRET, "wrong CW_PRIVATE_KEY": WRONG_PRIVATE,
    "wrong TM_SECRET_KEY": WRONG_TM_SECRET, "Basic auth": basic(COMPANY, PUBLIC, PRIVATE),
    "Basic auth (wrong key)": basic(COMPANY, PUBLIC, WRONG_PRIVATE),
}


def test_no_secret_appears_in_any_output_log_or_file(tmp_path, monkeypatch, caplog):
    repo = make_repo(tmp_path / "repo")  # the sandbox's own database lives outside it
    global_yaml = repo / "config/global.yaml"
    global_yaml.write_text(global_yaml.read_text().replace("  source: csv\n  path: ../usage/seats.csv", "  source: lmpi"))
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(repo)
    seen: list[str] = []

    server = SandboxServer(data_dir=tmp_path / "cw", port=0, company_id=COMPANY, public_key=PUBLIC,
                           private_key=PRIVATE)
    server.lmpi = Lmpi(server.store, TM_TOKEN, TM_SECRET)  # the sandbox's LMPI, with our fake Trend keys
    with server:
        env = {"CW_URL": server.connectwise_url, "CW_COMPANY_ID": COMPANY, "CW_PUBLIC_KEY": PUBLIC,
               "CW_PRIVATE_KEY": PRIVATE, "CW_CLIENT_ID": CLIENT_ID, "TM_LMPI_URL": server.lmpi_url,
               "TM_ACCESS_TOKEN": TM_TOKEN, "TM_SECRET_KEY": TM_SECRET}
        for name, value in env.items():
            monkeypatch.setenv(name, value)

        def run(*args: str, expect: tuple[int, ...] = (0, 1, 2)) -> str:
            result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
            text = result.output + (result.stderr if result.stderr_bytes is not None else "")
            assert result.exit_code in expect, text
            seen.append(f"$ reconcile {' '.join(args)}\n{text}")
            return text

        ledger = ["--ledger", "state/ledger.jsonl"]
        run("plan", "--send-now", "--out", "plan.json", *ledger, expect=(0,))
        run("plan", "--send-now", "--format", "json", *ledger, expect=(0,))
        assert "sent" in run("apply", "--send-now", "--report", "run-report.json", *ledger, expect=(0,))
        run("drift", *ledger, "--format", "json")
        run("report", *ledger, "--out", "report-html")
        run("report", *ledger, "--format", "markdown", "--out", "report-md")

        server.set_faults(FaultPlan(rate=0.3, seed=11, kinds=tuple(k for k in FAULT_KINDS if k != "timeout")))
        run("plan", "--send-now", "--format", "markdown", *ledger)
        run("apply", "--send-now", "--report", "run-report-faults.json", *ledger)
        run("drift", *ledger, "--format", "markdown")
        server.set_faults(FaultPlan())

        monkeypatch.setenv("CW_PRIVATE_KEY", WRONG_PRIVATE)
        denied = run("apply", "--send-now", "--report", "run-report-401.json", *ledger, expect=(1,))
        assert "401" in denied or "Unauthorized" in denied or "Authentication" in denied
        run("drift", *ledger, expect=(1,))
        monkeypatch.setenv("CW_PRIVATE_KEY", PRIVATE)
        monkeypatch.setenv("TM_SECRET_KEY", WRONG_TM_SECRET)
        run("plan", *ledger, expect=(1,))

        written = [p for p in repo.rglob("*") if p.is_file() and p.suffix != ".pyc"
                   and not p.is_relative_to(repo / "config") and not p.is_relative_to(repo / "schemas")]
        assert any(p.name.startswith("ledger") for p in written)
        # (a run that fails before any customer is applied, e.g. on a 401, writes no run report)
        assert {"plan.json", "run-report.json", "report.md"} <= {p.name for p in written}
        haystacks = {"output": "\n".join(seen), "logs": caplog.text + "\n".join(r.getMessage() for r in caplog.records)}
        haystacks.update({str(p.relative_to(repo)): p.read_bytes().decode("utf-8", "replace") for p in written})
        leaks = [f"{label} in {where}" for where, text in haystacks.items()
                 for label, secret in SECRETS.items() if secret in text]
        assert leaks == []
        # the sandbox stamps `_info.updatedBy` with the public key: nothing downstream may carry it
        assert "updatedBy" not in "".join(haystacks.values())


def test_the_leak_check_would_see_a_leak(tmp_path):
    """Guard the guard: a secret in a written file is found by the same search."""
    path = Path(tmp_path, "leaky.txt")
    path.write_text(f"Authorization: Basic {SECRETS['Basic auth']}")
    assert [label for label, s in SECRETS.items() if s in path.read_text()] == ["Basic auth"]


# --- echoing servers and proxies --------------------------------------------------------------

import http.server  # noqa: E402
import json  # noqa: E402
import threading  # noqa: E402
import urllib.request  # noqa: E402
from urllib.parse import quote, quote_plus  # noqa: E402


def every_form(value: str) -> list[str]:
    """What a careless server or proxy might echo: raw, URL-encoded, base64, any case."""
    b64 = base64.b64encode(value.encode()).decode()
    return [value, value.lower(), value.upper(), quote(value, safe=""), quote_plus(value), b64, b64.lower(),
            quote(b64, safe="")]


def echo_text(headers) -> str:
    """Every header holding a credential, and the decoded Basic user:password, in every form."""
    parts = []
    for name in ("Authorization", "clientId", "x-access-token"):
        value = headers.get(name)
        if not value:
            continue
        parts += every_form(value)
        if value.startswith("Basic "):
            decoded = base64.b64decode(value[6:]).decode()
            parts += every_form(decoded)
            user, password = decoded.split(":", 1)
            for piece in (*user.split("+"), password):
                parts += every_form(piece)
        else:
            parts += every_form(value)
    return "you sent: " + " ".join(parts)


class EchoingProxy(http.server.ThreadingHTTPServer):
    """A forward proxy in front of the sandbox that answers writes (and, when `lmpi_fails`, LMPI
    reads) with a 400 that echoes the request's credentials back in every form: as a JSON
    ConnectWise error, as plain text, and in the reason phrase."""

    def __init__(self) -> None:
        self.lmpi_fails = False
        self.seen_credentials = 0
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: EchoingProxy

    def log_message(self, *args) -> None:
        pass

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        echo = echo_text(self.headers)
        if self.headers.get("Authorization") or self.headers.get("x-access-token"):
            self.server.seen_credentials += 1
        is_lmpi = "/lmpi" in self.path or "/v3/" in self.path or "/v2.5/" in self.path
        # The run lease's ticket goes through (else no run would get as far as writing billing,
        # and the failures to echo are the billing writes'); every other write is echoed back.
        lease = b"Billing run lease R-" in body
        if (self.command == "POST" and not lease) or (is_lmpi and self.server.lmpi_fails):
            payload = json.dumps({"code": "InvalidObject " + echo[:300], "message": echo,
                                  "errors": [{"field": "auth", "code": "Echo", "message": echo}]}).encode()
            self.send_response(400, "Bad Request " + echo.split(" ")[2][:200])
            self.send_header("Content-Type", "application/json")
        elif self.command == "PATCH" and not lease:
            payload = echo.encode()
            self.send_response(400, "")  # no reason phrase: the client falls back to the body text
            self.send_header("Content-Type", "text/plain")
        else:
            request = urllib.request.Request(self.path, data=body or None, method=self.command,
                                             headers={k: v for k, v in self.headers.items()
                                                      if k.lower() not in ("proxy-connection", "connection", "host")})
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                upstream = opener.open(request, timeout=30)
            except urllib.error.HTTPError as error:
                upstream = error
            payload = upstream.read()
            self.send_response(upstream.status if hasattr(upstream, "status") else upstream.code)
            for name in ("Content-Type", "Link", "Retry-After"):
                if upstream.headers.get(name):
                    self.send_header(name, upstream.headers[name])
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


def test_no_form_of_a_secret_survives_an_echoing_proxy(tmp_path, monkeypatch, caplog):
    repo = make_repo(tmp_path / "repo")
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(repo)
    seen: list[str] = []
    server = SandboxServer(data_dir=tmp_path / "cw", port=0, company_id=COMPANY, public_key=PUBLIC,
                           private_key=PRIVATE)
    server.lmpi = Lmpi(server.store, TM_TOKEN, TM_SECRET)
    proxy = EchoingProxy()
    with server:
        env = {"CW_URL": server.connectwise_url, "CW_COMPANY_ID": COMPANY, "CW_PUBLIC_KEY": PUBLIC,
               "CW_PRIVATE_KEY": PRIVATE, "CW_CLIENT_ID": CLIENT_ID, "TM_LMPI_URL": server.lmpi_url,
               "TM_ACCESS_TOKEN": TM_TOKEN, "TM_SECRET_KEY": TM_SECRET,
               "HTTP_PROXY": proxy.url, "http_proxy": proxy.url}
        for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

        def run(*args: str, expect: tuple[int, ...] = (0, 1, 2)) -> str:
            result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
            text = result.output + (result.stderr if result.stderr_bytes is not None else "")
            assert result.exit_code in expect, text
            seen.append(f"$ reconcile {' '.join(args)}\n{text}")
            return text

        ledger = ["--ledger", "state/ledger.jsonl"]
        applied = run("apply", "--send-now", "--report", "run-report.json", *ledger, expect=(1,))
        assert "you sent" in applied and "***" in applied  # the echo arrived, masked
        run("plan", "--send-now", "--format", "markdown", *ledger, expect=(0, 1, 2))
        run("drift", *ledger, "--format", "markdown")
        run("report", *ledger, "--out", "report-html")
        run("report", *ledger, "--format", "markdown", "--out", "report-md")
        global_yaml = repo / "config/global.yaml"
        global_yaml.write_text(global_yaml.read_text().replace("  source: csv\n  path: ../usage/seats.csv",
                                                               "  source: lmpi"))
        proxy.lmpi_fails = True
        lmpi = run("plan", "--send-now", *ledger, expect=(1,))
        assert "LMPI" in lmpi and "***" in lmpi
    proxy.shutdown()
    assert proxy.seen_credentials > 10  # the runs really went through the proxy

    ledger_text = "".join(p.read_text() for p in sorted((repo / "state").glob("ledger*.jsonl")))  # one file per period
    failures = [json.loads(line) for line in ledger_text.splitlines() if '"failed"' in line or "you sent" in line]
    assert failures, "the ledger records the echoed failures (masked)"
    written = [p for p in repo.rglob("*") if p.is_file() and not p.is_relative_to(repo / "config")
               and not p.is_relative_to(repo / "schemas") and p.suffix != ".pyc"]
    assert {"run-report.json", "report.md"} <= {p.name for p in written}
    assert any(p.name.startswith("ledger") and p.suffix == ".jsonl" for p in written)
    haystacks = {"output": "\n".join(seen), "logs": caplog.text}
    haystacks.update({str(p.relative_to(repo)): p.read_bytes().decode("utf-8", "replace") for p in written})
    secrets = {"CW_PUBLIC_KEY": PUBLIC, "CW_PRIVATE_KEY": PRIVATE, "CW_CLIENT_ID": CLIENT_ID,
               "TM_ACCESS_TOKEN": TM_TOKEN, "Basic token": basic(COMPANY, PUBLIC, PRIVATE)}
    leaks = sorted({f"{label} as {form!r} in {where}" for where, text in haystacks.items()
                    for label, secret in secrets.items() for form in every_form(secret)
                    if form.lower() in text.lower()})
    assert leaks == []


@pytest.mark.parametrize("variable", ["CW_PRIVATE_KEY", "CW_PUBLIC_KEY", "CW_CLIENT_ID", "TM_SECRET_KEY",
                                      "TM_ACCESS_TOKEN"])
@pytest.mark.parametrize("bad", ["{}\n", " {}", "{} tail", "{}\r\n", "{}\u00e9"])
def test_a_malformed_key_is_refused_up_front_naming_the_variable_not_the_value(tmp_path, monkeypatch, variable, bad):
    repo = make_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    if variable.startswith("TM_"):
        global_yaml = repo / "config/global.yaml"
        global_yaml.write_text(global_yaml.read_text().replace("  source: csv\n  path: ../usage/seats.csv",
                                                               "  source: lmpi"))
    values = {"CW_URL": "http://127.0.0.1:9/v4_6_release/apis/3.0", "CW_COMPANY_ID": COMPANY,
              "CW_PUBLIC_KEY": PUBLIC, "CW_PRIVATE_KEY": PRIVATE, "CW_CLIENT_ID": CLIENT_ID,
              "TM_LMPI_URL": "http://127.0.0.1:9/lmpi", "TM_ACCESS_TOKEN": TM_TOKEN, "TM_SECRET_KEY": TM_SECRET}
    values[variable] = bad.format(values[variable])
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["plan", "--send-now"])
    assert result.exit_code == 1
    assert variable in result.output and "not shown" in result.output
    assert "Traceback" not in result.output
    for secret in (PUBLIC, PRIVATE, CLIENT_ID, TM_TOKEN, TM_SECRET):
        assert secret.lower() not in result.output.lower()
