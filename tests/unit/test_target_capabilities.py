"""A PSA without executive summaries or tickets (`Target.capabilities`): notify files no ticket
and says so, doctor warns instead of probing, the runtime hands out whichever PSA the wiring
list names. (The engine and apply side: tests/unit/test_apply_rules.py.)"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from reconciler import runtime
from reconciler.config import load_config
from reconciler.config.model import TicketSettings
from reconciler.doctor import checks as c
from reconciler.doctor.reads import read_connectwise
from reconciler.doctor.report import Status
from reconciler.notify import Problem, file_tickets
from reconciler.target import Capabilities, MissingCredentials
from reconciler.ticketbook import TicketBook
from tests.support import REPO_ROOT, memory_psa
from tests.support.memory_target import MemoryTarget

NO_EXTRAS = Capabilities(summaries=False, tickets=False)


@pytest.fixture(scope="module")
def demo():
    config = load_config(REPO_ROOT / "config")  # executive summaries and tickets are on
    assert config.notifications.connectwise_ticket is not None and c.solutions_named(config)
    return config


def _problem(slug: str) -> Problem:
    return Problem(customer=slug, psa_company=slug, kind="failed", period="2026-11", reason="refused")


def test_a_psa_without_tickets_files_none_and_says_so_once(tmp_path):
    psa = MemoryTarget(NO_EXTRAS)
    run = file_tickets(psa, TicketSettings(board="Billing"), [_problem("acme"), _problem("bravo")], "run",
                       TicketBook.load(tmp_path / "book.json"), datetime(2026, 12, 1, tzinfo=UTC))
    assert psa.calls == [] and run.outcomes == [] and run.error is None
    (line, is_error), = run.lines()
    assert not is_error and line.startswith("MemoryPSA keeps no service tickets: no ticket filed for 2 problems")


def test_doctor_warns_about_what_the_psa_does_not_keep_and_reads_none_of_it(demo):
    psa = memory_psa.connect(demo, {"MEMORY_PSA_TOKEN": "t"}).target
    facts = read_connectwise(demo, psa)
    assert not {"ticket_references", "open_tickets_on_board", "management_solution_exists"} & set(psa.calls)
    checks = [*c.ticket_checks(demo, facts), c.ticket_company(demo, facts), c.management_solution(demo, facts)]
    assert [x.status for x in checks] == [Status.WARNING] * 5
    assert all("MemoryPSA keeps no" in x.detail for x in checks)
    assert "executive summaries" in checks[-1].detail and "service tickets" in checks[0].detail


def test_doctor_still_checks_what_a_psa_with_everything_keeps(demo):
    facts = dataclasses.replace(read_connectwise(demo, MemoryTarget()), solutions={"TMRM Management Solution": False})
    assert c.management_solution(demo, facts).status is Status.BLOCKER


def test_runtime_connects_the_psa_the_wiring_list_names(monkeypatch, demo):
    monkeypatch.setattr(runtime, "TARGETS", {"memory": "tests.support.memory_psa"})
    with runtime.open_backends(demo, sandbox=False, env={"MEMORY_PSA_TOKEN": "t"}) as backends:
        assert isinstance(backends.target, MemoryTarget) and backends.notes == []
    assert runtime.credential_variables() == ("MEMORY_PSA_TOKEN",)
    with pytest.raises(MissingCredentials, match="MEMORY_PSA_TOKEN"), runtime.open_backends(demo, False, env={}):
        pass


def test_connectwise_stays_the_default_with_its_messages_unchanged(demo):
    assert runtime.credential_variables() == ("CW_PUBLIC_KEY", "CW_PRIVATE_KEY", "CW_CLIENT_ID")
    with pytest.raises(runtime.MissingCredentials) as raised, runtime.open_backends(demo, False, env={"CW_PUBLIC_KEY": "x"}):
        pass
    assert str(raised.value) == ("missing ConnectWise credentials: set CW_PRIVATE_KEY, CW_CLIENT_ID in the environment "
                                 "(or run with --sandbox to use the embedded simulator)")


def test_the_sandbox_is_handed_to_the_psas_connect(tmp_path, demo, monkeypatch):
    """runtime starts the simulator and gives it to the PSA's connect, which talks to it."""
    monkeypatch.chdir(tmp_path)
    config = dataclasses.replace(demo, root=tmp_path / "config")
    with runtime.open_backends(config, sandbox=True, env={}) as backends:
        assert backends.sandbox is not None
        assert backends.target.client.base_url.startswith(backends.sandbox.connectwise_url.rstrip("/"))
        assert {c.identifier for c in backends.target.companies(["AcmeDental"])} == {"AcmeDental"}
        assert backends.usage_env["TM_LMPI_URL"] == backends.sandbox.lmpi_url
