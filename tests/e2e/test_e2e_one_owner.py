"""Billing correctness end to end: the real CLI against the real sandbox over loopback.

One owner per mapped product and company, duplicates left by racing runs, the company a
customer was billed on, quantities that cannot be right.
"""

from __future__ import annotations

import json

import requests

from reconciler.ledger import Ledger
from reconciler.sandbox import SandboxServer, Store
from tests.support.e2e import clean_env, ledger_records, make_repo, plan_json, reconcile

DATE = "2026-11-30"  # with --send-now every demo customer with billing enabled is due (Cedar bills on the 31st);
# without it, a customer the tool never saw is not due for a long-past date (issue 21)


class Admin:
    """Someone working in ConnectWise by hand, over HTTP, outside this tool."""

    def __init__(self, server: SandboxServer) -> None:
        c = server.credentials
        self.url = server.connectwise_url
        self.auth = (f"{c.company_id}+{c.public_key}", c.private_key)

    def call(self, method: str, path: str, body=None, params=None):
        response = requests.request(method, f"{self.url}/{path}", json=body, params=params, auth=self.auth,
                                    headers={"clientId": "admin"}, timeout=10)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def agreement(self, company: str, name: str) -> dict:
        return self.call("GET", "finance/agreements", params={"conditions": f'company/identifier="{company}" and name="{name}"'})[0]

    def additions(self, agreement_id: int, active_only: bool = True) -> list[dict]:
        records = self.call("GET", f"finance/agreements/{agreement_id}/additions", params={"pageSize": 1000})
        return [r for r in records if not (active_only and r.get("cancelledDate"))]

    def add(self, agreement_id: int, product: str, quantity: int, **extra) -> dict:
        return self.call("POST", f"finance/agreements/{agreement_id}/additions",
                         {"product": {"identifier": product}, "quantity": quantity, "billCustomer": "Billable", **extra})


def admin_session(repo):
    return SandboxServer(data_dir=repo / ".sandbox", port=0, seed_demo=True)


def _customer(plan: dict, slug: str) -> dict:
    return next(c for c in plan["customers"] if c["customer"] == slug)


