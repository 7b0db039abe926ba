"""reconciler/apply.py: what a customer's result says, decided by apply and carried as types,
never read back from the reason's text (notify files its tickets from them)."""

from __future__ import annotations

import json
from datetime import date

from reconciler.apply import ApplyOptions, FailureKind, ResultStatus, apply_customer, trigger_of
from reconciler.ledger import Ledger, LedgerView, Trigger
from reconciler.notify import ProblemKind, billing_problems
from reconciler.plan import CustomerPlan, CustomerStatus
from reconciler.schedule import Due, Schedule


def _schedule(status: Due = Due.DUE, period: str = "2026-11") -> Schedule:
    return Schedule(status=status, period=period, billing_date=date(2026, 11, 1), next_date=date(2026, 12, 1),
                    reason="due", day=1)


def _unsafe(**extra) -> CustomerPlan:
    return CustomerPlan(customer="acme", name="Acme", psa_company="Acme", status=CustomerStatus.UNSAFE,
                        reason="hes 42 -> 4 is beyond max_change_percent", schedule=_schedule(), **extra)


class NoWrites:
    """A PSA that must not be written: a refused plan writes nothing."""

    def __getattr__(self, name):
        raise AssertionError(f"a refused customer called the PSA: {name}")


def test_a_refused_unsafe_plan_is_a_failure_of_kind_unsafe_and_an_unsafe_problem(tmp_path):
    ledger = Ledger(tmp_path / "ledger.jsonl", run_id="r1")
    result = apply_customer(NoWrites(), _unsafe(), ledger, LedgerView([]), ApplyOptions(), {})
    assert (result.status, result.failure) == (ResultStatus.FAILED, FailureKind.UNSAFE)
    assert [p.kind for p in billing_problems([result], "2026-12")] == [ProblemKind.UNSAFE]
    assert not list(tmp_path.iterdir()), "a refused plan wrote to the ledger"


def test_an_interrupted_period_beside_a_refusal_is_a_failed_problem_for_that_period(tmp_path):
    """The interrupted period is what a person must check: its ticket is `failed`, whatever
    else the customer's reason says."""
    ledger = Ledger(tmp_path / "ledger.jsonl", run_id="r2")
    cp = _unsafe(interrupted=[{"kind": "billing", "period": "2026-10", "run_id": "r1", "trigger": "scheduled"}])
    result = apply_customer(NoWrites(), cp, ledger, LedgerView([]), ApplyOptions(), {})
    assert (result.status, result.failure, result.period) == (ResultStatus.FAILED, FailureKind.ERROR, "2026-10")
    assert [p.kind for p in billing_problems([result], "2026-12")] == [ProblemKind.FAILED]
    (record,) = [r for path in tmp_path.iterdir() for r in map(json.loads, path.read_text().splitlines())]
    assert (record["event"], record["status"], record["trigger"]) == ("result", "failed", "scheduled")


def test_a_failed_plan_is_a_failure_of_kind_error(tmp_path):
    cp = CustomerPlan(customer="acme", name="Acme", psa_company="Acme", status=CustomerStatus.FAILED,
                      reason="unsafe plan refused (use --force to apply): a reason that only looks like one",
                      schedule=_schedule())
    result = apply_customer(NoWrites(), cp, Ledger(tmp_path / "l.jsonl"), LedgerView([]), ApplyOptions(), {})
    assert (result.status, result.failure) == (ResultStatus.FAILED, FailureKind.ERROR)
    assert [p.kind for p in billing_problems([result], "2026-12")] == [ProblemKind.FAILED]


def test_a_send_now_is_manual_and_a_due_date_scheduled():
    assert trigger_of(_schedule(Due.MANUAL)) is Trigger.MANUAL
    assert trigger_of(_schedule(Due.DUE)) is Trigger.SCHEDULED
