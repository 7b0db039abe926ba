"""Every sandbox route's responses validate against the ConnectWise OpenAPI subset.

tests/data/openapi-subset.yaml is a copy of shared/connectwise/openapi-subset.yaml, so the suite
does not depend on shared/ being beside the repo. Validation is jsonschema over the component
schemas, made strict: OpenAPI 3.0 `nullable` becomes a null type, and every object schema with
properties gets `additionalProperties: false` so the sandbox cannot emit fields CW doesn't have.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml

from reconciler.sandbox import SandboxServer

SPEC_PATH = Path(__file__).parent / "data" / "openapi-subset.yaml"
SHARED_SPEC = Path(__file__).resolve().parents[2] / "shared" / "connectwise" / "openapi-subset.yaml"
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
SPEC_SHA256 = "16003ae8ebb43a6ed5cf676d0c6f5108f0eb0121e2376227848cafe5f10c2565"


def test_test_copy_is_the_shared_spec_unedited() -> None:
    import hashlib

    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256
    if SHARED_SPEC.exists():  # beside the repository in the team's workspace and in CI
        assert SHARED_SPEC.read_bytes() == SPEC_PATH.read_bytes()


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory):
    with SandboxServer(data_dir=tmp_path_factory.mktemp("conformance"), port=0) as server:
        yield server


@pytest.fixture(scope="module")
def s(sb: SandboxServer) -> requests.Session:
    session = requests.Session()
    c = sb.credentials
    session.auth = (f"{c.company_id}+{c.public_key}", c.private_key)
    session.headers["clientId"] = c.client_id
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


def test_errors_conform(sb: SandboxServer, s: requests.Session) -> None:
    url = sb.connectwise_url
    validate_error(requests.get(f"{url}/company/companies"))
    validate_error(s.get(f"{url}/finance/agreements/424242"))
    validate_error(s.get(f"{url}/finance/agreements", params={"conditions": "id = "}))
    validate_error(s.post(f"{url}/finance/agreements/1/additions", json={}))
    validate_error(s.patch(f"{url}/finance/agreements/1", json={"not": "an array"}))
