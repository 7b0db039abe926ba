"""`reconcile sandbox serve|reset`: start the embedded ConnectWise + Trend LMPI simulator, or
restore its demo state. The state directory defaults to `.sandbox/` of the config repository (as
`--sandbox` uses it), else of the working directory."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reconciler.outputs import PathProblem
from reconciler.repository import SANDBOX_DIR_NAME, root_or_cwd


def data_dir_or_default(value: Path | None) -> Path:
    return value if value is not None else root_or_cwd() / SANDBOX_DIR_NAME


@dataclass
class Started:
    """A sandbox server listening on loopback (its URLs and credentials), its fault plan and
    where its state lives."""

    server: Any  # reconciler.sandbox.SandboxServer, imported only when a sandbox runs
    faults: Any  # reconciler.sandbox.FaultPlan
    data_dir: Path


def start_sandbox(port: int, data_dir: Path | None, company_id: str, public_key: str, private_key: str,
                  latency_ms: int | None, fault_rate: float | None, fault_seed: int | None,
                  fault_kinds: str | None, retry_after: int | None) -> Started:
    from reconciler.sandbox import FaultPlan, SandboxServer
    from reconciler.sandbox.lmpi import LmpiReadings

    try:
        plan = FaultPlan.from_env(
            latency_ms=latency_ms, rate=fault_rate, seed=fault_seed, retry_after=retry_after,
            kinds=tuple(fault_kinds.split(",")) if fault_kinds else None,
        )
        LmpiReadings.from_env()  # the server reads it; a typo is said here, not in a request handler
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    folder = data_dir_or_default(data_dir)
    try:
        server = SandboxServer(data_dir=folder, port=port, faults=plan, seed_demo=True,
                               company_id=company_id, public_key=public_key, private_key=private_key)
        server.start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PathProblem(f"--port {port}: the port is in use on 127.0.0.1; stop what is listening "
                              "there, or pass another --port (0 picks a free one)") from None
        raise PathProblem(f"cannot start the sandbox: {error.strerror or error}") from None
    return Started(server, plan, folder)


def serve_until_interrupted(started: Started) -> None:
    """Serve until Ctrl-C (which ends the command normally)."""
    try:
        started.server.serve_forever()
    except KeyboardInterrupt:
        return


@dataclass
class Reset:
    """What `sandbox reset` did: where the damaged state and the old ledger went (None: there was
    none), the period the 'missed' scenario was seeded for, and `error` when seeding failed
    after the reset (raised by the command once the rest is said)."""

    data_dir: Path
    damaged: Path | None
    moved: Path | None
    scenario: str | None
    missed_period: str | None = None
    error: PathProblem | None = None


def reset_sandbox(data_dir: Path | None, scenario: str | None) -> Reset:
    from reconciler.sandbox import reset

    folder = data_dir_or_default(data_dir)
    try:
        moved = move_ledger_aside(folder)
        damaged = reset(folder)
    except OSError as error:
        raise PathProblem(f"--data {folder}: {error.strerror or error}") from None
    result = Reset(folder, damaged, moved, scenario)
    if scenario == "missed":
        from reconciler.sandbox.scenarios import seed_missed
        from reconciler.schedule import today_in

        try:
            result.missed_period = seed_missed(folder / "ledger.jsonl", today_in("Europe/Oslo", datetime.now(UTC)))
        except OSError as error:
            result.error = PathProblem(f"--data {folder}: {error.strerror or error}")
    return result


def move_ledger_aside(data_dir: Path) -> Path | None:
    """Move `ledger.jsonl` and its shards into `old-ledgers/<UTC time>/` (kept, not deleted: it
    is the history of demo runs; a subfolder, so no ledger reader picks it up again)."""
    files = sorted(data_dir.glob("ledger*.jsonl")) if data_dir.is_dir() else []
    if not files:
        return None
    target = data_dir / "old-ledgers" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target.mkdir(parents=True)
    for file in files:
        file.rename(target / file.name)
    return target
