"""The HTML report in a real browser: headless Chromium opens the pages from disk (file://).

Needs /usr/bin/chromium (Debian packages `chromium` and `chromium-driver`), installed by
`scripts/install-chromium`. This test installs nothing and never skips: a CI image without
Chromium must fail loudly rather than quietly stop checking the report.

The pages have no scripts, so *any* console message is a defect: Chromium logs SVG attribute
parse errors and Content-Security-Policy violations (an external fetch) to the console, and
`--enable-logging=stderr` prints those as `CONSOLE` lines.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cmds.common import Runtime
from reconciler.cmds.report import report
from tests.unit.report.test_report_fixtures import write_config, write_ledger

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))  # CI images with Chrome set CHROMIUM
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run scripts/install-chromium (apt: chromium chromium-driver)"
        )
    profile = tmp_path / f"profile-{name}"  # one profile per run: no lock contention under xdist
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def console_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(
        report,
        [
            "--ledger",
            str(write_ledger(root / "state")),
            "--config",
            str(write_config(root / "config")),
            "--out",
            str(root / "out"),
        ],
        obj=Runtime(),
    )
    assert result.exit_code == 0, result.output
    return root / "out"


@pytest.mark.parametrize(
    ("page", "chart_id", "points"),
    # 5 products x 12 periods, less workload-security in Cedar's failed March: not billed is a gap
    [("index.html", "seats-msp", 5 * 12 - 1), ("customers/cedar-law.html", "seats-customer", 11)],
)
def test_page_renders_with_charts_and_no_console_errors(
    site: Path, tmp_path: Path, page: str, chart_id: str, points: int
) -> None:
    url = (site / page).resolve().as_uri()
    run = chromium(tmp_path, "dom", "--dump-dom", url)
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert f'<svg class="chart" id="{chart_id}"' in dom
    assert len(re.findall(r'<path class="point"[^>]*data-value="\d+"', dom)) == points
    assert "<table" in dom
    assert "<script" not in dom.lower()  # the live DOM: escaped names stayed text
    assert console_problems(run.stderr) == []


@pytest.mark.parametrize("page", ["index.html", "customers/brightline-logistics.html"])
def test_screenshot_is_a_real_picture(site: Path, tmp_path: Path, page: str) -> None:
    shot = tmp_path / "shot.png"
    run = chromium(
        tmp_path,
        "shot",
        f"--screenshot={shot}",
        "--window-size=1280,1600",
        (site / page).resolve().as_uri(),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert (width, height) == (1280, 1600)
    # A blank page compresses to a few kB; text, tables and coloured lines do not.
    assert len(data) > 40_000, len(data)
    assert console_problems(run.stderr) == []


def test_console_check_is_not_vacuous(tmp_path: Path) -> None:
    """If a Chromium update stopped logging the console to stderr, the checks above would pass
    on a broken page; prove they still see a broken SVG path and a blocked external fetch."""
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        'content="default-src \'none\'"></head><body><svg><path d="M0 0 L"/></svg>'
        '<img src="http://127.0.0.1:9/x.png"></body></html>'
    )
    run = chromium(tmp_path, "broken", "--dump-dom", broken.as_uri())
    problems = "\n".join(console_problems(run.stderr))
    assert "attribute d" in problems and "Content Security Policy" in problems


def test_problems_and_currencies_in_the_browser(tmp_path: Path) -> None:
    """Issue 21: every problem (missed, unsafe, failed; resolved or not) is on the live page with
    the index's true unresolved count, and each currency has its own chart."""
    from reconciler.ledger import Ledger
    from tests.unit.report.test_report_problems import priced, problem_ledger

    ledger = problem_ledger(tmp_path)
    for n, (customer, currency, price) in enumerate((("acme", "USD", "100.00"), ("brightline", "EUR", "2.00"),
                                                     ("cedar", "GBP", "5.00"))):
        Ledger(ledger, run_id=f"priced-{n}").result(
            kind="billing", customer=customer, psa_company=customer.title(), period="2026-10",
            trigger="scheduled", status="sent", error=None, changes=[], additions=priced(10 + n, currency, price))
    result = CliRunner().invoke(report, ["--ledger", str(ledger), "--out", str(tmp_path / "out"),
                                         "--period", "2026-11"], obj=Runtime())
    assert result.exit_code == 0, result.output
    run = chromium(tmp_path, "problems", "--dump-dom", (tmp_path / "out" / "index.html").resolve().as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    rows = set(re.findall(r'<tr class="failure (\w+)" data-status="(\w+)" data-customer="(\w+)"', dom))
    assert {("resolved", "missed", "acme"), ("failed", "unsafe", "brightline"), ("failed", "failed", "cedar"),
            ("failed", "failed", "delta"), ("failed", "missed", "delta")} <= rows
    assert "<dd>4 (3)</dd>" in dom and "4 unresolved in all periods up to 2026-11" in dom
    assert re.findall(r'<svg class="chart" id="(mrr-msp-\d)"', dom) == ["mrr-msp-1", "mrr-msp-2", "mrr-msp-3"]
    assert console_problems(run.stderr) == []
