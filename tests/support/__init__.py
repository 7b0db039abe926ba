"""What the tests share: where the repository is, and helpers (`e2e` runs the real CLI against
the sandbox; `engine_fixtures` builds small configs and states; `fake_cw` is a scripted server)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a file; the text must be there (a test never edits nothing)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
