"""The view of an apply run (`render/apply.py`): which stream each part goes to, so `apply
--format json | jq` reads one document while a person still sees who needs attention."""

from __future__ import annotations

import json

from reconciler.apply import CustomerResult
from reconciler.notify import Problem, TicketRun
from reconciler.render.apply import apply_output, attention_line, results_table, run_report
from reconciler.run.plan_apply import ApplyRun

RESULTS = [CustomerResult("acme-dental", "AcmeDental", "sent", "2 changes"),
           CustomerResult("brightline", "Brightline", "failed", "ConnectWise said 500\x1b[2J")]
PROBLEMS = [Problem("brightline", "Brightline", "failed", "2026-12", "ConnectWise said 500")]


def test_text_is_a_table_then_the_dry_run_line_then_attention_on_stdout():
    out = apply_output(ApplyRun(None, RESULTS, PROBLEMS, TicketRun(), dry_run=True), "text")
    assert [to_stderr for _text, to_stderr in out] == [False, False, False, False]
    text = "".join(part for part, _ in out)
    assert text.startswith("\ncustomer ")
    assert "Customers: 1 failed, 1 sent.\n" in text
    assert "Dry run: nothing was written to ConnectWise or the ledger.\n" in text
    assert text.endswith("1 customer needs attention: brightline failed.\n")


def test_json_is_one_document_on_stdout_and_attention_on_stderr():
    out = apply_output(ApplyRun(None, RESULTS, PROBLEMS, TicketRun(), dry_run=False), "json")
    stdout = "".join(text for text, to_stderr in out if not to_stderr)
    document = json.loads(stdout)
    assert document["counts"] == {"sent": 1, "failed": 1} and document["plan"] is None
    assert [text for text, to_stderr in out if to_stderr] == ["1 customer needs attention: brightline failed.\n"]


def test_reasons_from_connectwise_are_escaped_in_the_table():
    assert "\x1b" not in results_table(RESULTS)
    assert attention_line(PROBLEMS * 2) == "2 customers need attention: brightline failed, brightline failed."


def test_the_run_report_counts_by_status():
    report = json.loads(run_report("R1", "t0", "t1", RESULTS, False, True, error=None, tickets=TicketRun()))
    assert report["counts"] == {"sent": 1, "failed": 1}
    assert report["run_id"] == "R1" and report["sandbox"] is True and report["tickets"] == []
