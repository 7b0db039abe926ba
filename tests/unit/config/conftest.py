import shutil
from pathlib import Path

import pytest

from tests.support import REPO_ROOT


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped config, addressed as `config` from the working directory."""
    shutil.copytree(REPO_ROOT / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    return Path("config")
