"""`reconcile sandbox serve|reset`: run the embedded ConnectWise + Trend LMPI simulator.

Parses options; starting, serving and resetting are `reconciler.run.sandbox`'s, what is printed
`reconciler.render.sandbox`'s. The state directory defaults to `.sandbox/` of the config
repository (as `--sandbox` uses it), else of the working directory.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cmds.common import reports_errors
from reconciler.render.sandbox import reset_lines, serve_banner
from reconciler.run.sandbox import reset_sandbox, serve_until_interrupted, start_sandbox

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
    started = start_sandbox(port, data_dir, company_id, public_key, private_key, latency_ms, fault_rate,
                            fault_seed, fault_kinds, retry_after)
    for line in serve_banner(started):
        click.echo(line)
    serve_until_interrupted(started)
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
    result = reset_sandbox(data_dir, scenario)
    for line in reset_lines(result):
        click.echo(line)
    if result.error is not None:
        raise result.error
