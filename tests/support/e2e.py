"""Helpers for end-to-end tests: a throwaway copy of the repository and the real `reconcile` CLI
run in a subprocess, against the sandbox over loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import REPO_ROOT

REPO = REPO_ROOT
RECONCILE = Path(sys.executable).with_name("reconcile")


def make_repo(tmp_path: Path) -> Path:
    """config/ and usage/ copied (the schemas ship in the package), so tests can edit them; .sandbox/ starts empty."""
    for name in ("config", "usage"):
        shutil.copytree(REPO / name, tmp_path / name)
    return tmp_path


def seed_missed(repo: Path, today: str) -> None:
    """The documented sandbox scenario `missed` (`reconcile sandbox reset --scenario missed`) as
    of `today`: fjord-architects has ledger history (sent the period before its latest billing
    date), so a run past its catch-up window reports it missed. Without history nothing is missed."""
    from datetime import date

    from reconciler.sandbox.scenarios import seed_missed as seed

    seed(repo / ".sandbox" / "ledger.jsonl", date.fromisoformat(today))


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CW_", "TM_", "SANDBOX_"))}
    env.update(extra)
    return env


def reconcile(repo: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(RECONCILE), *args], cwd=repo, capture_output=True, text=True, env=env or clean_env(), timeout=timeout,
    )


def plan_json(repo: Path, *args: str) -> dict:
    result = reconcile(repo, "--sandbox", "plan", "--format", "json", *args)
    assert result.returncode in (0, 2), result.stderr + result.stdout
    return json.loads(result.stdout)


def ledger_records(repo: Path, name: str = ".sandbox/ledger.jsonl") -> list[dict]:
    """Every record of the ledger `name` names (one file per period, plus any old single file),
    in time order."""
    from reconciler.ledger import read_all_records

    return read_all_records(repo / name)


def sandbox_writes(repo: Path) -> int:
    from reconciler.sandbox import Store

    store = Store(repo / ".sandbox")
    try:
        return store.write_count
    finally:
        store.close()


def sandbox_tickets(repo: Path, leases: bool = False) -> list[dict]:
    """The sandbox's service tickets, each with its notes (`_notes`), in id order; the run lease's
    own tickets (docs/lease.md) only with `leases`."""
    from reconciler.sandbox import Store

    store = Store(repo / ".sandbox")
    try:
        notes = store.all("ticket_note")
        return [{**t, "_notes": [n for n in notes if n["ticketId"] == t["id"]]} for t in store.all("ticket")
                if leases or not t["summary"].startswith("Billing run lease R-")]
    finally:
        store.close()


def connectwise_session(server):
    """A `requests` session that talks to a SandboxServer's ConnectWise as an API member does
    (Basic `company+public:private`, the `clientId` header): for tests that speak raw HTTP."""
    import requests

    session = requests.Session()
    c = server.credentials
    session.auth = (f"{c.company_id}+{c.public_key}", c.private_key)
    session.headers["clientId"] = c.client_id
    return session


def sandbox_target(server):
    """The real ConnectWiseTarget over HTTP against a SandboxServer, with its rate limit and
    backoff made negligible so request-counting tests run fast."""
    from reconciler.connectwise import Client, ConnectWiseTarget, Credentials

    c = server.credentials
    return ConnectWiseTarget(Client(server.connectwise_url, Credentials(c.company_id, c.public_key, c.private_key,
                                                                        c.client_id), "2025.1",
                                    requests_per_minute=600000, backoff_factor=0.005))


def sandbox_stats(server) -> dict:
    """The sandbox's own request counts (`GET /_sandbox/stats`)."""
    import requests

    return requests.get(server.base_url + "/_sandbox/stats", timeout=5).json()
