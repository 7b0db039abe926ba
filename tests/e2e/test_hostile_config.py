"""Hostile and careless config: YAML 1.2 numbers, resource limits, paths that leave the repository.

Each case fails on the code before issue 11: `010` was read as octal 8, `enabled: no` as false,
`day: 10.0` passed validate and crashed apply, a 1 KB alias bomb ran for a minute into a
MemoryError, `usage.path: /etc/passwd` echoed the file's first line, and a symlinked customer file
was followed out of the repository.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.config import load_config
from reconciler.config.diagnostics import MAX_PRINTED
from reconciler.config.load import check_config
from reconciler.config.yamlsource import MAX_FILE_BYTES, read_yaml
from tests.support import REPO_ROOT, edit
from tests.support.e2e import RECONCILE, clean_env, make_repo, sandbox_writes

ACME = "config/customers/acme-dental.yaml"
GLOBAL = "config/global.yaml"


def at(needle: str, col: int) -> str:
    """":LINE:COL:" of the first line of the shipped global.yaml starting with `needle`, so the
    expected positions follow the file when other settings are added above them."""
    lines = (REPO_ROOT / GLOBAL).read_text().splitlines()
    return f":{next(n for n, line in enumerate(lines, 1) if line.startswith(needle))}:{col}:"




def errors(repo: Path) -> list[str]:
    return [str(d) for d in check_config(repo / "config").diagnostics if d.level == "error"]


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    repo = make_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    return repo


# --- 4. numbers mean what the YAML 1.2 editor shows -----------------------------------------


def test_leading_zero_is_decimal_as_yaml_1_2_reads_it(repo):
    edit(repo / GLOBAL, "  day: 1\n", "  day: 010\n")
    assert load_config(repo / "config").billing.day == 10  # YAML 1.1 (PyYAML) read 8


@pytest.mark.parametrize(
    ("old", "new", "where", "hint"),
    [
        ("  day: 1\n", "  day: 0b11\n", at("  day: 1", 8), "write 3"),
        ("  enabled: true\n  day: 1", "  enabled: no\n  day: 1", at("  enabled: true", 12), "write false"),
        ("  enabled: true\n  day: 1", "  enabled: off\n  day: 1", at("  enabled: true", 12), "write false"),
        ("  day: 1\n", "  day: 10.0\n", at("  day: 1", 8), "write 10"),
        ("  day: 1\n", "  day: 1.0e+1\n", at("  day: 1", 8), "write 10"),
        ("  day: 1\n", "  day: 1_0\n", at("  day: 1", 8), "write 10"),
        ("  min_additions: 10\n", "  min_additions: 10.0\n", at("  min_additions: 10", 18), "write 10"),
        ("  max_change_percent: 30\n", "  max_change_percent: .nan\n", at("  max_change_percent: 30", 23),
         "a number"),
    ],
)
def test_values_yaml_1_1_reads_differently_are_refused_at_their_line(repo, old, new, where, hint):
    edit(repo / GLOBAL, old, new)
    found = errors(repo)
    assert found and all(e.startswith(f"config/global.yaml{where}") for e in found), found
    assert hint in found[0]
    result = CliRunner().invoke(cli, ["--sandbox", "apply", "--send-now"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"config/global.yaml{where}" in result.output
    assert sandbox_writes(repo) == 0


def test_a_number_too_long_to_convert_is_an_error_not_a_traceback(repo):
    edit(repo / GLOBAL, "  day: 1\n", "  day: " + "9" * 5000 + "\n")
    assert errors(repo) == [f"config/global.yaml{at('  day: 1', 8)} error: number with 5,000 characters is too "
                            "long [$.billing.day]"]


def test_explicit_tags_follow_yaml_1_2_too(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a: !!int '010'\nb: !!bool yes\nc: 0o17\nd: 0x1F\ne: ~\nf: True\n")
    doc, problems = read_yaml(path)
    assert doc.data == {"a": 10, "b": "yes", "c": 15, "d": 31, "e": None, "f": True}
    assert [str(p).split(": error: ")[0] for p in problems] == [f"{path}:2:4"]


# --- 5. resource limits ----------------------------------------------------------------------

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)
MERGE_BOMB = "a: &a {k0: 1, k1: 2, k2: 3}\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)}\n  <<: [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n  z{i}: 1\n"
    for i in range(9)
)


@pytest.mark.parametrize(("text", "what"), [(LAUGHS, "alias"), (MERGE_BOMB, "alias")])
def test_alias_bombs_are_refused_fast_with_a_location(repo, text, what):
    assert len(text) < 1200
    (repo / ACME).write_text("name: Acme\n" + text)
    started = time.monotonic()
    found = errors(repo)
    assert time.monotonic() - started < 1.0
    assert len(found) == 1 and re.match(rf"{ACME}:\d+:\d+: error: too many {what}", found[0]), found


def test_a_huge_file_is_refused_by_size_before_parsing(repo):
    with (repo / ACME).open("wb") as out:  # 77 MB, 7 million keys
        for start in range(0, 7_000_000, 100_000):
            out.write(b"".join(b"k%07d: v\n" % i for i in range(start, start + 100_000)))
    assert (repo / ACME).stat().st_size > 70_000_000
    started = time.monotonic()
    found = errors(repo)
    assert time.monotonic() - started < 1.0
    assert found == [f"{ACME}:1:1: error: file is larger than the limit of {MAX_FILE_BYTES // 1024} "
                     "KiB; is this the right file? [$]"]


def test_many_errors_print_a_limited_number_then_and_n_more(repo):
    (repo / ACME).write_text("".join(f"k{i}: v\n" for i in range(900)))
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == MAX_PRINTED + 2
    assert re.match(r"\.\.\. and \d+ more problems", lines[-2])
    result = CliRunner().invoke(cli, ["--sandbox", "plan"])
    assert result.exit_code == 1 and len(result.output.splitlines()) <= MAX_PRINTED + 2


# --- 2. paths stay inside the repository ----------------------------------------------------


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../../etc/passwd", "/dev/zero", "../.git/config"])
def test_usage_path_outside_the_repository_is_refused_at_its_line(repo, target):
    edit(repo / GLOBAL, "path: ../usage/seats.csv", f"path: {target}")
    found = errors(repo)
    assert len(found) == 1 and found[0].startswith(f"{GLOBAL}{at('  path: ../usage/seats.csv', 9)} error: usage.path"), found
    result = CliRunner().invoke(cli, ["--sandbox", "plan", "--send-now", "--format", "markdown"])
    assert result.exit_code == 1
    assert "root:" not in result.output and "Traceback" not in result.output
    assert sandbox_writes(repo) == 0


def test_symlinked_customer_file_leaving_the_repository_is_not_read(repo, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("name: SECRET-CONTENT\nbogus: [SECRET-CONTENT]\n")
    (repo / "config/customers/evil.yaml").symlink_to(outside)
    (repo / "config/customers/passwd.yaml").symlink_to("/etc/passwd")
    found = errors(repo)
    assert [f.split(": error: ")[0] for f in found] == [
        "config/customers/evil.yaml:1:1", "config/customers/passwd.yaml:1:1"]
    assert all("outside the repository" in f and "SECRET" not in f for f in found)


def test_symlink_staying_inside_the_repository_is_fine(repo):
    (repo / "shared").mkdir()
    (repo / ACME).rename(repo / "shared/acme.yaml")
    (repo / ACME).symlink_to(repo / "shared/acme.yaml")
    assert errors(repo) == []


def test_unknown_csv_content_is_quoted_only_as_a_short_escaped_excerpt(repo):
    secret_line = "x" * 30 + "\tSECRET-TAIL-that-must-not-be-echoed,more"
    (repo / "usage/seats.csv").write_text(secret_line + "\n")
    result = CliRunner().invoke(cli, ["--sandbox", "plan"])
    assert result.exit_code == 1
    assert "SECRET-TAIL" not in result.output and "\t" not in result.output
    assert "usage/seats.csv:1: error: unknown column(s)" in result.output


def test_usage_from_a_device_is_refused_even_from_the_command_line(repo):
    result = CliRunner().invoke(cli, ["--sandbox", "plan", "--usage", "/dev/zero"])
    assert result.exit_code == 1
    assert "/dev/zero:1: error: usage file: not a regular file" in result.output


# Peak memory of the CLI alone: measured by a fresh interpreter (a child forked from pytest would
# count pytest's own pages).
MEASURE = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "sys.stdout.write(r.stdout + r.stderr); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
)


@pytest.mark.parametrize("bomb", [LAUGHS, MERGE_BOMB])
def test_the_installed_cli_refuses_a_bomb_in_time_and_memory(repo, bomb):
    (repo / ACME).write_text(bomb)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", MEASURE, str(RECONCILE), "--sandbox", "apply", "--send-now"],
                            cwd=repo, capture_output=True, text=True, env=clean_env(), timeout=60)
    elapsed = time.monotonic() - started
    *output, peak_kib = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(rf"{ACME}:\d+:\d+: error: too many alias expansions", "\n".join(output))
    assert "Traceback" not in result.stdout
    assert elapsed < 10  # generous for a loaded CI machine; in-process it is milliseconds
    assert int(peak_kib) < 500 * 1024
    assert sandbox_writes(repo) == 0
    assert not (repo / ".sandbox/ledger.jsonl").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("".join(f"k{i}: v\n" for i in range(95_000)), "more than 20,000 lines and list items"),  # 0.9 MB
    ("x: [" + ",".join(["1"] * 400_000) + "]\n", "more than 20,000 lines and list items"),
    ("agreements:\n" + "".join(f"  p{i}: default\n" for i in range(5_000)), "more than 1,000 keys"),
    ("a: &a [" + ",".join(["1"] * 900) + "]\nb: [" + ",".join(["*a"] * 900) + "]\n", "too many values"),
])
def test_crowded_files_are_refused_fast(repo, text, message):
    (repo / ACME).write_text(text)
    started = time.monotonic()
    found = errors(repo)
    assert time.monotonic() - started < 1.5
    assert len(found) == 1 and found[0].startswith(f"{ACME}:") and message in found[0], found


def test_a_wrong_csv_stops_after_a_thousand_errors(repo):
    (repo / "usage/seats.csv").write_text("trend_customer_id,product,quantity\n" +
                                          "".join(f"c{i},nope{i},x\n" for i in range(50_000)))
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--sandbox", "plan"])
    assert time.monotonic() - started < 3
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) <= MAX_PRINTED + 1 and "more problems" in lines[-1]
