"""Trend usage as Trend bills it, end to end: the real `reconcile` CLI against the sandbox.

- `usage.basis: reported` bills the demo customers from the previous month's provisioned (or
  used) units, matching Trend's rows by customer name and service plan, and the plan says which
  report month; each reading Trend's pages leave open is played by the sandbox
  (`SANDBOX_LMPI_READINGS`);
- changing a product's Trend ids in global.yaml changes what is counted, with no code change;
- the ledger of a sent customer names source, basis, month and hash, and `--save-usage`
  reproduces the hash;
- `reconcile trend products` lists LMPI's product codes and writes them;
- a Trend usage-report export is billed through `usage.columns`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import date
from pathlib import Path

import pytest

from tests.support import edit
from tests.support.e2e import (
    clean_env,
    ledger_records,
    make_repo,
    plan_json,
    reconcile,
    sandbox_writes,
)

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


def test_reported_basis_bills_last_months_provisioned_units_and_says_so(tmp_path):
    repo = make_repo(tmp_path)
    use_basis(repo, "usage:\n  source: lmpi\n  basis: reported\n")
    run_date, month = billing_day_this_month()
    plan = plan_json(repo, "--date", run_date)
    assert plan["usage"] == {"source": "lmpi", "basis": "reported", "report_month": month, "units": "provisioned"}
    # Acme's licences: wfbss-svc 42 (billed 42), hes 38 (billed 35); rows matched by name.
    assert additions(plan, "acme-dental") == {"hes": ("update", 35, 38)}
    acme = next(c for c in plan["customers"] if c["customer"] == "acme-dental")
    assert acme["due"] and acme["usage"]["report_month"] == month and acme["usage"]["basis"] == "reported"
    # Delta's Apex One: 260 seats, its billed addition is right; Cedar's is missing: created.
    assert additions(plan, "cedar-law")["apex-one-saas"][2] == 4

    text = reconcile(repo, "--sandbox", "plan", "--date", run_date)
    assert text.returncode == 0, text.stderr
    # Cedar (billed on the 31st) may still be catching up on the period before, from its own month.
    (line,) = [x for x in text.stdout.splitlines() if x.startswith("Usage: Trend's usage report for ")]
    assert month in line and "(provisioned units; usage.basis: reported)" in line
    assert "billed from Trend's report of the month before it" in line
    assert f"# usage: Trend's {month} report, provisioned units" in text.stdout

    edit(repo / "config/global.yaml", "  basis: reported\n", "  basis: reported\n  reported_units: used\n")
    used = plan_json(repo, "--date", run_date)
    # The sandbox's used figure is units - units // 8.
    assert additions(used, "acme-dental") == {"wfbss-svc": ("update", 42, 37), "hes": ("update", 35, 34)}


def used_plan(repo: Path, readings: str) -> subprocess.CompletedProcess:
    run_date, _month = billing_day_this_month()
    return reconcile(repo, "--sandbox", "plan", "--format", "json", "--date", run_date,
                     env=clean_env(SANDBOX_LMPI_READINGS=readings))


def test_every_reading_of_the_used_figure_bills_the_same_seats(tmp_path):
    repo = make_repo(tmp_path)
    use_basis(repo, "usage:\n  source: lmpi\n  basis: reported\n  reported_units: used\n")
    for readings in ("used_field=used", "used_field=used_units", "used_field=used_units;units_as=string"):
        result = used_plan(repo, readings)
        assert result.returncode in (0, 2), result.stderr
        plan = json.loads(result.stdout)
        assert additions(plan, "acme-dental") == {"wfbss-svc": ("update", 42, 37), "hes": ("update", 35, 34)}, readings
        assert additions(plan, "brightline-logistics")["wfs-advanced"][2] == 105  # 120 - 15


@pytest.mark.parametrize("readings,expected", [
    ("null_used=HESMWXE3X", "the used figure ('used' or 'used_units') is null"),
    ("used_field=none", "the used figure ('used' or 'used_units') is missing"),
    ("duplicate_rows=1", "duplicate rows in Trend's report for"),
])
def test_a_report_the_tool_cannot_bill_from_stops_with_one_line_and_sends_nothing(tmp_path, readings, expected):
    repo = make_repo(tmp_path)
    use_basis(repo, "usage:\n  source: lmpi\n  basis: reported\n  reported_units: used\n")
    run_date, month = billing_day_this_month()
    result = reconcile(repo, "--sandbox", "apply", "--date", run_date, env=clean_env(SANDBOX_LMPI_READINGS=readings))
    assert result.returncode == 1, result.stdout
    (line,) = result.stderr.splitlines()
    assert expected in line and month in line and "Traceback" not in result.stderr
    assert sandbox_writes(repo) == 0 and ledger_records(repo) == []


def test_an_lmpi_error_reaches_the_user_with_trends_subject_and_the_clock_advice(tmp_path):
    repo = make_repo(tmp_path)
    use_basis(repo, "usage:\n  source: lmpi\n", day=1)
    result = reconcile(repo, "--sandbox", "plan", "--date", "2026-11-01",
                       env=clean_env(SANDBOX_LMPI_READINGS="clock_offset=7200"))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "HTTP 401 AuthenticationFailurePosixTime" in line and "this machine's clock is off" in line
    assert "s ahead of this machine's" in line


def test_two_service_plans_of_one_product_are_summed_and_the_plan_shows_the_parts(tmp_path):
    from reconciler.sandbox import Store
    from reconciler.sandbox.demo import seed_demo
    from reconciler.sandbox.lmpi import license_record, service_plan_id

    repo = make_repo(tmp_path)
    store = Store(repo / ".sandbox")
    try:
        seed_demo(store)
        store.add_lmpi_subscription(ACME, "acme-hes-annual", "Acme HES yearly", service_plan_id("HESMWXE3X", "annual"),
                                    [license_record("HESMWXE3X", 5)])
    finally:
        store.close()
    use_basis(repo, "usage:\n  source: lmpi\n  basis: reported\n")
    run_date, month = billing_day_this_month()
    result = reconcile(repo, "--sandbox", "plan", "--date", run_date)
    assert result.returncode in (0, 2), result.stderr
    assert (f"hes = 38 (Hosted Email Security Monthly) + 5 (Hosted Email Security Annual) = 43 provisioned "
            f"units, summed from 2 service plans in Trend's {month} report") in result.stdout
    assert additions(plan_json(repo, "--date", run_date), "acme-dental") == {"hes": ("update", 35, 43)}


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
    edit(repo / "config/global.yaml", "      product_codes: [WFSBWXE3X]\n", "      product_codes: [WFSBWXE3X, HESMWXE3X]\n")
    edit(repo / "config/global.yaml", "      product_codes: [HESMWXE3X]\n", "      product_codes: []\n")
    after = plan_json(repo, "--date", "2026-11-01")
    assert additions(after, "acme-dental") == {"wfbss-svc": ("update", 42, 80)}
    # A Trend id no product counts is a warning in the plan, never dropped silently.
    edit(repo / "config/global.yaml", "      product_codes: [CASMWXE3X]\n", "      product_codes: []\n")
    text = reconcile(repo, "--sandbox", "plan", "--date", "2026-11-01")
    assert "# warning: customer 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c61: Trend product 'CASMWXE3X'" in text.stdout


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
        "lmpi", "reported", month, "provisioned")
    (saved_file,) = (repo / "evidence").glob(f"usage-{sent['run_id']}*.json")
    saved = json.loads(saved_file.read_text())
    rows = saved["customers"][ACME]["rows"]
    canonical = "[" + ",".join(sorted(json.dumps(r, sort_keys=True, separators=(",", ":")) for r in rows)) + "]"
    assert usage["hash"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    # The rows explain the bill: the quantities sent are the rows' provisioned units.
    sent_quantities = {p: a["quantity"] for p, a in sent["additions"].items()}
    assert sent_quantities == {r["product"]: r["provisioned"] for r in rows} == {"wfbss-svc": 42, "hes": 38}
    assert {r["customer"] for r in rows} == {"Acme Dental Group"}
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


def test_trend_products_lists_and_matches_by_code_and_writes_codes(tmp_path):
    repo = make_repo(tmp_path)
    listing = reconcile(repo, "--sandbox", "trend", "products", "--format", "json")
    assert listing.returncode == 0, listing.stderr
    plans = json.loads(listing.stdout)
    hes = [p for p in plans if p["product_code"] == "HESMWXE3X"]
    assert {p["name"] for p in hes} == {"Hosted Email Security Monthly", "Hosted Email Security Annual"}
    assert all(p["counted_by"] == "hes" and p["product"] == "Hosted Email Security" for p in hes)
    text = reconcile(repo, "--sandbox", "trend", "products").stdout
    assert any(line.split()[:4] == ["HESMWXE3X", "Hosted", "Email", "Security"] for line in text.splitlines())

    # Without its code, nothing counts HES; a --map by code and --write put it back.
    edit(repo / "config/global.yaml", "      product_codes: [HESMWXE3X]\n", "      product_codes: [HESAWXE3X]\n")
    plans = json.loads(reconcile(repo, "--sandbox", "trend", "products", "--format", "json").stdout)
    assert all(p["counted_by"] is None for p in plans if p["product_code"] == "HESMWXE3X")
    written = reconcile(repo, "--sandbox", "trend", "products", "--write", "--map", "hes=HESMWXE3X")
    assert written.returncode == 0, written.stderr
    assert "hes: adding product_codes HESMWXE3X" in written.stdout  # once, for its two plans
    assert '      product_codes: ["HESAWXE3X", "HESMWXE3X"]\n' in (repo / "config/global.yaml").read_text()
    assert reconcile(repo, "validate").returncode == 0
    edit(repo / "config/global.yaml", "usage:\n  source: csv\n  path: ../usage/seats.csv\n", "usage:\n  source: lmpi\n")
    plan = plan_json(repo, "--date", "2026-11-01")
    assert additions(plan, "acme-dental") == {"hes": ("update", 35, 38)}
    bad = reconcile(repo, "--sandbox", "trend", "products", "--map", "nope=x")
    assert bad.returncode == 1 and "not a product in global.yaml" in bad.stderr


def test_a_trend_usage_report_export_bills_through_mapped_columns(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "usage/trend-export.csv").write_text(
        "Customer,Customer ID,Service Plan,Provisioned Units,Used Units,Chargeable Units\n"
        f"Acme Dental Group,{ACME},Worry-Free Business Security Services,42,40,41\n"
        f"Acme Dental Group,{ACME},HESMWXE3X,38,30,37\n")
    edit(repo / "config/global.yaml", "      product_codes: [WFSBWXE3X]\n",
         "      product_codes: [WFSBWXE3X]\n      names: [Worry-Free Business Security Services]\n")
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


@pytest.mark.parametrize("usage_block,figure", [
    ("usage:\n  source: lmpi\n", lambda units: units),
    ("usage:\n  source: lmpi\n  basis: reported\n", lambda units: units),
    ("usage:\n  source: lmpi\n  basis: reported\n  reported_units: used\n", lambda units: units - units // 8),
])
def test_each_lmpi_basis_sends_every_customers_seats_per_product(tmp_path, usage_block, figure):
    """Against the sandbox's documented LMPI: every sent customer's additions carry its Trend
    seats for each product its file maps, on the licensed and the reported basis alike."""
    from reconciler.config import load_config
    from reconciler.sandbox.demo import LMPI_UNITS

    repo = make_repo(tmp_path)
    use_basis(repo, usage_block)
    run_date, _month = billing_day_this_month()
    result = reconcile(repo, "--sandbox", "apply", "--send-now", "--force", "--date", run_date)
    assert "Traceback" not in result.stderr, result.stderr
    config = load_config(repo / "config")
    sent = [r for r in ledger_records(repo) if r["event"] == "result" and r["kind"] == "billing"
            and r["status"] == "sent"]
    assert len(sent) >= 5, result.stdout + result.stderr
    for record in sent:
        customer = config.customer(record["customer"])
        units = LMPI_UNITS[customer.trend_customer_id]
        expected = {product: figure(count) for product, count in units.items() if product in customer.agreements}
        assert {p: a["quantity"] for p, a in record["additions"].items()} == expected, record["customer"]
