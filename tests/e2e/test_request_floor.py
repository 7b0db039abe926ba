"""Requests per kind of day at the floor (issue 20 item 4, issue 22 item 4), counted by the sandbox.

With the run lease held no other run writes, so apply reads nothing back: a billing day costs the
directory pages, one additions read per active agreement of the customers due, the writes, and a
handful for the lease (its ticket's POST, one list, the release); a summary day costs the
directory pages, the summary POSTs and that handful. The real CLI runs the scheduled job's path
(`apply` on the day's date) against the sandbox; billing-problem tickets are switched off here
(their cost is counted in tests/e2e/test_month_requests.py). The old code sent one read-back per
create and per summary POST, and a second read when the plan's read was old.
"""

from __future__ import annotations

import json
import subprocess

from reconciler.sandbox import SandboxServer
from tests.support.e2e import RECONCILE, clean_env, make_repo

HANDFUL = 5
DIRECTORY = ("GET /v4_6_release/apis/3.0/company/companies", "GET /v4_6_release/apis/3.0/finance/agreements",
             "GET /v4_6_release/apis/3.0/procurement/catalog")
LEASE = ("POST /v4_6_release/apis/3.0/service/tickets", "GET /v4_6_release/apis/3.0/service/tickets",
         "PATCH /v4_6_release/apis/3.0/service/tickets/{id}")


def _day(server, repo, env, day):
    server.stats.clear()
    run = subprocess.run([str(RECONCILE), "apply", "--date", day, "--ledger", "state/ledger.jsonl", "--format", "json"],
                         cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in run.stdout + run.stderr
    return json.loads(run.stdout), server.stats.snapshot(0)["by_path"]


def test_billing_and_summary_days_cost_the_floor_plus_a_handful(tmp_path):
    repo = make_repo(tmp_path)
    global_yaml = repo / "config" / "global.yaml"
    global_yaml.write_text(global_yaml.read_text().replace("    board: Billing\n", "    board: Billing\n    enabled: false\n"))
    with SandboxServer(data_dir=tmp_path / "cw", port=0, seed_demo=True) as server:
        c = server.credentials
        env = clean_env(CW_URL=server.connectwise_url, CW_COMPANY_ID=c.company_id, CW_PUBLIC_KEY=c.public_key,
                        CW_PRIVATE_KEY=c.private_key, CW_CLIENT_ID="floor-test")
        output, by_path = _day(server, repo, env, "2026-11-01")
        due = [r for r in output["results"] if r["status"] in ("sent", "unchanged")]
        assert len(due) >= 4 and any(r["applied"] for r in due)
        companies = {r["connectwise_company"].casefold() for r in due}
        active_agreements = sum(1 for a in server.store.all("agreement")
                                if a["company"]["identifier"].casefold() in companies
                                and not a.get("cancelledFlag") and a.get("agreementStatus", "Active") == "Active")
        pages = sum(by_path.get(p, 0) for p in DIRECTORY)
        additions_reads = by_path.get("GET /v4_6_release/apis/3.0/finance/agreements/{id}/additions", 0)
        writes = sum(n for p, n in by_path.items()
                     if not p.startswith("GET") and not p.startswith(LEASE))
        assert writes == sum(len(r["applied"]) for r in due)
        assert additions_reads == active_agreements  # one per active agreement of the due customers, no read-back
        assert sum(by_path.values()) <= pages + additions_reads + writes + HANDFUL, by_path

        output, by_path = _day(server, repo, env, "2026-11-05")
        posted = [r for r in output["results"] if "executive summary for 2026-11 posted" in r["reason"]]
        assert len(posted) == 6
        summary_reads = by_path.get("GET /v4_6_release/apis/3.0/company/companies/{id}/managementSummaryReports", 0)
        assert summary_reads == 0  # the ledger knows every run that wrote: no look before, no read-back after
        summary_posts = by_path.get("POST /v4_6_release/apis/3.0/company/companies/{id}/managementSummaryReports", 0)
        assert summary_posts == 6
        pages = sum(by_path.get(p, 0) for p in DIRECTORY)
        assert sum(by_path.values()) <= pages + summary_posts + HANDFUL, by_path
