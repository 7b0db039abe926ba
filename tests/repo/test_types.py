"""The static types are checked where the tests run: `./scripts/test` (also CI's `.ci/run`) runs
mypy, strict over the whole package, before the suite, and a type error fails it.

mypy itself runs in `./scripts/test`, not here: these tests keep that promise from being quietly
dropped (a removed line, a module relaxed, an ignore with no reason).
"""

from __future__ import annotations

import re
import tomllib

from tests.support import REPO_ROOT

# The core and its seam to the PSA: never relaxed by an override.
STRICT = ("money", "periods", "schedule", "desired", "state", "plan", "engine", "snapshot", "target",
          "apply", "errors", "ledger", "saved_plan", "lease", "notify", "ticketbook", "usage", "connectwise")
# What an override sets to relax its modules: a flag `strict` turns on, set false; or the opposite.
RELAXING = {
    **{flag: False for flag in ("disallow_untyped_defs", "disallow_incomplete_defs", "disallow_untyped_calls",
                                "disallow_any_generics", "disallow_subclassing_any", "disallow_untyped_decorators",
                                "check_untyped_defs", "warn_return_any", "warn_unused_ignores", "strict_equality",
                                "extra_checks")},
    "ignore_errors": True, "implicit_reexport": True, "follow_imports": "skip",
}
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def mypy_settings() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]


def test_the_test_command_type_checks_before_the_suite():
    lines = [line.strip() for line in (REPO_ROOT / "scripts" / "test").read_text(encoding="utf-8").splitlines()]
    assert "set -euo pipefail" in lines  # a failing mypy stops the script
    mypy = next(n for n, line in enumerate(lines) if re.match(r"^\.venv/bin/python -m mypy\b", line))
    pytest = next(n for n, line in enumerate(lines) if "-m pytest" in line)
    assert mypy < pytest
    assert "mypy" in (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8").split("[project.scripts]")[0]


def test_mypy_is_strict_over_the_whole_package():
    settings = mypy_settings()
    assert settings.get("strict") is True
    assert settings.get("packages") == ["reconciler"]
    for override in settings.get("overrides", []):
        names = override["module"] if isinstance(override["module"], list) else [override["module"]]
        relaxed = [flag for flag, value in RELAXING.items() if override.get(flag) == value]
        for name in names:
            core = name.removeprefix("reconciler.").split(".")[0].rstrip("*")
            assert not (relaxed and core in STRICT), f"{name} is core and must stay strict (relaxes {relaxed})"


def test_every_type_ignore_names_its_error_and_says_why():
    unexplained = []
    for path in sorted((REPO_ROOT / "reconciler").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = IGNORE.search(line)
            if match and (not match["codes"] or not match["rest"].strip().lstrip("#").strip()):
                unexplained.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not unexplained, "a `# type: ignore[code]` needs a reason after it:\n" + "\n".join(unexplained)
