"""`reconcile validate` end to end through the real CLI group, and the reporters alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.config.diagnostics import Diagnostic
from reconciler.render.validation import render
from tests.support import REPO_ROOT, edit

SHIPPED = REPO_ROOT / "config"






def break_three_files(cfg: Path) -> None:
    edit(cfg / "customers/cedar-law.yaml", "day: 31", "day: 32")  # line 11
    edit(cfg / "customers/acme-dental.yaml", "  hes: default", "  hes: defualt")  # line 8
    (cfg / "customers/new-customer.yaml").write_text("name: New\n\tagreements: {}\n")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_shipped_config_validates(monkeypatch):
    monkeypatch.chdir(SHIPPED.parent)
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "config OK: 1 global file, 7 customer files"


def test_global_config_option_is_used(cfg):
    (cfg.parent / "elsewhere").mkdir()
    shutil.move(str(cfg), "elsewhere/config")
    assert invoke("--config", "elsewhere/config", "validate").exit_code == 0
    assert invoke("validate").exit_code == 1  # ./config is gone


def test_all_errors_reported_in_one_run_text(cfg):
    break_three_files(cfg)
    result = invoke("validate", "--config", "config")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(
        "config/customers/acme-dental.yaml:8:8: error: 'defualt' is not valid here"
    )
    assert lines[1] == (
        "config/customers/cedar-law.yaml:11:8: error: 32 is greater than the maximum "
        "of 31: billing day must be 1-31 [$.billing.day]"
    )
    assert lines[2] == (
        "config/customers/new-customer.yaml:2:1: error: tab character in indentation: "
        "YAML indents with spaces only [$]"
    )
    assert lines[3] == "3 errors in 3 files"


def test_format_json(cfg):
    break_three_files(cfg)
    result = invoke("validate", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data[1] == {
        "path": "config/customers/cedar-law.yaml",
        "line": 11,
        "col": 8,
        "level": "error",
        "message": "32 is greater than the maximum of 31: billing day must be 1-31",
        "json_path": "$.billing.day",
    }
    assert [d["path"] for d in data] == sorted(d["path"] for d in data) and len(data) == 3


def test_format_json_valid_is_empty_list(cfg):
    result = invoke("validate", "--format", "json")
    assert (result.exit_code, json.loads(result.output)) == (0, [])


def test_format_github(cfg):
    break_three_files(cfg)
    result = invoke("validate", "--format", "github")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[1] == (
        "::error file=config/customers/cedar-law.yaml,line=11,col=8,title=reconcile validate::"
        "32 is greater than the maximum of 31: billing day must be 1-31 [$.billing.day]"
    )
    assert all(line.startswith("::error file=") for line in lines[:3])
    assert lines[-1] == "3 errors in 3 files"


def test_bad_format_is_a_usage_error(cfg):
    assert invoke("validate", "--format", "xml").exit_code != 0


def test_reporters_escape_and_count():
    diagnostics = [
        Diagnostic("a,b.yaml", 1, 2, "100% wrong\nreally"),
        Diagnostic("a,b.yaml", 3, 1, "hmm", "$.x", "warning"),
    ]
    github = render(diagnostics, "github").splitlines()
    assert (
        github[0]
        == "::error file=a%2Cb.yaml,line=1,col=2,title=reconcile validate::100%25 wrong%0Areally [$]"
    )
    assert github[1].startswith("::warning file=a%2Cb.yaml,line=3,col=1,")
    assert github[2] == "1 error, 1 warning in 1 file"
    assert render([], "text") == "config OK"
    with pytest.raises(ValueError):
        render([], "yaml")
