"""Where config may point: inside the repository, never out of it.

A pull request edits `config/`, and the Plan workflow reads what it names and posts what it
read into the pull request. So `usage.path: /etc/passwd`, `usage.path: ../../..`, and a customer
file that is a symlink to `~/.ssh/id_rsa` must be refused before anything opens them.

The repository is the config directory's parent (the config directory itself when it is the
filesystem root's child has nothing above to guard). A path is inside when its fully resolved
form (every symlink followed, `..` collapsed) lies below that directory; a symlink whose
target stays inside is fine.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.errors import ReconcileError


def repository_root(config_dir: Path) -> Path:
    """The directory config may point into: the resolved config directory's parent."""
    return config_dir.resolve().parent


def leaves(path: Path, root: Path) -> bool:
    """True when `path`, every symlink followed, is not below `root`."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: refuse as well
        return True
    return not resolved.is_relative_to(root)


def excerpt(text: str, limit: int = 32) -> str:
    """A short, escaped quotation of untrusted text for an error message.

    `repr` escapes control characters and line breaks, so a quoted cell can neither add lines
    to the output nor carry a terminal escape; the cut keeps a whole file from being echoed.
    """
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} characters)"


class FileTooBig(ReconcileError):
    """A file beyond its size limit (or not a regular file); `str()` says which limit."""


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; raises FileTooBig otherwise.

    Reads at most `limit + 1` bytes, so `/dev/zero`, a FIFO or a file that grows while read
    cannot make us allocate more than the limit. (os-level calls: one open, fstat and read
    per file, as `validate` reads thousands.)
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block us
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileTooBig("not a regular file (a device, FIFO or directory); refusing to read it")
        data = os.read(fd, limit + 1)
        while len(data) <= limit:  # os.read may return less than asked; read to the end
            more = os.read(fd, limit + 1 - len(data))
            if not more:
                break
            data += more
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileTooBig(
            f"file is larger than the limit of {limit // 1024} KiB; is this the right file?"
        )
    return data
