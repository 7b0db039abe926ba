"""`reconcile plan`, `reconcile apply` and the scheduled job (`reconcile` alone): their options,
the views they print (`reconciler.render.plan`, `reconciler.render.apply`) and their exit codes;
the run itself is `reconciler.run.plan_apply`'s."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from reconciler.cmds.common import (
    Runtime,
    check_output_dir,
    check_output_file,
    config_option,
    parse_date,
    reports_errors,
    sandbox_option,
)
from reconciler.render.apply import apply_output
from reconciler.render.common import RenderOptions
from reconciler.render.plan import render
from reconciler.run import plan_apply
from reconciler.run.plan_apply import ApplyRun, Invocation


def _parse_ref(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A git revision, never an option: `--changed-since=--output=FILE` reached `git diff` as
    one and wrote FILE. (A pull request's workflow may build this value from untrusted text.)"""
    if value is not None and (not value.strip() or value.startswith("-") or "\0" in value):
        raise click.BadParameter(f"{value!r} is not a git revision; give a branch, tag or commit, e.g. origin/main")
    return value


def _parse_shard(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise click.BadParameter("use K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise click.BadParameter("K must be between 1 and N")
    return k, n


def plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--date", "today", callback=parse_date, default=None, metavar="YYYY-MM-DD",
                     help="Treat this date (YYYY-MM-DD) as today; default: today in each customer's billing time zone."),
        click.option("--customer", "customers", multiple=True,
                     help="Only this customer (file name without .yaml, or trend_customer_id). Repeatable."),
        click.option("--send-now", is_flag=True,
                     help="Treat every selected customer as due today, whatever its billing day: a plan shows "
                          "what a send now would write; apply sends it (recorded as a manual send)."),
        click.option("--usage", "usage_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="Read seat counts from this CSV instead of the configured usage source."),
        click.option("--ledger", "ledger_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="Ledger file (default: state/ledger.jsonl beside config/; .sandbox/ledger.jsonl with "
                          "--sandbox). A missing file means a first run: every customer is treated as never sent."),
        click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
                     show_default=True, help="How to print the plan."),
        click.option("--changed-since", "changed_since", default=None, metavar="GIT_REF", callback=_parse_ref,
                     help="Only customers whose files changed since GIT_REF (all when global.yaml or a schema changed)."),
        click.option("--shard", callback=_parse_shard, default=None, metavar="K/N",
                     help="Only shard K of N (stable by customer id); the ledger goes to ledger.KofN.jsonl."),
        click.option("--workers", type=click.IntRange(1, 32), default=None,
                     help="Customers in parallel (default: connectwise.workers, 8)."),
        click.option("--verbose", is_flag=True, help="Also list customers with nothing to change."),
        click.option("--previews/--no-previews", "previews", default=None,
                     help="Also read customers that are not due, to preview their next changes "
                          "(default: on for plan, off for apply and the scheduled job)."),
        click.option("--save-usage", "save_usage", type=click.Path(path_type=Path, file_okay=False), default=None,
                     metavar="DIR", help="Keep the exact usage rows this run counted in DIR/usage-RUN.json "
                     "(their per-customer hash is the one the ledger records)."),
        config_option,
        sandbox_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@plan_options
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also save the plan as JSON, for `reconcile apply PLAN_FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when changes are due (0 none, 1 error).")
@click.pass_obj
@reports_errors
def plan(runtime: Runtime, out: Path | None, detailed_exitcode: bool, **kwargs: Any) -> None:
    """Show what would change in ConnectWise, per customer. Writes nothing."""
    inv = Invocation(runtime=runtime, **kwargs)
    if out:
        check_output_file(out, "--out")  # before minutes of planning, not after
    if inv.previews is None:
        inv.previews = True  # a person reads a plan (terminal, pull request): show what is coming
    if inv.save_usage:
        check_output_dir(inv.save_usage, "--save-usage")

    result = plan_apply.run_plan(inv)
    click.echo(render(result, inv.fmt, RenderOptions(verbose=inv.verbose)), nl=False)
    if out:
        plan_apply.save_plan(result, out)
    if result.has_failures:
        sys.exit(1)
    sys.exit(2 if detailed_exitcode and result.has_changes else 0)


@click.command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@plan_options
@click.option("--force", is_flag=True, help="Apply customers whose plan is unsafe (beyond the safety thresholds).")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the JSON run report here (written even when a customer fails).")
@click.option("--dry-run", is_flag=True, help="Plan and show the results table, write nothing.")
@click.option("--auto-approve", is_flag=True,
              help="Do not ask for confirmation on a terminal (never asked in CI or without a terminal).")
@click.pass_obj
@reports_errors
def apply(runtime: Runtime, plan_file: Path | None, force: bool, report_path: Path | None, dry_run: bool,
          **kwargs: Any) -> None:
    """Send billing for the customers that are due (or a saved PLAN_FILE, exactly).

    On a terminal the plan is shown first and nothing is written until you type `yes`."""
    inv = Invocation(runtime=runtime, **kwargs)
    if inv.previews is None:
        inv.previews = False  # apply reads only the customers it may write today
    if report_path:
        check_output_file(report_path, "--report")  # checked before anything is sent
    if inv.save_usage:
        check_output_dir(inv.save_usage, "--save-usage")
    if not dry_run:
        plan_apply.check_ledger_writable(inv)
    inv.show_plan = _plan_shower(inv.fmt, inv.verbose)
    sys.exit(show_apply(plan_apply.run_apply(inv, plan_file, force, dry_run, report_path), inv.fmt))


@reports_errors
def scheduled_job(runtime: Runtime, dry_run: bool, today: datetime | None = None) -> int:
    """`reconcile` alone (see `reconciler.cli`): the scheduled job, printed as `apply` prints."""
    return show_apply(plan_apply.run_scheduled_job(runtime, dry_run, today, show_plan=_plan_shower("text", False)),
                      "text")


def _plan_shower(fmt: str, verbose: bool) -> Callable[..., None]:
    """The plan as apply shows it before its question."""
    return lambda plan: click.echo(render(plan, fmt, RenderOptions(verbose=verbose)), nl=False)


def show_apply(run: ApplyRun, fmt: str) -> int:
    """Print what the run did and pick the exit code. Nothing fails quietly: a missed, failed
    or unsafe customer fails the run (a dry run too, so it predicts the real run's exit code),
    whether or not its ticket could be filed."""
    for text, to_stderr in apply_output(run, fmt):
        click.echo(text, nl=False, err=to_stderr)
    if run.report_error is not None:
        raise run.report_error
    return 1 if run.problems else 0


