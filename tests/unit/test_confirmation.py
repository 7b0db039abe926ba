"""Who is asked before apply writes (issue 21): a person at a terminal, even when the output
is piped (`reconcile apply | tee log`); CI only when `CI` says so (`true` or `1`)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from reconciler.notify import TicketRun
from reconciler.run import plan_apply as run
from reconciler.runtime import Runtime, in_ci


class Tty:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("value,expected", [
    ("true", True), ("TRUE", True), ("True", True), ("1", True), (" true ", True),
    ("false", False), ("0", False), ("", False), ("no", False), ("yes-please", False),
])
def test_only_true_or_1_means_ci(value, expected):
    assert in_ci({"CI": value}) is expected


def test_no_ci_variable_is_not_ci():
    assert in_ci({}) is False


def test_a_terminal_on_stdin_is_asked_even_when_stdout_is_piped(monkeypatch):
    monkeypatch.setattr(sys, "stdin", Tty(True))
    monkeypatch.setattr(sys, "stdout", Tty(False))
    assert run.needs_confirmation(False, env={}) is True
    assert run.needs_confirmation(False, env={"CI": "false"}) is True
    assert run.needs_confirmation(False, env={"CI": "true"}) is False
    assert run.needs_confirmation(True, env={}) is False


def test_no_terminal_on_stdin_is_never_asked(monkeypatch):
    monkeypatch.setattr(sys, "stdin", Tty(False))
    monkeypatch.setattr(sys, "stdout", Tty(True))
    assert run.needs_confirmation(False, env={}) is False


def _question(monkeypatch, hint: str | None) -> str:
    monkeypatch.setattr(run, "needs_confirmation", lambda auto_approve: True)
    plan = SimpleNamespace(customers=[SimpleNamespace(actionable=True)])
    runner = CliRunner()
    with runner.isolation(input="no\n") as streams:
        with pytest.raises(run.ApplyNotApproved):
            if hint is None:
                run.confirm_apply(plan, False)
            else:
                run.confirm_apply(plan, False, how_to_skip=hint)
        return streams[1].getvalue().decode()


def test_apply_suggests_auto_approve(monkeypatch):
    assert "--auto-approve" in _question(monkeypatch, None)


def test_the_bare_command_suggests_only_what_it_has(monkeypatch):
    seen = {}

    def fake_apply(inv, *args, **kwargs):
        seen["hint"] = inv.how_to_skip_question
        return run.ApplyRun(None, [], [], TicketRun(), dry_run=False)

    monkeypatch.setattr(run, "run_apply", fake_apply)
    assert run.run_scheduled_job(Runtime(), dry_run=False).problems == []
    assert "--auto-approve" not in seen["hint"]
    assert "--auto-approve" not in _question(monkeypatch, seen["hint"])
