"""The client against the real sandbox over HTTP: paging, filters, writes, and a faulty network."""

from __future__ import annotations

import base64
import logging
from datetime import date

import pytest
import requests

from reconciler.connectwise import BadRequest, Client, Credentials, NotFound, cond

sandbox = pytest.importorskip("reconciler.sandbox")
store_mod = pytest.importorskip("reconciler.sandbox.store")
FaultPlan = sandbox.FaultPlan


def client_for(sb, **kw) -> Client:
    c = sb.credentials
    kw.setdefault("requests_per_minute", 600000)
    kw.setdefault("backoff_factor", 0.005)
    kw.setdefault("max_retries", 8)
    kw.setdefault("timeout", 10.0)
    return Client(
        sb.connectwise_url,
        Credentials(c.company_id, c.public_key, c.private_key, c.client_id),
        "2025.1",
        **kw,
    )


@pytest.fixture
def sb(tmp_path):
    with sandbox.SandboxServer(data_dir=tmp_path / "sb", port=0, seed_demo=False) as server:
        yield server


def stats(sb) -> dict:
    return requests.get(sb.base_url + "/_sandbox/stats", timeout=5).json()


def seed_billing(store):
    company = store.add_company("ACME", "Acme Dental")
    agreement_type = store.add_agreement_type("Managed Service")
    product = store.add_catalog_item("TM-WFBSS-SVC", "Worry-Free Services", 4.0, 2.0)
    agreement = store.add_agreement(company, agreement_type, "Acme Managed")
    return company, agreement, product


def test_pages_through_more_than_a_thousand_records(sb):
    sb.store.bulk_insert(
        "company", [store_mod.company_record(f"C{i:05d}", f"Company {i}") for i in range(2345)]
    )
    client = client_for(sb)
    companies = client.list("company/companies")
    assert len(companies) == 2345
    assert len({c["id"] for c in companies}) == 2345
    assert client.request_count == 3 == stats(sb)["requests"]


def test_filters_quote_user_text_and_chunk_long_in_lists(sb):
    odd = 'O"Brien & Sons \\ 100% (or 1=1)'
    sb.store.add_company(odd, "Odd name")
    created = sb.store.bulk_insert(
        "company", [store_mod.company_record(f"ID-{i:04d}", f"N{i}") for i in range(400)]
    )
    client = client_for(sb)
    assert [c["name"] for c in client.companies([odd])] == ["Odd name"]
    assert client.list("company/companies", conditions=cond("identifier", "=", 'x" or "1')) == []
    wanted = [c["identifier"] for c in created[::2]] + [odd]
    before = client.request_count
    found = client.companies(wanted)
    assert sorted(c["identifier"] for c in found) == sorted(wanted)
    assert client.request_count - before > 1  # split to keep URLs under 2000 characters


def test_agreements_by_company_ids(sb):
    company, agreement, _ = seed_billing(sb.store)
    other = sb.store.add_company("OTHER", "Other")
    sb.store.add_agreement(other, sb.store.add_agreement_type("TMRM Management Solution"), "O")
    client = client_for(sb)
    assert [a["id"] for a in client.agreements([company["id"]])] == [agreement["id"]]
    assert len(client.agreements()) == 2
    assert {t["name"] for t in client.agreement_types()} == {
        "Managed Service",
        "TMRM Management Solution",
    }
    assert [c["identifier"] for c in client.catalog_items(["TM-WFBSS-SVC"])] == ["TM-WFBSS-SVC"]
    assert client.system_info()["version"]


def test_create_patch_cancel_addition(sb):
    _, agreement, product = seed_billing(sb.store)
    client = client_for(sb)
    created = client.create_addition(
        agreement["id"],
        {
            "product": {"id": product["id"]},
            "billCustomer": "Billable",
            "quantity": 42,
            "effectiveDate": "2026-11-01T00:00:00Z",
        },
    )
    assert created["quantity"] == 42
    updated = client.update_addition(
        agreement["id"], created["id"], [{"op": "replace", "path": "quantity", "value": 40}]
    )
    assert updated["quantity"] == 40
    cancelled = client.cancel_addition(agreement["id"], created["id"], date(2026, 11, 30))
    assert cancelled["cancelledDate"] == "2026-11-30T00:00:00Z"
    [addition] = client.additions(agreement["id"])
    assert addition["quantity"] == 40 and addition["cancelledDate"] == "2026-11-30T00:00:00Z"
    with pytest.raises(BadRequest) as info:
        client.create_addition(agreement["id"], {"product": {"id": product["id"]}})
    assert "billCustomer" in str(info.value)
    with pytest.raises(NotFound):
        client.get(f"finance/agreements/{agreement['id']}/additions/99999")


def test_management_summary_report_create_and_read(sb):
    company, agreement, _ = seed_billing(sb.store)
    sb.store.add_management_solution("TMRM Management Solution")  # it must exist (issue 19)
    client = client_for(sb)
    body = {
        "groupIdentifier": "TMRM-2026-11",
        "managementSolution": {"name": "TMRM Management Solution"},
        "totalWorkstations": 40,
        "totalServers": 2,
    }
    report = client.create_management_summary_report(company["id"], body)
    assert report["groupIdentifier"] == "TMRM-2026-11"
    assert [r["id"] for r in client.management_summary_reports(company["id"], "TMRM-2026-11")] == [
        report["id"]
    ]


def test_faulty_network_complete_reads_no_duplicates_no_leaks(sb, caplog):
    caplog.set_level(logging.DEBUG)
    _, agreement, product = seed_billing(sb.store)
    agreements = [agreement] + [
        sb.store.add_agreement(
            sb.store.add_company(f"F{i}", f"F{i}"),
            sb.store.find_one("agreement_type", name="Managed Service"),
            f"A{i}",
        )
        for i in range(11)
    ]
    sb.store.bulk_insert(
        "company", [store_mod.company_record(f"Z{i:05d}", f"Z{i}") for i in range(1500)]
    )
    expected_companies = sb.store.count("company")
    sb.set_faults(
        FaultPlan(
            rate=0.3, seed=20261127, retry_after=0, kinds=("429", "503", "drop", "drop_after")
        )
    )
    client = client_for(sb, post_attempts=8)
    texts: list[str] = []
    for _ in range(3):
        companies = client.list("company/companies")
        assert len(companies) == expected_companies
        assert len({c["id"] for c in companies}) == expected_companies
    for agr in agreements:
        try:
            created = client.create_addition(
                agr["id"],
                {"product": {"id": product["id"]}, "billCustomer": "Billable", "quantity": 7},
            )
            client.update_addition(
                agr["id"], created["id"], [{"op": "replace", "path": "quantity", "value": 8}]
            )
        except Exception as exc:  # noqa: BLE001 - recorded for the leak check, then re-raised
            texts.append(str(exc) + repr(exc))
            raise
    sb.set_faults(FaultPlan())
    for agr in agreements:
        additions = sb.store.all("addition", parent=agr["id"])
        assert len(additions) == 1, f"duplicate additions on agreement {agr['id']}"
        assert additions[0]["quantity"] == 8
    counters = stats(sb)
    assert counters["requests"] == client.request_count  # every attempt counted, retries too
    assert sum(counters.get("faults", {}).values()) > 0 and "outcome unknown" in caplog.text
    secret = sb.credentials.private_key
    token = base64.b64encode(
        f"{sb.credentials.company_id}+{sb.credentials.public_key}:{secret}".encode()
    ).decode()
    everything = caplog.text + "".join(texts)
    assert secret not in everything and token not in everything
