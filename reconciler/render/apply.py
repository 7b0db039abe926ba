"""Views of an apply run: the results table and the attention line on the terminal, the
`apply --format json` document and the JSON run report (`--report`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reconciler.render.escape import plain_line
from reconciler.render.plan_json import plan_to_json

if TYPE_CHECKING:
    from reconciler.apply import CustomerResult
    from reconciler.notify import Problem, TicketRun
    from reconciler.plan import Plan


def status_counts(results: list[CustomerResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def results_table(results: list[CustomerResult]) -> str:
    width = max([len(r.customer) for r in results] + [8])
    status_width = max([len(r.status) for r in results] + [6])
    lines = [f"{'customer'.ljust(width)}  {'status'.ljust(status_width)}  reason"]
    for r in results:  # reasons quote ConnectWise and config text: escaped (render/escape.py)
        lines.append(plain_line(f"{r.customer.ljust(width)}  {r.status.ljust(status_width)}  {r.reason}"))
    totals = status_counts(results)
    lines.append("")
    lines.append("Customers: " + ", ".join(f"{n} {s}" for s, n in sorted(totals.items())) + ".")
    return "\n".join(lines) + "\n"


def attention_line(problems: list[Problem]) -> str:
    """One line naming every customer a person must look at (the run then exits 1)."""
    count = len(problems)
    who = ", ".join(problem.label for problem in problems)
    return plain_line(f"{count} customer{'s need' if count != 1 else ' needs'} attention: {who}.")


def apply_to_json(plan: Plan | None, results: list[CustomerResult], dry_run: bool) -> dict[str, Any]:
    return {"plan": plan_to_json(plan) if plan else None, "dry_run": dry_run, "counts": status_counts(results),
            "results": [r.as_json() for r in results]}


def run_report(run_id: str, started: str, finished: str, results: list[CustomerResult], dry_run: bool,
               sandbox: bool, error: str | None = None, tickets: TicketRun | None = None) -> str:
    """The JSON run report `--report` writes (also when the run failed before any customer)."""
    report = {
        "format_version": "1.0", "run_id": run_id, "started_at": started, "finished_at": finished,
        "dry_run": dry_run, "sandbox": sandbox, "error": error, "counts": status_counts(results),
        "customers": [r.as_json() for r in results],
        "tickets": tickets.as_json() if tickets else [],
        "tickets_error": tickets.error if tickets else None,
    }
    return json.dumps(report, indent=2) + "\n"


def apply_output(run: Any, fmt: str) -> list[tuple[str, bool]]:
    """What `apply` prints after the run, as (text, to stderr) pairs in order: the JSON document
    (one on stdout, so `| jq` works) or the results table, then the attention line and the ticket
    lines (on stderr beside JSON). `run` is a `reconciler.run.plan_apply.ApplyRun`."""
    as_json = fmt == "json"
    out: list[tuple[str, bool]] = []
    if as_json:
        out.append((json.dumps(apply_to_json(run.plan, run.results, run.dry_run), indent=2) + "\n", False))
    else:
        out.append(("\n", False))
        out.append((results_table(run.results), False))
        if run.dry_run:
            out.append(("Dry run: nothing was written to ConnectWise or the ledger.\n", False))
    if run.problems:
        out.append((attention_line(run.problems) + "\n", as_json))
    for line, is_error in run.tickets.lines():
        out.append((line + "\n", as_json or is_error))
    return out
