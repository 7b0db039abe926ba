"""Issue 19, item 5 end to end: an addition whose cancelled date is later than the billing date
still bills, so the plan updates it and never creates a second one beside it (the real CLI
against the real sandbox, whose ConnectWise keeps such an addition Active until that day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.sandbox import Store
from tests.support.e2e import make_repo, reconcile

DATE = "2026-12-01"
# Later than the billing date, and than today (so the sandbox's ConnectWise shows it Active).
ENDS = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()


def _acme_hes(repo) -> list[dict]:
    store = Store(repo / ".sandbox")
    try:
        return [a for a in store.all("addition") if a["product"]["identifier"] == "TM-HES"
                and a["agreementId"] == store.find_one("agreement", name="Acme Managed")["id"]]
    finally:
        store.close()


def test_an_addition_a_person_scheduled_to_end_is_updated_and_never_doubled(tmp_path):
    repo = make_repo(tmp_path)
    first = reconcile(repo, "--sandbox", "plan", "--date", DATE, "--customer", "acme-dental")
    assert first.returncode == 0, first.stdout + first.stderr
    (hes,) = _acme_hes(repo)  # the demo's drift: quantity 35, usage says 38
    store = Store(repo / ".sandbox")
    try:  # a person sets it to end at the end of January, in ConnectWise
        store.replace("addition", {**hes, "cancelledDate": f"{ENDS}T00:00:00Z"}, hes["agreementId"])
    finally:
        store.close()

    plan = reconcile(repo, "--sandbox", "plan", "--date", DATE, "--send-now", "--customer", "acme-dental")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"addition {hes['id']}: quantity = 35 -> 38 (ends {ENDS})" in plan.stdout, plan.stdout
    assert "+ hes" not in plan.stdout

    for _ in range(2):  # a rerun converges: still one addition, never a second beside it
        applied = reconcile(repo, "--sandbox", "apply", "--date", DATE, "--send-now", "--customer", "acme-dental")
        assert applied.returncode == 0, applied.stdout + applied.stderr
    (after,) = _acme_hes(repo)
    assert (after["id"], after["quantity"], after["cancelledDate"]) == (hes["id"], 38, f"{ENDS}T00:00:00Z")


def test_the_monthly_total_counts_an_addition_by_the_billing_date_not_by_today(tmp_path):
    # A late (catch-up or backdated) run bills a date at which an addition that ended since still
    # billed: the plan updates it, so the customer's monthly total before the change must count it.
    # It was counted by today's date instead, so the total (and the percent limits) left it out.
    import json

    repo = make_repo(tmp_path)
    today = datetime.now(UTC).date()
    assert reconcile(repo, "--sandbox", "plan", "--date", DATE, "--customer", "acme-dental").returncode == 0
    (hes,) = _acme_hes(repo)
    store = Store(repo / ".sandbox")
    try:
        store.replace("addition", {**hes, "cancelledDate": f"{today - timedelta(days=2)}T00:00:00Z"}, hes["agreementId"])
    finally:
        store.close()
    plan = reconcile(repo, "--sandbox", "plan", "--date", str(today - timedelta(days=5)), "--send-now",
                     "--customer", "acme-dental", "--format", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    data = json.loads(plan.stdout)
    (change,) = [c for c in data["changes"] if c["kind"] == "addition"]
    assert (change["action"], change["addition_id"], change["before"], change["after"]) == ("update", hes["id"], 35, 38)
    # wfbss-svc 42 x $4.50 + hes 35 x $1.75, then +3 x $1.75
    assert data["customers"][0]["monthly"]["USD"] == {"before": "250.25", "after": "255.50", "change": "5.25"}
