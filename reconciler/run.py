"""Orchestration below the CLI, as octoDNS's `Manager.sync`: one module the commands call.

It turns what a command was asked (an `Invocation`) into a run: load the config, open the
target and the usage source, read the ledger, build the plan (`engine.build_plan`), add what
only a run knows (a first run, a pull request's URL change), check a saved plan against today's, ask for
confirmation on a terminal, take the ledger lock, apply, file tickets for billing problems, and
write the run report. The commands in `reconciler/cmds/` only parse options and pick an exit code.
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
from typing import Any, Iterator

import click

from reconciler.apply import ApplyOptions, CustomerResult, apply_plan
from reconciler.config import load_config
from reconciler.config.diagnostics import display_path
from reconciler.config.model import Config
from reconciler.engine import PlanOptions, build_plan
from reconciler.errors import ReconcileError
from reconciler.lease import LeasedTarget, LeaseTimes, RunLease
from reconciler.ledger import (
    Ledger,
    LedgerView,
    exclusive,
    ledger_files,
    new_run_id,
    read_ledger,
    shard_ledger_path,
)
from reconciler.notify import Problem, TicketRun, billing_problems, file_tickets, trusted_company_ids
from reconciler.ticketbook import TicketBook, book_path
from reconciler.outputs import PathProblem, write_text_file
from reconciler.plan import Plan, plan_to_json
from reconciler.problem_records import record_problems
from reconciler.render.common import RenderOptions
from reconciler.render.escape import plain_line
from reconciler.render.plan import render
from reconciler.runtime import Backends, Runtime, in_ci, open_backends
from reconciler.state import LeasePlace
from reconciler.saved_plan import check_matches, read_saved_plan
from reconciler.usage import read_usage, save_usage_reads


class ApplyNotApproved(ReconcileError):
    """The person at the terminal did not answer `yes`."""


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
        raise click.ClickException(f"--changed-since {ref}: {where} is not in a git repository")
    result = subprocess.run(
        ["git", "diff", "--name-only", "--end-of-options", ref, "--", str(config_dir.absolute()), "schemas", "reconciler/schemas"],
        cwd=where, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["git diff failed"]
        raise click.ClickException(f"--changed-since {ref}: {lines[0]}")
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
        today=inv.today.date() if inv.today else None, customers=inv.customers, send_now=inv.send_now,
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


def run_plan(inv: Invocation, out: Path | None, detailed_exitcode: bool) -> int:
    """`reconcile plan`: print the plan (and save it with `out`); the exit code Terraform's
    `--detailed-exitcode` would give."""
    config = load(inv)
    with open_backends(config, inv.runtime.sandbox) as backends:
        result = make_plan(inv, config, backends, read_ledger(inv.ledger_file))
    click.echo(render(result, inv.fmt, RenderOptions(verbose=inv.verbose)), nl=False)
    if out:
        write_text_file(out, json.dumps(plan_to_json(result), indent=2) + "\n", "--out")
    return plan_exit_code(result, detailed_exitcode)


def plan_exit_code(plan: Plan, detailed: bool) -> int:
    if plan.has_failures:
        return 1
    return 2 if detailed and plan.has_changes else 0


def results_table(results: list[CustomerResult]) -> str:
    width = max([len(r.customer) for r in results] + [8])
    status_width = max([len(r.status) for r in results] + [6])
    lines = [f"{'customer'.ljust(width)}  {'status'.ljust(status_width)}  reason"]
    for r in results:  # reasons quote ConnectWise and config text: escaped (render/escape.py)
        lines.append(plain_line(f"{r.customer.ljust(width)}  {r.status.ljust(status_width)}  {r.reason}"))
    totals: dict[str, int] = {}
    for r in results:
        totals[r.status] = totals.get(r.status, 0) + 1
    lines.append("")
    lines.append("Customers: " + ", ".join(f"{n} {s}" for s, n in sorted(totals.items())) + ".")
    return "\n".join(lines) + "\n"


def attention_line(problems: list[Problem]) -> str:
    """One line naming every customer a person must look at (the run then exits 1)."""
    count = len(problems)
    who = ", ".join(problem.label for problem in problems)
    return plain_line(f"{count} customer{'s need' if count != 1 else ' needs'} attention: {who}.")


def write_report(path: Path, ledger: Ledger, started: str, results: list[CustomerResult], dry_run: bool,
                 sandbox: bool, error: str | None = None, tickets: TicketRun | None = None) -> None:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    report = {
        "format_version": "1.0", "run_id": ledger.run_id, "started_at": started,
        "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dry_run": dry_run, "sandbox": sandbox, "error": error, "counts": counts,
        "customers": [r.as_json() for r in results],
        "tickets": tickets.as_json() if tickets else [],
        "tickets_error": tickets.error if tickets else None,
    }
    write_text_file(path, json.dumps(report, indent=2) + "\n", "--report")


def run_apply(inv: Invocation, plan_file: Path | None, force: bool, dry_run: bool, report_path: Path | None,
              print_plan: bool = True) -> int:
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
    if inv.fmt == "json":  # one document on stdout, so `| jq` works; the attention line goes to stderr
        click.echo(json.dumps(apply_to_json(inv.plan, results, dry_run), indent=2))
    else:
        click.echo("")
        click.echo(results_table(results), nl=False)
        if dry_run:
            click.echo("Dry run: nothing was written to ConnectWise or the ledger.")
    if problems:
        click.echo(attention_line(problems), err=inv.fmt == "json")
    for line, is_error in tickets.lines():
        click.echo(line, err=inv.fmt == "json" or is_error)
    if report_path:
        write_report(report_path, ledger, started, results, dry_run, inv.runtime.sandbox, tickets=tickets)
    # Nothing fails quietly: a missed, failed or unsafe customer fails the run (a dry run too,
    # so it predicts the real run's exit code), whether or not its ticket could be filed.
    return 1 if problems else 0


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
            if print_plan and inv.fmt != "json":
                click.echo(render(plan, inv.fmt, RenderOptions(verbose=inv.verbose)), nl=False)
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
        failing = {r.customer for r in results if r.status in ("missed", "failed")}
        last_sent = {slug: view.last_sent(slug) or view.last_sent(slug, "summary") for slug in failing}
        trusted = trusted_company_ids(
            {cp.customer: cp.connectwise_company_id for cp in plan.customers if cp.customer in failing},
            {c.slug: c.connectwise_company_id for c in config.customers if c.slug in failing}, last_sent)
        problems = billing_problems(results, fallback_period=run_day.strftime("%Y-%m"), trusted_companies=trusted,
                                    sent_customers={slug for slug, record in last_sent.items() if record})
        settings = config.notifications.connectwise_ticket
        tickets = TicketRun() if dry_run or settings is None or not problems else file_tickets(
            backends.target, settings, problems, ledger.run_id, TicketBook.load(book_path(ledger.path)))
        if not dry_run:  # the report reads problems from the ledger (problem_records.py)
            record_problems(ledger, problems, tickets.outcomes, trigger="manual" if inv.send_now else "scheduled")
        return results, problems, tickets


def lease_place(config: Config) -> LeasePlace:
    """The run lease's record goes on the board billing-problem tickets go to, on the MSP's own
    company as `notifications.connectwise_ticket` names it (`own_company`, else `company`);
    otherwise the PSA's defaults: the default board, the MSP's own company."""
    settings = config.notifications.connectwise_ticket
    if settings is None:
        return LeasePlace()
    return LeasePlace(board=settings.board, company=settings.own_company or settings.company)


def apply_to_json(plan: Plan | None, results: list[CustomerResult], dry_run: bool) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {"plan": plan_to_json(plan) if plan else None, "dry_run": dry_run, "counts": counts,
            "results": [r.as_json() for r in results]}


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


def run_scheduled_job(runtime: Runtime, dry_run: bool, today: datetime | None = None) -> int:
    """`reconcile` alone: validate, plan, apply what is due (`--dry-run`: no writes; `--date`:
    as if today were that day, as `apply --date`)."""
    inv = Invocation(runtime=runtime, config_dir=None, today=today, customers=(), send_now=False, usage_path=None,
                     ledger_path=None, fmt="text", changed_since=None, shard=None, workers=None, verbose=False,
                     previews=False, how_to_skip_question="CI=true skips it, as in a scheduled job")
    try:
        return run_apply(inv, None, force=False, dry_run=dry_run, report_path=None)
    except ReconcileError as error:
        click.echo(error.line(), err=True)
        return 1


