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

from click.testing import CliRunner
from e2e import make_repo

from reconciler.cli import cli
from reconciler.sandbox import FaultPlan, SandboxServer
from reconciler.sandbox.faults import FAULT_KINDS
from reconciler.sandbox.lmpi import Lmpi

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
