"""Billing-problem notifications: one ConnectWise service ticket per problem, found again later.

A problem is a customer whose billing for a period is `missed` (its billing date passed beyond
`catch_up_days` and nothing was sent), `failed` (an error stopped it) or `unsafe` (the plan was
refused by the safety thresholds). TMRM raised such problems as ConnectWise tickets; so does
this, when `notifications.connectwise_ticket` is set in global.yaml.

One ticket per problem, customer and period: the first run that sees the problem opens a ticket;
every later run that still sees it adds a note to that ticket instead of opening another. The
ticket is found again by its summary, which is built only from what stays the same from one
run to the next (the problem's kind, the customer's file name and the period), never from the
reason, counts or dates that change, and carries the `[reconcile]` prefix so a hand-typed ticket
is not mistaken for ours. It is searched among the board's open tickets: once an admin closes
the ticket, a problem that is still there opens a new one rather than a note nobody reads.

Filing a ticket never hides the problem: the run still exits non-zero, and a ticket that cannot
be filed is reported as such (`TicketOutcome.action == "failed"`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from reconciler.config.model import TicketSettings
from reconciler.target import Target, TargetError

PROBLEM_KINDS = ("missed", "failed", "unsafe")
SUMMARY_PREFIX = "[reconcile] billing"
SUMMARY_MAX = 100  # ConnectWise's limit for a ticket summary
UNSAFE_REASON = "unsafe plan refused"  # how apply words a refused unsafe plan

NEXT_STEP = {
    "missed": "Check the plan, then send it: `reconcile apply --send-now --customer {customer} --date <a day of "
              "{period}>` (or the Billing workflow's Run workflow with send_now and that date).",
    "failed": "Fix the cause (the config by pull request, or ConnectWise), then rerun: a rerun is safe, "
              "customers already sent are skipped.",
    "unsafe": "Read the plan. If the change is intended, apply it with `reconcile apply --force --customer "
              "{customer}`; if not, fix the usage source or the config.",
}


class CustomerOutcome(Protocol):
    """What `apply` reports per customer (reconciler.apply.CustomerResult)."""

    customer: str
    connectwise_company: str
    status: str
    reason: str
    period: str | None


@dataclass(frozen=True)
class Problem:
    customer: str  # the customer file's slug
    connectwise_company: str
    kind: str  # one of PROBLEM_KINDS
    period: str  # YYYY-MM
    reason: str

    @property
    def label(self) -> str:
        return f"{self.customer} {self.kind}"


def billing_problems(results: Iterable[CustomerOutcome], fallback_period: str) -> list[Problem]:
    """The customers of a run that need a human, in the order apply reported them.

    `fallback_period` labels a customer that failed before its period was known (an unexpected
    error): the run's own month.
    """
    problems = []
    for result in results:
        if result.status == "missed":
            kind = "missed"
        elif result.status == "failed":
            kind = "unsafe" if result.reason.startswith(UNSAFE_REASON) else "failed"
        else:
            continue
        problems.append(Problem(result.customer, result.connectwise_company, kind,
                                result.period or fallback_period, result.reason))
    return problems


def ticket_summary(problem: Problem) -> str:
    """The stable marker a problem's ticket is found by (at most 100 characters).

    A customer slug too long to fit is cut and given a short hash of the whole slug, so two
    long slugs with a common start never share a ticket.
    """
    head, tail = f"{SUMMARY_PREFIX} {problem.kind}: ", f" {problem.period}"
    room = SUMMARY_MAX - len(head) - len(tail)
    name = problem.customer
    if len(name) > room:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        name = f"{name[:room - 9]}~{digest}"
    return f"{head}{name}{tail}"


@dataclass(frozen=True)
class TicketOutcome:
    problem: Problem
    action: str  # opened | updated | failed
    ticket_id: int | None = None
    error: str | None = None

    def line(self) -> str:
        what = f"{self.problem.customer} ({self.problem.kind} {self.problem.period})"
        if self.action == "failed":
            return f"ConnectWise ticket NOT filed for {what}: {self.error}"
        verb = "opened" if self.action == "opened" else "updated (note added)"
        return f"ConnectWise ticket {self.ticket_id} {verb} for {what}"

    def as_json(self) -> dict[str, Any]:
        return {"customer": self.problem.customer, "kind": self.problem.kind, "period": self.problem.period,
                "summary": ticket_summary(self.problem), "action": self.action, "ticket_id": self.ticket_id,
                "error": self.error}


def file_tickets(target: Target, settings: TicketSettings, problems: Iterable[Problem], run_id: str,
                 now: datetime | None = None) -> list[TicketOutcome]:
    """Open or update one ticket per problem. One problem's failure never stops the others."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    outcomes = []
    for problem in problems:
        try:
            outcomes.append(_file_one(target, settings, problem, run_id, stamp))
        except TargetError as error:
            outcomes.append(TicketOutcome(problem, "failed", error=str(error)))
        except Exception as error:  # an odd answer must not hide the problem behind a traceback
            outcomes.append(TicketOutcome(problem, "failed", error=f"{type(error).__name__}: {error}"))
    return outcomes


def _file_one(target: Target, settings: TicketSettings, problem: Problem, run_id: str, stamp: str) -> TicketOutcome:
    summary = ticket_summary(problem)
    existing = target.open_tickets(summary, settings.board)
    if existing:
        target.add_ticket_note(existing[0], f"Still {problem.kind} in run {run_id} ({stamp}): {problem.reason}")
        return TicketOutcome(problem, "updated", existing[0])
    # Filed on the customer's own company by default: the text goes in internal notes, which the
    # customer portal does not show, and the customer's contact is never emailed.
    ticket_id = target.open_ticket(summary, settings.board, settings.company or problem.connectwise_company,
                                   settings.status, _description(problem, run_id, stamp))
    return TicketOutcome(problem, "opened", ticket_id)


def _description(problem: Problem, run_id: str, stamp: str) -> str:
    step = NEXT_STEP[problem.kind].format(customer=problem.customer, period=problem.period)
    return (f"Billing for {problem.customer} (ConnectWise company {problem.connectwise_company}), period "
            f"{problem.period}, is {problem.kind}.\n\n{problem.reason}\n\nNext step: {step}\n\n"
            f"Opened by reconcile run {run_id} ({stamp}). Later runs add a note here while the problem "
            "lasts; close the ticket once it is solved.")
