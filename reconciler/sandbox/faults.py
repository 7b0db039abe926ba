"""Fault injection: what can go wrong between a client and ConnectWise, on demand and reproducibly.

Kinds:
- `429`: rate limited, `Retry-After: <retry_after>`, CW's `{"error","message"}` body (not `code`!).
- `409`, `500`: CW JSON error bodies (`{"code","message","errors"}`).
- `502`, `503`, `504`: gateway-style HTML bodies, because in real life a proxy answers these and a
  client must not assume JSON.
- `drop`: close the connection without a response, before the request is processed.
- `drop_after`: process (and commit) the request, then close without a response: the ambiguous
  POST a client must resolve by looking, not by retrying blindly.
- `timeout`: sleep `timeout_seconds` (longer than a client timeout), then drop without processing.
- `slow_commit`: hold a POST `slow_commit_ms` before processing it, then answer normally (other
  methods are unaffected): a create that commits after a racing client has created and read
  back, as two applies against one ConnectWise see it.

Requests are numbered from 1 per server run (and again from 1 each time a plan is installed via
`POST /_sandbox/faults`); `/_sandbox/*` requests are never numbered nor faulted. `nth` maps
request numbers to kinds; otherwise, with probability `rate`, a kind is drawn from `kinds` by a
`random.Random(seed)`, so a seeded run faults the same request numbers every time.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# A minute per request is already past every client timeout; an hour is a long Retry-After.
MAX_LATENCY_MS, MAX_RETRY_AFTER = 60_000, 3_600
FAULT_KINDS = ("429", "409", "500", "502", "503", "504", "drop", "drop_after", "timeout", "slow_commit")


@dataclass
class FaultPlan:
    latency_ms: int = 0
    rate: float = 0.0
    seed: int | None = None
    kinds: tuple[str, ...] = ("429", "500", "503", "drop")
    nth: dict[int, str] = field(default_factory=dict)
    retry_after: int = 0
    timeout_seconds: float = 35.0
    slow_commit_ms: int = 1000

    def __post_init__(self) -> None:
        self.kinds = tuple(str(k).strip() for k in self.kinds if str(k).strip())
        self.nth = {int(k): str(v) for k, v in self.nth.items()}
        unknown = [k for k in (*self.kinds, *self.nth.values()) if k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        if self.latency_ms < 0 or self.retry_after < 0:
            raise ValueError("latency and Retry-After cannot be negative")
        # A bound the simulator can sleep: beyond it time.sleep overflows in every request handler.
        if self.latency_ms > MAX_LATENCY_MS or self.retry_after > MAX_RETRY_AFTER:
            raise ValueError(f"latency is at most {MAX_LATENCY_MS} ms and Retry-After at most {MAX_RETRY_AFTER} s")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "FaultPlan":
        """Build from SANDBOX_LATENCY_MS, SANDBOX_FAULT_RATE, SANDBOX_FAULT_SEED, SANDBOX_FAULT_KINDS
        (comma list), SANDBOX_RETRY_AFTER; `overrides` that are not None win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for variable, name, kind in (("SANDBOX_LATENCY_MS", "latency_ms", int), ("SANDBOX_FAULT_RATE", "rate", float),
                                     ("SANDBOX_FAULT_SEED", "seed", int), ("SANDBOX_RETRY_AFTER", "retry_after", int)):
            if env.get(variable):
                try:
                    values[name] = kind(env[variable])
                except ValueError:
                    what = "a whole number" if kind is int else "a number"
                    raise ValueError(f"{variable}={env[variable]!r} is not {what}") from None
                limit = {"latency_ms": MAX_LATENCY_MS, "retry_after": MAX_RETRY_AFTER}.get(name)
                if limit is not None and not 0 <= values[name] <= limit:
                    raise ValueError(f"{variable}={env[variable]!r}: use 0 to {limit}")
        if env.get("SANDBOX_FAULT_KINDS"):
            values["kinds"] = tuple(env["SANDBOX_FAULT_KINDS"].split(","))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FaultPlan":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown FaultPlan field(s): {', '.join(sorted(unknown))}")
        values = dict(data)
        if isinstance(values.get("kinds"), str):
            values["kinds"] = values["kinds"].split(",")
        if "kinds" in values:
            values["kinds"] = tuple(values["kinds"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms, "rate": self.rate, "seed": self.seed,
            "kinds": list(self.kinds), "nth": {str(k): v for k, v in self.nth.items()},
            "retry_after": self.retry_after, "timeout_seconds": self.timeout_seconds,
            "slow_commit_ms": self.slow_commit_ms,
        }


class FaultInjector:
    """Numbers requests and decides, thread-safely, which one gets which fault."""

    def __init__(self, plan: FaultPlan) -> None:
        self._lock = threading.Lock()
        self.install(plan)

    def install(self, plan: FaultPlan) -> None:
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed)
            self._number = 0

    def next(self) -> tuple[int, str | None]:
        """Number the next request and return (number, fault kind or None)."""
        with self._lock:
            self._number += 1
            number, plan = self._number, self.plan
            if number in plan.nth:
                return number, plan.nth[number]
            # Draw for every request (even when rate is 0) so the sequence depends only on the seed.
            roll, pick = self._rng.random(), self._rng.randrange(max(len(plan.kinds), 1))
            if plan.kinds and roll < plan.rate:
                return number, plan.kinds[pick]
            return number, None
