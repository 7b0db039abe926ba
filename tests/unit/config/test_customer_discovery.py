"""Every entry of customers/ that looks like a customer is read or reported at its path
(issue 21: these were skipped while `validate` said "config OK")."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reconciler.config.load import check_config, customer_files
from tests.support import REPO_ROOT

ACME = (REPO_ROOT / "config" / "customers" / "acme-dental.yaml").read_text(encoding="utf-8")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "config", tmp_path / "config")
    return tmp_path / "config"


def make_dangling(customers: Path) -> str:
    (customers / "zeta.yaml").symlink_to(customers / "gone.yaml")
    return "symlink to a missing file"


def make_loop(customers: Path) -> str:
    (customers / "zeta.yaml").symlink_to(customers / "zeta.yaml")
    return "symlink loop"


def make_fifo(customers: Path) -> str:
    os.mkfifo(customers / "zeta.yaml")
    return "not a regular file"


def make_directory(customers: Path) -> str:
    (customers / "zeta.yaml").mkdir()
    return "a directory named like a customer file"


def make_upper_case(customers: Path) -> str:
    (customers / "zeta.YAML").write_text(ACME.replace("acme", "zeta"), encoding="utf-8")
    return "rename it to zeta.yaml"


def make_nested(customers: Path) -> str:
    (customers / "sub").mkdir()
    (customers / "sub" / "zeta.yaml").write_text(ACME, encoding="utf-8")
    return "customer files must sit directly in customers/"


def make_linked_directory(customers: Path) -> str:
    (customers.parent / "more").mkdir()
    (customers / "more").symlink_to(customers.parent / "more")
    return "symlink to a directory"


@pytest.mark.parametrize("make", [make_dangling, make_loop, make_fifo, make_directory, make_upper_case,
                                  make_nested, make_linked_directory])
def test_a_customer_that_cannot_be_read_is_an_error_at_its_path(config, make):
    customers = config / "customers"
    expected = make(customers)
    result = check_config(config)
    assert not result.ok
    problems = [d for d in result.diagnostics if expected in d.message]
    assert len(problems) == 1, [str(d) for d in result.diagnostics]
    assert problems[0].path.startswith("config/customers/") or "customers/" in problems[0].path
    assert (problems[0].line, problems[0].col) == (1, 1)


def test_readmes_and_editor_backups_are_still_not_customers(config):
    customers = config / "customers"
    (customers / "README.md").write_text("# customers\n", encoding="utf-8")
    (customers / "acme-dental.yaml~").write_text(ACME, encoding="utf-8")
    (customers / "notes").mkdir()
    (customers / "notes" / "todo.txt").write_text("x", encoding="utf-8")
    (customers / "old-link").symlink_to(customers / "nowhere")
    result = check_config(config)
    assert result.ok, [str(d) for d in result.diagnostics]
    assert len(customer_files(config)) == 7
