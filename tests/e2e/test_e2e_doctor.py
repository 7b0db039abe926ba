"""`reconcile doctor` end to end: the real CLI against the real sandbox over loopback.

It passes on the demo data and writes nothing; each misconfiguration, made in the config or in
the sandbox's tenant (its store), fails it (exit 1) with that checklist item named as a blocker.
Tests that need real credentials (wrong keys, missing keys) start a sandbox in the test and run
the CLI without `--sandbox`, as an MSP runs it against its own tenant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sandbox import SandboxServer, Store
from reconciler.sandbox.server import reset
from tests.support import edit
from tests.support.e2e import clean_env, make_repo, reconcile, sandbox_writes

LMPI_REPORTED = "usage:\n  source: lmpi\n  basis: reported\n  reported_units: used\n"


def use_lmpi(repo: Path, block: str = LMPI_REPORTED) -> None:
    edit(repo / "config/global.yaml", "usage:\n  source: csv\n  path: ../usage/seats.csv\n", block)


def doctor(repo: Path, *args: str, env: dict[str, str] | None = None, sandbox: bool = True) -> tuple[int, dict]:
    result = reconcile(repo, *(["--sandbox"] if sandbox else []), "doctor", "--format", "json", *args, env=env)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def statuses(report: dict) -> dict[str, str]:
    return {c["key"]: c["status"] for c in report["checks"]}


def blockers(report: dict) -> list[str]:
    return [c["key"] for c in report["checks"] if c["status"] == "blocker"]


def item(report: dict, key: str) -> dict:
    (found,) = [c for c in report["checks"] if c["key"] == key]
    return found


def tenant(repo: Path) -> Store:
    """The sandbox's tenant with its demo data, to misconfigure before the CLI starts it."""
    reset(repo / ".sandbox")
    return Store(repo / ".sandbox")


def files(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*"))
            if p.is_file() and ".sandbox" not in p.parts}


# -- the demo passes, and nothing is written -------------------------------------------------

@pytest.mark.parametrize("usage", ["csv", "lmpi"])
def test_the_demo_passes_every_item_and_nothing_is_written(tmp_path, usage):
    repo = make_repo(tmp_path)
    if usage == "lmpi":
        use_lmpi(repo)
    tenant(repo).close()
    before = files(repo)

    code, report = doctor(repo)
    text = reconcile(repo, "--sandbox", "doctor")

    assert code == 0 and text.returncode == 0, text.stdout + text.stderr
    assert set(statuses(report).values()) == {"ok"}, [c for c in report["checks"] if c["status"] != "ok"]
    assert report["ok"] is True and report["counts"]["blocker"] == 0
    expected = {"connectwise.credentials", "connectwise.read.companies", "connectwise.read.agreements",
                "connectwise.read.additions", "connectwise.read.agreement_types", "connectwise.read.catalog",
                "connectwise.read.management_summary_reports", "connectwise.read.service_tickets",
                "connectwise.catalog_items", "connectwise.agreement_types", "connectwise.ticket_board",
                "connectwise.ticket_status", "connectwise.ticket_type", "connectwise.management_solution",
                "customers.connectwise_company", "trend.clock", "trend.customers", "trend.service_plans",
                "trend.report", "customers.trend_customer"}
    assert expected <= set(statuses(report))
    if usage == "lmpi":
        assert "each with a 'used' figure" in item(report, "trend.report")["detail"]
        assert "within" in item(report, "trend.clock")["detail"]
    for key in expected:
        assert re.search(rf"^  ok +{re.escape(key)} ", text.stdout, re.MULTILINE), key
    assert text.stdout.rstrip().endswith("checks passed: next, `reconcile plan`.")

    assert files(repo) == before  # no ledger, no state/, no edited config
    assert not (repo / "state").exists()
    assert not list((repo / ".sandbox").glob("ledger*"))
    assert sandbox_writes(repo) == 0  # not one POST, PATCH or DELETE reached ConnectWise


# -- ConnectWise ------------------------------------------------------------------------------

@pytest.fixture()
def served(tmp_path) -> Iterator[tuple[Path, SandboxServer]]:
    """A repository whose global.yaml points at a sandbox started here (no --sandbox)."""
    repo = make_repo(tmp_path)
    with SandboxServer(data_dir=repo / ".sandbox", port=0) as server:
        path = repo / "config/global.yaml"
        text = re.sub(r"(?m)^  url: .*$", f"  url: {server.connectwise_url}", path.read_text())
        path.write_text(re.sub(r"(?m)^  company_id: .*$", "  company_id: sandbox", text))
        yield repo, server


def keys(server: SandboxServer, **override: str) -> dict[str, str]:
    creds = server.credentials
    values = {"CW_PUBLIC_KEY": creds.public_key, "CW_PRIVATE_KEY": creds.private_key,
              "CW_CLIENT_ID": "doctor-test-client", "TM_LMPI_URL": server.lmpi_url,
              "TM_ACCESS_TOKEN": creds.lmpi_access_token, "TM_SECRET_KEY": creds.lmpi_secret_key}
    values.update(override)
    return clean_env(**{k: v for k, v in values.items() if v})


