"""Billing problems written to the ledger, so the report can show them (issue 21).

A run's problems (notify.py: a customer `missed`, `failed` or `unsafe` for a period) are what a
billing admin must act on. Only a send that failed mid-write leaves a `failed` result in the
ledger; a missed billing date, a plan refused as unsafe or a customer that failed before its
send (a ConnectWise read error) leave nothing, so the report, which reads only the ledger,
could not show them. Each run therefore appends one `problem` record per problem:

    {"v":1,"ts":…,"run_id":…,"event":"problem","kind":"billing","customer":"acme",
     "connectwise_company":"Acme","period":"2026-11","trigger":"scheduled","status":"missed",
     "error":"billing date 2026-11-01 passed …","ticket_id":123}

The engine's index ignores the `problem` event (it answers what was sent, not what went
wrong); the report gathers a problem's records per customer, period and status (first and
last run, how many runs) and marks it resolved when a later `sent` result exists for the same
customer, kind and period. A standing problem is reported by every run until someone acts, and
so is written once per run: the same cadence as its ticket note.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.ledger import Event, Ledger, SendKind, Trigger
from reconciler.notify import Problem, TicketOutcome


def record_problems(ledger: Ledger, problems: Iterable[Problem], tickets: Iterable[TicketOutcome] = (),
                    trigger: Trigger = Trigger.SCHEDULED) -> int:
    """Append one `problem` record per problem of this run; returns how many were written.
    `trigger` is the run's, as its sends record it: `manual` under --send-now. The record's
    `status` is the problem's kind (`notify.ProblemKind`)."""
    ticket_ids = {(t.problem.customer, t.problem.kind, t.problem.period): t.ticket_id for t in tickets}
    written = 0
    for problem in problems:
        ledger.append({
            "event": Event.PROBLEM, "kind": SendKind.BILLING, "customer": problem.customer,
            "connectwise_company": problem.psa_company, "period": problem.period,
            "trigger": trigger, "status": problem.kind, "error": problem.reason,
            "ticket_id": ticket_ids.get((problem.customer, problem.kind, problem.period)),
        })
        written += 1
    return written
