"""A third-party client (pyconnectwise) drives the sandbox: evidence the simulator is faithful.

pyconnectwise builds `https://{manage_url}/{codebase}/apis/3.0` and fetches the codebase over
https; we pass `codebase` (a supported constructor argument) and override `_get_url` in a
subclass, the one hook it offers, to point it at the loopback http server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.sandbox import SandboxServer
from reconciler.sandbox.store import agreement_record

pyconnectwise = pytest.importorskip("pyconnectwise")
from pyconnectwise import ConnectWiseManageAPIClient  # noqa: E402


class LoopbackClient(ConnectWiseManageAPIClient):
    def __init__(self, sandbox: SandboxServer) -> None:
        self._sandbox_url = sandbox.connectwise_url
        c = sandbox.credentials
        super().__init__(c.company_id, f"127.0.0.1:{sandbox.port}", c.client_id, c.public_key,
                         c.private_key, codebase="v4_6_release/")

    def _get_url(self) -> str:
        return self._sandbox_url


@pytest.fixture()
def sb(tmp_path: Path):
    with SandboxServer(data_dir=tmp_path / "sb", port=0) as server:
        company = server.store.get("company", 1)
        agreement_type = server.store.get("agreement_type", 2)
        server.store.bulk_insert("agreement", [
            agreement_record(company, agreement_type, f"Extra {i:02}") for i in range(40)])
        yield server


def test_lists_agreements_across_pages(sb: SandboxServer) -> None:
    client = LoopbackClient(sb)
    first = client.finance.agreements.paginated(1, 10)
    names = []
    response = first
    pages = 0
    while response is not None:
        names += [a.name for a in response.data]
        pages += 1
        response = response.get_next_page() if response.has_next_page else None
    total = sb.store.count("agreement")
    assert len(names) == total and pages == -(-total // 10)
    assert first.last_page == pages


def test_filters_with_conditions(sb: SandboxServer) -> None:
    client = LoopbackClient(sb)
    agreements = client.finance.agreements.get(params={
        "conditions": 'company/identifier = "Brightline" and type/name = "Microsoft 365 Services"'})
    assert [a.name for a in agreements] == ["Brightline M365"]
    assert agreements[0].company.identifier == "Brightline"


def test_creates_and_patches_an_addition(sb: SandboxServer) -> None:
    client = LoopbackClient(sb)
    (cedar,) = client.finance.agreements.get(params={"conditions": 'name = "Cedar & Finch TMRM"'})
    additions = client.finance.agreements.id(cedar.id).additions
    created = additions.post(data={"product": {"identifier": "TM-APEX1-SAAS"}, "billCustomer": "Billable",
                                   "quantity": 4})
    assert created.id and created.product.identifier == "TM-APEX1-SAAS" and created.quantity == 4
    patched = additions.id(created.id).patch(data=[{"op": "replace", "path": "quantity", "value": 7}])
    assert patched.quantity == 7 and patched.ext_price == pytest.approx(36.75)
    listed = additions.get(params={"conditions": 'product/identifier = "TM-APEX1-SAAS"'})
    assert [a.quantity for a in listed] == [7]


def test_opens_finds_and_notes_a_service_ticket(sb: SandboxServer) -> None:
    client = LoopbackClient(sb)
    tickets = client.service.tickets
    created = tickets.post(data={"summary": "Billing missed: fjord-architects 2026-11", "board": {"name": "Billing"},
                                 "company": {"identifier": "FjordArch"}, "initialDescription": "why"})
    assert created.id and created.board.name == "Billing" and created.company.identifier == "FjordArch"
    assert created.status.name == "New" and created.closed_flag is False
    found = tickets.get(params={"conditions": 'summary = "Billing missed: fjord-architects 2026-11" '
                                              'and board/name = "Billing" and closedFlag = false'})
    assert [t.id for t in found] == [created.id]
    notes = tickets.id(created.id).notes
    added = notes.post(data={"text": "still missed", "internalAnalysisFlag": True})
    assert added.ticket_id == created.id and added.internal_analysis_flag is True
    assert [n.text for n in notes.get()] == ["why", "still missed"]
    patched = tickets.id(created.id).patch(data=[{"op": "replace", "path": "status", "value": {"name": "Closed"}}])
    assert patched.closed_flag is True
