"""The sandbox's ConnectWise refuses what a real tenant refuses (issue 19, item 4).

Written from ConnectWise's published facts, not from this tool's code (see
shared/reference/connectwise-api-notes.md, "Checked again on 2026-12-04", and the Addition schema
of the OpenAPI subset): an addition's `serialNumber` is at most 50 characters; a ticket needs a
`company` and a `summary` of at most 100 characters, and its board, status and type are references
(`{id}` or `{name}`) that must exist; a management summary report's management solution is a
reference that must exist; a cancelled date is the day an addition stops billing, so one still to
come leaves it active. Every refusal is ConnectWise's 400 shape: `{"code": "InvalidObject",
"message": ..., "errors": [{"code", "message", "resource", "field"}]}`.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import requests

from reconciler.sandbox import SandboxServer
from tests.support.e2e import connectwise_session


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory):
    with SandboxServer(data_dir=tmp_path_factory.mktemp("contract"), port=0) as server:
        yield server


@pytest.fixture(scope="module")
def s(sb: SandboxServer) -> requests.Session:
    return connectwise_session(sb)


def refused(response: requests.Response, resource: str, field: str) -> None:
    """ConnectWise's answer to an invalid object: 400 InvalidObject naming the resource and field."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "InvalidObject" and isinstance(body["message"], str) and body["message"]
    assert any(e["field"] == field and e["resource"] == resource and e["code"] and e["message"]
               for e in body["errors"]), body


def post(sb: SandboxServer, s: requests.Session, path: str, body: dict) -> requests.Response:
    return s.post(f"{sb.connectwise_url}/{path}", json=body, timeout=10)


ADDITION = {"product": {"identifier": "TM-WFS-ADV"}, "billCustomer": "Billable", "quantity": 3}


def test_an_addition_serial_number_over_50_characters_is_refused(sb, s):
    refused(post(sb, s, "finance/agreements/1/additions", {**ADDITION, "serialNumber": "x" * 51}),
            "addition", "serialNumber")
    ok = post(sb, s, "finance/agreements/1/additions", {**ADDITION, "serialNumber": "x" * 50})
    assert ok.status_code == 201 and ok.json()["serialNumber"] == "x" * 50
    patched = s.patch(f"{sb.connectwise_url}/finance/agreements/1/additions/{ok.json()['id']}",
                      json=[{"op": "replace", "path": "serialNumber", "value": "y" * 51}], timeout=10)
    refused(patched, "addition", "serialNumber")


def test_an_addition_with_a_cancelled_date_to_come_is_still_active(sb, s):
    created = post(sb, s, "finance/agreements/1/additions", ADDITION).json()
    later = (date.today() + timedelta(days=40)).isoformat() + "T00:00:00Z"
    url = f"{sb.connectwise_url}/finance/agreements/1/additions/{created['id']}"
    r = s.patch(url, json=[{"op": "replace", "path": "cancelledDate", "value": later}], timeout=10)
    assert r.status_code == 200 and r.json()["cancelledDate"] == later and r.json()["agreementStatus"] == "Active"
    r = s.patch(url, json=[{"op": "replace", "path": "cancelledDate", "value": "2025-01-31T00:00:00Z"}], timeout=10)
    assert r.json()["agreementStatus"] == "Cancelled"


TICKET = {"summary": "Billing problem", "company": {"identifier": "AcmeDental"}, "board": {"name": "Billing"}}


def test_a_ticket_needs_a_company_and_a_summary_of_at_most_100_characters(sb, s):
    refused(post(sb, s, "service/tickets", {k: v for k, v in TICKET.items() if k != "company"}), "ticket", "company")
    refused(post(sb, s, "service/tickets", {**TICKET, "summary": "s" * 101}), "ticket", "summary")
    refused(post(sb, s, "service/tickets", {k: v for k, v in TICKET.items() if k != "summary"}), "ticket", "summary")
    assert post(sb, s, "service/tickets", {**TICKET, "summary": "s" * 100}).status_code == 201


@pytest.mark.parametrize("field, value", [
    ("board", {"name": "Billing Problems"}),
    ("board", {"id": 999}),
    ("status", {"name": "Waiting on Vendor"}),
    ("status", {"id": 999}),
    ("type", {"name": "Invoice Dispute"}),
    ("type", {"id": 999}),
])
def test_a_ticket_whose_board_status_or_type_does_not_exist_is_refused(sb, s, field, value):
    before = len(s.get(f"{sb.connectwise_url}/service/tickets", params={"pageSize": 1000}, timeout=10).json())
    refused(post(sb, s, "service/tickets", {**TICKET, field: value}), "ticket", field)
    after = len(s.get(f"{sb.connectwise_url}/service/tickets", params={"pageSize": 1000}, timeout=10).json())
    assert after == before  # nothing was created


def test_board_status_and_type_references_resolve_by_id_or_name_on_their_board(sb, s):
    url = sb.connectwise_url
    (board,) = s.get(f"{url}/service/boards", params={"conditions": 'name = "Billing"'}, timeout=10).json()
    statuses = s.get(f"{url}/service/boards/{board['id']}/statuses", timeout=10).json()
    types = s.get(f"{url}/service/boards/{board['id']}/types", timeout=10).json()
    new = next(st for st in statuses if st["name"] == "New")
    billing = next(t for t in types if t["name"] == "Billing")
    assert new["board"]["id"] == billing["board"]["id"] == board["id"]
    r = post(sb, s, "service/tickets", {**TICKET, "board": {"id": board["id"]}, "status": {"id": new["id"]},
                                        "type": {"name": "billing"}})
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert (ticket["board"]["name"], ticket["status"]["name"], ticket["type"]["id"]) == ("Billing", "New", billing["id"])
    # A status of another board is not this board's status.
    (desk,) = s.get(f"{url}/service/boards", params={"conditions": 'name = "Service Desk"'}, timeout=10).json()
    desk_new = next(st for st in s.get(f"{url}/service/boards/{desk['id']}/statuses", timeout=10).json()
                    if st["name"] == "New")
    refused(post(sb, s, "service/tickets", {**TICKET, "status": {"id": desk_new["id"]}}), "ticket", "status")


SUMMARY = {"groupIdentifier": "contract-2026-12", "agreement": {"id": 1}, "totalWorkstations": 4,
           "deviceType": "WorkstationsAndServers"}


def test_a_summary_whose_management_solution_does_not_exist_is_refused(sb, s):
    path = "company/companies/1/managementSummaryReports"
    refused(post(sb, s, path, {**SUMMARY, "managementSolution": {"name": "No Such Solution"}}),
            "companyManagementSummary", "managementSolution")
    refused(post(sb, s, path, {**SUMMARY, "managementSolution": {"id": 999}}),
            "companyManagementSummary", "managementSolution")
    solutions = s.get(f"{sb.connectwise_url}/company/managementItSolutions",
                      params={"conditions": 'name = "TMRM Management Solution"'}, timeout=10).json()
    (solution,) = solutions
    by_name = post(sb, s, path, {**SUMMARY, "managementSolution": {"name": "TMRM Management Solution"}})
    by_id = post(sb, s, path, {**SUMMARY, "groupIdentifier": "contract-2", "managementSolution": {"id": solution["id"]}})
    assert by_name.status_code == by_id.status_code == 201, by_name.text + by_id.text
    assert by_id.json()["managementSolution"]["name"] == "TMRM Management Solution"
