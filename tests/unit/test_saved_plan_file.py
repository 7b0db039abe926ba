"""`reconcile apply PLAN_FILE` with a FIFO (or a device) for PLAN_FILE waited forever for a writer;
like a customer file or a usage CSV, a plan file that is not a regular file is refused at once."""

from __future__ import annotations

import os
import signal

import pytest

from reconciler.saved_plan import PlanFileInvalid, read_saved_plan


def _give_up(_signum, _frame):
    raise AssertionError("read_saved_plan blocked on a FIFO")


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_plan_file_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path, kind):
    path = tmp_path / "plan.json"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path = type(path)("/dev/null")
    previous = signal.signal(signal.SIGALRM, _give_up)
    signal.alarm(5)
    try:
        with pytest.raises(PlanFileInvalid, match="not a regular file"):
            read_saved_plan(path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