def test_real_keys_against_a_served_tenant_pass(served):
    repo, server = served
    use_lmpi(repo)
    code, report = doctor(repo, env=keys(server), sandbox=False)
    assert code == 0, blockers(report)
    assert "accepted the keys and clientId of company sandbox" in item(report, "connectwise.credentials")["detail"]


def test_keys_connectwise_refuses_are_a_401_blocker_and_never_shown(served):
    repo, server = served
    wrong = "Wr0ng-Private-Key-9f8e7d"
    code, report = doctor(repo, env=keys(server, CW_PRIVATE_KEY=wrong), sandbox=False)
    text = reconcile(repo, "doctor", env=keys(server, CW_PRIVATE_KEY=wrong))

    assert code == 1 and text.returncode == 1
    assert blockers(report) == ["connectwise.credentials"]
    credentials = item(report, "connectwise.credentials")
    assert "HTTP 401" in credentials["detail"] and "CW_PRIVATE_KEY" in credentials["fix"]
    # Nothing else is judged on refused keys: the reads that need them say so.
    assert item(report, "connectwise.catalog_items")["detail"] == "not checked: connectwise.credentials failed"
    for output in (json.dumps(report), text.stdout + text.stderr):
        assert wrong not in output and wrong.lower() not in output
        assert server.credentials.public_key not in output


def test_missing_keys_are_a_blocker_and_trend_is_still_checked(served):
    repo, server = served
    use_lmpi(repo)
    code, report = doctor(repo, env=keys(server, CW_CLIENT_ID=""), sandbox=False)
    assert code == 1 and blockers(report) == ["connectwise.credentials"]
    assert "CW_CLIENT_ID" in item(report, "connectwise.credentials")["detail"]
    assert item(report, "trend.customers")["status"] == "ok"


def test_an_endpoint_the_api_members_role_may_not_read_is_named_with_the_role_fix(tmp_path):
    repo = make_repo(tmp_path)
    store = tenant(repo)
    store.deny_api_member("procurement/catalog")
    store.close()

    code, report = doctor(repo)

    assert code == 1
    assert blockers(report) == ["connectwise.read.catalog"]
    denied = item(report, "connectwise.read.catalog")
    assert "may not read procurement/catalog (HTTP 403)" in denied["detail"]
    assert "Procurement > Product Catalog" in denied["fix"] and "Security Roles" in denied["fix"]
    assert item(report, "connectwise.catalog_items")["detail"] == "not checked: connectwise.read.catalog failed"


def test_a_product_whose_catalog_item_does_not_exist(tmp_path):
    repo = make_repo(tmp_path)
    edit(repo / "config/global.yaml", "connectwise_product: TM-HES\n", "connectwise_product: TM-HES-2026\n")
    code, report = doctor(repo)
    assert code == 1 and blockers(report) == ["connectwise.catalog_items"]
    assert item(report, "connectwise.catalog_items")["problems"] == ["hes (TM-HES-2026)"]


def test_a_catalog_item_removed_in_the_tenant(tmp_path):
    repo = make_repo(tmp_path)
    store = tenant(repo)
    store.delete("catalog", store.find_one("catalog", identifier="TM-CAS-M365")["id"])
    store.close()
    code, report = doctor(repo)
    assert code == 1 and blockers(report) == ["connectwise.catalog_items"]
    assert "cas (TM-CAS-M365)" in item(report, "connectwise.catalog_items")["detail"]


def test_a_default_agreement_type_that_does_not_exist(tmp_path):
    repo = make_repo(tmp_path)
    edit(repo / "config/global.yaml", "    - Managed Service\n", "    - Managed Services Plus\n")
    code, report = doctor(repo)
    assert code == 1 and blockers(report) == ["connectwise.agreement_types"]
    assert "'Managed Services Plus' (agreements.default_types)" in item(report, "connectwise.agreement_types")["detail"]


def test_a_ticket_board_that_does_not_exist(tmp_path):
    repo = make_repo(tmp_path)
    edit(repo / "config/global.yaml", "    board: Billing\n", "    board: Billing Problems\n")
    code, report = doctor(repo)
    assert code == 1 and blockers(report) == ["connectwise.ticket_board"]
    assert "Billing Problems" in item(report, "connectwise.ticket_board")["detail"]
    assert item(report, "connectwise.ticket_status")["detail"] == "not checked: connectwise.ticket_board failed"


def test_a_ticket_status_that_does_not_exist_on_the_board(tmp_path):
    repo = make_repo(tmp_path)
    edit(repo / "config/global.yaml", "    status: New\n", "    status: Waiting on Billing\n")
    code, report = doctor(repo)
    assert code == 1 and blockers(report) == ["connectwise.ticket_status"]
    assert "Waiting on Billing" in item(report, "connectwise.ticket_status")["detail"]


