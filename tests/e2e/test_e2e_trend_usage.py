"""Trend usage as Trend bills it, end to end: the real `reconcile` CLI against the sandbox.

- `usage.basis: reported` bills the demo customers from the previous month's chargeable units
  and the plan says which report month;
- changing a product's Trend ids in global.yaml changes what is counted, with no code change;
- the ledger of a sent customer names source, basis, month and hash, and `--save-usage`
  reproduces the hash;
- `reconcile trend products` lists LMPI's service plans and writes their ids;
- a Trend usage-report export is billed through `usage.columns`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

from tests.support import edit
from tests.support.e2e import clean_env, ledger_records, make_repo, plan_json, reconcile

ACME = "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"




def use_basis(repo: Path, usage_block: str, day: int = 6) -> None:
    edit(repo / "config/global.yaml", "usage:\n  source: csv\n  path: ../usage/seats.csv\n", usage_block)
    edit(repo / "config/global.yaml", "  day: 1\n", f"  day: {day}\n")


def billing_day_this_month() -> tuple[str, str]:
    """The 6th of the current month (the sandbox keeps reports of recent months only), and the
    report month that billing period is billed from."""
    today = date.today()
    previous = date(today.year - 1, 12, 1) if today.month == 1 else date(today.year, today.month - 1, 1)
    return today.replace(day=6).isoformat(), f"{previous.year:04d}-{previous.month:02d}"


def additions(plan: dict, customer: str) -> dict[str, tuple]:
    return {c["product"]: (c["action"], c["before"], c["after"]) for c in plan["changes"]
            if c["customer"] == customer and c["kind"] == "addition"}


def test_reported_basis_bills_last_months_chargeable_units_and_says_so(tmp_path):
    repo = make_repo(tmp_path)
    use_basis(repo, "usage:\n  source: lmpi\n  basis: reported\n  reported_units: chargeable\n")
    run_date, month = billing_day_this_month()
    plan = plan_json(repo, "--date", run_date)
    assert plan["usage"] == {"source": "lmpi", "basis": "reported", "report_month": month, "units": "chargeable"}
    # Acme's licenses: wfbss-svc 42, hes 38; chargeable = units - units // 16 in the sandbox's report.
    assert additions(plan, "acme-dental") == {"wfbss-svc": ("update", 42, 40), "hes": ("update", 35, 36)}
    acme = next(c for c in plan["customers"] if c["customer"] == "acme-dental")
    assert acme["due"] and acme["usage"]["report_month"] == month and acme["usage"]["basis"] == "reported"

    text = reconcile(repo, "--sandbox", "plan", "--date", run_date)
    assert text.returncode == 0, text.stderr
    # Cedar (billed on the 31st) may still be catching up on the period before, from its own month.
    (line,) = [x for x in text.stdout.splitlines() if x.startswith("Usage: Trend's usage report for ")]
    assert month in line and "(chargeable units; usage.basis: reported)" in line
    assert "billed from Trend's report of the month before it" in line
    assert f"# usage: Trend's {month} report, chargeable units" in text.stdout

    edit(repo / "config/global.yaml", "reported_units: chargeable", "reported_units: used")
    used = plan_json(repo, "--date", run_date)
    assert additions(used, "acme-dental") == {"wfbss-svc": ("update", 42, 37), "hes": ("update", 35, 34)}


def test_validate_warns_when_reported_usage_is_billed_before_the_report_is_final(tmp_path):
    repo = make_repo(tmp_path)
    use_basis(repo, "usage:\n  source: lmpi\n  basis: reported\n", day=1)
    result = reconcile(repo, "validate")
    assert result.returncode == 0, result.stderr
    assert "global.yaml" in result.stdout + result.stderr
    assert "partners can adjust it until day 5" in result.stdout + result.stderr


def test_changing_a_products_trend_ids_changes_what_is_counted(tmp_path):
    repo = make_repo(tmp_path)
    use_basis(repo, "usage:\n  source: lmpi\n  basis: licensed\n", day=1)
    before = plan_json(repo, "--date", "2026-11-01")
    assert additions(before, "acme-dental") == {"hes": ("update", 35, 38)}
    # wfbss-svc now also counts Trend's HES licenses; hes counts nothing.
    edit(repo / "config/global.yaml", "      product_ids: [WFBSS-SVC]\n", "      product_ids: [WFBSS-SVC, HES]\n")
    edit(repo / "config/global.yaml", "      product_ids: [HES]\n", "      product_ids: []\n")
    after = plan_json(repo, "--date", "2026-11-01")
    assert additions(after, "acme-dental") == {"wfbss-svc": ("update", 42, 80)}
    # A Trend id no product counts is a warning in the plan, never dropped silently.
    edit(repo / "config/global.yaml", "      product_ids: [CAS]\n", "      product_ids: []\n")
    text = reconcile(repo, "--sandbox", "plan", "--date", "2026-11-01")
    assert "# warning: customer 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c61: Trend product 'CAS'" in text.stdout


def test_sent_ledger_names_usage_and_saved_rows_reproduce_its_hash(tmp_path):
    repo = make_repo(tmp_path)
    use_basis(repo, "usage:\n  source: lmpi\n  basis: reported\n")
    run_date, month = billing_day_this_month()
    result = reconcile(repo, "--sandbox", "apply", "--date", run_date, "--customer", "acme-dental",
                       "--save-usage", "evidence")
    assert result.returncode == 0, result.stderr + result.stdout
    (sent,) = [r for r in ledger_records(repo) if r["event"] == "result" and r["kind"] == "billing"]
    assert sent["status"] == "sent"
    usage = sent["usage"]
    assert (usage["source"], usage["basis"], usage["report_month"], usage["units"]) == (
        "lmpi", "reported", month, "chargeable")
    (saved_file,) = (repo / "evidence").glob(f"usage-{sent['run_id']}*.json")
    saved = json.loads(saved_file.read_text())
    rows = saved["customers"][ACME]["rows"]
    canonical = "[" + ",".join(sorted(json.dumps(r, sort_keys=True, separators=(",", ":")) for r in rows)) + "]"
    assert usage["hash"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    # The rows explain the bill: the quantities sent are the rows' chargeable units.
    sent_quantities = {p: a["quantity"] for p, a in sent["additions"].items()}
    assert sent_quantities == {r["product"]: r["chargeable"] for r in rows} == {"wfbss-svc": 40, "hes": 36}
    assert all(r["report_month"] == month for r in rows)
    # The executive summary posted from the same numbers names them too.
    (summary,) = [r for r in ledger_records(repo) if r["event"] == "result" and r["kind"] == "summary"]
    assert summary["usage"] == usage


def test_csv_basis_is_recorded_in_the_ledger_too(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "apply", "--date", "2026-11-01", "--customer", "acme-dental",
                       "--save-usage", "evidence")
    assert result.returncode == 0, result.stderr + result.stdout
    (sent,) = [r for r in ledger_records(repo) if r["event"] == "result" and r["kind"] == "billing"]
    assert sent["usage"]["source"] == "csv:usage/seats.csv" and sent["usage"]["basis"] == "file"
    assert sent["usage"]["report_month"] is None
    (saved_file,) = (repo / "evidence").glob("usage-*.json")
    assert json.loads(saved_file.read_text())["customers"][ACME]["hash"] == sent["usage"]["hash"]


def test_trend_products_lists_service_plans_and_writes_their_ids(tmp_path):
    repo = make_repo(tmp_path)
    listing = reconcile(repo, "--sandbox", "trend", "products", "--format", "json")
    assert listing.returncode == 0, listing.stderr
    plans = json.loads(listing.stdout)
    hes = next(p for p in plans if p["product"] == "HES")
    assert hes["counted_by"] == "hes" and hes["name"] and hes["product_code"]
    assert (repo / "config/global.yaml").read_text().count("      service_plan_ids:") == 0  # nothing written yet

    written = reconcile(repo, "--sandbox", "trend", "products", "--write")
    assert written.returncode == 0, written.stderr
    assert "hes: adding service_plan_ids " + hes["service_plan_id"] in written.stdout
    assert reconcile(repo, "validate").returncode == 0
    # Now the service plan id alone counts HES seats: drop the product id, nothing changes.
    edit(repo / "config/global.yaml", "      product_ids: [HES]\n", "      product_ids: []\n")
    edit(repo / "config/global.yaml", "usage:\n  source: csv\n  path: ../usage/seats.csv\n",
         "usage:\n  source: lmpi\n")
    plan = plan_json(repo, "--date", "2026-11-01")
    assert additions(plan, "acme-dental") == {"hes": ("update", 35, 38)}


def test_trend_products_map_assigns_an_uncounted_plan(tmp_path):
    repo = make_repo(tmp_path)
    edit(repo / "config/global.yaml", "    trend:\n      product_ids: [C1-WLS]\n", "")
    plans = json.loads(reconcile(repo, "--sandbox", "trend", "products", "--format", "json").stdout)
    wls = next(p for p in plans if p["product"] == "C1-WLS")
    assert wls["counted_by"] is None
    result = reconcile(repo, "--sandbox", "trend", "products", "--write", "--map",
                       f"workload-security={wls['service_plan_id']}")
    assert result.returncode == 0, result.stderr
    assert wls["service_plan_id"] in (repo / "config/global.yaml").read_text()
    bad = reconcile(repo, "--sandbox", "trend", "products", "--map", "nope=x")
    assert bad.returncode == 1 and "not a product in global.yaml" in bad.stderr


def test_a_trend_usage_report_export_bills_through_mapped_columns(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "usage/trend-export.csv").write_text(
        "Customer,Customer ID,Service Plan,Provisioned Units,Used Units,Chargeable Units\n"
        f"Acme Dental Group,{ACME},Worry-Free Business Security Services,42,40,41\n"
        f"Acme Dental Group,{ACME},HES,38,30,37\n")
    edit(repo / "config/global.yaml", "      product_ids: [WFBSS-SVC]\n",
         "      product_ids: [WFBSS-SVC]\n      names: [Worry-Free Business Security Services]\n")
    edit(repo / "config/global.yaml", "  path: ../usage/seats.csv\n",
         "  path: ../usage/trend-export.csv\n  columns: {trend_customer_id: Customer ID, product: Service Plan,"
         " quantity: Chargeable Units}\n")
    assert reconcile(repo, "validate").returncode == 0
    plan = plan_json(repo, "--date", "2026-11-01", "--customer", "acme-dental")
    assert additions(plan, "acme-dental") == {"wfbss-svc": ("update", 42, 41), "hes": ("update", 35, 37)}


def test_trend_products_without_lmpi_settings_is_one_line_naming_the_variables(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "trend", "products", env=clean_env(TM_SECRET_KEY="s3cr3t-value"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "TM_LMPI_URL" in result.stderr and "s3cr3t-value" not in result.stderr


def test_an_unusable_save_usage_directory_is_an_error_before_anything_is_sent(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "a-file").write_text("x")
    result = reconcile(repo, "--sandbox", "apply", "--date", "2026-11-01", "--save-usage", "a-file")
    assert result.returncode == 1 and "'a-file' is a file" in result.stderr
    # A new directory may be made, but only inside one that exists (a typo must not create a tree).
    result = reconcile(repo, "--sandbox", "apply", "--date", "2026-11-01", "--save-usage", "no-such/evidence")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --save-usage no-such/evidence: directory ") and "does not exist" in result.stderr
    assert ledger_records(repo) == [] and not (repo / "no-such").exists()
