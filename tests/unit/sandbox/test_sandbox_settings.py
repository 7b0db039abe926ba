"""Sandbox settings from the environment are user input: a value the simulator cannot play is one
`sandbox settings:` line and exit 1, never a traceback from the server thread nor an "internal
error" (SANDBOX_LATENCY_MS=99999999999999 overflowed time.sleep in every request handler and the
client retried for half a minute; SANDBOX_LMPI_READINGS=junk was reported as a bug)."""

from __future__ import annotations

import pytest

from reconciler.cli import main
from reconciler.sandbox import FaultPlan
from tests.support.e2e import make_repo


@pytest.mark.parametrize("variable, value", [("SANDBOX_LATENCY_MS", "99999999999999"),
                                             ("SANDBOX_RETRY_AFTER", "99999999999"),
                                             ("SANDBOX_LMPI_READINGS", "junk"),
                                             ("SANDBOX_LMPI_READINGS", "clock_offset=abc"),
                                             ("SANDBOX_LMPI_READINGS", "used_field=nope")])
def test_a_sandbox_setting_it_cannot_play_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys, variable, value):
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exit_:
        main(["--sandbox", "plan"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: sandbox settings: {variable}") and err.count("\n") == 1, err
    assert "Traceback" not in err and "internal error" not in err


def test_latency_up_to_a_minute_is_still_accepted():
    assert FaultPlan.from_env({"SANDBOX_LATENCY_MS": "60000"}).latency_ms == 60000
    with pytest.raises(ValueError, match="SANDBOX_LATENCY_MS"):
        FaultPlan.from_env({"SANDBOX_LATENCY_MS": "60001"})
