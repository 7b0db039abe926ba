"""`reconcile init DIR`: write a billing config repository that works on its own.

The files come from `reconciler/templates/` (shipped in the package): config with an example
customer the sandbox knows, a usage CSV, the three workflows installing the tool from
`requirements.txt` (one pinned version), a pre-commit hook with the same pin, and copies of the
schemas for editors (the `$schema` modelines point at them; validation always uses the
package's own). Never replaces an existing file, except the schema copies, which follow the
installed tool so that `reconcile init .` after a version bump refreshes them.
"""

from __future__ import annotations

from importlib import metadata, resources
from pathlib import Path

import click

from reconciler.cmds.common import PathProblem
from reconciler.config.schemas import SCHEMA_DIR

PACKAGE = "tmrm-billing-reconciler"

# (template, destination) pairs; destinations are relative to DIR.
FILES = (
    ("global.yaml", "config/global.yaml"),
    ("customers/acme-dental.yaml", "config/customers/acme-dental.yaml"),
    ("seats.csv", "usage/seats.csv"),
    ("workflows/pull-request.yml", ".github/workflows/pull-request.yml"),
    ("workflows/billing.yml", ".github/workflows/billing.yml"),
    ("workflows/drift.yml", ".github/workflows/drift.yml"),
    ("pre-commit-config.yaml", ".pre-commit-config.yaml"),
    ("gitignore", ".gitignore"),
    ("README.md", "README.md"),
)
SCHEMAS = ("global.schema.json", "customer.schema.json")


def tool_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.1.0"


def render(template: str, requirement: str) -> str:
    text = (resources.files("reconciler") / "templates" / template).read_text(encoding="utf-8")
    if template in ("pre-commit-config.yaml", "README.md"):
        text = text.replace("{requirement}", requirement).replace("{version}", tool_version())
    return text


def write_repository(root: Path, requirement: str) -> list[str]:
    """Write the repository's files under `root`; one line per file saying what happened."""
    if root.exists() and not root.is_dir():
        raise PathProblem(f"{root}: is a file, not a directory")
    if not root.absolute().parent.is_dir():
        raise PathProblem(f"{root}: directory {root.absolute().parent} does not exist")
    lines = []
    planned = [(render(t, requirement), root / d) for t, d in FILES]
    planned.append((requirement + "\n", root / "requirements.txt"))
    for name in SCHEMAS:
        text = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        planned.append((text, root / "schemas" / name))
    try:
        for text, path in planned:
            is_schema = path.parent == root / "schemas"
            if path.exists() and (not is_schema or path.read_text(encoding="utf-8") == text):
                lines.append(f"kept     {path} (exists)")
                continue
            verb = "updated " if path.exists() else "wrote   "
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            lines.append(f"{verb} {path}")
    except OSError as error:
        raise PathProblem(f"{root}: cannot write: {error.strerror or error}") from None
    return lines


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--requirement", default=None, metavar="SPEC",
              help=f"How the workflows and the pre-commit hook install the tool (default: {PACKAGE}==THIS "
                   f"VERSION); e.g. '{PACKAGE} @ git+https://github.com/ORG/REPO@v1.2.0'.")
def init_command(directory: Path, requirement: str | None) -> None:
    """Write a billing config repository in DIRECTORY (default: here): config/ with an example
    customer, usage/, the GitHub workflows, the pre-commit hook and the schemas for editors.
    Existing files are kept."""
    requirement = requirement or f"{PACKAGE}=={tool_version()}"
    for line in write_repository(directory, requirement):
        click.echo(line)
    click.echo(f"Next: cd {directory} && reconcile validate && reconcile --sandbox plan --send-now")
