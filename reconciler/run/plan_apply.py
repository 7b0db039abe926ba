"""`plan`, `apply` and the scheduled job, as octoDNS's `Manager.sync`: the run below the CLI.

It turns what a command was asked (an `Invocation`) into a run: load the config, open the
target and the usage source, read the ledger, build the plan (`engine.build_plan`), add what
only a run knows (a first run, a pull request's URL change), check a saved plan against today's, ask for
confirmation on a terminal, take the ledger lock, apply, file tickets for billing problems, and
write the run report. It returns the plan (`run_plan`) or an `ApplyRun` (`run_apply`); the
commands in `reconciler/cmds/` print them with `reconciler/render/` and pick the exit code.
The one thing shown mid-run is the plan before apply's question (`Invocation.show_plan`, a
view the command passes in), with the progress bar and the question itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from reconciler.apply import ApplyOptions, CustomerResult, ResultStatus, apply_plan
from reconciler.config import load_config
from reconciler.config.diagnostics import display_path
from reconciler.config.model import Config
from reconciler.engine import PlanOptions, build_plan
from reconciler.errors import ReconcileError
from reconciler.lease import LeasedTarget, LeaseTimes, RunLease
from reconciler.ledger import (
    Ledger,
    LedgerView,
    SendKind,
    Trigger,
    exclusive,
    ledger_files,
    new_run_id,
    read_ledger,
    shard_ledger_path,
)
from reconciler.notify import (
    Problem,
    TicketRun,
    billing_problems,
    file_tickets,
    trusted_company_ids,
)
from reconciler.outputs import PathProblem, check_creatable_dir, write_text_file
from reconciler.plan import Plan
from reconciler.problem_records import record_problems
from reconciler.render.apply import run_report
from reconciler.render.plan_json import plan_to_json
from reconciler.runtime import Backends, Runtime, in_ci, open_backends
from reconciler.saved_plan import check_matches, read_saved_plan
from reconciler.state import LeasePlace
from reconciler.ticketbook import TicketBook, book_path
from reconciler.usage import read_usage, save_usage_reads


class ApplyNotApproved(ReconcileError):
    """The person at the terminal did not answer `yes`."""


class ChangedSinceUnreadable(ReconcileError):
    """`--changed-since REF` cannot be answered (no git repository, an unknown REF): the run
    stops, and apply still leaves its `--report`."""


@dataclass
class Invocation:
    runtime: Runtime
    config_dir: Path | None
    today: datetime | None
    customers: tuple[str, ...]
    send_now: bool
    usage_path: Path | None
    ledger_path: Path | None
    fmt: str
    changed_since: str | None
    shard: tuple[int, int] | None
    workers: int | None
    verbose: bool
    auto_approve: bool = False
    plan: Plan | None = None  # the plan apply worked from, for `apply --format json`
    previews: bool | None = None  # None: the command's default
    save_usage: Path | None = None
    how_to_skip_question: str = "--auto-approve skips this question"  # what this command offers
    # How the command shows the plan before apply's question (a view from reconciler/render/).
    show_plan: Callable[[Plan], None] | None = None

    @property
    def ledger_file(self) -> Path:
        # The default lives in the config repository, whatever the shell's directory.
        return self.ledger_path or self.runtime.repository(self.config_dir).default_ledger(self.runtime.sandbox)

    def first_run_note(self) -> str | None:
        """None when the ledger exists; else the plan's warning that this is a first run, so a
        mistyped --ledger (which would bill everyone as never sent) is visible in the plan."""
        path = self.ledger_file  # shards are read beside it, so any of them makes this no first run
        if ledger_files(path):
            return None
        return f"no ledger yet at {display_path(path)}: every customer is treated as never sent"


def changed_customer_slugs(config_dir: Path, ref: str) -> frozenset[str] | None:
    """Slugs of customer files changed since `ref`, or None (= all) when shared settings changed."""
    where = config_dir.absolute().parent
    inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=where, capture_output=True,
                            text=True, check=False)
    if inside.returncode != 0:  # else `git diff` outside a repository prints its whole usage text
        raise ChangedSinceUnreadable(f"--changed-since {ref}: {where} is not in a git repository")
    result = subprocess.run(
        ["git", "diff", "--name-only", "--end-of-options", ref, "--", str(config_dir.absolute()), "schemas", "reconciler/schemas"],
        cwd=where, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["git diff failed"]
        raise ChangedSinceUnreadable(f"--changed-since {ref}: {lines[0]}")
    return select_changed(result.stdout.split(), config_dir)


def select_changed(paths: list[str], config_dir: Path) -> frozenset[str] | None:
    slugs = set()
    for raw in paths:
        path = Path(raw)
        if path.parts and "schemas" in path.parts[:2] or path.name == "global.yaml":
            return None
        if path.parent.name == "customers" and path.suffix in (".yaml", ".yml"):
            slugs.add(path.stem)
    return frozenset(slugs)


@contextmanager
def progress(total: int, label: str) -> Iterator[Any]:
    """A progress bar on a terminal for big runs; nothing in CI logs or pipes (CI runners may
    give a job a terminal, so `CI` turns it off too)."""
    if total >= 25 and sys.stderr.isatty() and not in_ci():
        with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_percent=False,
                               bar_template="%(label)s  [%(bar)s]  %(info)s customers") as bar:
            lock = threading.Lock()  # click's bar is not thread-safe: workers at once counted twice (36/31)

            def update(steps: int) -> None:
                with lock:
                    bar.update(steps)

            yield update
    else:
        yield None


def make_plan(inv: Invocation, config: Config, backends: Backends, view: LedgerView, run_name: str | None = None,
              lease: RunLease | None = None) -> Plan:
    usage = read_usage(config, override_csv=inv.usage_path, env=backends.usage_env,
                       today=inv.today.date() if inv.today else None)
    only = changed_customer_slugs(config.root, inv.changed_since) if inv.changed_since else None
    options = PlanOptions(
        today=inv.today.date() if inv.today else None, now=datetime.now(timezone.utc),  # the clock, read here
        customers=inv.customers, send_now=inv.send_now,
        shard=inv.shard, only_slugs=only, workers=inv.workers or config.connectwise.workers,
        sandbox=inv.runtime.sandbox, previews=bool(inv.previews),
    )
    with progress(len(config.customers), "planning") as update:
        plan = build_plan(backends.target, config, usage, view, options, progress=update,
                          lease=lease)
    first_run = inv.first_run_note()
    plan.warnings = ([first_run] if first_run else []) + list(backends.notes) + plan.warnings
    if inv.save_usage:
        try:
            saved = save_usage_reads(usage, inv.save_usage, run_name or f"plan-{new_run_id()}")
        except OSError as error:
            raise PathProblem(f"--save-usage {inv.save_usage}: cannot write: {error.strerror or error}") from None
        for path in saved:
            click.echo(f"usage rows saved to {display_path(path)}", err=True)
    plan.usage = {"source": usage.source, "basis": usage.basis or None, "report_month": usage.report_month,
                  "units": usage.units}
    plan.options = {"date": options.today.isoformat() if options.today else None, "send_now": inv.send_now,
                    "customers": list(inv.customers), "shard": list(inv.shard) if inv.shard else None,
                    "changed_since": inv.changed_since}
    return plan


def load(inv: Invocation) -> Config:
    return load_config(inv.runtime.resolve_config_dir(inv.config_dir))


def run_plan(inv: Invocation) -> Plan:
    """`reconcile plan`: today's plan; writes nothing (`save_plan` writes `--out`)."""
    config = load(inv)
    with open_backends(config, inv.runtime.sandbox) as backends:
        return make_plan(inv, config, backends, read_ledger(inv.ledger_file))


