"""reconciler/drift.py: findings and renderings from records, with no server."""

import json
from datetime import date

import pytest

from reconciler.config import load_config
from reconciler.drift import DriftRead, find_drift
from reconciler.ledger import LedgerView
from reconciler.render.drift import render
from reconciler.state import Addition, Agreement, Company, CompanyState
from reconciler.usage import Usage
from tests.support.e2e import make_repo

ACME_ID = "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"
MANAGED = Agreement(1, "Acme Managed", "Managed Service", 1)
BLOCK = Agreement(2, "Acme Block Hours", "Block Hours", 1)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("repo"))
    for path in (repo / "config/customers").iterdir():
        if path.name != "acme-dental.yaml":  # wfbss-svc: default, hes: default
            path.unlink()
    return load_config(repo / "config")


def sent(additions: dict) -> LedgerView:
    return LedgerView(records=[{
        "v": 1, "ts": "2026-11-01T12:00:00Z", "event": "result", "kind": "billing", "status": "sent",
        "customer": "acme-dental", "period": "2026-11", "additions": additions}])


def ledger_rec(aid: int, quantity: int, agreement: Agreement = MANAGED) -> dict:
    return {"id": aid, "agreement_id": agreement.id, "agreement": agreement.label, "quantity": quantity}


TODAY = date(2026, 12, 4)  # after every cancelled date below


def snapshot(config, *additions: Addition, agreements=(MANAGED, BLOCK), company=True) -> DriftRead:
    state = CompanyState(Company(1, "AcmeDental", "Acme Dental Group") if company else None, list(agreements))
    for addition in additions:
        state.additions.setdefault(addition.agreement_id, []).append(addition)
    return DriftRead([(config.customers[0], state)])


USAGE = Usage({(ACME_ID, "wfbss-svc"): 42, (ACME_ID, "hes"): 38}, source="csv:test")
BASELINE = {"wfbss-svc": ledger_rec(1, 42), "hes": ledger_rec(2, 38)}
IN_STEP = (Addition(1, 1, "TM-WFBSS-SVC", 42.0), Addition(2, 1, "TM-HES", 38.0), Addition(3, 1, "MS-365-BP", 40.0))


def kinds(report) -> list[tuple]:
    return [(f.kind, f.change, f.product, f.addition_id) for f in report.findings]


def test_no_drift_when_connectwise_matches_the_last_send(config):
    report = find_drift(config, snapshot(config, *IN_STEP), sent(BASELINE), USAGE, today=TODAY)
    assert report.findings == [] and not report.drifted and report.not_yet_sent == []
    assert render(report, "text").endswith("No drift: ConnectWise matches the ledger, and the config covers all usage.\n")


def test_quantity_changed_by_hand(config):
    report = find_drift(config, snapshot(config, IN_STEP[0], Addition(2, 1, "TM-HES", 40.0)), sent(BASELINE), USAGE, today=TODAY)
    (finding,) = report.findings
    assert finding.message == "hes addition 2 on Managed Service / Acme Managed: quantity 38 in the ledger, 40 in ConnectWise"
    assert (finding.ledger["quantity"], finding.connectwise["quantity"]) == (38, 40)
    assert render(report, "text").splitlines()[-1] == (
        "Drift: 1 changed outside Git, 0 unmanaged additions, 0 unknown Trend customers, 0 unmapped products.")


def test_cancelled_deleted_and_moved(config):
    cancelled = Addition(2, 1, "TM-HES", 38.0, cancelled_date="2026-11-15T00:00:00Z")
    report = find_drift(config, snapshot(config, IN_STEP[0], cancelled), sent(BASELINE), USAGE, today=TODAY)
    assert kinds(report) == [("changed", "cancelled", "hes", 2)]
    assert "cancelled in ConnectWise (2026-11-15)" in report.findings[0].message

    report = find_drift(config, snapshot(config, IN_STEP[0]), sent(BASELINE), USAGE, today=TODAY)
    assert kinds(report) == [("changed", "deleted", "hes", 2)]

    # Re-created by hand on another agreement: one `moved` finding, not also an unmanaged one.
    report = find_drift(config, snapshot(config, IN_STEP[0], Addition(9, 2, "TM-HES", 38.0)), sent(BASELINE), USAGE, today=TODAY)
    assert kinds(report) == [("changed", "moved", "hes", 2)]
    assert "now bills hes as addition 9 on Block Hours / Acme Block Hours" in report.findings[0].message

    report = find_drift(config, snapshot(config, IN_STEP[0], Addition(2, 2, "TM-HES", 38.0)), sent(BASELINE), USAGE, today=TODAY)
    assert kinds(report) == [("changed", "moved", "hes", 2)]


