"""One usage row per customer, product and subscription: 35 seats listed twice never bill 70."""

from __future__ import annotations

from tests.support import edit
from tests.support.e2e import ledger_records, make_repo, plan_json, reconcile, sandbox_writes

ACME = "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"
HEADER = "Customer,Customer ID,Service Plan,Subscription,Chargeable Units\n"


def _export(repo, rows: str, subscription_column: bool) -> None:
    (repo / "usage/trend-export.csv").write_text(HEADER + rows)
    extra = ", subscription: Subscription" if subscription_column else ""
    edit(repo / "config/global.yaml", "  path: ../usage/seats.csv\n",
         "  path: ../usage/trend-export.csv\n  columns: {trend_customer_id: Customer ID, product: Service Plan,"
         f" quantity: Chargeable Units{extra}}}\n")


def test_a_trend_export_row_listed_twice_is_refused_at_its_line_and_nothing_is_sent(tmp_path):
    repo = make_repo(tmp_path)
    _export(repo, f"Acme Dental Group,{ACME},HES,SUB-1,35\nAcme Dental Group,{ACME},HES,SUB-1,35\n",
            subscription_column=False)
    for command in (("plan",), ("apply", "--send-now", "--customer", "acme-dental")):
        result = reconcile(repo, "--sandbox", *command)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert "usage/trend-export.csv:3: error: duplicate row" in result.stderr
        assert "is already at line 2" in result.stderr
    assert sandbox_writes(repo) == 0 and not ledger_records(repo)


def test_two_subscriptions_are_summed_only_when_the_export_says_so_and_the_plan_shows_the_parts(tmp_path):
    repo = make_repo(tmp_path)
    _export(repo, f"Acme Dental Group,{ACME},HES,SUB-1,35\nAcme Dental Group,{ACME},HES,SUB-2,3\n",
            subscription_column=True)
    plan = plan_json(repo, "--send-now", "--customer", "acme-dental")
    (acme,) = plan["customers"]
    (hes,) = [c for c in plan["changes"] if c["product"] == "hes"]
    assert (hes["before"], hes["after"]) == (35, 38)
    assert "hes: 38 seats, the sum of 2 usage rows: HES / SUB-1 = 35, HES / SUB-2 = 3" in acme["notes"]
