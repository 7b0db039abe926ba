"""Money end to end: the real CLI against the sandbox, amounts checked against ConnectWise's own."""

from __future__ import annotations

import json
from decimal import Decimal

from reconciler.sandbox import Store
from tests.support.e2e import make_repo, plan_json, reconcile

DATE = "2026-11-30"


def _ext_prices(repo) -> dict[int, Decimal]:
    store = Store(repo / ".sandbox")
    try:
        return {a["id"]: Decimal(str(a["extPrice"])) for a in store.all("addition") if not a.get("cancelledDate")}
    finally:
        store.close()


def test_the_plan_prices_every_change_and_the_amounts_match_connectwise_after_apply(tmp_path):
    repo = make_repo(tmp_path)
    plan = plan_json(repo, "--date", DATE, "--send-now")
    assert plan["format_version"] == "1.1"
    priced = [c for c in plan["changes"] if c["kind"] == "addition"]
    assert priced and all(isinstance(c["money"]["monthly_change"], str) for c in priced)
    assert {c["money"]["currency"] for c in priced} == {"USD", "EUR", "GBP"}  # three currencies in the demo
    for currency, total in plan["money"].items():  # the totals add up, per currency, exactly
        deltas = [Decimal(c["money"]["monthly_change"]) for c in priced if c["money"]["currency"] == currency]
        assert Decimal(total["net"]) == sum(deltas, Decimal(0))
        assert Decimal(total["more_billed"]) + Decimal(total["less_billed"]) == Decimal(total["net"])
    before = {c["customer"]: c["monthly"] for c in plan["customers"] if c["monthly"]}

    applied = reconcile(repo, "--sandbox", "apply", "--date", DATE, "--send-now")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    ext = _ext_prices(repo)
    after = plan_json(repo, "--date", DATE, "--send-now")
    for cp in after["customers"]:
        for currency, monthly in cp["monthly"].items():
            # What the plan predicted after its changes is what ConnectWise now computes.
            assert Decimal(before[cp["customer"]][currency]["after"]) == Decimal(monthly["before"])
    acme = next(c for c in after["customers"] if c["customer"] == "acme-dental")
    acme_ids = [a["id"] for a in acme["current_additions"].values()]
    assert Decimal(acme["monthly"]["USD"]["before"]) == sum(ext[i] for i in acme_ids)


def test_text_and_markdown_lead_with_money(tmp_path):
    repo = make_repo(tmp_path)
    # --send-now: every customer is due (a customer never sent is not due on a date long past, issue 21)
    text = reconcile(repo, "--sandbox", "plan", "--date", DATE, "--send-now").stdout
    assert "quantity = 35 -> 38  (+3 x $1.75 = +$5.25/mo)" in text
    assert "# monthly recurring: $250.25 -> $255.50 (+$5.25)" in text
    assert "Monthly, EUR: +€72.50 more billed, -€72.50 less billed, net €0.00" in text
    markdown = reconcile(repo, "--sandbox", "plan", "--date", DATE, "--send-now", "--format", "markdown").stdout
    first_table = markdown[markdown.index("|"):].split("\n\n")[0]
    assert first_table.startswith("| customer | change | monthly before | after | difference |")
    rows = [line for line in first_table.splitlines()[2:]]
    amounts = [abs(Decimal(r.rsplit("|", 2)[1].strip(" *+-$€£").replace(",", ""))) for r in rows]
    assert amounts == sorted(amounts, reverse=True)  # largest impact first


def test_a_plan_over_a_money_limit_is_refused_with_the_amounts(tmp_path):
    repo = make_repo(tmp_path)
    path = repo / "config" / "global.yaml"
    path.write_text(path.read_text().replace("safety:\n", "safety:\n  max_monthly_increase: 20\n", 1))
    cedar = next(c for c in plan_json(repo, "--date", DATE)["customers"] if c["customer"] == "cedar-law")
    assert cedar["status"] == "unsafe"
    assert "+£21.00" in cedar["reason"] and "max_monthly_increase £20.00" in cedar["reason"]
    applied = reconcile(repo, "--sandbox", "apply", "--date", DATE, "--customer", "cedar-law")
    assert applied.returncode == 1 and "unsafe plan refused" in applied.stdout


