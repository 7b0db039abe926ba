"""Billing-problem notifications: one ConnectWise service ticket per problem, found again by id.

A problem is a customer whose billing for a period is `missed` (its billing date passed beyond
`catch_up_days` and nothing was sent), `failed` (an error stopped it) or `unsafe` (the plan was
refused by the safety thresholds). TMRM raised such problems as ConnectWise tickets; so does
this, when `notifications.connectwise_ticket` is set in global.yaml. docs/tickets.md is the
user's account; the decisions are here.

One ticket per problem, customer and period, and what a run costs (issue 22: a day with 1,000
standing problems must cost a handful of requests, not thousands):

- No problem, no request. With something to write, the board, status and type are looked up by
  name once per run (`Target.ticket_references`, 1-3 requests). One that does not exist is ONE error for
  the run (`TicketRun.error`), naming what exists, and no POST is tried for any customer.
- The ticket a problem was given is recorded in the ticket book beside the ledger
  (`reconciler.ticketbook`) and found again by that id. Which recorded tickets are still open
  is answered by one search per run: the board's open tickets (by board id and the open flag,
  never by text: brackets are date delimiters in `conditions`). A recorded ticket no longer
  among them was closed (or moved off the board): the problem, still there, gets a new ticket.
  A problem with no recorded ticket first adopts an open ticket of that board whose summary is
  exactly its own (a lost book, or tickets from an older version), else opens one.
- A standing problem gets a note only when its reason changes (a reason that differs only in
  "N days ago" is the same reason), or when its last note is a week old. A run with nothing to
  write (every problem has its recorded ticket, the same reason and a note less than a week
  old) sends no request at all, whatever the number of problems; the lookups and the search
  happen only on a run that writes, which also notices, within a week, a ticket someone closed
  while its problem lasts.

Where a ticket is filed (never on a company an identifier merely resolves to today):
- `company` in the settings: every ticket goes on that company (looked up once per run);
- else the customer's company, by the id the tool trusts, in this order: the one this run's plan
  checked (`engine.check_company`); the `connectwise_company_id` its file pins; the company its
  last send went to per the ledger (the plan did not read ConnectWise for it: a missed period, a
  failure before the read). A customer whose identifier now resolves to another company has a
  last send (that is how the change is noticed), so it is never ticketed on that other company;
- else, for a customer never sent (nothing to contradict), the company its identifier resolves
  to, as its first bill would (one lookup per run for all such customers);
- else (the identifier resolves to no company, or to several) the MSP's own company:
  `own_company` in the settings, or the company whose identifier is the API login's company id.
  The ticket's text names the customer and says why it is there.

Filing a ticket never hides the problem: the run still exits non-zero, and a ticket that cannot
be filed is reported as such (`TicketOutcome.action` is `TicketAction.FAILED`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from reconciler.apply import FailureKind, ResultStatus
from reconciler.config.model import TicketSettings
from reconciler.render.escape import plain_line
from reconciler.target import Target, TargetError, TicketReferences, capabilities_of
from reconciler.ticketbook import TicketBook, TicketEntry


class ProblemKind(StrEnum):
    """What needs a human (the word in the ticket summary, the ticket book's key and the ledger's
    `problem` records: str-valued, written as the word)."""

    MISSED = "missed"  # its billing date passed beyond catch_up_days and nothing was sent
    FAILED = "failed"  # an error stopped it
    UNSAFE = "unsafe"  # the plan was refused by the safety thresholds


class TicketAction(StrEnum):
    """What filing did with a problem's ticket (the run report's `tickets[].action`)."""

    OPENED = "opened"
    UPDATED = "updated"  # a note added: a new reason, or a week since the last note
    UNCHANGED = "unchanged"  # still open with the same reason: nothing written
    FAILED = "failed"  # not filed: the run prints why and still exits 1


SUMMARY_PREFIX = "[reconcile] billing"
SUMMARY_MAX = 100  # ConnectWise's limit for a ticket summary
NOTE_AGAIN_AFTER = timedelta(days=7)  # a standing problem with the same reason: a note a week
KEEP_PERIODS = 13  # months of ticket book entries kept

NEXT_STEP = {
    ProblemKind.MISSED: "Check the plan, then send it: `reconcile apply --send-now --customer {customer} --date <a day of "
              "{period}>` (or the Billing workflow's Run workflow with send_now and that date).",
    ProblemKind.FAILED: "Fix the cause (the config by pull request, or ConnectWise), then rerun: a rerun is safe, "
              "customers already sent are skipped.",
    ProblemKind.UNSAFE: "Read the plan. If the change is intended, apply it with `reconcile apply --force --customer "
              "{customer}`; if not, fix the usage source or the config.",
}


class CustomerOutcome(Protocol):
    """What `apply` reports per customer (reconciler.apply.CustomerResult). Read-only
    properties: a result's status may be any str (its ResultStatus is one)."""

    customer: str
    psa_company: str
    status: ResultStatus
    reason: str
    period: str | None
    failure: FailureKind | None  # why a FAILED result failed: a refused unsafe plan is its own problem


