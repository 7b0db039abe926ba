"""The sandbox over real HTTP: auth, paging, conditions, writes, persistence, faults, LMPI."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from reconciler.sandbox import FaultPlan, SandboxServer, reset
from reconciler.sandbox.store import catalog_record, company_record
from reconciler.usage.lmpi import signature as sign


@pytest.fixture()
def sb(tmp_path: Path):
    with SandboxServer(data_dir=tmp_path / "sb", port=0) as server:
        yield server


def session(sb: SandboxServer, client_id: str | None = "test-client") -> requests.Session:
    s = requests.Session()
    creds = sb.credentials
    s.auth = (f"{creds.company_id}+{creds.public_key}", creds.private_key)
    if client_id is not None:
        s.headers["clientId"] = client_id
    return s


def agreement_id(sb: SandboxServer, name: str) -> int:
    r = session(sb).get(f"{sb.connectwise_url}/finance/agreements", params={"conditions": f'name = "{name}"'})
    (agreement,) = r.json()
    return agreement["id"]


# ---- auth ------------------------------------------------------------------------------------
def test_no_auth_is_401_with_cw_body(sb: SandboxServer) -> None:
    r = requests.get(f"{sb.connectwise_url}/company/companies", headers={"clientId": "x"})
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == "Unauthorized" and body["message"] and body["errors"] is None
    assert r.headers["api-current-version"]


def test_wrong_key_is_401(sb: SandboxServer) -> None:
    r = requests.get(f"{sb.connectwise_url}/company/companies", auth=("sandbox+sandbox-public", "nope"),
                     headers={"clientId": "x"})
    assert r.status_code == 401


def test_missing_client_id_is_401_naming_the_header(sb: SandboxServer) -> None:
    r = session(sb, client_id=None).get(f"{sb.connectwise_url}/company/companies")
    assert r.status_code == 401
    assert "clientId" in r.json()["message"]
    assert session(sb, client_id="anything").get(f"{sb.connectwise_url}/company/companies").status_code == 200


def test_companyinfo_is_unauthenticated(sb: SandboxServer) -> None:
    r = requests.get(f"{sb.base_url}/login/companyinfo/sandbox")
    assert r.status_code == 200 and r.json()["Codebase"] == "v4_6_release/"


# ---- reads -----------------------------------------------------------------------------------
def test_paging_follows_link_headers(sb: SandboxServer) -> None:
    sb.store.bulk_insert("company", [company_record(f"Bulk{i:03}", f"Bulk {i}") for i in range(60)])
    s = session(sb)
    url = f"{sb.connectwise_url}/company/companies"
    params: dict | None = {"conditions": 'identifier like "Bulk%"', "pageSize": 25, "orderBy": "id asc"}
    seen, pages = [], 0
    while url:
        r = s.get(url, params=params)
        assert r.status_code == 200
        seen += [c["identifier"] for c in r.json()]
        pages += 1
        links = requests.utils.parse_header_links(r.headers["Link"])
        rels = {link["rel"]: link["url"] for link in links}
        assert {"first", "last"} <= set(rels)
        assert "conditions=" in rels["last"] and "pageSize=25" in rels["last"]
        assert urlsplit(rels["last"]).query.endswith("page=3")
        if pages > 1:
            assert "prev" in rels
        url, params = rels.get("next"), None
    assert pages == 3
    assert seen == [f"Bulk{i:03}" for i in range(60)]
    count = s.get(f"{sb.connectwise_url}/company/companies/count",
                  params={"conditions": 'identifier like "Bulk%"'}).json()
    assert count == {"count": 60}


def test_page_size_is_clamped_to_1000(sb: SandboxServer) -> None:
    sb.store.bulk_insert("catalog", [catalog_record(f"BULK-{i}", "x", 1.0, 0.5) for i in range(1100)])
    r = session(sb).get(f"{sb.connectwise_url}/procurement/catalog", params={"pageSize": 5000})
    assert r.status_code == 200 and len(r.json()) == 1000
    assert 'rel="next"' in r.headers["Link"]
    assert len(session(sb).get(f"{sb.connectwise_url}/procurement/catalog").json()) == 25  # default


def test_conditions_filter_and_projection(sb: SandboxServer) -> None:
    s = session(sb)
    r = s.get(f"{sb.connectwise_url}/finance/agreements", params={
        "conditions": 'company/identifier = "FjordArch" and agreementStatus = "Active"',
        "orderBy": "name desc", "fields": "id,name,type/name"})
    assert r.status_code == 200
    body = r.json()
    assert [a["name"] for a in body] == ["Fjord Managed", "Fjord M365 Protection", "Fjord Block Hours"]
    assert set(body[0]) == {"id", "name", "type"} and set(body[0]["type"]) == {"name"}


def test_malformed_condition_is_400_with_errors(sb: SandboxServer) -> None:
    s = session(sb)
    for conditions in ('company/identifier = "Acme', "nosuch = 1"):
        r = s.get(f"{sb.connectwise_url}/finance/agreements", params={"conditions": conditions})
        assert r.status_code == 400
        body = r.json()
        assert body["code"] == "InvalidObject" and body["message"]
        (err,) = body["errors"]
        assert err["code"] == "InvalidConditions" and err["field"] == "conditions" and err["resource"]


def test_not_found_shape(sb: SandboxServer) -> None:
    s = session(sb)
    r = s.get(f"{sb.connectwise_url}/finance/agreements/99999")
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
    r = s.post(f"{sb.connectwise_url}/finance/agreements/99999/additions",
               json={"product": {"id": 1}, "billCustomer": "Billable"})
    assert r.status_code == 404 and r.json()["code"] == "NotFound"


def test_reference_links_and_no_nulls(sb: SandboxServer) -> None:
    agreement = session(sb).get(f"{sb.connectwise_url}/finance/agreements/1").json()
    assert agreement["type"]["_info"]["type_href"].endswith("/finance/agreements/types/%d" % agreement["type"]["id"])
    assert agreement["_info"]["lastUpdated"].endswith("Z") and agreement["_info"]["updatedBy"]
    assert "dateCancelled" not in agreement


# ---- writes ----------------------------------------------------------------------------------
def test_create_and_patch_addition(sb: SandboxServer) -> None:
    s = session(sb)
    cedar = agreement_id(sb, "Cedar & Finch TMRM")
    base = f"{sb.connectwise_url}/finance/agreements/{cedar}/additions"
    before = sb.store.write_count
    r = s.post(base, json={"product": {"identifier": "TM-APEX1-SAAS"}, "billCustomer": "Billable",
                           "quantity": 4, "effectiveDate": "2026-11-01T00:00:00Z"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["product"]["identifier"] == "TM-APEX1-SAAS" and created["agreementId"] == cedar
    assert created["unitPrice"] == 5.25 and created["extPrice"] == 21.0 and created["billedQuantity"] == 4
    r = s.patch(f"{base}/{created['id']}", json=[{"op": "replace", "path": "/quantity", "value": 6}])
    assert r.status_code == 200
    assert r.json()["quantity"] == 6 and r.json()["extPrice"] == 31.5
    assert r.json()["_info"]["lastUpdated"] >= created["_info"]["lastUpdated"]
    listed = s.get(base, params={"conditions": 'product/identifier = "TM-APEX1-SAAS" and cancelledDate = null'})
    assert [a["quantity"] for a in listed.json()] == [6]
    assert sb.store.write_count == before + 2
    assert requests.get(f"{sb.base_url}/_sandbox/stats").json()["writes"] == before + 2


def test_addition_validation(sb: SandboxServer) -> None:
    s = session(sb)
    base = f"{sb.connectwise_url}/finance/agreements/1/additions"
    r = s.post(base, json={"quantity": 3})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "InvalidObject"
    assert {e["field"] for e in body["errors"]} == {"product", "billCustomer"}
    assert all(e["code"] == "RequiredField" and e["resource"] == "addition" for e in body["errors"])
    r = s.post(base, json={"product": {"identifier": "NOPE"}, "billCustomer": "Billable"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "product"
    r = s.post(base, json={"product": {"id": 1}, "billCustomer": "Sometimes"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "billCustomer"
    r = s.post(base, json={"product": {"id": 1}, "billCustomer": "Billable", "effectiveDate": "2026-11-01"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "UnsupportedFormat"
    r = s.patch(f"{base}/1", json={"op": "replace", "path": "quantity", "value": 1})
    assert r.status_code == 400  # not an array
    r = s.patch(f"{base}/1", json=[{"op": "replace", "path": "product/identifier", "value": "X"}])
    assert r.status_code == 400  # references are replaced whole


def test_delete_is_204_and_a_write(sb: SandboxServer) -> None:
    s = session(sb)
    before = sb.store.write_count
    r = s.delete(f"{sb.connectwise_url}/finance/agreements/1/additions/1")
    assert r.status_code == 204 and r.content == b""
    assert s.get(f"{sb.connectwise_url}/finance/agreements/1/additions/1").status_code == 404
    assert sb.store.write_count == before + 1


def test_management_summary_reports(sb: SandboxServer) -> None:
    s = session(sb)
    base = f"{sb.connectwise_url}/company/companies/1/managementSummaryReports"
    assert s.post(base, json={"totalWorkstations": 3}).status_code == 400
    assert s.post(base, json={"groupIdentifier": "x" * 101}).status_code == 400
    r = s.post(base, json={"groupIdentifier": "TMRM-2026-11", "totalWorkstations": 42,
                           "managementSolution": {"name": "TMRM Management Solution"}})
    assert r.status_code == 201 and r.json()["company"]["id"] == 1
    rid = r.json()["id"]
    r = s.patch(f"{base}/{rid}", json=[{"op": "replace", "path": "totalWorkstations", "value": 43}])
    assert r.status_code == 200 and r.json()["totalWorkstations"] == 43
    assert s.get(f"{base}/count").json() == {"count": 1}


def test_state_persists_across_servers(tmp_path: Path) -> None:
    data = tmp_path / "sb"
    with SandboxServer(data_dir=data, port=0) as first:
        r = session(first).patch(f"{first.connectwise_url}/finance/agreements/1/additions/2",
                                 json=[{"op": "replace", "path": "quantity", "value": 38}])
        assert r.status_code == 200
    with SandboxServer(data_dir=data, port=0, seed_demo=True) as second:  # not re-seeded: DB not empty
        r = session(second).get(f"{second.connectwise_url}/finance/agreements/1/additions/2")
        assert r.json()["quantity"] == 38
        assert second.store.write_count == 1
    reset(data)
    with SandboxServer(data_dir=data, port=0) as third:
        assert session(third).get(f"{third.connectwise_url}/finance/agreements/1/additions/2").json()["quantity"] == 35
        assert third.store.write_count == 0


def test_control_reset_restores_demo(sb: SandboxServer) -> None:
    session(sb).delete(f"{sb.connectwise_url}/finance/agreements/1/additions/1")
    assert requests.post(f"{sb.base_url}/_sandbox/reset").status_code == 200
    assert session(sb).get(f"{sb.connectwise_url}/finance/agreements/1/additions/1").status_code == 200
    assert requests.get(f"{sb.base_url}/_sandbox/stats").json()["writes"] == 0


# ---- faults ----------------------------------------------------------------------------------
def _statuses(sb: SandboxServer, n: int) -> list[object]:
    out: list[object] = []
    s = session(sb)
    for _ in range(n):
        try:
            out.append(s.get(f"{sb.connectwise_url}/system/info", timeout=5).status_code)
        except requests.ConnectionError:
            out.append("dropped")
            s = session(sb)
    return out


def test_seeded_fault_rate_is_reproducible(tmp_path: Path) -> None:
    plan = dict(rate=0.4, seed=7, kinds=("429", "503", "drop"))
    with SandboxServer(data_dir=tmp_path / "a", port=0, faults=FaultPlan(**plan)) as a:
        first = _statuses(a, 25)
    with SandboxServer(data_dir=tmp_path / "b", port=0, faults=FaultPlan(**plan)) as b:
        second = _statuses(b, 25)
    assert first == second
    assert {429, 503, "dropped"} & set(first) and 200 in first


def test_nth_request_faults_and_429_shape(sb: SandboxServer) -> None:
    r = requests.post(f"{sb.base_url}/_sandbox/faults", json={"nth": {"2": "429", "3": "500"}, "retry_after": 1})
    assert r.status_code == 200
    s = session(sb)
    assert s.get(f"{sb.connectwise_url}/system/info").status_code == 200
    r = s.get(f"{sb.connectwise_url}/system/info")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert r.json()["error"] == "ConnectWiseAPI" and "Too many requests" in r.json()["message"]
    r = s.get(f"{sb.connectwise_url}/system/info")
    assert r.status_code == 500 and r.json()["code"]
    assert s.get(f"{sb.connectwise_url}/system/info").status_code == 200
    assert requests.get(f"{sb.base_url}/_sandbox/stats").json()["faults"] == {"429": 1, "500": 1}


def test_drop_after_commits_the_write(sb: SandboxServer) -> None:
    sb.set_faults(FaultPlan(nth={1: "drop_after"}))
    s = session(sb)
    base = f"{sb.connectwise_url}/finance/agreements/1/additions"
    with pytest.raises(requests.ConnectionError):
        s.post(base, json={"product": {"identifier": "TM-WFS-ADV"}, "billCustomer": "Billable", "quantity": 5})
    listed = session(sb).get(base, params={"conditions": 'product/identifier = "TM-WFS-ADV"'}).json()
    assert [a["quantity"] for a in listed] == [5]


def test_drop_before_does_not_commit(sb: SandboxServer) -> None:
    sb.set_faults(FaultPlan(nth={1: "drop"}))
    base = f"{sb.connectwise_url}/finance/agreements/1/additions"
    with pytest.raises(requests.ConnectionError):
        session(sb).post(base, json={"product": {"identifier": "TM-WFS-ADV"}, "billCustomer": "Billable"})
    assert session(sb).get(base, params={"conditions": 'product/identifier = "TM-WFS-ADV"'}).json() == []


def test_timeout_fault_outlasts_client_timeout(sb: SandboxServer) -> None:
    sb.set_faults(FaultPlan(nth={1: "timeout"}, timeout_seconds=1.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        session(sb).get(f"{sb.connectwise_url}/system/info", timeout=0.3)


def test_fault_plan_from_env() -> None:
    plan = FaultPlan.from_env({"SANDBOX_LATENCY_MS": "5", "SANDBOX_FAULT_RATE": "0.1",
                               "SANDBOX_FAULT_SEED": "3", "SANDBOX_FAULT_KINDS": "429,drop_after"})
    assert (plan.latency_ms, plan.rate, plan.seed, plan.kinds) == (5, 0.1, 3, ("429", "drop_after"))
    with pytest.raises(ValueError):
        FaultPlan(kinds=("418",))


# ---- LMPI ------------------------------------------------------------------------------------
ALL_TIME = "created_start=2000-01-01T00:00:00Z&created_end=2099-01-01T00:00:00Z"


def lmpi_get(sb: SandboxServer, uri: str, secret: str | None = None, skew: int = 0) -> requests.Response:
    creds = sb.credentials
    posix = str(int(time.time()) + skew)
    headers = {"x-access-token": creds.lmpi_access_token, "x-posix-time": posix,
               "x-signature": sign(secret or creds.lmpi_secret_key, posix, "GET", uri),
               "x-traceid": "t-1", "content-type": "application/json"}
    return requests.get(sb.base_url + uri, headers=headers)


def test_lmpi_signature_accepted(sb: SandboxServer) -> None:
    assert sb.lmpi_url.endswith("/LMPI")
    r = lmpi_get(sb, f"/LMPI/v3/customers?{ALL_TIME}&page=1&limit=5")
    assert r.status_code == 200
    body = r.json()
    assert len(body["customers"]) == 5 and body["paging"] == {"page": 1, "limit": 5, "total": 8}
    subs = lmpi_get(sb, f"/LMPI/v2.5/customers/subscriptions?{ALL_TIME}&limit=100").json()["subscriptions"]
    sub = next(s for s in subs if s["customer_id"].startswith("3f2b6c1e") and "HESMWXE3X" in s["name"])
    r = lmpi_get(sb, f"/LMPI/v3/customers/{sub['customer_id']}/subscriptions/{sub['subscription_id']}")
    (lic,) = r.json()["licenses"]
    assert lic["product_id"] == "HESMWXE3X" and lic["units"] == 38
    assert isinstance(lmpi_get(sb, "/LMPI/v3/me/serviceplans").json(), list)


def test_lmpi_signature_rejected(sb: SandboxServer) -> None:
    assert lmpi_get(sb, f"/LMPI/v3/customers?{ALL_TIME}", secret="wrong").status_code == 401
    assert lmpi_get(sb, f"/LMPI/v3/customers?{ALL_TIME}", skew=-16 * 60).status_code == 401
    assert lmpi_get(sb, f"/LMPI/v3/customers?{ALL_TIME}&limit=101").status_code == 400
    r = requests.get(f"{sb.base_url}/LMPI/v3/customers")
    assert r.status_code == 400 and r.json()["error_subject"].startswith("MissingHeader")
    # the signature covers the query exactly as sent
    creds = sb.credentials
    posix = str(int(time.time()))
    headers = {"x-access-token": creds.lmpi_access_token, "x-posix-time": posix, "x-traceid": "t",
               "content-type": "application/json",
               "x-signature": sign(creds.lmpi_secret_key, posix, "GET", f"/LMPI/v3/customers?{ALL_TIME}&page=1")}
    assert requests.get(f"{sb.base_url}/LMPI/v3/customers?{ALL_TIME}&page=2", headers=headers).status_code == 401


def test_usage_source_client_reads_the_sandbox(sb: SandboxServer) -> None:
    lmpi = pytest.importorskip("reconciler.usage.lmpi")
    client = lmpi.LmpiClient(sb.lmpi_url, sb.credentials.lmpi_access_token, sb.credentials.lmpi_secret_key)
    assert len(client.customers()) == 8 and len(client.subscriptions()) == 18
