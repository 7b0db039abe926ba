"""`reconcile sandbox serve|reset`: run the embedded ConnectWise + Trend LMPI simulator.

The state directory defaults to `.sandbox/` of the config repository (as `--sandbox` uses it),
else of the working directory.
"""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cmds.common import PathProblem, reports_errors
from reconciler.repository import SANDBOX_DIR_NAME, root_or_cwd


def _data_dir(value: Path | None) -> Path:
    return value if value is not None else root_or_cwd() / SANDBOX_DIR_NAME


DATA_HELP = "State directory (sandbox.db) [default: .sandbox/ of the config repository]."


@click.group()
def sandbox() -> None:
    """The embedded ConnectWise + Trend LMPI simulator (state in .sandbox/)."""


@sandbox.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Loopback port (0: any free port).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help=DATA_HELP)
@click.option("--company-id", default="sandbox", show_default=True,
              help="ConnectWise company id the sandbox accepts (the part before '+' in the user name).")
@click.option("--public-key", default="sandbox-public", show_default=True,
              help="API member public key the sandbox accepts (not a secret: sandbox only).")
@click.option("--private-key", default="sandbox-private", show_default=True,
              help="API member private key the sandbox accepts (not a secret: sandbox only).")
@click.option("--latency-ms", type=int, default=None, help="Added latency per request [env SANDBOX_LATENCY_MS].")
@click.option("--fault-rate", type=float, default=None, help="Share of requests faulted, 0..1 [env SANDBOX_FAULT_RATE].")
@click.option("--fault-seed", type=int, default=None, help="Seed for reproducible faults [env SANDBOX_FAULT_SEED].")
@click.option("--fault-kinds", default=None,
              help="Comma list among 429,409,500,502,503,504,drop,drop_after,timeout [env SANDBOX_FAULT_KINDS].")
@click.option("--retry-after", type=int, default=None, help="Retry-After seconds on 429 (default 0).")
@reports_errors
def serve(port: int, data_dir: Path | None, company_id: str, public_key: str, private_key: str,
          latency_ms: int | None, fault_rate: float | None, fault_seed: int | None,
          fault_kinds: str | None, retry_after: int | None) -> None:
    """Serve ConnectWise and LMPI on 127.0.0.1 until Ctrl-C."""
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
    data_dir = _data_dir(data_dir)
    try:
        server = SandboxServer(data_dir=data_dir, port=port, faults=plan, seed_demo=True,
                               company_id=company_id, public_key=public_key, private_key=private_key)
        server.start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PathProblem(f"--port {port}: the port is in use on 127.0.0.1; stop what is listening "
                              "there, or pass another --port (0 picks a free one)") from None
        raise PathProblem(f"cannot start the sandbox: {error.strerror or error}") from None
    creds = server.credentials
    click.echo(f"ConnectWise sandbox   {server.connectwise_url}")
    click.echo(f"  company id          {creds.company_id}")
    click.echo(f"  public key          {creds.public_key}")
    click.echo(f"  private key         {creds.private_key}   (sandbox values, not secrets)")
    click.echo("  clientId            any non-empty value is accepted")
    click.echo(f"LMPI sandbox          {server.lmpi_url}   (e.g. GET {server.lmpi_url}/v3/me/serviceplans, signed)")
    click.echo(f"  x-access-token      {creds.lmpi_access_token}")
    click.echo(f"  secret key          {creds.lmpi_secret_key}")
    click.echo(f"Control               {server.base_url}/_sandbox/stats   (POST /_sandbox/reset, /_sandbox/faults, /_sandbox/lmpi)")
    click.echo(f"State                 {data_dir / 'sandbox.db'}")
    if plan.latency_ms or plan.rate or plan.nth:
        click.echo(f"Faults                {plan.to_json()}")
    click.echo("Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")


@sandbox.command("reset")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help=DATA_HELP)
@click.option("--scenario", type=click.Choice(["missed"]), default=None,
              help="Also write ledger history that shows a billing problem: 'missed' (fjord-architects was "
                   "billed last period and not since; see docs/sandbox.md).")
@reports_errors
def reset_command(data_dir: Path | None, scenario: str | None) -> None:
    """Restore the demo data (drops every change made through the API) and move the sandbox
    ledger aside, so the next `--sandbox` run plans as the first one did."""
    from reconciler.sandbox import reset

    data_dir = _data_dir(data_dir)
    try:
        moved = move_ledger_aside(data_dir)
        damaged = reset(data_dir)
    except OSError as error:
        raise PathProblem(f"--data {data_dir}: {error.strerror or error}") from None
    if damaged:
        click.echo(f"The damaged sandbox state was moved aside to {damaged}.")
    click.echo(f"Sandbox data in {data_dir} restored to the demo state.")
    if moved:
        click.echo(f"Sandbox ledger moved aside to {moved}.")
    if scenario == "missed":
        from reconciler.sandbox.scenarios import seed_missed
        from reconciler.schedule import today_in

        try:
            period = seed_missed(data_dir / "ledger.jsonl", today_in("Europe/Oslo", datetime.now(UTC)))
        except OSError as error:
            raise PathProblem(f"--data {data_dir}: {error.strerror or error}") from None
        click.echo(f"Scenario 'missed': fjord-architects was billed the period before {period} and not since "
                   "(missed once its catch-up window has passed).")


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
