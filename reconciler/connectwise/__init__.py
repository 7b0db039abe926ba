"""ConnectWise Manage as the PSA: its REST client (see docs/client.md), its `Target`, and
`connect`, the entry point `reconciler.runtime.TARGETS` lists.

`connect(config, env, sandbox=None)` is all the rest of the tool asks of this package: its
settings and keys (settings.py), where a pull request may send them (trust.py) and the
simulator's wiring stay here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.config.model import Config
from reconciler.target import Connection

from . import settings as _settings
from .client import PAGE_SIZE, Client, Credentials
from .conditions import Condition, all_of, any_of, cond
from .errors import (
    AmbiguousWrite,
    AuthError,
    BadRequest,
    Conflict,
    ConnectWiseError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
)
from .ratelimit import TokenBucket
from .settings import CREDENTIAL_VARIABLES
from .target import ConnectWiseTarget

if TYPE_CHECKING:
    from reconciler.sandbox import SandboxServer


def connect(config: Config, env: Mapping[str, str], sandbox: SandboxServer | None = None) -> Connection:
    """The target for the configured ConnectWise Manage, or for the sandbox's simulator when
    `sandbox` is the running server. Raises `MissingCredentials` (nothing sent)."""
    found = _settings.from_sandbox(config, sandbox) if sandbox is not None else _settings.from_env(config, env)
    target = target_for(url=found.url, company_id=found.company_id, public_key=found.public_key,
                        private_key=found.private_key, client_id=found.client_id, api_version=found.api_version,
                        requests_per_minute=found.requests_per_minute)
    return Connection(target, notes=(found.note,) if found.note else ())


def target_for(*, url: str, company_id: str, public_key: str, private_key: str, client_id: str, api_version: str,
               requests_per_minute: int = 900) -> ConnectWiseTarget:
    """The target over one ConnectWise Manage's REST API (bench/ lifts the rate limit here)."""
    return ConnectWiseTarget(Client(url, Credentials(company_id, public_key, private_key, client_id),
                                    api_version=api_version, requests_per_minute=requests_per_minute))

__all__ = [
    "CREDENTIAL_VARIABLES",
    "PAGE_SIZE",
    "AmbiguousWrite",
    "AuthError",
    "BadRequest",
    "Client",
    "ConnectWiseTarget",
    "Condition",
    "Conflict",
    "ConnectWiseError",
    "Credentials",
    "NotFound",
    "RateLimited",
    "ServerError",
    "TokenBucket",
    "TransportError",
    "all_of",
    "any_of",
    "cond",
    "connect",
    "target_for",
]
