"""A thread-safe token bucket: the client's own brake, below ConnectWise's 429s.

Why not pyrate-limiter (it is on PyPI, v4): it has changed its public API in each of its
last three majors, and what we need is ~25 lines — one bucket, in one process, blocking.
A dependency for that would cost more in upgrades than it saves.

Burst capacity defaults to a tenth of the per-minute rate (90 at 900/min), so a fresh
client starts fast and the worst one-minute window stays under CW's documented "over
1,000 requests per minute" threshold (90 + 900 < 1000).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        per_minute: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = max(1.0, burst if burst is not None else per_minute / 10.0)
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take one token, sleeping (outside the lock) until one is available."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self.rate
            self._sleep(wait)
