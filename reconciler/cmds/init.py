"""`reconcile init DIR`: write a billing config repository that works on its own.

The files come from `reconciler/templates/` (shipped in the package): config with an example
customer the sandbox knows, a usage CSV, the three workflows installing the tool from
`requirements.txt`, a pre-commit hook installing the same, and copies of the schemas for editors
(the `$schema` modelines point at them; validation always uses the package's own).

A new repository (no `config/global.yaml` yet) gets every file that is missing; an existing file
is kept. An existing repository gets only its schema copies refreshed (written when missing,
replaced when they differ from the installed tool's), so `reconcile init .` after a version bump
updates them and never brings back a file the user deleted. `init` never writes through a
symbolic link: a destination that is a link (dangling or not), sits below one inside DIR, or is
not a regular file is refused with one line before anything is written.

`requirements.txt` installs exactly what runs now: pip records where it installed a package from
(`direct_url.json`, PEP 610), so a VCS install is pinned to its commit, a wheel or archive to its
URL and hash, and a package from an index (no record) to its version. An editable install, or
one pip did not record, cannot be pinned: `init` then stops and asks for `--requirement`.
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib import metadata, resources
from pathlib import Path
from typing import IO, Any

import click
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from reconciler.cmds.common import PathProblem
from reconciler.config.schemas import SCHEMA_DIR

PACKAGE = "tmrm-billing-reconciler"
EXAMPLE = f"{PACKAGE} @ git+https://github.com/ORG/REPO@v0.1.0"


class RequirementProblem(click.ClickException):
    """The requirement `init` would write cannot be known or used: one line, exit 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)

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


def installed_requirement(distribution: metadata.Distribution | None = None) -> str:
    """The requirement that installs exactly the running tool, from pip's record of where it
    came from (PEP 610 `direct_url.json`); RequirementProblem when there is none to write."""
    ask = f"pass --requirement SPEC, e.g. --requirement '{EXAMPLE}'"
    try:
        dist = distribution or metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise RequirementProblem(f"{PACKAGE} is not installed (running from a source tree): {ask}") from None
    raw = dist.read_text("direct_url.json")
    if raw is None:  # pip writes no record for a package it took from an index
        return f"{PACKAGE}=={dist.version}"
    try:
        record: Any = json.loads(raw)
        url = record["url"]
        if not isinstance(url, str) or not url:
            raise ValueError("no url")
    except (ValueError, KeyError, TypeError):
        raise RequirementProblem(f"pip's record of where {PACKAGE} came from (direct_url.json) is unreadable: "
                                 f"{ask}") from None
    subdirectory = record.get("subdirectory")
    fragment = f"#subdirectory={subdirectory}" if isinstance(subdirectory, str) and subdirectory else ""
    if isinstance(record.get("vcs_info"), dict):
        vcs = record["vcs_info"]
        if not vcs.get("commit_id") or not vcs.get("vcs"):
            raise RequirementProblem(f"pip recorded {url} without a commit: {ask}")
        return f"{PACKAGE} @ {vcs['vcs']}+{url}@{vcs['commit_id']}{fragment}"
    if isinstance(record.get("archive_info"), dict):
        hashes = record["archive_info"].get("hashes") or {}
        digest = hashes.get("sha256") if isinstance(hashes, dict) else None
        if digest:
            fragment = f"#sha256={digest}"
        elif isinstance(record["archive_info"].get("hash"), str):  # the older single-hash form
            fragment = "#" + record["archive_info"]["hash"]
        return f"{PACKAGE} @ {url}{fragment}"
    if isinstance(record.get("dir_info"), dict):
        if record["dir_info"].get("editable"):
            raise RequirementProblem(f"{PACKAGE} is an editable install of {url}, which no other machine can "
                                     f"install: {ask}")
        return f"{PACKAGE} @ {url}"
    raise RequirementProblem(f"pip recorded {url} in a form init does not know: {ask}")


def checked_requirement(spec: str) -> str:
    """`spec` as one requirements.txt line, refused unless it is a single PEP 508 requirement
    for this tool: no pip options (`-e`, `--index-url`), no second line, no other package."""
    text = spec.strip()
    if not text or any(ord(c) < 32 or ord(c) == 127 for c in text) or text.startswith("-"):
        raise RequirementProblem(f"--requirement {spec!r}: not a single requirement, e.g. '{EXAMPLE}'")
    try:
        requirement = Requirement(text)
    except InvalidRequirement as error:
        raise RequirementProblem(f"--requirement {spec!r}: not a valid requirement ({str(error).splitlines()[0]})") from None
    if canonicalize_name(requirement.name) != PACKAGE:
        raise RequirementProblem(f"--requirement {spec!r}: names {requirement.name}, not {PACKAGE}")
    line = str(requirement)
    # pip reads a requirements.txt line as more than PEP 508: ` #` starts a comment, a word
    # starting with `-` is an option, `${NAME}` is replaced by an environment variable and a
    # trailing backslash joins the next line. A marker string may hold any of them, so such a
    # requirement would mean something else in requirements.txt than in the hook: refused.
    words = line.split()
    if any(w.startswith(("#", "-")) for w in words[1:]) or "${" in line or line.endswith("\\"):
        raise RequirementProblem(f"--requirement {spec!r}: pip would not read it as written in requirements.txt "
                                 "(a ' #' comment, a ' -' option, '${...}' or a trailing backslash)")
    return line


