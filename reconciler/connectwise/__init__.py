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

__all__ = [
    "PAGE_SIZE",
    "AmbiguousWrite",
    "AuthError",
    "BadRequest",
    "Client",
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
