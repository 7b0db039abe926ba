"""What `reconcile sandbox serve` and `reset` print: where the simulator listens and the values
it accepts (sandbox values, not secrets), and what a reset restored or moved aside."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.run.sandbox import Reset, Started


def serve_banner(started: Started) -> list[str]:
    server, plan, data_dir = started.server, started.faults, started.data_dir
    creds = server.credentials
    lines = [
        f"ConnectWise sandbox   {server.connectwise_url}",
        f"  company id          {creds.company_id}",
        f"  public key          {creds.public_key}",
        f"  private key         {creds.private_key}   (sandbox values, not secrets)",
        "  clientId            any non-empty value is accepted",
        f"LMPI sandbox          {server.lmpi_url}   (e.g. GET {server.lmpi_url}/v3/me/serviceplans, signed)",
        f"  x-access-token      {creds.lmpi_access_token}",
        f"  secret key          {creds.lmpi_secret_key}",
        f"Control               {server.base_url}/_sandbox/stats   (POST /_sandbox/reset, /_sandbox/faults, /_sandbox/lmpi)",
        f"State                 {data_dir / 'sandbox.db'}",
    ]
    if plan.latency_ms or plan.rate or plan.nth:
        lines.append(f"Faults                {plan.to_json()}")
    lines.append("Ctrl-C to stop.")
    return lines


def reset_lines(result: Reset) -> list[str]:
    lines = []
    if result.damaged:
        lines.append(f"The damaged sandbox state was moved aside to {result.damaged}.")
    lines.append(f"Sandbox data in {result.data_dir} restored to the demo state.")
    if result.moved:
        lines.append(f"Sandbox ledger moved aside to {result.moved}.")
    if result.missed_period is not None:
        lines.append(f"Scenario 'missed': fjord-architects was billed the period before {result.missed_period} "
                     "and not since (missed once its catch-up window has passed).")
    return lines
