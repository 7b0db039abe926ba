"""The report's pages and Markdown stay byte-identical while their making is reworked (issue 22).

The digests in `golden/report-output.json` (and the Markdown in `golden/*.md`, to read a
difference) were written by the report code *before* it was made linear and lean at 20,000
customers; a speed-up that changes one byte of any page fails here. Two ledgers: the hand-built
one of the report tests (shards, a gap, a resend, an interrupted run, summaries, markup in a
name) and a year of the scheduled job's records for 30 customers (prices in two currencies,
changes, failed sends, standing problems).

To accept an intended change of the output: `REPORT_GOLDEN_WRITE=1 pytest <this file>`, then
review the diff of `golden/` like any other change.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import orjson

from reconciler.report import build_figures, history_of, load_names, render_markdown, write_html
from reconciler.report.figures import report_periods
from tests.unit.report.test_report_fixtures import REPORT_PERIOD, write_config, write_ledger
from tests.unit.test_linear_work import PERIODS, ledger_of

GOLDEN = Path(__file__).parent / "golden"
WRITE = os.environ.get("REPORT_GOLDEN_WRITE") == "1"


def scheduled_year(directory: Path) -> Path:
    """`ledger_of(30)` in the ledger's layout (a file per period), with standing problems that
    several runs reported, one of them resolved by a later send."""
    records: list[dict[str, Any]] = ledger_of(30)
    for n in (4, 17):
        for day in ("03", "04", "05"):
            records.append({"v": 1, "ts": f"2026-10-{day}T06:00:00.000000Z", "run_id": f"run-2026-10-{day}",
                            "kind": "billing", "customer": f"customer-{n:05d}", "period": "2026-09",
                            "event": "problem", "status": "missed" if n == 4 else "unsafe",
                            "trigger": "scheduled", "error": f"problem <{n}> & co"})
    records.sort(key=lambda r: r["ts"])
    directory.mkdir(parents=True, exist_ok=True)
    for period in PERIODS:
        lines = [orjson.dumps(r) for r in records if r["ts"][:7] == period]
        (directory / f"ledger.{period}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return directory / "ledger.jsonl"


def report_output(ledger: Path, config: Path | None, period: str, out: Path) -> tuple[dict[str, str], str]:
    """What `reconcile report` writes (HTML pages and the Markdown), as the command makes it."""
    history = history_of(ledger)
    names = load_names(config)
    figures = build_figures(history, period, names)
    pages = [build_figures(history, p, names, with_customers=False) for p in report_periods(history, names.timezone)]
    written = write_html(figures, out, pages)
    assert len(written) == 1 + len(figures.customers)
    digests = {path.relative_to(out).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
               for path in sorted(out.rglob("*.html"))}
    return digests, render_markdown(figures)


def check(name: str, digests: dict[str, str], markdown: str) -> None:
    golden, golden_md = GOLDEN / f"{name}.json", GOLDEN / f"{name}.md"
    if WRITE:
        golden.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        golden_md.write_text(markdown, encoding="utf-8")
    assert markdown == golden_md.read_text(encoding="utf-8")
    assert digests == json.loads(golden.read_text(encoding="utf-8"))


def test_the_fixture_ledgers_report_is_byte_identical(tmp_path):
    ledger = write_ledger(tmp_path / "ledger")
    config = write_config(tmp_path / "config")
    check("fixture", *report_output(ledger, config, REPORT_PERIOD, tmp_path / "out"))


def test_a_year_of_scheduled_runs_reports_byte_identical(tmp_path):
    ledger = scheduled_year(tmp_path / "ledger")
    digests, markdown = report_output(ledger, None, PERIODS[-1], tmp_path / "out")
    assert len(digests) > 30 + len(PERIODS)  # every customer's page and every period's
    check("scheduled-year", digests, markdown)