def save_plan(plan: Plan, out: Path) -> None:
    """`plan --out`: the plan as JSON, for `reconcile apply PLAN_FILE`."""
    write_text_file(out, json.dumps(plan_to_json(plan), indent=2) + "\n", "--out")


@dataclass
class ApplyRun:
    """What an apply run did: the plan it worked from (None when it stopped before one), each
    customer's result, the customers a person must look at, and the tickets filed for them.
    `report_error`: the run report could not be written (raised after the results are shown)."""

    plan: Plan | None
    results: list[CustomerResult]
    problems: list[Problem]
    tickets: TicketRun
    dry_run: bool
    report_error: PathProblem | None = None


def write_report(path: Path, ledger: Ledger, started: str, results: list[CustomerResult], dry_run: bool,
                 sandbox: bool, error: str | None = None, tickets: TicketRun | None = None) -> None:
    finished = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_text_file(path, run_report(ledger.run_id, started, finished, results, dry_run, sandbox, error, tickets),
                    "--report")


def run_apply(inv: Invocation, plan_file: Path | None, force: bool, dry_run: bool, report_path: Path | None,
              print_plan: bool = True) -> ApplyRun:
    """`reconcile apply` (and the scheduled job): plan, confirm, apply, file tickets, write the
    report. A customer's failure is in the result, never raised; a failure before any customer
    raises (after writing the report that says so)."""
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ledger = Ledger(shard_ledger_path(inv.ledger_file, inv.shard))
    try:
        with exclusive(ledger.path) if not dry_run else nullcontext():
            results, problems, tickets = _apply(inv, plan_file, force, dry_run, ledger, print_plan)
    except ReconcileError as error:
        # A run that fails before any customer (bad config, 401, unreadable usage) still leaves a
        # report, so the billing workflow's artifact always says what happened.
        if report_path:
            write_report(report_path, ledger, started, [], dry_run, inv.runtime.sandbox, error=str(error))
        raise
    run = ApplyRun(inv.plan, results, problems, tickets, dry_run)
    if report_path:
        try:
            write_report(report_path, ledger, started, results, dry_run, inv.runtime.sandbox, tickets=tickets)
        except PathProblem as error:  # raised by the command once the results are shown
            run.report_error = error
    return run


