"""`reconcile plan` and `reconcile apply`: their options; the run itself is `reconciler.run`'s."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reconciler.cmds.common import (
    Runtime,
    check_creatable_dir,
    check_output_dir,
    check_output_file,
    config_option,
    parse_date,
    reports_errors,
    sandbox_option,
)
from reconciler.config.diagnostics import display_path
from reconciler.run import Invocation, run_apply, run_plan


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

    sys.exit(run_plan(inv, out, detailed_exitcode))


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
        check_creatable_dir(inv.ledger_file.parent, f"ledger {display_path(inv.ledger_file)}")
    sys.exit(run_apply(inv, plan_file, force, dry_run, report_path))