@dataclass(frozen=True)
class Problem:
    customer: str  # the customer file's slug
    psa_company: str  # the identifier in the customer's file
    kind: ProblemKind
    period: str  # YYYY-MM
    reason: str
    company_id: int | None = None  # the company the tool trusts for this customer (see module doc)
    ever_sent: bool = True  # False: no send in the ledger, so its identifier's company may be used

    @property
    def label(self) -> str:
        return f"{self.customer} {self.kind}"

    @property
    def key(self) -> str:
        """The ticket book's key: what stays the same from one run to the next."""
        return f"{self.kind}|{self.customer}|{self.period}"


def billing_problems(results: Iterable[CustomerOutcome], fallback_period: str,
                     trusted_companies: Mapping[str, int] | None = None,
                     sent_customers: set[str] | None = None) -> list[Problem]:
    """The customers of a run that need a human, in the order apply reported them.

    `fallback_period` labels a customer that failed before its period was known (an unexpected
    error): the run's own month. `trusted_companies`: customer slug -> the company id the tool
    trusts for it (`trusted_company_ids`).
    """
    trusted = trusted_companies or {}
    problems = []
    for result in results:
        if result.status == ResultStatus.MISSED:
            kind = ProblemKind.MISSED
        elif result.status == ResultStatus.FAILED:
            kind = ProblemKind.UNSAFE if result.failure == FailureKind.UNSAFE else ProblemKind.FAILED
        else:
            continue
        problems.append(Problem(result.customer, result.psa_company, kind,
                                result.period or fallback_period, result.reason, trusted.get(result.customer),
                                sent_customers is None or result.customer in sent_customers))
    return problems


def trusted_company_ids(checked: Mapping[str, int | None], pinned: Mapping[str, int | None],
                        last_sent: Mapping[str, Any]) -> dict[str, int]:
    """Customer slug -> the company id a ticket may go on: the one this run's plan checked
    (`checked`, from `CustomerPlan.connectwise_company_id`), else the one the customer file pins,
    else the one the ledger's last send went to (`last_sent`: slug -> that ledger record)."""
    out: dict[str, int] = {}
    for slug in {*checked, *pinned, *last_sent}:
        record = last_sent.get(slug)
        sent = record.get("connectwise_company_id") if isinstance(record, dict) else None
        for company_id in (checked.get(slug), pinned.get(slug), sent):
            if isinstance(company_id, int) and not isinstance(company_id, bool):
                out[slug] = company_id
                break
    return out




