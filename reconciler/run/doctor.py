"""`reconcile doctor`: the preflight of the configured tenants, for today (UTC). The reads and
the checklist are the `reconciler.doctor` package's (`doctor.run`); this is the command's run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from reconciler.doctor.report import DoctorReport
from reconciler.doctor.run import doctor_config_dir
from reconciler.runtime import Runtime


def run_doctor(runtime: Runtime, config_dir: Path | None) -> DoctorReport:
    return doctor_config_dir(runtime.resolve_config_dir(config_dir), runtime.sandbox, today=datetime.now(UTC).date())
