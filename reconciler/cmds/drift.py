"""`reconcile drift`: a read-only report of what changed outside Git (see reconciler/drift.py).

Exit codes follow `plan`: 0 (drift or not), or with --detailed-exitcode 2 when anything
drifted; 1 on any error (invalid config, missing credentials, unreadable usage or ledger, a
ConnectWise error). A `--ledger` that names no file is an error, because a typo there would
otherwise read as "nothing sent yet, so no drift" in the weekly job.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler import drift as drift_report
from reconciler.cmds.common import Runtime, config_option, reports_errors, sandbox_option
from reconciler.config import load_config
from reconciler.errors import ReconcileError
from reconciler.ledger import ledger_files, read_ledger
from reconciler.render.drift import render as render_drift
from reconciler.runtime import open_backends
from reconciler.usage import read_usage


class LedgerMissing(ReconcileError):
    """`--ledger` names no file: a typo must not read as "nothing sent, so no drift"."""


def run_drift(runtime: Runtime, config_dir: Path | None, ledger_path: Path | None,
              usage_path: Path | None) -> drift_report.DriftReport:
    repository = runtime.repository(config_dir)
    config = load_config(repository.config_dir)
    ledger_file = ledger_path or repository.default_ledger(runtime.sandbox)
    if ledger_path is not None and not ledger_files(ledger_path):
        raise LedgerMissing(f"--ledger {ledger_path}: no such ledger file")
    view = read_ledger(ledger_file)
    with open_backends(config, runtime.sandbox) as backends:
        usage = read_usage(config, override_csv=usage_path, env=backends.usage_env)
        snapshots = drift_report.read_snapshots(backends.target, config, config.connectwise.workers)
    report = drift_report.find_drift(config, snapshots, view, usage, today=datetime.now(UTC).date())  # the clock, read here
    report.ledger, report.sandbox = str(ledger_file), runtime.sandbox
    if not ledger_files(ledger_file):
        report.warnings.append(f"no ledger at {ledger_file} yet: nothing has been sent, so there is no baseline")
    return report


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="How to print the report.")
@click.option("--ledger", "ledger_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Ledger file (default: state/ledger.jsonl beside config/; .sandbox/ledger.jsonl with --sandbox).")
@click.option("--usage", "usage_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Read seat counts from this CSV instead of the configured usage source.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when anything drifted (0 none, 1 error).")
@config_option
@sandbox_option
@click.pass_obj
@reports_errors
def drift(runtime: Runtime, fmt: str, ledger_path: Path | None, usage_path: Path | None,
          detailed_exitcode: bool, config_dir: Path | None) -> None:
    """Report what changed in ConnectWise outside Git since the last send. Writes nothing."""
    report = run_drift(runtime, config_dir, ledger_path, usage_path)
    click.echo(render_drift(report, fmt), nl=False)
    sys.exit(2 if detailed_exitcode and report.drifted else 0)
