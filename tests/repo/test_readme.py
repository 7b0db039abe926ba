"""The README's CLI and config references must match the code."""

import json

import click
import pytest

from reconciler.cli import cli
from tests.support import REPO_ROOT

ROOT = REPO_ROOT
README = (ROOT / "README.md").read_text()


def _commands(group: click.Group, prefix=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


@pytest.mark.parametrize("path, command", list(_commands(cli)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_option_of_every_command_is_documented(path, command):
    for param in command.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert longest in README, f"reconcile {' '.join(path)}: {longest} is not in README.md"


def test_every_global_option_is_documented():
    for param in cli.params:
        if isinstance(param, click.Option):
            assert max(param.opts, key=len) in README


def _schema_keys(schema, prefix=""):
    for key, sub in (schema.get("properties") or {}).items():
        yield prefix + key
        yield from _schema_keys(sub, prefix + key + ".")


@pytest.mark.parametrize("name", ["global.schema.json", "customer.schema.json"])
def test_every_schema_key_is_in_the_config_reference(name):
    schema = json.loads((ROOT / "reconciler" / "schemas" / name).read_text())
    for key in _schema_keys(schema):
        assert f"`{key}" in README, f"{name}: {key} undocumented"
