"""Two `reconcile apply` processes at once against one ConnectWise, with different ledgers.

No shared lock can help here (two laptops, a laptop and CI, different TMPDIRs): each run must
leave ConnectWise with one active addition per product and agreement and one executive summary
per customer and period, however the two interleave. Per seed: the sandbox adds latency and
holds a seeded share of POSTs past the other process's read-back (`slow_commit`).
"""

from __future__ import annotations

import subprocess
from collections import Counter

import pytest
from e2e import RECONCILE, clean_env, make_repo

from reconciler.sandbox import FaultPlan, SandboxServer, Store

DATE = "2026-11-30"
SEEDS = range(1, 7)


def _env(server: SandboxServer) -> dict[str, str]:
    c = server.credentials
    return clean_env(CW_URL=server.connectwise_url, CW_COMPANY_ID=c.company_id, CW_PUBLIC_KEY=c.public_key,
                     CW_PRIVATE_KEY=c.private_key, CW_CLIENT_ID="race-test")


def _world(repo) -> tuple[Counter, Counter]:
    """(active additions per agreement and catalog item, summary reports per company and group)."""
    store = Store(repo / ".sandbox")
    try:
        additions = Counter(
            (a["agreementId"], a["product"]["identifier"].casefold())
            for a in store.all("addition") if not a.get("cancelledDate")
        )
        summaries = Counter(
            (r["company"]["id"], r["groupIdentifier"]) for r in store.all("msr")
        )
        return additions, summaries
    finally:
        store.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_two_applies_racing_leave_one_addition_and_one_summary(tmp_path, seed):
    repo = make_repo(tmp_path)
    faults = FaultPlan(latency_ms=15, rate=0.3, seed=seed, kinds=("slow_commit",), slow_commit_ms=600)
    with SandboxServer(data_dir=repo / ".sandbox", port=0, seed_demo=True, faults=faults) as server:
        env = _env(server)
        runs = [
            subprocess.Popen([str(RECONCILE), "apply", "--date", DATE, "--ledger", f"state/{name}.jsonl"],
                             cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name in ("laptop", "ci")
        ]
        outputs = [run.communicate(timeout=180)[0] for run in runs]
        server.faults.install(FaultPlan())
        for run, output in zip(runs, outputs):
            assert run.returncode == 0, output
            assert "Traceback" not in output
        additions, summaries = _world(repo)
        assert [key for key, n in additions.items() if n > 1] == []
        assert [key for key, n in summaries.items() if n > 1] == []
        assert len(summaries) == 6  # every enabled customer got exactly one
        # Converged: a third run with either ledger has nothing left to do.
        again = subprocess.run([str(RECONCILE), "plan", "--date", DATE, "--send-now", "--detailed-exitcode",
                                "--ledger", "state/laptop.jsonl"], cwd=repo, env=env, capture_output=True, text=True)
        assert again.returncode == 0, again.stdout + again.stderr
