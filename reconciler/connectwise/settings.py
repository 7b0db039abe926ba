"""Where the ConnectWise keys come from, and whether they may be sent.

Outside the sandbox the keys are the environment's (`CREDENTIAL_VARIABLES`), the company id and
API version are global.yaml's (`connectwise:`), and the URL is the one the trust model allows
(trust.py: a pull request never chooses where the keys go). A missing or malformed key, or a URL
no trusted place vouches for, is `MissingCredentials` naming the variables: the tool never falls
back to fake data on its own. With the sandbox every value is the simulator's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.config.model import Config
from reconciler.secrets import check_env
from reconciler.target import MissingCredentials

from . import trust

if TYPE_CHECKING:
    from reconciler.sandbox import SandboxServer

# The environment variables holding ConnectWise secrets: checked here, and masked in every text
# `reconcile doctor` prints (`reconciler.runtime.credential_variables`).
CREDENTIAL_VARIABLES = ("CW_PUBLIC_KEY", "CW_PRIVATE_KEY", "CW_CLIENT_ID")


@dataclass(frozen=True)
class Settings:
    """Everything a ConnectWise client needs (keys included: never printed; see `__repr__`)."""

    url: str
    company_id: str
    public_key: str
    private_key: str
    client_id: str
    api_version: str
    requests_per_minute: int
    note: str | None = None  # for the plan's warnings: the URL change that waits for merge (trust.py)

    def __repr__(self) -> str:
        return f"Settings(url={self.url!r}, company_id={self.company_id!r})"


def from_sandbox(config: Config, server: SandboxServer) -> Settings:
    """The simulator's URL and keys; the API version and the rate limit as configured."""
    creds = server.credentials
    return Settings(server.connectwise_url, creds.company_id, creds.public_key, creds.private_key,
                    creds.client_id, config.connectwise.api_version, config.connectwise.requests_per_minute)


def from_env(config: Config, env: Mapping[str, str]) -> Settings:
    """The configured tenant: keys from the environment, the URL the trust model allows.
    Raises `MissingCredentials` (one line, nothing sent)."""
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
    return Settings(connection.url, config.connectwise.company_id, env["CW_PUBLIC_KEY"], env["CW_PRIVATE_KEY"],
                    env["CW_CLIENT_ID"], config.connectwise.api_version, config.connectwise.requests_per_minute,
                    note=connection.note)
