"""The edges a command needs: the PSA target and the usage source's environment.

With `--sandbox` an in-process simulator is started on an ephemeral loopback port with its
state in `.sandbox/` (and the fault plan of the `SANDBOX_*` environment variables), and the ledger defaults to `.sandbox/ledger.jsonl` so demo runs never
touch the real ledger. Without it, missing credentials are an error naming the variables:
the tool never falls back to fake data on its own.
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from reconciler import trust
from reconciler.config.model import Config
from reconciler.errors import ReconcileError
from reconciler.repository import ConfigRepository, locate
from reconciler.secrets import check_env
from reconciler.target import Target

SANDBOX_DIR = Path(".sandbox")
DEFAULT_LEDGER = Path("state/ledger.jsonl")
CREDENTIAL_VARIABLES = ("CW_PUBLIC_KEY", "CW_PRIVATE_KEY", "CW_CLIENT_ID")


class MissingCredentials(ReconcileError):
    pass


class SandboxSettingsInvalid(ReconcileError):
    pass


# The PSA implementations, by name -> the module whose `connect(...)` builds one. Loaded lazily
# (octoDNS loads its providers the same way), so a command that never talks to the PSA never
# imports its client, and no module but this registry names the implementation.
TARGETS = {"connectwise": "reconciler.connectwise"}


def connect(name: str, **settings: Any) -> Target:
    target: Target = importlib.import_module(TARGETS[name]).connect(**settings)
    return target


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
    notes: list[str] = field(default_factory=list)  # for the plan's warnings (see trust.py)


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
            creds = server.credentials
            target = connect(
                "connectwise", url=server.connectwise_url, company_id=creds.company_id, public_key=creds.public_key,
                private_key=creds.private_key, client_id=creds.client_id, api_version=config.connectwise.api_version,
                requests_per_minute=config.connectwise.requests_per_minute,
            )
            usage_env = {**env, "TM_LMPI_URL": server.lmpi_url, "TM_ACCESS_TOKEN": creds.lmpi_access_token,
                         "TM_SECRET_KEY": creds.lmpi_secret_key}
            yield Backends(target=target, usage_env=usage_env, sandbox=server)
        return
    missing = [name for name in CREDENTIAL_VARIABLES if not env.get(name)]
    if missing:
        raise MissingCredentials(
            f"missing ConnectWise credentials: set {', '.join(missing)} in the environment "
            "(or run with --sandbox to use the embedded simulator)"
        )
    problem = check_env(env, CREDENTIAL_VARIABLES)
    if problem:
        raise MissingCredentials(problem)
    try:  # a pull request never chooses where the keys go
        connection = trust.connection(config, env)
    except trust.Untrusted as error:
        raise MissingCredentials(str(error)) from None
    target = connect(
        "connectwise", url=connection.url, company_id=config.connectwise.company_id,
        public_key=env["CW_PUBLIC_KEY"], private_key=env["CW_PRIVATE_KEY"], client_id=env["CW_CLIENT_ID"],
        api_version=config.connectwise.api_version, requests_per_minute=config.connectwise.requests_per_minute,
    )
    yield Backends(target=target, usage_env=env, notes=[connection.note] if connection.note else [])
