"""Every sandbox route's responses validate against the ConnectWise OpenAPI subset.

tests/data/openapi-subset.yaml is shared/connectwise/openapi-subset.yaml plus the service ticket
and note operations billing-problem notifications use (issue 10), added from the same source
document and commit in the same way (its `x-added-operations` says which), so the suite does not
depend on shared/ being beside the repo. Validation is jsonschema over the component
schemas, made strict: OpenAPI 3.0 `nullable` becomes a null type, and every object schema with
properties gets `additionalProperties: false` so the sandbox cannot emit fields CW doesn't have.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
import requests
import yaml

from reconciler.sandbox import SandboxServer
from tests.support import DATA, REPO_ROOT
from tests.support.e2e import connectwise_session

SPEC_PATH = DATA / "openapi-subset.yaml"
SHARED_SPEC = REPO_ROOT.parent / "shared" / "connectwise" / "openapi-subset.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text())


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if "$ref" in node:
            return {"$ref": node["$ref"].replace("#/components/schemas/", "#/$defs/")}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


DEFS = _strict(copy.deepcopy(SPEC["components"]["schemas"]))


def response_schema(method: str, template: str, status: int) -> dict[str, Any]:
    response = SPEC["paths"][template][method.lower()]["responses"][str(status)]
    (content,) = response["content"].values()
    return {"$defs": DEFS, **_strict(content["schema"])}


def validate(method: str, template: str, response: requests.Response) -> None:
    assert response.headers.get("api-current-version")
    if response.status_code == 204:
        assert response.content == b""
        return
    assert response.status_code < 300, response.text
    schema = response_schema(method, template, response.status_code)
    jsonschema.Draft202012Validator(schema).validate(response.json())


def validate_error(response: requests.Response) -> None:
    body = response.json()
    if body.get("errors") is None:  # real CW sends "errors": null (connectwise-api-notes 6)
        body = {k: v for k, v in body.items() if k != "errors"}
    jsonschema.Draft202012Validator({"$defs": DEFS, "$ref": "#/$defs/ErrorResponseMessage"}).validate(body)


# The copy in tests/data is ConnectWise's own description, never to be edited to make a test pass.
SPEC_SHA256 = "ff7c20c04a45fb218d87511b8a075f009d8d0c23e3b8275a54125cd652c4cc4e"
ADDED_PATHS = {"/service/tickets", "/service/tickets/{id}", "/service/tickets/{parentId}/notes"}


def test_test_copy_is_the_shared_spec_plus_the_ticket_operations_unedited() -> None:
    import hashlib

    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256
    assert ADDED_PATHS <= set(SPEC["paths"]) and "x-added-operations" in SPEC
    if SHARED_SPEC.exists():  # beside the repository in the team's workspace and in CI
        shared = yaml.safe_load(SHARED_SPEC.read_text())
        if shared.get("x-added-operations"):  # the shared copy has taken the additions over
            assert SHARED_SPEC.read_bytes() == SPEC_PATH.read_bytes()
            return
        # Everything the shared description says is here, word for word; only additions differ.
        assert set(SPEC["paths"]) - set(shared["paths"]) == ADDED_PATHS
        for path, operations in shared["paths"].items():
            assert SPEC["paths"][path] == operations, path
        for name, schema in shared["components"]["schemas"].items():
            assert SPEC["components"]["schemas"][name] == schema, name


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory):
    with SandboxServer(data_dir=tmp_path_factory.mktemp("conformance"), port=0) as server:
        yield server


@pytest.fixture(scope="module")
def s(sb: SandboxServer) -> requests.Session:
    session = connectwise_session(sb)
    # One ticket (with the note its initialDescription becomes) for the reads below.
    r = session.post(f"{sb.connectwise_url}/service/tickets", json={
        "summary": "Seeded", "board": {"name": "Billing"}, "company": {"identifier": "AcmeDental"},
        "initialDescription": "first note"})
    assert r.status_code == 201, r.text
    return session


READS = [
    ("/company/companies", "company/companies"),
    ("/company/companies/{id}", "company/companies/1"),
    ("/company/companies/{parentId}/managementSummaryReports", "company/companies/1/managementSummaryReports"),
    ("/company/companies/{parentId}/managementSummaryReports/count",
     "company/companies/1/managementSummaryReports/count"),
    ("/finance/agreements", "finance/agreements?pageSize=1000"),
    ("/finance/agreements/{id}", "finance/agreements/8"),  # the cancelled one: more fields
    ("/finance/agreements/{parentId}/additions", "finance/agreements/12/additions"),
    ("/finance/agreements/{parentId}/additions/{id}", "finance/agreements/1/additions/1"),
    ("/finance/agreements/types", "finance/agreements/types"),
    ("/finance/agreements/types/{id}", "finance/agreements/types/1"),
    ("/procurement/catalog", "procurement/catalog?pageSize=100"),
    ("/procurement/catalog/{id}", "procurement/catalog/1"),
    ("/system/info", "system/info"),
    ("/service/tickets", "service/tickets"),
    ("/service/tickets", "service/tickets?conditions=" + "summary = \"Seeded\" and board/name = \"Billing\" "
     "and closedFlag = false"),
    ("/service/tickets/{id}", "service/tickets/1"),
    ("/service/tickets/{parentId}/notes", "service/tickets/1/notes"),
]


@pytest.mark.parametrize("template, path", READS)
def test_reads_conform(sb: SandboxServer, s: requests.Session, template: str, path: str) -> None:
    r = s.get(f"{sb.connectwise_url}/{path}")
    validate("GET", template, r)
    if r.json() and isinstance(r.json(), list):
        assert all("id" in item for item in r.json())


def test_counts_conform(sb: SandboxServer, s: requests.Session) -> None:
    for path in ("company/companies/count", "finance/agreements/count", "finance/agreements/1/additions/count"):
        r = s.get(f"{sb.connectwise_url}/{path}")
        jsonschema.validate(r.json(), {"$defs": DEFS, "$ref": "#/$defs/Count"})


def test_writes_conform(sb: SandboxServer, s: requests.Session) -> None:
    url = sb.connectwise_url
    additions = "/finance/agreements/{parentId}/additions"
    r = s.post(f"{url}/finance/agreements/1/additions",
               json={"product": {"id": 2}, "billCustomer": "Billable", "quantity": 3,
                     "effectiveDate": "2026-11-01T00:00:00Z", "invoiceDescription": "x"})
    assert r.status_code == 201
    validate("POST", additions, r)
    aid = r.json()["id"]
    r = s.patch(f"{url}/finance/agreements/1/additions/{aid}",
                json=[{"op": "replace", "path": "cancelledDate", "value": "2026-11-30T00:00:00Z"}])
    validate("PATCH", additions + "/{id}", r)
    assert r.json()["agreementStatus"] == "Cancelled"
    r = s.put(f"{url}/finance/agreements/1/additions/{aid}",
              json={"product": {"identifier": "TM-WFS-ADV"}, "billCustomer": "NoCharge", "quantity": 1})
    validate("PUT", additions + "/{id}", r)
    validate("DELETE", additions + "/{id}", s.delete(f"{url}/finance/agreements/1/additions/{aid}"))
    r = s.patch(f"{url}/finance/agreements/1", json=[{"op": "replace", "path": "customerPO", "value": "PO-1"}])
    validate("PATCH", "/finance/agreements/{id}", r)
    reports = "/company/companies/{parentId}/managementSummaryReports"
    r = s.post(f"{url}/company/companies/1/managementSummaryReports",
               json={"groupIdentifier": "g", "agreement": {"id": 1}, "totalWorkstations": 4})
    validate("POST", reports, r)
    rid = r.json()["id"]
    validate("GET", reports + "/{id}", s.get(f"{url}/company/companies/1/managementSummaryReports/{rid}"))
    r = s.patch(f"{url}/company/companies/1/managementSummaryReports/{rid}",
                json=[{"op": "replace", "path": "totalServers", "value": 2}])
    validate("PATCH", reports + "/{id}", r)


def test_ticket_and_note_writes_conform(sb: SandboxServer, s: requests.Session) -> None:
    url = sb.connectwise_url
    tickets = "/service/tickets"
    r = s.post(f"{url}/service/tickets", json={
        "summary": "Billing failed: cedar-law 2026-11", "board": {"name": "Billing"}, "status": {"name": "New"},
        "company": {"identifier": "CedarFinchLaw"}, "initialDescription": "why", "automaticEmailContactFlag": False})
    assert r.status_code == 201
    validate("POST", tickets, r)
    ticket = r.json()
    assert "initialDescription" not in ticket  # POST-only: it became the first note
    assert (ticket["board"]["name"], ticket["status"]["name"], ticket["closedFlag"]) == ("Billing", "New", False)
    validate("GET", tickets + "/{id}", s.get(f"{url}/service/tickets/{ticket['id']}"))
    notes = "/service/tickets/{parentId}/notes"
    r = s.get(f"{url}/service/tickets/{ticket['id']}/notes")
    validate("GET", notes, r)
    assert [(n["text"], n["detailDescriptionFlag"]) for n in r.json()] == [("why", True)]
    r = s.post(f"{url}/service/tickets/{ticket['id']}/notes", json={"text": "still failing", "internalAnalysisFlag": True})
    assert r.status_code == 201
    validate("POST", notes, r)
    assert r.json()["ticketId"] == ticket["id"]
    r = s.patch(f"{url}/service/tickets/{ticket['id']}", json=[{"op": "replace", "path": "status", "value": {"name": "Closed"}}])
    validate("PATCH", tickets + "/{id}", r)
    assert r.json()["closedFlag"] is True
    found = s.get(f"{url}/service/tickets", params={
        "conditions": 'summary = "Billing failed: cedar-law 2026-11" and closedFlag = false'})
    validate("GET", tickets, found)
    assert found.json() == []


def test_ticket_errors_conform(sb: SandboxServer, s: requests.Session) -> None:
    url = sb.connectwise_url
    for body, field in (({"board": {"name": "Billing"}, "company": {"id": 1}}, "summary"),
                        ({"summary": "x", "board": {"name": "Billing"}}, "company"),
                        ({"summary": "x" * 101, "company": {"id": 1}}, "summary"),
                        ({"summary": "x", "company": {"id": 1}, "board": {"name": "Nope"}}, "board"),
                        ({"summary": "x", "company": {"id": 1}, "board": {"name": "Billing"},
                          "status": {"name": "Nope"}}, "status")):
        r = s.post(f"{url}/service/tickets", json=body)
        assert r.status_code == 400, (body, r.text)
        validate_error(r)
        assert [e["field"] for e in r.json()["errors"]] == [field]
    validate_error(s.post(f"{url}/service/tickets/1/notes", json={"internalAnalysisFlag": True}))
    validate_error(s.get(f"{url}/service/tickets/424242/notes"))
    r = s.delete(f"{url}/service/tickets/1")
    assert r.status_code == 405
    validate_error(r)


def test_errors_conform(sb: SandboxServer, s: requests.Session) -> None:
    url = sb.connectwise_url
    validate_error(requests.get(f"{url}/company/companies"))
    validate_error(s.get(f"{url}/finance/agreements/424242"))
    validate_error(s.get(f"{url}/finance/agreements", params={"conditions": "id = "}))
    validate_error(s.post(f"{url}/finance/agreements/1/additions", json={}))
    validate_error(s.patch(f"{url}/finance/agreements/1", json={"not": "an array"}))
