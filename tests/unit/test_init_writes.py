"""`reconcile init` never writes through a symbolic link, refuses before writing anything, and on
an existing repository refreshes only the schema copies (issue 21, rough edges)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.run.init import FILES, SCHEMAS, checked_requirement, render, write_repository
from reconciler.outputs import PathProblem

REQ = "tmrm-billing-reconciler==9.9.9"


def tree(root: Path) -> dict[str, str]:
    """Every entry under root (links as `-> target`, files by content), to show nothing changed."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_file():
            found[key] = path.read_text()
    return found


@pytest.mark.parametrize("destination", [d for _t, d in FILES if d != "config/global.yaml"] + ["requirements.txt"])
def test_a_dangling_link_where_a_new_repository_gets_a_file_is_refused_writing_nothing(tmp_path, destination):
    root, outside = tmp_path / "billing", tmp_path / "outside" / "victim"
    link = root / destination
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    with pytest.raises(PathProblem) as error:
        write_repository(root, REQ)
    assert str(error.value).startswith(f"{link}: is a symbolic link") and "\n" not in str(error.value)
    assert not outside.exists() and not (tmp_path / "outside").exists()
    assert tree(root) == {str(Path(destination)): "-> " + str(outside)}, "a refusal writes nothing at all"


def test_a_linked_global_yaml_makes_an_existing_repository_whose_link_is_left_alone(tmp_path):
    root, outside = tmp_path / "billing", tmp_path / "outside.yaml"
    (root / "config").mkdir(parents=True)
    (root / "config" / "global.yaml").symlink_to(outside)  # dangling: the user's own doing
    write_repository(root, REQ)
    assert not outside.exists() and (root / "config" / "global.yaml").is_symlink()
    assert sorted(tree(root)) == sorted(["config/global.yaml", *(f"schemas/{n}" for n in SCHEMAS)])


def test_a_link_to_a_file_outside_is_refused_too_and_the_file_is_untouched(tmp_path):
    root, outside = tmp_path / "billing", tmp_path / "precious.txt"
    outside.write_text("mine\n")
    (root / "usage").mkdir(parents=True)
    (root / "usage" / "seats.csv").symlink_to(outside)
    with pytest.raises(PathProblem, match="seats.csv: is a symbolic link"):
        write_repository(root, REQ)
    assert outside.read_text() == "mine\n" and not (root / "config").exists()


def test_a_linked_directory_inside_the_repository_is_refused(tmp_path):
    root, outside = tmp_path / "billing", tmp_path / "elsewhere"
    outside.mkdir()
    root.mkdir()
    (root / ".github").symlink_to(outside)
    with pytest.raises(PathProblem, match=r"billing/\.github: is a symbolic link"):
        write_repository(root, REQ)
    assert list(outside.iterdir()) == [] and sorted(p.name for p in root.iterdir()) == [".github"]


@pytest.mark.parametrize("name", SCHEMAS)
def test_linked_schema_copies_in_an_existing_repository_are_refused_and_their_target_kept(tmp_path, name):
    root = tmp_path / "billing"
    write_repository(root, REQ)
    outside = tmp_path / "outside.json"
    outside.write_text("{}\n")  # differs from the tool's schema: the old code wrote over it
    (root / "schemas" / name).unlink()
    (root / "schemas" / name).symlink_to(outside)
    other = root / "schemas" / next(n for n in SCHEMAS if n != name)
    other.write_text("stale\n")  # would be refreshed, but a refusal writes nothing
    with pytest.raises(PathProblem, match=f"schemas/{name}: is a symbolic link"):
        write_repository(root, REQ)
    assert outside.read_text() == "{}\n" and other.read_text() == "stale\n"


def test_a_linked_schemas_directory_is_refused(tmp_path):
    root, outside = tmp_path / "billing", tmp_path / "outside"
    write_repository(root, REQ)
    for name in SCHEMAS:
        (root / "schemas" / name).unlink()
    (root / "schemas").rmdir()
    outside.mkdir()
    (root / "schemas").symlink_to(outside)
    with pytest.raises(PathProblem, match="billing/schemas: is a symbolic link"):
        write_repository(root, REQ)
    assert list(outside.iterdir()) == []