def test_a_hand_typed_addition_of_a_mapped_product_on_another_agreement_is_cancelled_not_billed_twice(tmp_path):
    repo = make_repo(tmp_path)
    with admin_session(repo) as server:
        admin = Admin(server)
        block = admin.agreement("FjordArch", "Fjord Block Hours")
        stray = admin.add(block["id"], "TM-APEX1-SAAS", 31)  # apex-one-saas is mapped to Fjord Managed
    plan = plan_json(repo, "--date", DATE, "--send-now")
    cancels = [c for c in plan["changes"] if c["action"] == "cancel" and c["addition_id"] == stray["id"]]
    assert len(cancels) == 1
    assert cancels[0]["reason"] == "apex-one-saas now bills to Managed Service / Fjord Managed"
    assert cancels[0]["effective_date"] == "2026-11-15"  # Fjord bills on the 15th
    applied = reconcile(repo, "--sandbox", "apply", "--date", DATE, "--send-now")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    with admin_session(repo) as server:
        admin = Admin(server)
        record = next(a for a in admin.additions(block["id"], active_only=False) if a["id"] == stray["id"])
        assert record["cancelledDate"].startswith("2026-11-15")  # cancelled with a date, never deleted
        managed = admin.agreement("FjordArch", "Fjord Managed")
        apex = [a for a in admin.additions(managed["id"]) if a["product"]["identifier"] == "TM-APEX1-SAAS"]
        assert [a["quantity"] for a in apex] == [31]
    again = reconcile(repo, "--sandbox", "plan", "--date", DATE, "--send-now", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout


def test_also_bills_to_keeps_the_second_agreement_and_says_so(tmp_path):
    repo = make_repo(tmp_path)
    path = repo / "config" / "customers" / "fjord-architects.yaml"
    path.write_text(path.read_text() + "also_bills_to:\n  apex-one-saas:\n    - {type: Block Hours, name: Fjord Block Hours}\n")
    with admin_session(repo) as server:
        admin = Admin(server)
        block = admin.agreement("FjordArch", "Fjord Block Hours")
        stray = admin.add(block["id"], "TM-APEX1-SAAS", 3)
    plan = plan_json(repo, "--date", DATE, "--send-now")
    assert not [c for c in plan["changes"] if c["addition_id"] == stray["id"]]
    notes = _customer(plan, "fjord-architects")["notes"]
    assert any(f"addition {stray['id']}" in n and "also_bills_to" in n for n in notes), notes


def test_a_cancel_of_a_moved_product_counts_towards_the_safety_thresholds(tmp_path):
    repo = make_repo(tmp_path)
    path = repo / "config" / "global.yaml"
    path.write_text(path.read_text().replace("min_additions: 10", "min_additions: 1"))
    with admin_session(repo) as server:
        admin = Admin(server)
        block = admin.agreement("FjordArch", "Fjord Block Hours")
        admin.add(block["id"], "TM-APEX1-SAAS", 31)
    fjord = _customer(plan_json(repo, "--date", DATE, "--send-now"), "fjord-architects")
    assert fjord["status"] == "unsafe" and "max_change_percent" in fjord["reason"]


def test_duplicates_left_by_racing_runs_converge_on_the_lowest_id_and_hand_typed_ones_fail(tmp_path):
    repo = make_repo(tmp_path)
    with admin_session(repo) as server:
        admin = Admin(server)
        acme = admin.agreement("AcmeDental", "Acme Managed")
        # Two runs both created TM-HES, and neither read-back saw the other's create.
        extra = admin.add(acme["id"], "TM-HES", 38, serialNumber="tmrm-reconcile 20261130T111700Z-aaaaaa")
        cedar = admin.agreement("CedarFinchLaw", "Cedar & Finch TMRM")
        admin.add(cedar["id"], "TM-WFBSS-SVC", 18)  # a second one typed by hand
    # The run that made the extra one is in this ledger (it was interrupted before its result):
    # a marked duplicate of a run the ledger never heard of would fail the customer (markers.md).
    Ledger(repo / ".sandbox" / "ledger.jsonl", run_id="20261130T111700Z-aaaaaa").intent(
        kind="billing", customer="acme-dental", psa_company="AcmeDental", period="2026-11",
        trigger="manual", changes=[])
    planned = reconcile(repo, "--sandbox", "plan", "--date", DATE, "--send-now", "--format", "json")
    assert planned.returncode == 1  # cedar fails
    plan = json.loads(planned.stdout)
    acme_changes = [c for c in plan["changes"] if c["customer"] == "acme-dental"]
    void = [c for c in acme_changes if c["action"] == "cancel"]
    assert [(c["addition_id"], c["after"]) for c in void] == [(extra["id"], 0)]
    assert "duplicate of addition" in void[0]["reason"]
    cedar_plan = _customer(plan, "cedar-law")
    assert cedar_plan["status"] == "failed" and "not created by this tool" in cedar_plan["reason"]
    applied = reconcile(repo, "--sandbox", "apply", "--date", DATE, "--send-now")
    assert applied.returncode != 0  # cedar failed: a run with a problem never exits 0
    with admin_session(repo) as server:
        admin = Admin(server)
        hes = [a for a in admin.additions(acme["id"]) if a["product"]["identifier"] == "TM-HES"]
        assert len(hes) == 1 and hes[0]["id"] < extra["id"] and hes[0]["quantity"] == 38
        cancelled = next(a for a in admin.additions(acme["id"], active_only=False) if a["id"] == extra["id"])
        assert cancelled["quantity"] == 0 and cancelled["cancelledDate"]


def test_an_identifier_that_now_names_another_company_fails_the_customer_until_pinned(tmp_path):
    repo = make_repo(tmp_path)
    first = reconcile(repo, "--sandbox", "apply", "--date", DATE, "--send-now", "--customer", "acme-dental")
    assert first.returncode == 0, first.stdout + first.stderr
    sent = [r for r in ledger_records(repo) if r["event"] == "result" and r["kind"] == "billing"]
    old_id = sent[-1]["connectwise_company_id"]
    assert sent[-1]["connectwise_company_name"] == "Acme Dental Group"
    # Acme is renamed away in ConnectWise, and another company takes over its short identifier
    # (the sandbox serves companies read-only, as this tool's API member sees them).
    store = Store(repo / ".sandbox")
    try:
        store.replace("company", {**store.get("company", old_id), "identifier": "AcmeOld"})
        harbor = store.find_one("company", identifier="HarborBakery")
        store.replace("company", {**harbor, "identifier": "AcmeDental"})
    finally:
        store.close()
    result = reconcile(repo, "--sandbox", "plan", "--date", "2026-12-31", "--customer", "acme-dental", "--format", "json")
    acme = _customer(json.loads(result.stdout), "acme-dental")
    assert acme["status"] == "failed"
    assert str(old_id) in acme["reason"] and str(harbor["id"]) in acme["reason"]
    assert "Acme Dental Group" in acme["reason"] and "Harbor Street Bakery" in acme["reason"]
    assert result.returncode == 1
    path = repo / "config" / "customers" / "acme-dental.yaml"
    path.write_text(path.read_text() + f"connectwise_company_id: {harbor['id']}\n")
    pinned = _customer(plan_json(repo, "--date", "2026-12-31", "--customer", "acme-dental"), "acme-dental")
    assert "resolves to company id" not in pinned["reason"] and "billed to company id" not in pinned["reason"]


def test_a_quantity_that_cannot_be_right_is_unsafe_and_not_sent(tmp_path):
    repo = make_repo(tmp_path)
    csv = repo / "usage" / "seats.csv"
    # Beyond any bill (and beyond what --force could send): refused where it is written.
    csv.write_text(csv.read_text().replace("wfbss-svc,42", "wfbss-svc,1000000000000000000"))
    refused = reconcile(repo, "--sandbox", "plan", "--date", DATE)
    assert refused.returncode == 1 and "seats.csv:2: error: quantity '1000000000000000000' is out of range" \
        in refused.stderr
    csv.write_text(csv.read_text().replace("wfbss-svc,1000000000000000000", "wfbss-svc,20000"))
    acme = _customer(plan_json(repo, "--date", DATE, "--send-now"), "acme-dental")
    assert acme["status"] == "unsafe" and "max_quantity 10000" in acme["reason"]
    csv.write_text(csv.read_text().replace("wfbss-svc,20000", "wfbss-svc,420"))
    acme = _customer(plan_json(repo, "--date", DATE, "--send-now"), "acme-dental")
    assert acme["status"] == "unsafe" and "max_quantity_increase_percent" in acme["reason"]
    applied = reconcile(repo, "--sandbox", "apply", "--date", DATE, "--send-now", "--customer", "acme-dental")
    assert applied.returncode == 1 and "unsafe plan refused" in applied.stdout
    # Nothing sent: the ledger holds only the run's record of the problem (problem_records.py).
    assert [r["event"] for r in ledger_records(repo) if r["customer"] == "acme-dental"] == ["problem"]


def test_non_integer_or_non_finite_quantities_are_refused_with_file_and_line(tmp_path):
    repo = make_repo(tmp_path)
    csv = repo / "usage" / "seats.csv"
    for bad in ("42.5", "inf", "nan", "1e18"):
        csv.write_text(csv.read_text().splitlines()[0] + f"\n3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60,wfbss-svc,{bad}\n")
        result = reconcile(repo, "--sandbox", "plan", "--date", DATE, "--send-now", env=clean_env())
        assert result.returncode == 1, bad
        assert "seats.csv:2" in result.stderr and "whole number" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_summary_posted_twice_by_racing_runs_is_left_once_by_the_next_run(tmp_path):
    repo = make_repo(tmp_path)
    with admin_session(repo) as server:
        admin = Admin(server)
        company = admin.call("GET", "company/companies", params={"conditions": 'identifier="AcmeDental"'})[0]
        agreement = admin.agreement("AcmeDental", "Acme Managed")
        group = "tmrm:3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60:2026-11"
        body = {"groupIdentifier": group, "managementSolution": {"name": "TMRM Management Solution"},
                "deviceType": "WorkstationsAndServers", "company": {"id": company["id"]},
                "agreement": {"id": agreement["id"]}, "totalManagedMachines": 80}
        path = f"company/companies/{company['id']}/managementSummaryReports"
        first, second = admin.call("POST", path, body), admin.call("POST", path, body)
    applied = reconcile(repo, "--sandbox", "apply", "--date", DATE, "--send-now", "--customer", "acme-dental")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    with admin_session(repo) as server:
        reports = Admin(server).call("GET", path, params={"conditions": f'groupIdentifier="{group}"'})
    assert [r["id"] for r in reports] == [min(first["id"], second["id"])]


def test_a_mapped_agreement_replaced_under_the_same_type_and_name_is_noted(tmp_path):
    repo = make_repo(tmp_path)
    first = reconcile(repo, "--sandbox", "apply", "--date", DATE, "--send-now", "--customer", "acme-dental")
    assert first.returncode == 0, first.stdout + first.stderr
    store = Store(repo / ".sandbox")
    try:
        old = store.find_one("agreement", name="Acme Managed")
        store.replace("agreement", {**old, "agreementStatus": "Cancelled", "cancelledFlag": True})
        new = store.insert("agreement", {k: v for k, v in old.items() if k not in ("id", "_info")})
    finally:
        store.close()
    acme = _customer(plan_json(repo, "--date", "2026-12-31", "--customer", "acme-dental"), "acme-dental")
    assert any(f"is now id {new['id']}" in n and f"agreement id {old['id']}" in n for n in acme["notes"]), acme["notes"]
