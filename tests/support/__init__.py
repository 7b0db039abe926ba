"""What the tests share: where the repository is, and helpers (`e2e` runs the real CLI against
the sandbox; `engine_fixtures` builds small configs and states; `fake_cw` is a scripted server)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"