def test_a_directory_or_fifo_where_a_file_goes_is_refused_before_anything_is_written(tmp_path):
    root = tmp_path / "billing"
    (root / "usage" / "seats.csv").mkdir(parents=True)
    with pytest.raises(PathProblem, match="seats.csv: is not a regular file"):
        write_repository(root, REQ)
    assert not (root / "config").exists()
    (root / "usage" / "seats.csv").rmdir()
    os.mkfifo(root / "README.md")
    with pytest.raises(PathProblem, match="README.md: is not a regular file"):
        write_repository(root, REQ)
    assert not (root / "config").exists()


def test_init_on_an_existing_repository_does_not_restore_deleted_files(tmp_path):
    root = tmp_path / "billing"
    write_repository(root, REQ)
    deleted = ["config/customers/acme-dental.yaml", "usage/seats.csv", ".github/workflows/drift.yml", "README.md"]
    for name in deleted:
        (root / name).unlink()
    lines = write_repository(root, REQ)
    assert [name for name in deleted if (root / name).exists()] == []
    assert f"skipped  {root / 'usage' / 'seats.csv'} (existing repository: init only refreshes schemas/)" in lines


def test_init_on_an_existing_repository_refreshes_stale_or_missing_schema_copies(tmp_path):
    root = tmp_path / "billing"
    write_repository(root, REQ)
    stale, missing = (root / "schemas" / name for name in SCHEMAS)
    stale.write_text("old\n")
    missing.unlink()
    inode = stale.stat().st_ino
    lines = write_repository(root, REQ)
    assert f"updated  {stale}" in lines and f"wrote    {missing}" in lines
    assert stale.read_text().startswith("{") and missing.read_text().startswith("{")
    assert stale.stat().st_ino != inode, "replaced through a new file, not rewritten in place"
    assert [p.name for p in (root / "schemas").iterdir() if p.name.startswith(".")] == [], "no temp file left"


def test_a_new_repository_keeps_files_already_there(tmp_path):
    root = tmp_path / "billing"
    root.mkdir()
    (root / "README.md").write_text("ours\n")
    lines = write_repository(root, REQ)
    assert (root / "README.md").read_text() == "ours\n" and f"kept     {root / 'README.md'} (exists)" in lines
    assert (root / "config" / "global.yaml").is_file() and (root / "usage" / "seats.csv").is_file()


# ------------------------------------------------------------------ the requirement is written safely


@pytest.mark.parametrize("spec", [
    'tmrm-billing-reconciler; python_version >= "3.8"',
    "tmrm-billing-reconciler; python_version >= '3.8' and os_name != \"x\"",
    'tmrm-billing-reconciler @ https://h/a"b.whl#sha256=ab',
    "tmrm-billing-reconciler @ https://h/a'b.whl#sha256=ab",
    "tmrm-billing-reconciler @ https://h/x.whl#x=a:b#c[1]",
])
def test_quotes_and_hashes_stay_inside_the_one_yaml_string(spec):
    import yaml

    line = checked_requirement(spec)
    hook = yaml.safe_load(render("pre-commit-config.yaml", line))["repos"][0]["hooks"][0]
    assert hook["additional_dependencies"] == [line] and hook["id"] == "reconcile-validate"
    assert hook["pass_filenames"] is False and hook["files"] == "^(config|schemas)/"


@pytest.mark.parametrize("spec", [
    "tmrm-billing-reconciler\nx: 1", "tmrm-billing-reconciler\r# c", 'tmrm-billing-reconciler"]\n  - x',
    "tmrm-billing-reconciler # a comment",
    # valid PEP 508, but pip reads requirements.txt differently: a comment, an option,
    # an environment variable
    'tmrm-billing-reconciler; python_version == "3 #x"',
    'tmrm-billing-reconciler; python_version == "3 --index-url=http://evil"',
    "tmrm-billing-reconciler @ https://h/${GITHUB_TOKEN}/x.whl",
])
def test_a_requirement_that_would_change_meaning_in_yaml_or_requirements_txt_is_refused(spec):
    from reconciler.run.init import RequirementProblem

    with pytest.raises(RequirementProblem, match="--requirement"):
        checked_requirement(spec)
