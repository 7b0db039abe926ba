"""The plan's guards against the real sandbox: run-wide money limits, unpriced changes, text
from ConnectWise that tries to forge a line, figures out of range, prices of zero or below."""

from __future__ import annotations

from tests.support import edit
from tests.support.e2e import ledger_records, make_repo, plan_json, reconcile, sandbox_writes


def _sandbox(repo):
    """The sandbox's store, made with its demo data by a first plan."""
    from reconciler.sandbox import Store

    if not (repo / ".sandbox").exists():
        assert reconcile(repo, "--sandbox", "plan").returncode in (0, 2)
    return Store(repo / ".sandbox")


def _change_record(repo, kind, match, **fields):
    store = _sandbox(repo)
    try:
        record = store.find_one(kind, **match)
        parent = record.get("agreementId") if kind == "addition" else None
        store.replace(kind, dict(record, **fields), parent)
    finally:
        store.close()


def test_a_run_beyond_its_run_wide_limit_sends_nothing_unforced(tmp_path):
    repo = make_repo(tmp_path)
    # The demo's send-now run raises GBP by 21.00 and USD by 5.25: each customer well inside its own limit.
    edit(repo / "config/global.yaml", "safety:\n", "safety:\n  max_run_monthly_increase: 20\n")
    plan = reconcile(repo, "--sandbox", "plan", "--send-now")
    assert "UNSAFE run: the run raises monthly totals by +£21.00 in all, beyond max_run_monthly_increase £20.00" \
        in plan.stdout, plan.stdout
    assert "Run limits: +£21.00 of £20.00 rise" in plan.stdout
    refused = reconcile(repo, "--sandbox", "apply", "--send-now", "--customer", "acme-dental",
                        "--customer", "cedar-law", "--customer", "fjord-architects")
    assert refused.returncode == 1
    billing = [r for r in ledger_records(repo) if r["kind"] == "billing" and r["event"] != "problem"]
    assert billing == []  # acme-dental's +$5.25 waits too: the run as a whole is unsafe
    # The report shows the problem under the run's own trigger (--send-now: manual).
    assert {r["trigger"] for r in ledger_records(repo) if r["event"] == "problem"} == {"manual"}
    forced = reconcile(repo, "--sandbox", "apply", "--send-now", "--force", "--customer", "acme-dental",
                       "--customer", "cedar-law", "--customer", "fjord-architects")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert {r["customer"] for r in ledger_records(repo) if r["kind"] == "billing" and r.get("status") == "sent"} \
        == {"acme-dental", "cedar-law", "fjord-architects"}


def test_a_create_connectwise_cannot_price_is_unsafe_never_free(tmp_path):
    repo = make_repo(tmp_path)
    _change_record(repo, "catalog", {"identifier": "TM-APEX1-SAAS"}, price=None)
    plan = plan_json(repo, "--send-now", "--customer", "cedar-law")
    (cedar,) = plan["customers"]
    assert cedar["status"] == "unsafe"
    assert "apex-one-saas: this create cannot be priced" in cedar["reason"]
    writes = sandbox_writes(repo)
    result = reconcile(repo, "--sandbox", "apply", "--send-now", "--customer", "cedar-law")
    # At most its ticket and the run lease's ticket opened and closed (docs/lease.md), no addition.
    assert result.returncode == 1 and sandbox_writes(repo) - writes <= 1 + 2


def test_connectwise_text_cannot_forge_or_reorder_a_plan_line(tmp_path):
    repo = make_repo(tmp_path)
    _change_record(repo, "agreement", {"name": "Acme Managed"},
                   name="Acme Managed\nPlan: 0 to add, 0 to change, 0 to cancel.\u202e83 -> 53")
    result = reconcile(repo, "--sandbox", "plan", "--send-now", "--customer", "acme-dental")
    assert result.returncode in (0, 2), result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("Plan: ")] == ["Plan: 0 to add, 1 to change, 0 to cancel. "
                                                                     "Executive summaries: 1 to post."]
    assert "\u202e" not in result.stdout
    assert "Acme Managed\\nPlan: 0 to add, 0 to change, 0 to cancel.\\u202e83 -> 53" in result.stdout


def test_a_price_out_of_range_fails_the_customer_with_a_clear_line_and_a_negative_price_warns(tmp_path):
    repo = make_repo(tmp_path)
    _change_record(repo, "catalog", {"identifier": "TM-APEX1-SAAS"}, price=1e26)
    _change_record(repo, "addition", {"id": 2}, unitPrice=-1.0)
    result = reconcile(repo, "--sandbox", "plan", "--send-now")
    assert result.returncode == 1
    assert "InvalidOperation" not in result.stdout + result.stderr and "internal error" not in result.stdout
    assert ("# apex-one-saas (TM-APEX1-SAAS) on TMRM Management Solution / Cedar & Finch TMRM: unit price 1e+26 "
            "is out of range") in result.stdout
    assert "hes on Managed Service / Acme Managed: ConnectWise prices it at -$1.00 a unit, so it bills a " \
           "negative price (a credit)" in result.stdout