def render(template: str, requirement: str) -> str:
    text = (resources.files("reconciler") / "templates" / template).read_text(encoding="utf-8")
    if template == "pre-commit-config.yaml":
        # A JSON string is a YAML double-quoted scalar: whatever the requirement holds stays one value.
        text = text.replace('"{requirement}"', json.dumps(requirement))
    if template == "README.md":
        text = text.replace("{version}", tool_version())
    return text


def is_existing_repository(root: Path) -> bool:
    """A repository is existing once it has `config/global.yaml` (a link or even a broken one
    counts: the user made it)."""
    return os.path.lexists(root / "config" / "global.yaml")


def refuse_unsafe_path(root: Path, path: Path) -> None:
    """Refuse a destination that is, or sits below, a symbolic link inside `root`, or that is
    not a regular file: writing there would follow the link out of the repository (or onto a
    FIFO, a device, a directory). `root` itself may be a link: the user named it."""
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise PathProblem(f"{current}: is a symbolic link; init never writes through a link: remove it "
                              "or replace it with a regular file")
        if current == path:
            if current.exists() and not current.is_file():
                raise PathProblem(f"{current}: is not a regular file; init writes only regular files")
        elif current.exists() and not current.is_dir():
            raise PathProblem(f"{current}: is not a directory")


def write_new(path: Path, text: str) -> None:
    """Create `path`; O_EXCL also refuses anything that appeared since the check, a link included
    (O_CREAT|O_EXCL never follows a link in the last component)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def replace_regular(path: Path, text: str) -> None:
    """Replace a regular file through a temporary file in the same directory: os.replace swaps
    the directory entry and never writes through whatever the old entry pointed at."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as handle:
        handle.write(text)
    try:
        os.replace(handle.name, path)
    except OSError:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_repository(root: Path, requirement: str) -> list[str]:
    """Write the repository's files under `root`; one line per file saying what happened.

    A new repository (no `config/global.yaml`) gets every file that is not there yet. An existing
    one gets only its schema copies refreshed: everything else is the user's, and a file the user
    deleted stays deleted. Every destination is checked before anything is written, so a
    refusal (a symbolic link, a non-regular file) writes nothing at all."""
    if root.exists() and not root.is_dir():
        raise PathProblem(f"{root}: is a file, not a directory")
    if not root.absolute().parent.is_dir():
        raise PathProblem(f"{root}: directory {root.absolute().parent} does not exist")
    existing = is_existing_repository(root)
    files = [(render(t, requirement), root / d) for t, d in FILES]
    files.append((requirement + "\n", root / "requirements.txt"))
    schemas = [((SCHEMA_DIR / name).read_text(encoding="utf-8"), root / "schemas" / name) for name in SCHEMAS]
    planned = schemas if existing else files + schemas
    for _text, path in planned:
        refuse_unsafe_path(root, path)
    lines = []
    if existing:
        lines += [f"kept     {path} (exists)" if path.exists()
                  else f"skipped  {path} (existing repository: init only refreshes schemas/)" for _text, path in files]
    try:
        for text, path in (files if not existing else []) + schemas:
            is_schema = path.parent == root / "schemas"
            if path.exists() and (not is_schema or path.read_text(encoding="utf-8") == text):
                lines.append(f"kept     {path} (exists)")
            elif path.exists():
                replace_regular(path, text)
                lines.append(f"updated  {path}")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_new(path, text)
                lines.append(f"wrote    {path}")
    except OSError as error:
        raise PathProblem(f"{root}: cannot write: {error.strerror or error}") from None
    return lines


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--requirement", default=None, metavar="SPEC",
              help="How the workflows and the pre-commit hook install the tool (default: exactly what "
                   f"runs now, as pip recorded it: a Git commit, a wheel, or an index version); e.g. '{EXAMPLE}'.")
def init_command(directory: Path, requirement: str | None) -> None:
    """Write a billing config repository in DIRECTORY (default: here): config/ with an example
    customer, usage/, the GitHub workflows, the pre-commit hook and the schemas for editors.
    Existing files are kept; in an existing repository (one with config/global.yaml) only the
    schema copies are refreshed. A symbolic link where init would write is refused."""
    requirement = checked_requirement(requirement if requirement is not None else installed_requirement())
    if " @ file:" in requirement:
        click.echo(f"note: requirements.txt installs from a file on this machine ({requirement.split(' @ ', 1)[1]}); "
                   "GitHub's runners cannot reach it: give them a URL with --requirement (or in requirements.txt "
                   "and .pre-commit-config.yaml)", err=True)
    for line in write_repository(directory, requirement):
        click.echo(line)
    click.echo(f"Next: cd {directory} && reconcile validate && reconcile --sandbox plan --send-now")
