"""Issue 10, item 6 end to end: config and usage that cannot be billed right, through the real CLI.

Trend customer ids are GUIDs and compare case-insensitively everywhere; before this, an upper-case
id in a usage row or in a customer file silently dropped that customer's usage (exit 0).
"""

import re

from tests.support.e2e import ledger_records, make_repo, plan_json, reconcile, sandbox_writes

ACME = "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"
CEDAR = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c462"


def _customer(plan: dict, slug: str) -> dict:
    return next(c for c in plan["customers"] if c["customer"] == slug)


def test_upper_case_trend_ids_in_usage_rows_and_customer_files_are_still_billed(tmp_path):
    repo = make_repo(tmp_path)
    csv = repo / "usage/seats.csv"
    csv.write_text(csv.read_text().replace(ACME, ACME.upper()))  # the usage export shouts
    cedar = repo / "config/customers/cedar-law.yaml"
    cedar.write_text(cedar.read_text().replace(CEDAR, CEDAR.upper()))  # so does a customer file

    plan = plan_json(repo, "--send-now")
    assert _customer(plan, "acme-dental")["status"] == "ok"
    assert _customer(plan, "cedar-law")["status"] == "ok"
    assert plan["unknown_usage_customers"] == {"c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e67": {"wfbss-svc": 15}}
    changes = {(c["customer"], c["product"], c["action"], c["after"]) for c in plan["changes"]
               if c["kind"] == "addition"}
    assert ("acme-dental", "hes", "update", 38) in changes
    assert ("cedar-law", "apex-one-saas", "create", 4) in changes

    result = reconcile(repo, "--sandbox", "apply", "--send-now", "--customer", "acme-dental",
                       "--customer", CEDAR.upper())
    assert result.returncode == 0, result.stdout + result.stderr
    sent = {r["customer"]: r for r in ledger_records(repo) if r["event"] == "result" and r["kind"] == "billing"}
    assert sent["acme-dental"]["status"] == "sent" and sent["cedar-law"]["status"] == "sent"
    assert sent["acme-dental"]["additions"]["hes"]["quantity"] == 38


def test_a_usage_row_repeated_in_another_case_is_refused_before_anything_is_written(tmp_path):
    repo = make_repo(tmp_path)
    csv = repo / "usage/seats.csv"
    csv.write_text(csv.read_text() + f"{ACME.upper()},HES,40\n")
    result = reconcile(repo, "--sandbox", "apply", "--send-now")
    assert result.returncode == 1
    line = len(csv.read_text().splitlines())
    assert re.search(rf"seats\.csv:{line}: error: duplicate row for customer {ACME.upper()} and product hes "
                     r"\(first at line 3\)", result.stderr), result.stderr
    assert sandbox_writes(repo) == 0 and ledger_records(repo) == []


def test_validate_refuses_two_products_billing_one_catalog_item(tmp_path):
    repo = make_repo(tmp_path)
    path = repo / "config/global.yaml"
    text = path.read_text()
    path.write_text(text.replace("connectwise_product: TM-HES", "connectwise_product: tm-cas-m365"))
    line = text.splitlines().index("    connectwise_product: TM-HES") + 1
    col = len("    connectwise_product: ") + 1
    result = reconcile(repo, "validate")
    assert result.returncode == 1
    assert re.search(rf"config/global\.yaml:{line}:{col}: error: products 'hes' and 'cas' \(line \d+\) both bill "
                     r"ConnectWise catalog item 'tm-cas-m365'", result.stdout), result.stdout
    applied = reconcile(repo, "--sandbox", "apply", "--send-now")
    assert applied.returncode == 1 and "global.yaml" in applied.stderr
    assert sandbox_writes(repo) == 0
