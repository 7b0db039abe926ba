"""What every command shares: where the config is, and whether we run against the sandbox."""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click

from reconciler.errors import ReconcileError
from reconciler.repository import ConfigRepository, locate


@dataclass
class Runtime:
    config_dir: Path | None = None
    sandbox: bool = False

    def repository(self, override: Path | None = None) -> ConfigRepository:
        """The config repository (raises ConfigNotFound, a one-line usage error, when none)."""
        return locate(override or self.config_dir)

    def resolve_config_dir(self, override: Path | None = None) -> Path:
        return self.repository(override).config_dir


config_option = click.option(
    "--config", "config_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Config directory (default: the global --config, else config/ in this directory or the "
         "nearest parent holding one). Paths the tool picks itself resolve against its parent.",
)


def _sandbox_here(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and isinstance(ctx.obj, Runtime):
        ctx.obj.sandbox = True


# `reconcile plan --sandbox` means what `reconcile --sandbox plan` means, as --config does.
sandbox_option = click.option(
    "--sandbox", is_flag=True, expose_value=False, callback=_sandbox_here,
    help="Run against the embedded ConnectWise + Trend simulator (same as the global --sandbox).",
)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """The one handler for expected failures (`reconciler.errors.ReconcileError`): its line(s) on
    stderr, exit 1, never a traceback. Put it under `@click.command` on every command."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ReconcileError as error:
            click.echo(error.line(), err=True)
            sys.exit(1)

    return run


class PathProblem(click.ClickException):
    """A path the user gave cannot be used: one line, exit 1 (click's `main` shows it)."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def check_output_file(path: Path, option: str) -> None:
    """Refuse an output file that cannot be written, before any work is done."""
    folder = path.absolute().parent
    if path.is_dir():
        raise PathProblem(f"{option} {path}: is a directory; give a file name")
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise PathProblem(f"{option} {path}: directory {folder} {what}")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PathProblem(f"{option} {path}: not writable")


def check_output_dir(path: Path, option: str) -> None:
    """An output directory may be created, but only inside one that exists (a typo in the
    parent must not create a tree somewhere unexpected)."""
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise PathProblem(f"{option} {path}: directory is not writable")
        return
    if path.exists():
        raise PathProblem(f"{option} {path}: is a file, not a directory")
    check_output_file(path, option)


def write_text_file(path: Path, text: str, option: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise PathProblem(f"{option} {path}: cannot write: {error.strerror or error}") from None


def check_creatable_dir(folder: Path, option: str) -> None:
    """Make sure `folder` is (or now becomes) a writable directory, before anything is sent."""
    probe = folder.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise PathProblem(f"{option}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PathProblem(f"{option}: cannot write in {probe}")
    try:  # the proof (some file systems refuse what access() allows, e.g. /proc for root)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PathProblem(f"{option}: cannot create {folder}: {error.strerror or error}") from None
