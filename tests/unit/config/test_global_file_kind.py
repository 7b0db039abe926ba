"""global.yaml that is there but not a file is named as what it is."""

import os

import pytest

from reconciler.config import validate_config


@pytest.mark.parametrize("kind, says", [("fifo", "not a regular file"), ("directory", "is a directory"),
                                        ("dangling", "symlink to a missing file")])
def test_a_global_yaml_that_is_there_but_not_a_file_is_not_called_missing(cfg, kind, says):
    """A FIFO or a directory named global.yaml was reported "missing from the config directory",
    which sends the reader looking for a file that is right there."""
    path = cfg / "global.yaml"
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to(cfg / "gone.yaml")
    messages = [d.message for d in validate_config(cfg) if d.path == "config/global.yaml"]
    assert len(messages) == 1 and says in messages[0] and "missing from" not in messages[0], messages