def _apply(inv: Invocation, plan_file: Path | None, force: bool, dry_run: bool, ledger: Ledger,
           print_plan: bool) -> tuple[list[CustomerResult], list[Problem], TicketRun]:
    config = load(inv)
    saved = read_saved_plan(plan_file) if plan_file else None
    if saved is not None:
        # Today's plan for what the file covered; its own date is not replayed (saved_plan.py).
        inv.send_now, inv.customers, inv.shard, inv.changed_since = saved.send_now, saved.selected, None, None
    with open_backends(config, inv.runtime.sandbox) as backends:
        view = read_ledger(inv.ledger_file)
        if saved is not None and not dry_run:
            # A stale saved plan is refused before the run lease is taken, so a refusal writes
            # nothing at all; a plan that still matches is read again under the lease below.
            check_matches(saved, make_plan(inv, config, backends, view, run_name=ledger.run_id))
        # One writer at a time across machines: taken before the plan's first read (only when it
        # reads anything), held through the writes, released before tickets are filed.
        lease = None if dry_run else RunLease(backends.target, ledger.run_id, lease_place(config),
                                              LeaseTimes.from_env(), shard=inv.shard)
        try:
            plan = make_plan(inv, config, backends, view, run_name=ledger.run_id, lease=lease)
            if saved is not None:
                check_matches(saved, plan)  # exactly what was reviewed, or nothing
            inv.plan = plan
            if print_plan and inv.fmt != "json" and inv.show_plan is not None:
                inv.show_plan(plan)
            if not dry_run:
                confirm_apply(plan, inv.auto_approve, inv.how_to_skip_question)
            target = LeasedTarget(backends.target, lease) if lease and lease.held else backends.target
            with progress(len(plan.customers), "applying") as update:
                results = apply_plan(target, plan, ledger, view, ApplyOptions(force=force, dry_run=dry_run),
                                     plan.catalog_ids, workers=inv.workers or config.connectwise.workers,
                                     progress=update)
        finally:
            if lease is not None:
                lease.release()
        run_day = inv.today.date() if inv.today else datetime.now(timezone.utc).date()
        # A ticket goes on a company the tool trusts for the customer: the one the plan checked,
        # else the one its last send went to (see reconciler.notify).
        failing = {r.customer for r in results if r.status in (ResultStatus.MISSED, ResultStatus.FAILED)}
        last_sent = {slug: view.last_sent(slug) or view.last_sent(slug, SendKind.SUMMARY) for slug in failing}
        trusted = trusted_company_ids(
            {cp.customer: cp.connectwise_company_id for cp in plan.customers if cp.customer in failing},
            {c.slug: c.connectwise_company_id for c in config.customers if c.slug in failing}, last_sent)
        problems = billing_problems(results, fallback_period=run_day.strftime("%Y-%m"), trusted_companies=trusted,
                                    sent_customers={slug for slug, record in last_sent.items() if record})
        settings = config.notifications.connectwise_ticket
        tickets = TicketRun() if dry_run or settings is None or not problems else file_tickets(
            backends.target, settings, problems, ledger.run_id, TicketBook.load(book_path(ledger.path)))
        if not dry_run:  # the report reads problems from the ledger (problem_records.py)
            record_problems(ledger, problems, tickets.outcomes, trigger=Trigger.MANUAL if inv.send_now else Trigger.SCHEDULED)
        return results, problems, tickets


