import json

import pytest

from reconciler.ledger import Ledger, LedgerCorrupt, read_ledger, shard_ledger_path


def _result(ledger, customer="acme", period="2026-11", status="sent", kind="billing"):
    return ledger.result(kind=kind, customer=customer, connectwise_company="Acme", period=period,
                         trigger="scheduled", status=status, error=None, changes=[])


def test_records_round_trip_and_answer_sent_periods(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.intent(kind="billing", customer="acme", connectwise_company="Acme", period="2026-11",
                  trigger="scheduled", changes=[{"action": "create"}])
    _result(ledger)
    _result(ledger, period="2026-12", status="failed")
    view = read_ledger(path)
    assert [r["event"] for r in view.records] == ["intent", "result", "result"]
    assert view.sent_periods("acme") == {"2026-11"}
    assert view.sent_periods("acme", "summary") == set()
    assert view.unsettled_intents("acme") == []


def test_an_intent_without_result_is_unsettled(tmp_path):
    path = tmp_path / "ledger.jsonl"
    Ledger(path).intent(kind="billing", customer="acme", connectwise_company="Acme", period="2026-11",
                        trigger="scheduled", changes=[])
    assert len(read_ledger(path).unsettled_intents("acme")) == 1


def test_a_torn_last_line_is_skipped_with_a_warning_and_the_next_append_starts_a_new_line(tmp_path):
    path = tmp_path / "ledger.jsonl"
    _result(Ledger(path))
    with open(path, "a") as handle:
        handle.write('{"event": "res')  # killed mid-write
    view = read_ledger(path)
    assert len(view.records) == 1 and "incomplete record" in view.warnings[0]
    _result(Ledger(path), period="2026-12")
    view = read_ledger(path)
    assert view.sent_periods("acme") == {"2026-11", "2026-12"}


def test_damage_in_the_middle_is_an_error_with_file_and_line(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ok = '{"event":"result","ts":"2026-11-01T00:00:00Z"}'
    path.write_text(f"{ok}\nnot json\n{ok}\n")
    with pytest.raises(LedgerCorrupt, match=r"ledger.jsonl:2: error"):
        read_ledger(path)


def test_shard_files_are_read_with_the_main_ledger(tmp_path):
    path = tmp_path / "ledger.jsonl"
    _result(Ledger(path), customer="a")
    _result(Ledger(shard_ledger_path(path, (2, 3))), customer="b")
    assert shard_ledger_path(path, (2, 3)).name == "ledger.2of3.jsonl"
    view = read_ledger(path)
    assert view.sent_periods("a") == {"2026-11"} and view.sent_periods("b") == {"2026-11"}
    assert all(json.loads(line)["v"] == 1 for line in path.read_text().splitlines())


def test_one_apply_at_a_time_holds_the_ledger(tmp_path):
    from reconciler.ledger import LedgerLocked, exclusive

    path = tmp_path / "ledger.jsonl"
    with exclusive(path):
        with pytest.raises(LedgerLocked, match="in use by reconcile apply"):
            with exclusive(path):
                pass
        with exclusive(tmp_path / "ledger.1of2.jsonl"):  # shards lock their own files
            pass
    with exclusive(path):  # released
        pass


def test_a_torn_record_is_skipped_by_every_reader_of_the_ledger(tmp_path):
    from reconciler.report.history import read_ledger as report_records

    path = tmp_path / "ledger.jsonl"
    _result(Ledger(path))
    with open(path, "a") as handle:
        handle.write('{"event": "res')  # killed mid-write
    _result(Ledger(path), period="2026-12")
    assert [r["period"] for r in report_records(path)] == ["2026-11", "2026-12"]


def test_the_lock_is_beside_the_ledger_so_another_tmpdir_sees_it(tmp_path):
    """Two processes with different TMPDIRs mean the same ledger: the second must be refused."""
    import os
    import subprocess
    import sys

    from reconciler.ledger import exclusive

    path = tmp_path / "ledger.jsonl"
    other_tmp = tmp_path / "other-tmp"
    other_tmp.mkdir()
    probe = ("import sys; from pathlib import Path; from reconciler.ledger import LedgerLocked, exclusive\n"
             "try:\n    with exclusive(Path(sys.argv[1])): print('got it')\n"
             "except LedgerLocked as e: print('locked:', e)\n")
    with exclusive(path):
        assert (tmp_path / "ledger.jsonl.lock").exists()
        out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True,
                             env={**os.environ, "TMPDIR": str(other_tmp)}, check=True).stdout
    assert out.startswith("locked:") and "in use by reconcile apply" in out
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True,
                         env={**os.environ, "TMPDIR": str(other_tmp)}, check=True).stdout
    assert out.strip() == "got it"


def test_a_later_result_settles_an_interrupted_intent(tmp_path):
    """Run A stopped after its intent; run B later sent (or failed) the same period: the note
    about run A must stop, not repeat in every later plan."""
    path = tmp_path / "ledger.jsonl"
    a = Ledger(path, run_id="A")
    a.intent(kind="billing", customer="acme", connectwise_company="Acme", period="2026-11", trigger="schedule",
             changes=[])
    assert [r["run_id"] for r in read_ledger(path).unsettled_intents("acme")] == ["A"]
    b = Ledger(path, run_id="B")
    b.intent(kind="billing", customer="acme", connectwise_company="Acme", period="2026-11", trigger="schedule",
             changes=[])
    b.result(kind="billing", customer="acme", connectwise_company="Acme", period="2026-11", trigger="schedule",
             status="failed", error="HTTP 500", changes=[])
    assert read_ledger(path).unsettled_intents("acme") == []
    # another period, or the summary kind, is not settled by it
    a.intent(kind="billing", customer="acme", connectwise_company="Acme", period="2026-12", trigger="schedule",
             changes=[])
    a.intent(kind="summary", customer="acme", connectwise_company="Acme", period="2026-11", trigger="schedule",
             changes=[])
    assert [r["period"] for r in read_ledger(path).unsettled_intents("acme")] == ["2026-12"]
    assert [r["period"] for r in read_ledger(path).unsettled_intents("acme", "summary")] == ["2026-11"]