def ticket_summary(problem: Problem) -> str:
    """The problem's ticket summary (at most 100 characters), stable from run to run.

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


_DAYS_AGO = re.compile(r"\b\d+ days? ago\b")


def same_reason(reason: str) -> str:
    """The reason as compared between runs: "16 days ago" and "17 days ago" are the same."""
    return _DAYS_AGO.sub("N days ago", reason.strip())


@dataclass(frozen=True)
class TicketOutcome:
    problem: Problem
    action: TicketAction
    ticket_id: int | None = None
    error: str | None = None

    def line(self) -> str:
        what = f"{self.problem.customer} ({self.problem.kind} {self.problem.period})"
        if self.action == TicketAction.FAILED:
            return f"ConnectWise ticket NOT filed for {what}: {self.error}"
        verb = {TicketAction.OPENED: "opened", TicketAction.UPDATED: "updated (note added)",
                TicketAction.UNCHANGED: "still open (same reason: no note)"}[self.action]
        return f"ConnectWise ticket {self.ticket_id} {verb} for {what}"

    def as_json(self) -> dict[str, Any]:
        return {"customer": self.problem.customer, "kind": self.problem.kind, "period": self.problem.period,
                "summary": ticket_summary(self.problem), "action": self.action, "ticket_id": self.ticket_id,
                "error": self.error}


@dataclass
class TicketRun:
    """What filing tickets did in one run: one outcome per problem, and `error` when nothing
    could be filed at all (a board, status, type or company that does not exist): that is
    printed once, not once per customer."""

    outcomes: list[TicketOutcome] = field(default_factory=list)
    error: str | None = None
    note: str | None = None  # why nothing was filed, when that is no error (a PSA without tickets)

    def lines(self) -> list[tuple[str, bool]]:
        """(line, is_error) to print: the run's error once, else one line per ticket touched
        (a standing problem left as it is goes unmentioned unless there are few)."""
        if self.note:
            return [(plain_line(self.note), False)]
        if self.error:
            who = ", ".join(f"{o.problem.customer} {o.problem.kind} {o.problem.period}" for o in self.outcomes[:5])
            more = f" and {len(self.outcomes) - 5} more" if len(self.outcomes) > 5 else ""
            count = len(self.outcomes)
            line = (f"ConnectWise tickets NOT filed for {count} problem{'s' if count != 1 else ''} "
                    f"({who}{more}): {self.error}")
            # The error names config and ConnectWise text (a board name): escaped, one line.
            return [(plain_line(line), True)]
        quiet = [o for o in self.outcomes if o.action == TicketAction.UNCHANGED]
        lines = [(o.line(), o.action == TicketAction.FAILED) for o in self.outcomes
                 if o.action != TicketAction.UNCHANGED or len(quiet) <= 5]
        if len(quiet) > 5:
            lines.append((f"{len(quiet)} ConnectWise tickets still open with the same reason (no note added)", False))
        return [(plain_line(line), is_error) for line, is_error in lines]

    def as_json(self) -> list[dict[str, Any]]:
        return [o.as_json() for o in self.outcomes]


def file_tickets(target: Target, settings: TicketSettings, problems: Iterable[Problem], run_id: str,
                 book: TicketBook, now: datetime | None = None) -> TicketRun:
    """Open, note or leave one ticket per problem (see the module doc), then save the book.
    One problem's failure never stops the others."""
    problems = list(problems)
    if not capabilities_of(target).tickets:
        # The problems are still reported and recorded in the ledger (problem_records.py); the
        # run's exit code says a problem happened. Only the ticket is not there to file.
        count = len(problems)
        return TicketRun(note=f"{target.name} keeps no service tickets: no ticket filed for {count} "
                              f"problem{'s' if count != 1 else ''} (notifications.connectwise_ticket is set; "
                              "the problems are in the run's output and ledger)")
    moment = now or datetime.now(UTC)
    stamp, today = moment.strftime("%Y-%m-%d %H:%M UTC"), moment.date()
    if all(_quiet(book.get(p.key), p, today) for p in problems):
        # Nothing to write: every problem has its ticket, the same reason and a recent note. No
        # request at all (the open state is checked on the next run that writes, within a week).
        return TicketRun([TicketOutcome(p, TicketAction.UNCHANGED, entry.ticket_id) for p in problems
                          if (entry := book.get(p.key)) is not None])
    try:
        references = target.ticket_references(settings.board, settings.status, settings.type)
        if references.missing:
            return _failed_run(problems, "; ".join(references.missing) + _SETTINGS_HINT)
        fixed_company = _company_id(target, settings.company, "company") if settings.company else None
        open_tickets = target.open_tickets_on_board(references.board_id or 0)
    except _NoCompany as error:
        return _failed_run(problems, str(error))
    except TargetError as error:
        return _failed_run(problems, str(error))
    open_ids = {t.id for t in open_tickets}
    by_summary: dict[str, int] = {}
    for ticket in open_tickets:  # lowest id first: the oldest open ticket with a summary wins
        by_summary.setdefault(ticket.summary, ticket.id)
    own: list[int | None] = []  # the MSP's own company, looked up at most once, only when needed

    def own_company() -> int:
        if not own:
            own.append(_company_id(target, settings.own_company, "own_company") if settings.own_company
                       else _credentials_company(target))
        if own[0] is None:
            raise _NoCompany("no company to file it on: the customer's company cannot be trusted and the "
                             "MSP's own company was not found; set notifications.connectwise_ticket.own_company")
        return own[0]

    resolved: dict[str, int] = {}  # identifier (casefolded) -> company, for never-sent customers
    looked_up: list[bool] = []

    def company_of(problem: Problem) -> tuple[int, str]:
        """(company id, a sentence for the ticket when it is not the customer's own company)."""
        if fixed_company is not None:
            return fixed_company, ""
        if problem.company_id is not None:
            return problem.company_id, ""
        if problem.ever_sent is False:
            if not looked_up:  # one lookup for every never-sent customer of the run
                looked_up.append(True)
                wanted = {p.psa_company for p in problems if p.company_id is None and not p.ever_sent}
                found: dict[str, list[int]] = {}
                for company in target.companies(sorted(wanted)):
                    found.setdefault(company.identifier.casefold(), []).append(company.id)
                resolved.update({k: v[0] for k, v in found.items() if len(v) == 1})
            if problem.psa_company.casefold() in resolved:
                return resolved[problem.psa_company.casefold()], ""
        return own_company(), (f"\n\nFiled on your own company: the company of {problem.customer} "
                               f"(connectwise_company {problem.psa_company!r}) could not be confirmed, "
                               "so nothing is filed on a company its identifier may now name.")

    outcomes = []
    for problem in problems:
        try:
            outcomes.append(_file_one(target, references, book, problem, run_id, stamp, today, open_ids,
                                      by_summary, company_of))
        except (TargetError, _NoCompany) as error:
            outcomes.append(TicketOutcome(problem, TicketAction.FAILED, error=str(error)))
        except Exception as error:  # an odd answer must not hide the problem behind a traceback
            outcomes.append(TicketOutcome(problem, TicketAction.FAILED, error=f"{type(error).__name__}: {error}"))
    book.forget_before(_months_before(today, KEEP_PERIODS))
    book.save()
    return TicketRun(outcomes)


