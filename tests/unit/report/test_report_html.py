"""The HTML and Markdown reports and the `reconcile report` command, checked against the ledger."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cmds.common import Runtime
from reconciler.cmds.report import report
from reconciler.report.svg import DASHES, MARKER_NAMES, OKABE_ITO, nice_scale, style_for
from tests.unit.report.test_report_fixtures import (
    CEDAR_GAP,
    CUSTOMERS,
    EVIL_NAME,
    EXPECTED,
    PERIODS,
    write_config,
    write_ledger,
)

WINDOW = PERIODS[2:]


class Collector(HTMLParser):
    """Chart points, seat-table cells and every text node of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.points: dict[tuple[str, str, str], int] = {}  # (chart id, product, period) -> value
        self.cells: dict[tuple[str, str], str] = {}  # (product, period) -> text (first seats table)
        self.point_titles: list[str] = []
        self.charts: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self._chart: str | None = None
        self._cell: tuple[str, str] | None = None
        self._in_point_title = False
        self._tables_seen = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "svg":
            self._chart = a.get("id")
            self.charts.append(a)
        if tag == "path" and a.get("class") == "point" and "data-value" in a:
            self.points[(self._chart, a["data-product"], a["data-period"])] = int(a["data-value"])
            self._in_point_title = True
        if tag == "table" and a.get("class") == "seats":
            self._tables_seen += 1
        if tag == "td" and "data-product" in a and self._tables_seen == 1:
            self._cell = (a["data-product"], a["data-period"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        if tag == "path":
            self._in_point_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell:
            self.cells[self._cell] = data
        if self._in_point_title and data.strip():
            self.point_titles.append(data)


def parse(path: Path) -> Collector:
    collector = Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    ledger = write_ledger(tmp_path / "state")
    config = write_config(tmp_path / "config")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        report, ["--ledger", str(ledger), "--config", str(config), "--out", str(out)], obj=Runtime()
    )
    assert result.exit_code == 0, result.output
    return out


def msp_expected(product: str, period: str) -> int | None:
    """The sum over the customers billed for the period; unknown (None, a gap) when none of them
    holds the product but a customer not billed for it did at its last billing (Cedar's failed
    March): not billed is not "fell to 0"."""
    billed = [c for c in CUSTOMERS if (c, period) in EXPECTED]
    if not any(product in EXPECTED[(c, period)] for c in billed):
        for c in CUSTOMERS:
            earlier = [p for (k, p) in EXPECTED if k == c and p < period] if c not in billed else []
            if earlier and EXPECTED[(c, max(earlier))].get(product, 0) > 0:
                return None
    return sum(EXPECTED[(c, period)].get(product, 0) for c in billed)


PRODUCTS = ("wfbss-svc", "cas", "hes", "apex-one-saas", "workload-security")


def test_index_chart_and_table_equal_the_ledger(site: Path) -> None:
    page = parse(site / "index.html")
    for product in PRODUCTS:
        for period in WINDOW:
            want = msp_expected(product, period)
            assert page.points.get(("seats-msp", product, period)) == want, (product, period)
            assert page.cells[(product, period)] == ("—" if want is None else str(want)), (product, period)
    gaps = sum(1 for product in PRODUCTS for period in WINDOW if msp_expected(product, period) is None)
    assert gaps == 1  # workload-security in Cedar's failed period
    assert len(page.points) == len(PRODUCTS) * len(WINDOW) - gaps  # nothing outside the window
    assert "Cloud App Security <M365>, 2026-11: 80 seats" in page.point_titles


def test_customer_pages_chart_and_table_equal_the_ledger(site: Path) -> None:
    for customer in CUSTOMERS:
        page = parse(site / "customers" / f"{customer}.html")
        products = {p for (c, _), seats in EXPECTED.items() if c == customer for p in seats}
        for product in products:
            for period in WINDOW:
                seats = EXPECTED.get((customer, period))
                point = page.points.get(("seats-customer", product, period))
                cell = page.cells[(product, period)]
                if seats is None:  # nothing sent: a gap, never a zero
                    assert point is None and cell == "—"
                else:
                    assert point == seats.get(product, 0) and cell == str(seats.get(product, 0))
    cedar = parse(site / "customers" / "cedar-law.html")
    assert ("seats-customer", "workload-security", CEDAR_GAP) not in cedar.points


def test_index_lists_changes_failures_and_sends(site: Path) -> None:
    html = (site / "index.html").read_text()
    text = " ".join(parse(site / "index.html").text)
    assert "74 → 80" in text and "52 → 53" in text
    assert html.count('class="change"') == 5
    assert "ConnectWise 500: <html>oops</html>" in text  # shown, as text
    assert "failed, resolved by a later send" in text
    assert "Billing sends during the period" in text and "2 of 3" in text
    assert 'href="customers/cedar-law.html"' in html


def test_customer_page_products_and_agreements(site: Path) -> None:
    text = " ".join(parse(site / "customers" / "cedar-law.html").text)
    assert "Managed Service / Cedar <Legal> & Co" in text
    assert "As last sent for 2026-11 at 2026-11-02 09:00 UTC (manual)." in text  # no config: UTC
    summary = " ".join(parse(site / "customers" / "acme-dental.html").text)
    assert "executive summary" in summary and "9013" in summary


def test_all_text_is_escaped(site: Path) -> None:
    for path in [site / "index.html", *sorted((site / "customers").glob("*.html"))]:
        html = path.read_text()
        assert "<script" not in html.lower(), path
        assert "<html>oops" not in html and "<M365>" not in html and "<Legal>" not in html
        page = parse(path)
        assert "script" not in page.tags and page.tags.count("html") == 1
    index_text = "".join(parse(site / "index.html").text)
    assert EVIL_NAME in index_text  # the name survives, as text
    assert "&lt;script&gt;" in (site / "customers" / "brightline-logistics.html").read_text()


def test_pages_are_self_contained_and_accessible(site: Path) -> None:
    for path in [site / "index.html", *sorted((site / "customers").glob("*.html"))]:
        html = path.read_text()
        without_ns = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://|<link|<script|src=|@import|url\(", without_ns), path
        assert "Content-Security-Policy" in html and "@media print" in html
        page = parse(path)
        assert page.charts and all(
            c.get("role") == "img" and c.get("aria-labelledby") for c in page.charts
        )
        assert "<title id=" in html and "<desc id=" in html and "<caption>" in html


def test_series_differ_in_colour_shape_and_dash() -> None:
    styles = [style_for(i) for i in range(8)]
    assert {s[0] for s in styles} == set(OKABE_ITO)
    assert len({s[1] for s in styles}) == len(DASHES) and len({s[2] for s in styles}) == len(
        MARKER_NAMES
    )
    assert len({style_for(i) for i in range(24)}) == 24  # no two of many series look the same
    assert nice_scale(96) == (100, 20) and nice_scale(0) == (1, 1) and nice_scale(7) == (8, 2)


def test_legend_shows_each_series_shape(site: Path) -> None:
    html = (site / "index.html").read_text()
    markers = re.findall(r'class="key" data-product="([^"]+)" data-marker="([^"]+)"', html)
    assert [m[0] for m in markers] == list(PRODUCTS)
    assert len({m[1] for m in markers}) == len(PRODUCTS)


# ---------------------------------------------------------------- markdown


def _md(tmp_path: Path, *extra: str) -> str:
    ledger = write_ledger(tmp_path / "state")
    config = write_config(tmp_path / "config")
    result = CliRunner().invoke(
        report,
        ["--ledger", str(ledger), "--config", str(config), "--format", "markdown", *extra],
        obj=Runtime(),
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_markdown_table_and_mermaid_equal_the_ledger(tmp_path: Path) -> None:
    md = _md(tmp_path)
    rows = {
        line.split(" | ")[0].lstrip("| "): line
        for line in md.splitlines()
        if re.match(r"\| \d{4}-\d\d \|", line)
    }
    assert list(rows) == list(WINDOW)
    for period, line in rows.items():
        cells = [c.strip() for c in line.strip("|").split("|")][1:]
        assert cells[:-1] == [str(msp_expected(p, period) if msp_expected(p, period) is not None else "—")
                              for p in PRODUCTS]
        assert cells[-1] == ("2 of 3" if period == CEDAR_GAP else "3 of 3")
    mermaid = md.split("```mermaid\n")[1].split("```")[0]
    assert mermaid.startswith("xychart-beta\n")
    lines = re.findall(r"line \[([^\]]*)\]", mermaid)
    # Mermaid draws no gaps: the chart starts at the first period with a figure, and a product
    # with a gap after it is left out and named (never drawn as 0).
    expected = {p: [msp_expected(p, period) for period in WINDOW] for p in PRODUCTS}
    first = min(i for values in expected.values() for i, v in enumerate(values) if v is not None)
    drawn = [p for p, values in expected.items() if None not in values[first:]]
    assert [[int(v) for v in line.split(", ")] for line in lines] == [expected[p][first:] for p in drawn]
    assert re.findall(r'x-axis \[([^\]]*)\]', mermaid) == [", ".join(f'"{p}"' for p in WINDOW[first:])]
    left_out = [p for p in PRODUCTS if p not in drawn]
    assert left_out  # the fixture has a gap (cedar-law's failed 2026-03)
    assert "Not drawn, because they have periods with no figure" in md
    assert "| 74 → 80 | manual |" in md
    assert "ConnectWise 500: &lt;html&gt;oops&lt;/html&gt;" in md
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_markdown_written_to_out(tmp_path: Path) -> None:
    assert _md(tmp_path, "--out", str(tmp_path / "md")) == ""
    assert (tmp_path / "md" / "report.md").read_text().startswith("## Billing report 2026-11")


def test_markdown_for_one_customer_and_period(tmp_path: Path) -> None:
    md = _md(tmp_path, "--customer", "cedar-law", "--period", CEDAR_GAP)
    assert md.startswith("## Billing report 2026-03 — Cedar Law")
    assert "| Cloud One Workload Security | Customers billed |" in md
    assert f"| {CEDAR_GAP} | — | 0 of 1 |" in md
    assert "ConnectWise 503" in md and "Acme" not in md


# ---------------------------------------------------------------- command


def test_defaults_latest_period_state_ledger_and_out_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_ledger(tmp_path / "state")
    result = CliRunner().invoke(report, [], obj=Runtime())
    assert result.exit_code == 0, result.output
    assert "wrote out/report/index.html, 3 customer page(s) and 14 period page(s)" in result.stderr
    assert "Billing report 2026-11" in (tmp_path / "out" / "report" / "index.html").read_text()


def test_sandbox_default_ledger(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_ledger(tmp_path / ".sandbox")
    result = CliRunner().invoke(report, ["--format", "markdown"], obj=Runtime(sandbox=True))
    assert result.exit_code == 0, result.output
    assert "3 of 3" in result.stdout


def test_empty_ledger_reports_current_month(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "config").mkdir()  # a config repository that has never sent anything
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(report, ["--format", "markdown"])  # no ctx.obj at all
    assert result.exit_code == 0, result.output
    assert "no ledger at state/ledger.jsonl" in result.stderr
    assert re.match(r"## Billing report \d{4}-\d\d\n", result.stdout)
    assert "_No seats were billed in these periods._" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-13"], "is not a period"),
        (["--ledger", "missing/ledger.jsonl"], "no ledger at missing/ledger.jsonl"),
        (["--customer", "nobody"], "unknown customer 'nobody'"),
    ],
)
def test_usage_errors(tmp_path: Path, monkeypatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    write_ledger(tmp_path / "state")
    result = CliRunner().invoke(report, args, obj=Runtime())
    assert result.exit_code != 0
    assert message in result.output


def test_malformed_ledger_fails_with_file_and_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "ledger.jsonl").write_text('{"ts": "2026-01-01T00:00:00Z"}\nnot json\n')
    result = CliRunner().invoke(report, [], obj=Runtime())
    assert result.exit_code == 1
    assert "state/ledger.jsonl:2: error: not a JSON ledger record" in result.output


def test_through_the_real_cli_with_global_sandbox_and_config(tmp_path: Path, monkeypatch) -> None:
    from reconciler.cli import cli

    monkeypatch.chdir(tmp_path)
    write_ledger(tmp_path / ".sandbox")
    write_config(tmp_path / "cfg")
    result = CliRunner().invoke(
        cli, ["--sandbox", "--config", "cfg", "report", "--format", "markdown"]
    )
    assert result.exit_code == 0, result.output
    assert "| Acme Dental Group | Worry-Free Business Security Services |" in result.stdout


def test_no_config_and_no_ledger_says_where_it_looked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(report, ["--format", "markdown"], obj=Runtime())
    assert result.exit_code == 1
    assert f"no config/ directory in {tmp_path}" in result.output and "--config" in result.output
