"""`reconcile init DIR`: write a billing config repository that works on its own.

Parses options; the run (which requirement to write, the files, the refusals) is
`reconciler.run.init`, whose docstring says what init writes and when.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cmds.common import reports_errors
from reconciler.render.init import local_source_note, next_step
from reconciler.run.init import EXAMPLE, local_source, requirement_to_write, write_repository


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--requirement", default=None, metavar="SPEC",
              help="How the workflows and the pre-commit hook install the tool (default: exactly what "
                   f"runs now, as pip recorded it: a Git commit, a wheel, or an index version); e.g. '{EXAMPLE}'.")
@reports_errors
def init_command(directory: Path, requirement: str | None) -> None:
    """Write a billing config repository in DIRECTORY (default: here): config/ with an example
    customer, usage/, the GitHub workflows, the pre-commit hook and the schemas for editors.
    Existing files are kept; in an existing repository (one with config/global.yaml) only the
    schema copies are refreshed. A symbolic link where init would write is refused."""
    requirement = requirement_to_write(requirement)
    source = local_source(requirement)
    if source is not None:
        click.echo(local_source_note(source), err=True)
    for line in write_repository(directory, requirement):
        click.echo(line)
    click.echo(next_step(directory))
