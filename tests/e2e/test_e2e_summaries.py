"""Executive summaries end to end: posted once per customer and period, never twice."""

from tests.support.e2e import ledger_records, make_repo, reconcile, seed_missed


def _reports(repo):
    from reconciler.sandbox import Store

    store = Store(repo / ".sandbox")
    try:
        return store.all("msr")  # the sandbox's CompanyManagementSummary records
    finally:
        store.close()


def test_two_applies_leave_one_summary_per_enabled_customer_and_none_for_disabled(tmp_path):
    repo = make_repo(tmp_path)
    seed_missed(repo, "2026-12-05")
    for _ in range(2):
        result = reconcile(repo, "--sandbox", "apply", "--date", "2026-12-05")
        # Fjord's November billing (day 15) is past catch_up_days and, although October was
        # sent, never sent: the run fails so that someone looks; the others' summaries are posted.
        assert result.returncode == 1, result.stdout + result.stderr
        assert "1 customer needs attention: fjord-architects missed." in result.stdout
    reports = _reports(repo)
    groups = [r["groupIdentifier"] for r in reports]
    assert len(groups) == len(set(groups))
    # Fjord has executive_summary.enabled: false; Evergreen's custom day is the 3rd (also due by the 5th).
    by_company = {r["company"]["id"] for r in reports}
    assert len(reports) == 6 and len(by_company) == 6
    assert not any("2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a65" in g for g in groups)  # Fjord's Trend id
    sent = [r for r in ledger_records(repo) if r["event"] == "result" and r["kind"] == "summary"]
    assert len(sent) == 6 and all(r["status"] == "sent" and r["report_id"] for r in sent)


def test_a_summary_posted_by_a_run_that_died_is_adopted_not_posted_again(tmp_path):
    repo = make_repo(tmp_path)
    first = reconcile(repo, "--sandbox", "apply", "--date", "2026-12-05", "--customer", "acme-dental")
    assert first.returncode == 0
    # Simulate a crash after the POST: drop the summary's result from the ledger.
    path = repo / ".sandbox/ledger.2026-12.jsonl"
    lines = [row for row in path.read_text().splitlines()
             if '"kind":"summary","customer":"acme-dental"' not in row or '"event":"intent"' in row]
    path.write_text("\n".join(lines) + "\n")
    second = reconcile(repo, "--sandbox", "apply", "--date", "2026-12-05", "--customer", "acme-dental")
    assert second.returncode == 0, second.stdout
    assert "already in ConnectWise" in second.stdout
    assert len([r for r in _reports(repo) if "3f2b6c1e" in r["groupIdentifier"]]) == 1