def test_a_ticket_type_that_does_not_exist_on_the_board(tmp_path):
    repo = make_repo(tmp_path)
    edit(repo / "config/global.yaml", "    type: Billing\n", "    type: Invoice Dispute\n")
    code, report = doctor(repo)
    assert code == 1 and blockers(report) == ["connectwise.ticket_type"]
    assert "Invoice Dispute" in item(report, "connectwise.ticket_type")["detail"]

    edit(repo / "config/global.yaml", "    type: Invoice Dispute\n", "    type: Problem\n")  # the board has it
    assert doctor(repo)[0] == 0


def test_a_management_solution_that_does_not_exist(tmp_path):
    repo = make_repo(tmp_path)
    edit(repo / "config/global.yaml", "  management_solution: TMRM Management Solution\n",
         "  management_solution: TMRM Reporting\n")
    code, report = doctor(repo)
    assert code == 1 and blockers(report) == ["connectwise.management_solution"]
    assert "'TMRM Reporting'" in item(report, "connectwise.management_solution")["detail"]


def test_a_customer_files_company_that_does_not_exist(tmp_path):
    repo = make_repo(tmp_path)
    store = tenant(repo)
    store.delete("company", store.find_one("company", identifier="AcmeDental")["id"])
    store.close()
    code, report = doctor(repo)
    assert code == 1 and blockers(report) == ["customers.connectwise_company"]
    assert item(report, "customers.connectwise_company")["problems"] == ["acme-dental (AcmeDental)"]


# -- Trend ------------------------------------------------------------------------------------

def test_a_clock_more_than_15_minutes_off_trends(tmp_path):
    repo = make_repo(tmp_path)
    use_lmpi(repo)
    code, report = doctor(repo, env=clean_env(SANDBOX_LMPI_READINGS="clock_offset=1200"))
    assert code == 1 and blockers(report) == ["trend.clock"]
    clock = item(report, "trend.clock")
    assert "clock is more than 15 minutes off" in clock["detail"] and "NTP" in clock["fix"]
    assert item(report, "trend.customers")["detail"] == "not checked: trend.clock failed"


def test_a_clock_a_few_minutes_off_is_a_warning(tmp_path):
    repo = make_repo(tmp_path)
    use_lmpi(repo)
    code, report = doctor(repo, env=clean_env(SANDBOX_LMPI_READINGS="clock_offset=420"))
    assert code == 0
    assert item(report, "trend.clock")["status"] == "warning"
    assert "min behind Trend's" in item(report, "trend.clock")["detail"]


def test_trend_keys_that_trend_refuses(served):
    repo, server = served
    use_lmpi(repo)
    code, report = doctor(repo, env=keys(server, TM_SECRET_KEY="not-the-secret-4711"), sandbox=False)
    assert code == 1 and blockers(report) == ["trend.credentials"]
    assert "HTTP 401" in item(report, "trend.credentials")["detail"]
    assert "not-the-secret-4711" not in json.dumps(report)
    for key in ("trend.customers", "trend.service_plans", "trend.report", "customers.trend_customer"):
        assert item(report, key)["detail"] == "not checked: trend.credentials failed"


def test_a_report_without_the_configured_unit_field(tmp_path):
    repo = make_repo(tmp_path)
    use_lmpi(repo)
    code, report = doctor(repo, env=clean_env(SANDBOX_LMPI_READINGS="used_field=none"))
    assert code == 1 and blockers(report) == ["trend.report"]
    detail, fix = item(report, "trend.report")["detail"], item(report, "trend.report")["fix"]
    assert "carry no 'used' figure" in detail and "provisioned" in fix

    # The documented alternative spelling is read as the same figure.
    assert doctor(repo, env=clean_env(SANDBOX_LMPI_READINGS="used_field=used_units"))[0] == 0


def test_a_customer_files_trend_customer_that_does_not_exist(tmp_path):
    repo = make_repo(tmp_path)
    use_lmpi(repo)
    edit(repo / "config/customers/acme-dental.yaml", "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60",
         "3f2b6c1e-8a4d-4e1b-9c7a-000000000000")
    code, report = doctor(repo)
    assert code == 1 and blockers(report) == ["customers.trend_customer"]
    assert item(report, "customers.trend_customer")["problems"] == [
        "acme-dental (3f2b6c1e-8a4d-4e1b-9c7a-000000000000)"]


def test_an_invalid_config_is_one_line_per_problem_and_exit_1(tmp_path):
    repo = make_repo(tmp_path)
    edit(repo / "config/global.yaml", "  day: 1\n", "  day: 45\n")
    result = reconcile(repo, "--sandbox", "doctor")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "config/global.yaml:" in result.stderr and result.stdout == ""
