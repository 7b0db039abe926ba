"""ConnectWise Manage REST client (see docs/client.md)."""

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
from .target import ConnectWiseTarget


def connect(*, url: str, company_id: str, public_key: str, private_key: str, client_id: str, api_version: str,
            requests_per_minute: int = 900) -> ConnectWiseTarget:
    """The target seam for one ConnectWise Manage (see `reconciler.runtime.TARGETS`)."""
    return ConnectWiseTarget(Client(url, Credentials(company_id, public_key, private_key, client_id),
                                    api_version=api_version, requests_per_minute=requests_per_minute))

__all__ = [
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
]