def test_addition_added_by_hand_on_a_mapped_agreement(config):
    baseline = {"wfbss-svc": ledger_rec(1, 42)}
    report = find_drift(config, snapshot(config, *IN_STEP), sent(baseline), USAGE, today=TODAY)
    assert kinds(report) == [("changed", "added", "hes", 2)]


def test_unmanaged_additions_and_unmapped_products(config):
    usage = Usage({**USAGE.quantities, (ACME_ID, "cas"): 7}, source="csv:test")
    extra = (Addition(7, 2, "TM-WFBSS-SVC", 3.0), Addition(8, 1, "tm-cas-m365", 7.0))
    report = find_drift(config, snapshot(config, *IN_STEP, *extra), sent(BASELINE), usage, today=TODAY)
    assert kinds(report) == [("unmanaged", None, "cas", 8), ("unmanaged", None, "wfbss-svc", 7),
                             ("unmapped_product", None, "cas", None)]
    messages = [f.message for f in report.findings]
    assert "no mapping refers to it (wfbss-svc maps to Managed Service / Acme Managed)" in messages[1]
    assert "no mapping refers to it (acme-dental.yaml maps no cas)" in messages[0]
    assert messages[2] == "cas: 7 seats in the usage source, but no mapping in acme-dental.yaml"


def test_unknown_trend_customer_and_no_baseline(config):
    usage = Usage({**USAGE.quantities, ("c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e67", "wfbss-svc"): 15}, source="x")
    report = find_drift(config, snapshot(config, *IN_STEP), LedgerView(), usage, today=TODAY)
    assert kinds(report) == [("unknown_customer", None, None, None)]
    assert [c.slug for c in report.not_yet_sent] == ["acme-dental"]
    text = render(report, "text")
    assert "# not yet sent; no baseline: acme-dental" in text
    assert text.splitlines()[-1] == (
        "Drift: 0 changed outside Git, 0 unmanaged additions, 1 unknown Trend customer, 0 unmapped products.")


def test_unresolved_company_and_mapping(config):
    report = find_drift(config, snapshot(config, company=False), sent(BASELINE), USAGE, today=TODAY)
    assert kinds(report) == [("unresolved", None, None, None)]
    report = find_drift(config, snapshot(config, Addition(2, 2, "TM-HES", 38.0), agreements=(BLOCK,)),
                        sent({"hes": ledger_rec(2, 38, BLOCK)}), USAGE, today=TODAY)
    assert [k[0] for k in kinds(report)] == ["unresolved", "unresolved"]  # `default` finds no agreement
    assert "Drift: 0 changed outside Git" in render(report, "text") and "2 unresolved mappings." in render(report, "text")


def test_json_and_markdown(config):
    report = find_drift(config, snapshot(config, IN_STEP[0], Addition(2, 1, "TM-HES", 40.0)), sent(BASELINE), USAGE, today=TODAY)
    data = json.loads(render(report, "json"))
    assert data["format_version"] == "1.1" and data["drifted"] is True  # 1.1 priced findings (issue 12)
    assert data["counts"]["changed"] == 1
    (finding,) = data["findings"]
    assert {"kind", "customer", "connectwise_company", "agreement", "product", "addition_id", "ledger",
            "connectwise"} <= set(finding)
    assert finding["agreement"] == {"id": 1, "type": "Managed Service", "name": "Acme Managed"}
    markdown = render(report, "markdown")
    assert markdown.startswith("<!-- reconcile-drift -->\n## reconcile drift")
    assert "| acme-dental | changed (quantity) | hes | 2 | 38 on Managed Service / Acme Managed |" in markdown


def test_a_later_failed_run_is_named_so_its_writes_are_not_mistaken_for_hand_edits(config):
    view = sent(BASELINE)
    view.records.append({"ts": "2026-12-01T12:00:00Z", "run_id": "R2", "event": "result", "kind": "billing",
                         "status": "failed", "customer": "acme-dental", "period": "2026-12", "additions": {}})
    report = find_drift(config, snapshot(config, *IN_STEP), view, USAGE, today=TODAY)
    assert report.findings == []
    assert report.warnings == [("acme-dental: a later billing run (R2) did not finish as sent; ConnectWise may "
                               "differ from the baseline because of that run, not a hand edit")]
