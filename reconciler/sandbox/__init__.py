"""The embedded ConnectWise Manage + Trend LMPI simulator (see docs/sandbox.md).

    from reconciler.sandbox import SandboxServer, FaultPlan
    with SandboxServer(data_dir=Path(".sandbox"), port=0, faults=FaultPlan(), seed_demo=True) as sb:
        sb.connectwise_url, sb.lmpi_url, sb.credentials, sb.store
"""

from reconciler.sandbox.faults import FAULT_KINDS, FaultPlan
from reconciler.sandbox.server import SandboxCredentials, SandboxServer, reset
from reconciler.sandbox.store import Store

__all__ = ["SandboxServer", "SandboxCredentials", "FaultPlan", "FAULT_KINDS", "Store", "reset"]