_SETTINGS_HINT = " (notifications.connectwise_ticket in global.yaml; `reconcile doctor` checks it)"


class _NoCompany(Exception):
    pass


def _failed_run(problems: list[Problem], error: str) -> TicketRun:
    return TicketRun([TicketOutcome(p, TicketAction.FAILED, error=error) for p in problems], error=error)


def _company_id(target: Target, identifier: str, key: str) -> int:
    found = [c for c in target.companies([identifier]) if c.identifier.casefold() == identifier.casefold()]
    if len(found) != 1:
        raise _NoCompany(f'company "{identifier}" ({key}) does not exist in ConnectWise' + _SETTINGS_HINT)
    return found[0].id


def _credentials_company(target: Target) -> int | None:
    company = target.own_company()
    return company.id if company is not None else None


def _quiet(entry: TicketEntry | None, problem: Problem, today: date) -> bool:
    """Nothing to write for this problem: its recorded ticket has its reason, noted this week."""
    return entry is not None and entry.reason == same_reason(problem.reason) and today - entry.noted_on < NOTE_AGAIN_AFTER


def _file_one(target: Target, references: TicketReferences, book: TicketBook, problem: Problem, run_id: str,
              stamp: str, today: date, open_ids: set[int], by_summary: dict[str, int],
              company_of: Callable[[Problem], tuple[int, str]]) -> TicketOutcome:
    summary, reason = ticket_summary(problem), same_reason(problem.reason)
    entry = book.get(problem.key)
    if entry is not None and entry.ticket_id not in open_ids:
        entry = None  # closed (or moved off the board) while the problem is still there: a new ticket
    if entry is None and summary in by_summary:  # adopted: its text already says what happened
        entry = TicketEntry(by_summary[summary], "", date.min)
    if entry is not None:
        if _quiet(entry, problem, today):
            return TicketOutcome(problem, TicketAction.UNCHANGED, entry.ticket_id)
        why = "for another reason" if entry.reason not in ("", reason) else "still"
        target.add_ticket_note(entry.ticket_id, f"Still {problem.kind} in run {run_id} ({stamp}), {why}: "
                                                f"{problem.reason}")
        book.put(problem.key, TicketEntry(entry.ticket_id, reason, today))
        return TicketOutcome(problem, TicketAction.UPDATED, entry.ticket_id)
    company_id, where = company_of(problem)
    ticket_id = target.open_ticket(summary, references, company_id, _description(problem, run_id, stamp) + where)
    book.put(problem.key, TicketEntry(ticket_id, reason, today))
    open_ids.add(ticket_id)
    return TicketOutcome(problem, TicketAction.OPENED, ticket_id)


def _months_before(day: date, months: int) -> str:
    index = day.year * 12 + day.month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _description(problem: Problem, run_id: str, stamp: str) -> str:
    step = NEXT_STEP[problem.kind].format(customer=problem.customer, period=problem.period)
    return (f"Billing for {problem.customer} (ConnectWise company {problem.psa_company}), period "
            f"{problem.period}, is {problem.kind}.\n\n{problem.reason}\n\nNext step: {step}\n\n"
            f"Opened by reconcile run {run_id} ({stamp}). Later runs add a note here when the reason "
            "changes (at least weekly while the problem lasts); close the ticket once it is solved.")