def lease_place(config: Config) -> LeasePlace:
    """The run lease's record goes on the board billing-problem tickets go to, on the MSP's own
    company as `notifications.connectwise_ticket` names it (`own_company`, else `company`);
    otherwise the PSA's defaults: the default board, the MSP's own company."""
    settings = config.notifications.connectwise_ticket
    if settings is None:
        return LeasePlace()
    return LeasePlace(board=settings.board, company=settings.own_company or settings.company)


def needs_confirmation(auto_approve: bool, env: Mapping[str, str] = os.environ) -> bool:
    """Ask whenever a person can answer (stdin is a terminal), even when the output is piped
    (`reconcile apply | tee log`); --auto-approve, CI (`CI=true` or `1`) or no terminal on
    stdin skip the question."""
    return not auto_approve and not in_ci(env) and sys.stdin.isatty()


def confirm_apply(plan: Plan, auto_approve: bool, how_to_skip: str = "--auto-approve skips this question") -> None:
    """As `terraform apply` does: show the plan, then write only after a typed `yes`. The
    question goes to stderr, so a person sees it when stdout is piped into a file."""
    if not any(cp.actionable for cp in plan.customers) or not needs_confirmation(auto_approve):
        return
    click.echo("\nDo you want to send these changes to ConnectWise?\n"
               f"  Only 'yes' will be accepted to approve ({how_to_skip}).\n", err=True)
    answer = click.prompt("  Enter a value", default="", show_default=False, err=True)
    if answer.strip() != "yes":
        raise ApplyNotApproved("apply cancelled: nothing was written to the ledger and no billing was sent "
                               "to ConnectWise (only the run lease's ticket was opened and closed)")


def run_scheduled_job(runtime: Runtime, dry_run: bool, today: datetime | None = None,
                      show_plan: Callable[[Plan], None] | None = None) -> ApplyRun:
    """`reconcile` alone: validate, plan, apply what is due (`--dry-run`: no writes; `--date`:
    as if today were that day, as `apply --date`)."""
    inv = Invocation(runtime=runtime, config_dir=None, today=today, customers=(), send_now=False, usage_path=None,
                     ledger_path=None, fmt="text", changed_since=None, shard=None, workers=None, verbose=False,
                     previews=False, how_to_skip_question="CI=true skips it, as in a scheduled job",
                     show_plan=show_plan)
    return run_apply(inv, None, force=False, dry_run=dry_run, report_path=None)


def check_ledger_writable(inv: Invocation) -> None:
    """Before anything is sent: the ledger's directory is (or can become) writable."""
    check_creatable_dir(inv.ledger_file.parent, f"ledger {display_path(inv.ledger_file)}")
