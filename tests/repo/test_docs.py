"""The docs must match the code: every CLI option is in docs/cli.md, every schema key in
docs/config.md, and the README's sample plan is what the real command prints today."""

import json
import re
import shutil
import subprocess

import click
import pytest

from reconciler.cli import cli
from tests.support import REPO_ROOT
from tests.support.e2e import RECONCILE, clean_env

ROOT = REPO_ROOT
README = (ROOT / "README.md").read_text()
CLI_DOC = (ROOT / "docs" / "cli.md").read_text()
CONFIG_DOC = (ROOT / "docs" / "config.md").read_text()
DOC_PAGES = sorted((ROOT / "docs").glob("*.md"))


def _commands(group: click.Group, prefix=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


@pytest.mark.parametrize("path, command", list(_commands(cli)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_option_of_every_command_is_documented(path, command):
    assert f"`reconcile {' '.join(path)}`" in CLI_DOC or f"reconcile {' '.join(path)}" in CLI_DOC, \
        f"reconcile {' '.join(path)} has no section in docs/cli.md"
    for param in command.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert longest in CLI_DOC, f"reconcile {' '.join(path)}: {longest} is not in docs/cli.md"


def test_every_global_option_is_documented():
    for param in cli.params:
        if isinstance(param, click.Option):
            assert max(param.opts, key=len) in CLI_DOC


def _schema_keys(schema, prefix=""):
    for key, sub in (schema.get("properties") or {}).items():
        yield prefix + key
        yield from _schema_keys(sub, prefix + key + ".")


@pytest.mark.parametrize("name", ["global.schema.json", "customer.schema.json"])
def test_every_schema_key_is_in_the_config_reference(name):
    schema = json.loads((ROOT / "reconciler" / "schemas" / name).read_text())
    for key in _schema_keys(schema):
        assert f"`{key}" in CONFIG_DOC, f"{name}: {key} undocumented in docs/config.md"


def test_the_readme_stays_short():
    assert len(README.splitlines()) <= 250, "the README is a front door; reference goes to docs/"


def _anchors(text: str) -> set[str]:
    found, fence = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6} ", line):
            heading = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return found | set(re.findall(r'<a id="([^"]+)">', text))


@pytest.mark.parametrize("page", [ROOT / "README.md", *DOC_PAGES], ids=lambda p: p.name)
def test_every_relative_link_points_at_a_file_and_heading_that_exist(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        assert path.exists(), f"{page.name}: link to {target}: no such file"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path.read_text()), f"{page.name}: link to {target}: no such heading"


SAMPLE = re.compile(r"<!-- the real output of: (?P<command>[^>]*?) -->\n\n```\n(?P<output>.*?)```", re.S)


def test_the_readme_sample_plan_is_the_real_output(tmp_path):
    match = SAMPLE.search(README)
    assert match, "README.md: the sample plan lost its '<!-- the real output of: ... -->' marker"
    command = match["command"].split()
    assert command[0] == "reconcile"
    for name in ("config", "usage"):
        shutil.copytree(ROOT / name, tmp_path / name)
    result = subprocess.run([str(RECONCILE), *command[1:]], cwd=tmp_path, capture_output=True, text=True,
                            env=clean_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == match["output"], (
        "README.md's sample plan is stale; replace it with this output of "
        f"`{match['command']}` on a fresh clone:\n{result.stdout}")
