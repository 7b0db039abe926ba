"""Schedule changes end to end: a moved billing day and an interrupted send never skip a period."""

from __future__ import annotations

import json

from tests.support.e2e import ledger_records, make_repo, plan_json, reconcile


def _customer(plan: dict, slug: str) -> dict:
    return next(c for c in plan["customers"] if c["customer"] == slug)


def _set_day(repo, day: int) -> None:
    path = repo / "config" / "customers" / "acme-dental.yaml"
    text = path.read_text().replace("integration: general", "integration: custom")
    text = text.split("billing:\n")[0] + f"billing:\n  day: {day}\n"
    path.write_text(text)


def test_moving_the_day_earlier_sends_the_period_at_once_instead_of_skipping_it(tmp_path):
    repo = make_repo(tmp_path)
    _set_day(repo, 31)
    first = reconcile(repo, "--sandbox", "apply", "--date", "2026-10-31", "--customer", "acme-dental")
    assert first.returncode == 0, first.stdout + first.stderr
    _set_day(repo, 5)  # merged on 20 November: November's new date (the 5th) has passed
    acme = _customer(plan_json(repo, "--date", "2026-11-20", "--customer", "acme-dental"), "acme-dental")
    assert acme["due"] and acme["schedule"]["period"] == "2026-11"
    assert "billing day changed from 31 to 5" in acme["reason"]
    sent = reconcile(repo, "--sandbox", "apply", "--date", "2026-11-20", "--customer", "acme-dental")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    periods = [r["period"] for r in ledger_records(repo)
               if r["event"] == "result" and r["kind"] == "billing" and r["status"] == "sent"]
    assert periods == ["2026-10", "2026-11"]
    assert all(r.get("day") for r in ledger_records(repo) if r["event"] == "result")


def test_a_killed_send_is_finished_by_the_next_run_however_late(tmp_path):
    repo = make_repo(tmp_path)
    first = reconcile(repo, "--sandbox", "apply", "--date", "2026-09-01", "--customer", "acme-dental")
    assert first.returncode == 0, first.stdout + first.stderr
    ledger = repo / ".sandbox" / "ledger.2026-10.jsonl"
    intent = {"v": 1, "ts": "2026-10-01T11:17:03.000000Z", "run_id": "20261001T111700Z-dead00", "event": "intent",
              "kind": "billing", "customer": "acme-dental", "connectwise_company": "AcmeDental",
              "period": "2026-10", "trigger": "scheduled", "changes": []}
    ledger.write_text(json.dumps(intent) + "\n")
    acme = _customer(plan_json(repo, "--date", "2026-10-25", "--customer", "acme-dental"), "acme-dental")
    assert acme["due"] and acme["schedule"]["period"] == "2026-10" and "interrupted" in acme["reason"]
