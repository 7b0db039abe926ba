"""The last net in `reconcile`'s entry point: what escapes every command becomes one line and
an exit code, never a traceback (issue 21)."""

from __future__ import annotations

import errno

import click
import pytest

from reconciler import cli


def _exit_of(monkeypatch, capsys, error: BaseException) -> tuple[int, str]:
    def boom(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(cli.cli, "main", boom)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["validate"])
    return stopped.value.code, capsys.readouterr().err


def test_a_file_the_tool_may_not_read_is_one_line_with_its_name(monkeypatch, capsys):
    code, err = _exit_of(monkeypatch, capsys, PermissionError(errno.EACCES, "Permission denied", "config/x.yaml"))
    assert code == 1
    assert err == "error: config/x.yaml: Permission denied\n"


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    code, err = _exit_of(monkeypatch, capsys, KeyboardInterrupt())
    assert code == 130
    assert err.startswith("Interrupted") and err.count("\n") == 1


def test_ctrl_c_that_click_turned_into_abort_is_the_same(monkeypatch, capsys):
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.Abort() from None
    except click.Abort as abort:
        error = abort
    code, err = _exit_of(monkeypatch, capsys, error)
    assert code == 130 and err.startswith("Interrupted")


def test_a_bug_is_an_internal_error_line(monkeypatch, capsys):
    monkeypatch.delenv("RECONCILE_DEBUG", raising=False)
    code, err = _exit_of(monkeypatch, capsys, ZeroDivisionError("division by zero"))
    assert code == 1
    assert err.startswith("internal error") and "ZeroDivisionError: division by zero" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_reconcile_debug_shows_the_traceback_of_a_bug(monkeypatch, capsys):
    monkeypatch.setenv("RECONCILE_DEBUG", "1")
    _code, err = _exit_of(monkeypatch, capsys, ZeroDivisionError("division by zero"))
    assert "Traceback" in err and err.rstrip().endswith("division by zero")
