"""The progress bar counts each customer once, whichever worker thread finishes it (issue 21:
`36/31` - click's bar is not thread-safe, and the engine's workers update it at once)."""

from __future__ import annotations

import io
import re
import sys
import threading

from reconciler.run import plan_apply as run


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_count_never_passes_the_total_with_many_workers(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.delenv("CI", raising=False)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows at once
    total, threads = 4000, 16
    barrier = threading.Barrier(threads)
    with run.progress(total, "planning") as update:
        assert update is not None

        def worker() -> None:
            barrier.wait()
            for _ in range(total // threads):
                update(1)

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    sys.setswitchinterval(interval)
    counts = [int(n) for n in re.findall(rf"(\d+)/{total} customers", terminal.getvalue())]
    assert counts and max(counts) == total, counts[-5:]
