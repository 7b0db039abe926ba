"""The edges a command needs: the PSA target and the usage source's environment.

The PSA is whichever package `TARGETS` (the wiring list) names; this module knows nothing of
it but its `connect(config, env, sandbox=None) -> Connection`: its settings, its credentials,
where a pull request may send them and how it talks to the simulator are the package's own.
Missing credentials are that package's `MissingCredentials`, naming its variables: the tool
never falls back to fake data on its own.

With `--sandbox` an in-process simulator is started on an ephemeral loopback port with its
state in `.sandbox/` (and the fault plan of the `SANDBOX_*` environment variables), handed to
the PSA's `connect`, and the ledger defaults to `.sandbox/ledger.jsonl` so demo runs never
touch the real ledger.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from reconciler.config.model import Config
from reconciler.errors import ReconcileError
from reconciler.repository import ConfigRepository, locate
from reconciler.target import Connection, MissingCredentials, Target

__all__ = ["TARGETS", "Backends", "MissingCredentials", "Runtime", "SandboxSettingsInvalid", "open_backends"]

SANDBOX_DIR = Path(".sandbox")
DEFAULT_LEDGER = Path("state/ledger.jsonl")


class SandboxSettingsInvalid(ReconcileError):
    pass


# The wiring list: the PSA packages, by name -> the module whose `connect(config, env,
# sandbox=None)` returns a `Connection`. Loaded lazily (octoDNS loads its providers the same
# way), so a command that never talks to the PSA never imports its client, and no module but
# this list names an implementation. One deployment bills through one PSA: the first listed.
TARGETS = {"connectwise": "reconciler.connectwise"}


def psa() -> ModuleType:
    """The PSA package this deployment bills through (the first in `TARGETS`)."""
    return importlib.import_module(next(iter(TARGETS.values())))


def connect(config: Config, env: Mapping[str, str], sandbox: object | None = None) -> Connection:
    """The PSA's target (raises `MissingCredentials`, nothing sent)."""
    connection: Connection = psa().connect(config, env, sandbox=sandbox)
    return connection


def credential_variables() -> tuple[str, ...]:
    """The environment variables holding the PSA's secrets (masked in what doctor prints)."""
    return tuple(getattr(psa(), "CREDENTIAL_VARIABLES", ()))


@dataclass
class Runtime:
    """What the global options say: which config repository, and the sandbox or not."""

    config_dir: Path | None = None
    sandbox: bool = False

    def repository(self, override: Path | None = None) -> ConfigRepository:
        """The config repository (raises ConfigNotFound, a one-line usage error, when none)."""
        return locate(override or self.config_dir)

    def resolve_config_dir(self, override: Path | None = None) -> Path:
        return self.repository(override).config_dir


@dataclass
class Backends:
    target: Target
    usage_env: Mapping[str, str]
    sandbox: object | None = None
    notes: list[str] = field(default_factory=list)  # for the plan's warnings (the PSA's `Connection.notes`)


def in_ci(env: Mapping[str, str] = os.environ) -> bool:
    """True when `CI` says this is a CI job: `true` or `1`, in any case (what GitHub Actions,
    GitLab and most runners set). Any other value, `false` included, is not CI: a person who
    exported CI=false still gets the confirmation question."""
    return env.get("CI", "").strip().lower() in ("true", "1")


def default_ledger(sandbox: bool) -> Path:
    return SANDBOX_DIR / "ledger.jsonl" if sandbox else DEFAULT_LEDGER


@contextmanager
def open_backends(config: Config, sandbox: bool, env: Mapping[str, str] = os.environ) -> Iterator[Backends]:
    if sandbox:
        from reconciler.sandbox import FaultPlan, SandboxServer
        from reconciler.sandbox.lmpi import LmpiReadings

        # SANDBOX_LATENCY_MS / SANDBOX_FAULT_* let anyone watch retries and read-backs at work.
        data_dir = ConfigRepository(config.root).sandbox_dir  # beside config/, whatever the cwd
        try:
            faults = FaultPlan.from_env(env)
            LmpiReadings.from_env(env)  # read again by the server; checked here, where it can be said
        except ValueError as error:  # a mistyped SANDBOX_* variable, or a fault kind that does not exist
            raise SandboxSettingsInvalid(f"sandbox settings: {error}") from None
        with SandboxServer(data_dir=data_dir, port=0, seed_demo=True, faults=faults) as server:
            connection = connect(config, env, sandbox=server)
            creds = server.credentials
            usage_env = {**env, "TM_LMPI_URL": server.lmpi_url, "TM_ACCESS_TOKEN": creds.lmpi_access_token,
                         "TM_SECRET_KEY": creds.lmpi_secret_key}
            yield Backends(target=connection.target, usage_env=usage_env, sandbox=server,
                           notes=list(connection.notes))
        return
    connection = connect(config, env)
    yield Backends(target=connection.target, usage_env=env, notes=list(connection.notes))
