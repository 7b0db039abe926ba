"""Files a run writes where a person asked (`--out`, `--report`, `--save-usage`, the ledger's
directory): checked before any work is done, so a bad path is one line and exit 1, never a
traceback after minutes of planning or, worse, after something was sent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from reconciler.errors import ReconcileError


class PathProblem(ReconcileError):
    """A path the user gave cannot be used: one line, exit 1."""


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


def check_output_dir(path: Path, option: str, inside: Path | None = None) -> None:
    """An output directory may be created, but only inside one that exists (a typo in the
    parent must not create a tree somewhere unexpected). Inside the repository `inside`,
    missing parents are fine too: `--out out/report` in a fresh clone, which has no `out/`
    yet, is what the README shows."""
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise PathProblem(f"{option} {path}: directory is not writable")
        return
    if path.exists():
        raise PathProblem(f"{option} {path}: is a file, not a directory")
    if inside is not None and path.absolute().resolve().is_relative_to(inside.absolute().resolve()):
        check_creatable_dir(path, f"{option} {path}")
        return
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
