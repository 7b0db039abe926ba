"""One error base (reconciler/errors.py): every exception class in `reconciler/` a user can
cause derives from `ReconcileError`, and every command reports it through the one handler
(`cmds.common.reports_errors`), so anything a user can cause is one line, never a traceback,
and `apply --report` is written before the run stops."""

from __future__ import annotations

import ast
import importlib
import inspect

import click
import pytest

from reconciler.cli import cli
from reconciler.cmds.common import reports_errors
from reconciler.errors import ReconcileError
from tests.repo.test_architecture import modules

# Exception classes that never reach a user of the CLI, and why.
INTERNAL = {
    # The simulator's own: its HTTP server answers them with a 400, as ConnectWise would; the
    # CLI only ever sees the 400 (as a connectwise.BadRequest, a ReconcileError).
    "reconciler.sandbox.routes.Invalid": "answered as HTTP 400 InvalidObject",
    "reconciler.sandbox.conditions.ConditionError": "answered as HTTP 400 for a bad conditions string",
}


def exception_classes() -> list[type[BaseException]]:
    found = []
    for name in sorted(modules()):
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == name:
                found.append(value)
    return found


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_every_exception_a_user_can_cause_derives_from_reconcile_error():
    classes = exception_classes()
    assert len(classes) > 30, "the walk found too few exception classes to mean anything"
    stray = [qualified(cls) for cls in classes
             if not issubclass(cls, ReconcileError) and not cls.__name__.startswith("_")
             and qualified(cls) not in INTERNAL]
    assert not stray, f"derive these from reconciler.errors.ReconcileError (or make them private and catch them): {stray}"


def test_no_error_derives_from_clicks_exceptions():
    """click's handler sits outside the command: a run refused that way could not write its
    `--report`, and its line would differ from every other error's."""
    clicky = [qualified(cls) for cls in exception_classes() if issubclass(cls, click.ClickException)]
    assert not clicky


@pytest.mark.parametrize("cls", [c for c in exception_classes()
                                 if c.__name__.startswith("_") and not issubclass(c, ReconcileError)],
                         ids=qualified)
def test_a_private_exception_is_caught_in_its_own_module(cls):
    """A private exception is a module's own signal: it must be caught where it is raised."""
    tree = ast.parse(inspect.getsource(importlib.import_module(cls.__module__)))
    caught = {ast.unparse(handler.type) for handler in ast.walk(tree)
              if isinstance(handler, ast.ExceptHandler) and handler.type is not None}
    assert any(cls.__name__ in names for names in caught), f"{qualified(cls)} is never caught in its module"


def leaf_commands(group: click.Group, prefix: str = "reconcile") -> list[tuple[str, click.Command]]:
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):  # the top group loads its commands lazily
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            found += leaf_commands(command, f"{prefix} {name}")
        else:
            found.append((f"{prefix} {name}", command))
    return found


HANDLER_CODE = reports_errors(lambda: None).__code__


def wrapped_by_the_handler(callback) -> bool:
    while callback is not None:
        if getattr(callback, "__code__", None) is HANDLER_CODE:
            return True
        callback = getattr(callback, "__wrapped__", None)
    return False


@pytest.mark.parametrize("name, command", leaf_commands(cli), ids=lambda value: getattr(value, "name", value))
def test_every_command_reports_errors_through_the_one_handler(name, command):
    """Else a ReconcileError from that command reads as an internal error (cli.main's last net)."""
    assert wrapped_by_the_handler(command.callback), f"`{name}`: put @reports_errors under @click.command"
