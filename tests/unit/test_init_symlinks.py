"""`reconcile init` never writes through a symlink: a dangling `config/global.yaml` link to a
file outside the repository made init create that outside file, and a symlinked schema file was
"updated" wherever it pointed. Links are kept as they are, and said so."""

from __future__ import annotations

import pytest

from reconciler.cmds.common import PathProblem
from reconciler.cmds.init import write_repository

SPEC = "tmrm-billing-reconciler==0.1.0"


def test_a_dangling_symlink_is_kept_not_written_through(tmp_path):
    root, outside = tmp_path / "repo", tmp_path / "outside.yaml"
    (root / "config").mkdir(parents=True)
    (root / "config" / "global.yaml").symlink_to(outside)
    lines = write_repository(root, SPEC)
    assert not outside.exists()
    assert (root / "config" / "global.yaml").is_symlink()
    assert any("global.yaml" in line and line.startswith("kept") and "symlink" in line for line in lines), lines


def test_a_symlinked_schema_is_not_updated_where_it_points(tmp_path):
    root, outside = tmp_path / "repo", tmp_path / "elsewhere.json"
    outside.write_text("{}", encoding="utf-8")
    (root / "schemas").mkdir(parents=True)
    (root / "schemas" / "global.schema.json").symlink_to(outside)
    write_repository(root, SPEC)
    assert outside.read_text(encoding="utf-8") == "{}"


def test_a_symlinked_directory_leading_outside_is_refused(tmp_path):
    root, outside = tmp_path / "repo", tmp_path / "elsewhere"
    outside.mkdir()
    root.mkdir()
    (root / "config").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathProblem, match="outside"):
        write_repository(root, SPEC)
    assert list(outside.iterdir()) == []
