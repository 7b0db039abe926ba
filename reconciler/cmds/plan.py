"""`reconcile plan`, `reconcile apply`, and the scheduled job (`reconcile` with no command)."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import click

from reconciler.apply import ApplyOptions, CustomerResult, apply_plan
from reconciler.cmds.common import Runtime, config_option
from reconciler.config import ConfigInvalid, load_config
from reconciler.config.model import Config
from reconciler.target import TargetError
from reconciler.engine import PlanOptions, SelectionError, build_plan
from reconciler.ledger import (
    Ledger,
    LedgerCorrupt,
    LedgerLocked,
    LedgerView,
    exclusive,
    new_run_id,
    read_ledger,
    shard_ledger_path,
)
from reconciler.notify import Problem, TicketOutcome, billing_problems, file_tickets
from reconciler.plan import Change, Plan, plan_to_json
from reconciler.render import render
from reconciler.runtime import MissingCredentials, default_ledger, open_backends
from reconciler.usage import (
    UsageError,
    UsageInvalid,
    UsageSourceError,
    read_usage,
    save_usage_reads,
)

EXPECTED_ERRORS = (MissingCredentials, SelectionError, LedgerCorrupt, LedgerLocked, TargetError, UsageError,
                   UsageInvalid, UsageSourceError)


def _parse_shard(_ctx, _param, value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise click.BadParameter("use K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise click.BadParameter("K must be between 1 and N")
    return k, n


def plan_options(func):
    options = [
        click.option("--date", "today", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
                     help="Treat this date (YYYY-MM-DD) as today; default: today in each customer's billing time zone."),
        click.option("--customer", "customers", multiple=True,
                     help="Only this customer (file name without .yaml, or trend_customer_id). Repeatable."),
        click.option("--send-now", is_flag=True, help="Send regardless of the schedule (recorded as a manual send)."),
        click.option("--usage", "usage_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="Read seat counts from this CSV instead of the configured usage source."),
        click.option("--ledger", "ledger_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="Ledger file (default: state/ledger.jsonl; .sandbox/ledger.jsonl with --sandbox)."),
        click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
                     show_default=True, help="How to print the plan."),
        click.option("--changed-since", "changed_since", default=None, metavar="GIT_REF",
                     help="Only customers whose files changed since GIT_REF (all when global.yaml or a schema changed)."),
        click.option("--shard", callback=_parse_shard, default=None, metavar="K/N",
                     help="Only shard K of N (stable by customer id); the ledger goes to ledger.KofN.jsonl."),
        click.option("--workers", type=click.IntRange(1, 32), default=None,
                     help="Customers in parallel (default: connectwise.workers, 8)."),
        click.option("--verbose", is_flag=True, help="Also list customers with nothing to change."),
        click.option("--save-usage", "save_usage", type=click.Path(path_type=Path, file_okay=False), default=None,
                     metavar="DIR", help="Keep the exact usage rows this run counted in DIR/usage-RUN.json "
                     "(their per-customer hash is the one the ledger records)."),
        config_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


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
    save_usage: Path | None = None

    @property
    def ledger_file(self) -> Path:
        return self.ledger_path or default_ledger(self.runtime.sandbox)


def changed_customer_slugs(config_dir: Path, ref: str) -> frozenset[str] | None:
    """Slugs of customer files changed since `ref`, or None (= all) when shared settings changed."""
    result = subprocess.run(
        ["git", "diff", "--name-only", ref, "--", str(config_dir), "schemas"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise click.ClickException(f"--changed-since {ref}: git diff failed: {result.stderr.strip()}")
    return select_changed(result.stdout.split(), config_dir)


def select_changed(paths: list[str], config_dir: Path) -> frozenset[str] | None:
    slugs = set()
    for raw in paths:
        path = Path(raw)
        if path.parts and path.parts[0] == "schemas" or path.name == "global.yaml":
            return None
        if path.parent.name == "customers" and path.suffix in (".yaml", ".yml"):
            slugs.add(path.stem)
    return frozenset(slugs)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Any]:
    """A progress bar on a terminal for big runs; nothing in CI logs or pipes."""
    if total >= 25 and sys.stderr.isatty():
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
            yield bar.update
    else:
        yield None


def make_plan(inv: Invocation, config: Config, backends, view: LedgerView, run_name: str | None = None) -> Plan:
    usage = read_usage(config, override_csv=inv.usage_path, env=backends.usage_env,
                       today=inv.today.date() if inv.today else None)
    only = changed_customer_slugs(config.root, inv.changed_since) if inv.changed_since else None
    options = PlanOptions(
        today=inv.today.date() if inv.today else None, customers=inv.customers, send_now=inv.send_now,
        shard=inv.shard, only_slugs=only, workers=inv.workers or config.connectwise.workers,
        sandbox=inv.runtime.sandbox,
    )
    with _progress(len(config.customers), "planning") as update:
        plan = build_plan(backends.target, config, usage, view, options, progress=update)
    plan.warnings = view.warnings + list(usage.warnings) + plan.warnings
    if inv.save_usage:
        for saved in save_usage_reads(usage, inv.save_usage, run_name or f"plan-{new_run_id()}"):
            click.echo(f"usage rows saved to {saved}", err=True)
    plan.usage = {"source": usage.source, "basis": usage.basis or None, "report_month": usage.report_month,
                  "units": usage.units}
    plan.options = {"date": options.today.isoformat() if options.today else None, "send_now": inv.send_now,
                    "customers": list(inv.customers), "shard": list(inv.shard) if inv.shard else None,
                    "changed_since": inv.changed_since}
    return plan


def _load(inv: Invocation) -> Config:
    return load_config(inv.runtime.resolve_config_dir(inv.config_dir))


def _plan_exit_code(plan: Plan, detailed: bool) -> int:
    if plan.has_failures:
        return 1
    return 2 if detailed and plan.has_changes else 0


def results_table(results: list[CustomerResult]) -> str:
    width = max([len(r.customer) for r in results] + [8])
    status_width = max([len(r.status) for r in results] + [6])
    lines = [f"{'customer'.ljust(width)}  {'status'.ljust(status_width)}  reason"]
    for r in results:
        lines.append(f"{r.customer.ljust(width)}  {r.status.ljust(status_width)}  {r.reason}")
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
    return f"{count} customer{'s need' if count != 1 else ' needs'} attention: {who}."


def write_report(path: Path, ledger: Ledger, started: str, results: list[CustomerResult], dry_run: bool,
                 sandbox: bool, error: str | None = None, tickets: list[TicketOutcome] | None = None) -> None:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    report = {
        "format_version": "1.0", "run_id": ledger.run_id, "started_at": started,
        "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dry_run": dry_run, "sandbox": sandbox, "error": error, "counts": counts,
        "customers": [r.as_json() for r in results],
        "tickets": [t.as_json() for t in tickets or []],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def saved_plan_onto(fresh: Plan, saved: dict[str, Any]) -> None:
    """Replace the fresh plan's changes with the saved ones, refusing customers whose ConnectWise
    records moved since the plan was made (and saying which)."""
    saved_customers = {c["customer"]: c for c in saved.get("customers", [])}
    saved_changes: dict[str, list[Change]] = {}
    for change in saved.get("changes", []):
        saved_changes.setdefault(change["customer"], []).append(Change.from_json(change))
    fresh.customers = [cp for cp in fresh.customers if cp.customer in saved_customers]
    for cp in fresh.customers:
        before = set(saved_customers[cp.customer].get("fingerprint", []))
        now = set(cp.fingerprint)
        if cp.status == "failed":
            continue
        if before != now:
            moved = _describe_moves(before, now)
            cp.status, cp.reason = "failed", f"ConnectWise changed since the plan was saved: {moved}; plan again"
            continue
        cp.changes = saved_changes.get(cp.customer, [])


def _describe_moves(before: set[str], now: set[str]) -> str:
    def index(prints: set[str]) -> dict[str, str]:
        return {p.split(":", 1)[0]: p for p in prints}

    old, new = index(before), index(now)
    parts = []
    for addition_id in sorted(set(old) | set(new)):
        if addition_id not in new:
            parts.append(f"addition {addition_id} is gone or cancelled")
        elif addition_id not in old:
            parts.append(f"addition {addition_id} is new")
        elif old[addition_id] != new[addition_id]:
            o, n = old[addition_id].split(":"), new[addition_id].split(":")
            parts.append(f"addition {addition_id} ({o[2]}) quantity {o[3]} -> {n[3]}" if o[3] != n[3]
                         else f"addition {addition_id} ({o[2]}) was edited at {n[4]}")
    return "; ".join(parts)


def run_apply(inv: Invocation, plan_file: Path | None, force: bool, dry_run: bool, report_path: Path | None,
              print_plan: bool = True) -> int:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ledger = Ledger(shard_ledger_path(inv.ledger_file, inv.shard))
    try:
        with exclusive(ledger.path) if not dry_run else nullcontext():
            results, problems, tickets = _apply(inv, plan_file, force, dry_run, ledger, print_plan)
    except (ConfigInvalid, *EXPECTED_ERRORS) as error:
        # A run that fails before any customer (bad config, 401, unreadable usage) still leaves a
        # report, so the billing workflow's artifact always says what happened.
        if report_path:
            write_report(report_path, ledger, started, [], dry_run, inv.runtime.sandbox, error=str(error))
        raise
    click.echo("")
    click.echo(results_table(results), nl=False)
    if dry_run:
        click.echo("Dry run: nothing was written to ConnectWise or the ledger.")
    if problems:
        click.echo(attention_line(problems))
    for ticket in tickets:
        click.echo(ticket.line(), err=ticket.action == "failed")
    if report_path:
        write_report(report_path, ledger, started, results, dry_run, inv.runtime.sandbox, tickets=tickets)
    # Nothing fails quietly: a missed, failed or unsafe customer fails the run (a dry run too,
    # so it predicts the real run's exit code), whether or not its ticket could be filed.
    return 1 if problems else 0


def _apply(inv: Invocation, plan_file: Path | None, force: bool, dry_run: bool, ledger: Ledger,
           print_plan: bool) -> tuple[list[CustomerResult], list[Problem], list[TicketOutcome]]:
    config = _load(inv)
    saved = None
    if plan_file:
        saved = json.loads(plan_file.read_text(encoding="utf-8"))
        opts = saved.get("options") or {}
        inv.today = datetime.fromisoformat(opts["date"]) if opts.get("date") else inv.today
        inv.send_now = bool(opts.get("send_now", inv.send_now))
        inv.customers = tuple(c["customer"] for c in saved.get("customers", []))
    with open_backends(config, inv.runtime.sandbox) as backends:
        view = read_ledger(inv.ledger_file)
        plan = make_plan(inv, config, backends, view, run_name=ledger.run_id)
        if saved is not None:
            saved_plan_onto(plan, saved)
        if print_plan:
            click.echo(render(plan, inv.fmt), nl=False)
        with _progress(len(plan.customers), "applying") as update:
            results = apply_plan(backends.target, plan, ledger, view, ApplyOptions(force=force, dry_run=dry_run),
                                 plan.catalog_ids, workers=inv.workers or config.connectwise.workers,
                                 progress=update)
        run_day = inv.today.date() if inv.today else datetime.now(timezone.utc).date()
        problems = billing_problems(results, fallback_period=run_day.strftime("%Y-%m"))
        settings = config.notifications.connectwise_ticket
        tickets = [] if dry_run or settings is None else file_tickets(backends.target, settings, problems,
                                                                      ledger.run_id)
        return results, problems, tickets


def _guard(fn):
    """Turn expected failures into one clear line and exit code 1 (never a traceback, never 2)."""
    try:
        return fn()
    except ConfigInvalid as error:
        click.echo(str(error), err=True)
        return 1
    except (UsageError, UsageInvalid) as error:  # already "PATH:LINE: error: ..."
        click.echo(str(error), err=True)
        return 1
    except EXPECTED_ERRORS as error:
        click.echo(f"error: {error}", err=True)
        return 1


@click.command()
@plan_options
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also save the plan as JSON, for `reconcile apply PLAN_FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when changes are due (0 none, 1 error).")
@click.pass_obj
def plan(runtime: Runtime, out: Path | None, detailed_exitcode: bool, **kwargs) -> None:
    """Show what would change in ConnectWise, per customer. Writes nothing."""
    inv = Invocation(runtime=runtime, **kwargs)

    def run() -> int:
        config = _load(inv)
        with open_backends(config, runtime.sandbox) as backends:
            result = make_plan(inv, config, backends, read_ledger(inv.ledger_file))
        click.echo(render(result, inv.fmt), nl=False)
        if out:
            out.write_text(json.dumps(plan_to_json(result), indent=2) + "\n", encoding="utf-8")
        return _plan_exit_code(result, detailed_exitcode)

    sys.exit(_guard(run))


@click.command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@plan_options
@click.option("--force", is_flag=True, help="Apply customers whose plan is unsafe (beyond the safety thresholds).")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the JSON run report here (written even when a customer fails).")
@click.option("--dry-run", is_flag=True, help="Plan and show the results table, write nothing.")
@click.pass_obj
def apply(runtime: Runtime, plan_file: Path | None, force: bool, report_path: Path | None, dry_run: bool, **kwargs) -> None:
    """Send billing for the customers that are due (or a saved PLAN_FILE, exactly)."""
    inv = Invocation(runtime=runtime, **kwargs)
    sys.exit(_guard(lambda: run_apply(inv, plan_file, force, dry_run, report_path)))


def run_scheduled_job(runtime: Runtime, dry_run: bool) -> int:
    """`reconcile` alone: validate, plan, apply what is due (`--dry-run`: no writes)."""
    inv = Invocation(runtime=runtime, config_dir=None, today=None, customers=(), send_now=False, usage_path=None,
                     ledger_path=None, fmt="text", changed_since=None, shard=None, workers=None, verbose=False)
    return _guard(lambda: run_apply(inv, None, force=False, dry_run=dry_run, report_path=None))


