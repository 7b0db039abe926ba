"""Config and ConnectWise text reaching Markdown/HTML is escaped everywhere (issue 11, item 3).

Before: the plan's `<details><summary>` and table cells took customer and mapping text as is, so
`</summary><!--` in a mapping name hid the rest of the PR comment, and the Plan workflow pasted
the error output into a ``` fence that a line of backticks in a failure reason could close.
"""

from __future__ import annotations

import os
import re
import subprocess

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.render.escape import code_line, md_text
from reconciler.report.markdown import _cell as report_cell
from tests.repo.test_workflows import load, step_named
from tests.support.e2e import make_repo

HOSTILE = "</summary><!-- x | y ``` [click](https://evil.example) *b* <img src=x onerror=alert(1)>"
ALLOWED_TAGS = re.compile(r"</?(details|summary|sub)>|<!-- reconcile-plan -->")


def test_md_text_leaves_no_markup():
    out = md_text(HOSTILE + "\n```\nnext line")
    assert "<" not in out and ">" not in out and "\n" not in out
    assert "|" not in out.replace("\\|", "")
    assert "`" not in out.replace("\\`", "")
    assert "[" not in out.replace("\\[", "")
    assert md_text("Cedar & Finch") == "Cedar &amp; Finch"


def test_code_line_cannot_close_a_fence():
    assert "\n" not in code_line("a\n```\n<b>")


def test_report_and_drift_cells_escape_markup_too():
    from reconciler.render.common import cell as drift_cell

    for cell in (report_cell, drift_cell):
        out = cell(HOSTILE)
        assert "<" not in out and "|" not in out.replace("\\|", "")


def test_plan_markdown_escapes_a_hostile_mapping_name(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    acme = repo / "config/customers/acme-dental.yaml"
    name = HOSTILE.replace('"', "'")
    acme.write_text(acme.read_text().replace(
        "  hes: default", f'  hes: {{type: "TMRM Management Solution", name: "{name}\\n```\\n<b>"}}'))
    result = CliRunner().invoke(cli, ["--sandbox", "plan", "--send-now", "--format", "markdown"])
    assert result.exit_code == 1, result.output  # acme fails: no such agreement
    out = result.output
    assert "&lt;/summary&gt;&lt;!-- x \\| y" in out  # the failure reason, escaped, in its cell
    assert ALLOWED_TAGS.sub("", out).count("<") == 0, out
    assert out.count("<!--") == 1
    assert not any(line.startswith("```") and line.strip() not in ("```", "```diff") for line in out.splitlines())


def test_pr_comment_puts_plan_errors_in_escaped_pre(tmp_path):
    script = step_named(load("pull-request.yml"), "Compose comment and summary")["run"]
    (tmp_path / "plan.err").write_text(f"config/x.yaml:1:1: error: {HOSTILE}\n```\n</pre><b>bold</b>\n")
    env = {**os.environ, "SANDBOX": "false", "VALIDATE": "success", "PLAN": "failure", "PLAN_EXIT": "1",
           "HEAD_SHA": "0123456789abcdef", "RUN_URL": "https://github.com/o/r/actions/runs/1",
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env, check=True, timeout=30)
    comment = (tmp_path / "comment.md").read_text()
    assert "<pre>" in comment and comment.count("</pre>") == 1
    assert "&lt;/pre&gt;&lt;b&gt;bold" in comment and "<b>" not in comment and "<img" not in comment
    assert "```" not in comment.split("<pre>")[0]  # no fence left open for the error text to close
    assert (tmp_path / "summary.md").read_text() == comment


def test_billing_summary_puts_apply_output_in_escaped_pre(tmp_path):
    script = step_named(load("billing.yml"), "Summary")["run"]
    (tmp_path / "apply.log").write_text(f"acme  failed  {HOSTILE}\n```\n</pre><b>x</b>\n")
    env = {**os.environ, "APPLY_EXIT": "1", "GITHUB_RUN_ID": "7", "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")}
    subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env, check=True, timeout=30)
    summary = (tmp_path / "s.md").read_text()
    assert summary.count("</pre>") == 1 and "<b>" not in summary and "&lt;img" in summary
