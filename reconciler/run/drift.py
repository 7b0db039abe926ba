"""`reconcile drift`: read the config, the ledger, the usage and ConnectWise, and find what changed
outside Git since the last send (`reconciler.drift`). Writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from reconciler import drift as drift_report
from reconciler.config import load_config
from reconciler.errors import ReconcileError
from reconciler.ledger import ledger_files, read_ledger
from reconciler.runtime import Runtime, open_backends
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