def test_a_create_whose_invoice_is_already_out_carries_the_warning(tmp_path):
    repo = make_repo(tmp_path)
    store = Store(repo / ".sandbox")
    try:
        from reconciler.sandbox.demo import seed_demo
        if store.is_empty():
            seed_demo(store)
        agreement = store.find_one("agreement", name="Cedar & Finch TMRM")
        # The 2026-12-01 invoice was produced this morning: ConnectWise now says January.
        store.replace("agreement", {**agreement, "nextInvoiceDate": "2027-01-01T00:00:00Z"})
    finally:
        store.close()
    result = reconcile(repo, "--sandbox", "plan", "--date", "2026-12-01", "--send-now", "--customer", "cedar-law",
                       "--format", "json")
    cedar = json.loads(result.stdout)["customers"][0]
    assert any("2026-12-01 invoice" in w and "already out" in w and "2027-01-01" in w
               for w in cedar["invoice_warnings"]), cedar["invoice_warnings"]


def test_drift_prices_hand_edits_and_the_revenue_nobody_bills(tmp_path):
    from tests.e2e.test_e2e_engine import patch_addition_by_hand

    repo = make_repo(tmp_path)
    applied = reconcile(repo, "--sandbox", "apply", "--send-now")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    patch_addition_by_hand(repo, agreement_id=1, addition_id=2, quantity=40)  # Acme's hes, sent as 38
    data = json.loads(reconcile(repo, "--sandbox", "drift", "--format", "json").stdout)
    edit = next(f for f in data["findings"] if f["kind"] == "changed")
    assert edit["monthly"] == {"currency": "USD", "amount": "3.50"}  # +2 seats x $1.75
    harbor = next(f for f in data["findings"] if f["kind"] == "unknown_customer")
    assert harbor["monthly"]["amount"] == "67.50"  # 15 wfbss-svc seats x $4.50, at catalog price
    granite = next(f for f in data["findings"] if f["kind"] == "unmapped_product")
    assert granite["monthly"] == {"currency": "USD", "amount": "54.00"}  # 9 wfs-advanced x $6.00
    text = reconcile(repo, "--sandbox", "drift").stdout
    assert "Revenue leakage:" in text and "$54.00" in text


def test_the_report_shows_monthly_recurring_revenue_equal_to_connectwise_and_its_change(tmp_path):
    repo = make_repo(tmp_path)
    first = reconcile(repo, "--sandbox", "apply", "--send-now", "--date", "2026-10-20")
    assert first.returncode == 0, first.stdout + first.stderr
    csv = repo / "usage" / "seats.csv"
    csv.write_text(csv.read_text().replace("hes,38", "hes,48"))  # Acme: +10 mailboxes x $1.75
    second = reconcile(repo, "--sandbox", "apply", "--send-now", "--date", "2026-11-20", "--customer", "acme-dental")
    assert second.returncode == 0, second.stdout + second.stderr
    store = Store(repo / ".sandbox")
    try:
        companies = {c["id"]: c for c in store.all("company")}
        agreements = {a["id"]: a for a in store.all("agreement")}
        managed = {"TM-WFBSS-SVC", "TM-WFS-ADV", "TM-CAS-M365", "TM-HES", "TM-APEX1-SAAS", "TM-C1-WLS"}
        usd = sum((Decimal(str(a["extPrice"])) for a in store.all("addition")
                   if not a.get("cancelledDate") and a["product"]["identifier"] in managed
                   and agreements[a["agreementId"]].get("currency", {}).get("currencyCode") == "USD"
                   and companies[agreements[a["agreementId"]]["company"]["id"]]["identifier"]
                   not in ("DeltaPrecision", "HarborBakery")), Decimal(0))
    finally:
        store.close()
    markdown = reconcile(repo, "--sandbox", "report", "--format", "markdown", "--period", "2026-11").stdout
    assert f"| 2026-11 | €235.25 · £102.00 · ${usd:,.2f} |" in markdown  # what ConnectWise bills, per currency
    assert "more billed" in markdown and "+$17.50" in markdown  # this period's change
    assert "| Acme Dental Group | $" in markdown  # revenue per customer
    html = (repo / "out" / "report" / "index.html")
    assert reconcile(repo, "--sandbox", "report", "--period", "2026-11").returncode == 0
    page = html.read_text()
    assert 'id="mrr-msp-1"' in page and "Revenue / month" in page and "Margin / month" in page
