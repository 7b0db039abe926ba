import json

import pytest

from reconciler.ledger import (
    Ledger,
    LedgerCorrupt,
    LedgerView,
    SendKind,
    SendStatus,
    Trigger,
    ledger_files,
    read_ledger,
    read_word,
    shard_ledger_path,
)


def _result(ledger, customer="acme", period="2026-11", status="sent", kind="billing"):
    return ledger.result(kind=kind, customer=customer, psa_company="Acme", period=period,
                         trigger="scheduled", status=status, error=None, changes=[])


def test_records_round_trip_and_answer_sent_periods(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    ledger.intent(kind="billing", customer="acme", psa_company="Acme", period="2026-11",
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
    Ledger(path).intent(kind="billing", customer="acme", psa_company="Acme", period="2026-11",
                        trigger="scheduled", changes=[])
    assert len(read_ledger(path).unsettled_intents("acme")) == 1


def test_a_torn_last_line_is_skipped_with_a_warning_and_the_next_append_starts_a_new_line(tmp_path):
    path = tmp_path / "ledger.jsonl"
    _result(Ledger(path))
    with open(tmp_path / "ledger.2026-11.jsonl", "a") as handle:
        handle.write('{"event": "res')  # killed mid-write
    view = read_ledger(path)
    assert len(view.records) == 1 and "incomplete record" in view.warnings[0]
    _result(Ledger(path), customer="bravo")
    view = read_ledger(path)
    assert view.sent_periods("acme") == {"2026-11"} and view.sent_periods("bravo") == {"2026-11"}


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.2026-11.2of3.jsonl", "ledger.2026-11.jsonl"]
    view = read_ledger(path)
    assert view.sent_periods("a") == {"2026-11"} and view.sent_periods("b") == {"2026-11"}
    assert all(json.loads(line)["v"] == 1 for line in (tmp_path / "ledger.2026-11.jsonl").read_text().splitlines())


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
    with open(tmp_path / "ledger.2026-11.jsonl", "a") as handle:
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
    a.intent(kind="billing", customer="acme", psa_company="Acme", period="2026-11", trigger="schedule",
             changes=[])
    assert [r["run_id"] for r in read_ledger(path).unsettled_intents("acme")] == ["A"]
    b = Ledger(path, run_id="B")
    b.intent(kind="billing", customer="acme", psa_company="Acme", period="2026-11", trigger="schedule",
             changes=[])
    b.result(kind="billing", customer="acme", psa_company="Acme", period="2026-11", trigger="schedule",
             status="failed", error="HTTP 500", changes=[])
    assert read_ledger(path).unsettled_intents("acme") == []
    # another period, or the summary kind, is not settled by it
    a.intent(kind="billing", customer="acme", psa_company="Acme", period="2026-12", trigger="schedule",
             changes=[])
    a.intent(kind="summary", customer="acme", psa_company="Acme", period="2026-11", trigger="schedule",
             changes=[])
    assert [r["period"] for r in read_ledger(path).unsettled_intents("acme")] == ["2026-12"]
    assert [r["period"] for r in read_ledger(path).unsettled_intents("acme", "summary")] == ["2026-11"]


# -- layout: one file per period; old single-file ledgers are still read -------------------------

def _legacy(path, *records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _record(event, period, *, customer="acme", status=None, run_id="old", ts="2026-09-01T11:17:00.000000Z",
            kind="billing", **extra):
    record = {"v": 1, "ts": ts, "run_id": run_id, "event": event, "kind": kind, "customer": customer,
              "connectwise_company": "Acme", "period": period, "trigger": "scheduled"}
    if status:
        record.update(status=status, error=extra.pop("error", None), changes=[])
    return {**record, **extra, "day": 1}


def test_each_record_goes_to_its_periods_file_and_the_main_file_is_never_written(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    _result(ledger, period="2026-10")
    _result(ledger, period="2026-11")
    ledger.intent(kind="summary", customer="acme", psa_company="Acme", period="2026-11",
                  trigger="scheduled", changes=[])
    assert not path.exists()
    assert [json.loads(line)["event"] for line in (tmp_path / "ledger.2026-11.jsonl").read_text().splitlines()] \
        == ["result", "intent"]
    assert len((tmp_path / "ledger.2026-10.jsonl").read_text().splitlines()) == 1
    assert ledger_files(path) == [tmp_path / "ledger.2026-10.jsonl", tmp_path / "ledger.2026-11.jsonl"]


def test_an_old_single_file_ledger_is_read_with_the_new_files_and_settles_across_them(tmp_path):
    """Migration needs no step: the old ledger.jsonl (and its shard files) stay where they are and
    are read first; an intent written there by an old version is settled by the new layout's result."""
    path = tmp_path / "ledger.jsonl"
    _legacy(path,
            _record("result", "2026-09", status="sent", additions={"hes": {"id": 1, "agreement_id": 7}}),
            _record("intent", "2026-10", run_id="killed", ts="2026-10-01T11:17:00.000000Z"))
    _legacy(tmp_path / "ledger.1of2.jsonl", _record("result", "2026-09", customer="bravo", status="sent"))
    view = read_ledger(path)
    assert view.sent_periods("acme") == {"2026-09"} and view.sent_periods("bravo") == {"2026-09"}
    assert [r["run_id"] for r in view.unsettled_intents("acme")] == ["killed"]
    Ledger(path, run_id="killed").result(kind="billing", customer="acme", psa_company="Acme",
                                         period="2026-10", trigger="scheduled", status="sent", error=None, changes=[])
    view = read_ledger(path)
    assert view.unsettled_intents("acme") == []
    assert view.sent_periods("acme") == {"2026-09", "2026-10"} and view.last_sent("acme")["period"] == "2026-10"
    assert [p.name for p in ledger_files(path)] == ["ledger.jsonl", "ledger.1of2.jsonl", "ledger.2026-10.jsonl"]
    assert len(path.read_text().splitlines()) == 2  # the old file is read, never appended to


def test_last_send_is_the_latest_by_time_whichever_file_it_is_in(tmp_path):
    path = tmp_path / "ledger.jsonl"
    _legacy(tmp_path / "ledger.2026-10.jsonl", _record("result", "2026-10", status="sent", ts="2026-12-02T00:00:00Z"))
    _legacy(tmp_path / "ledger.2026-11.jsonl", _record("result", "2026-11", status="sent", ts="2026-11-01T00:00:00Z"))
    assert read_ledger(path).last_sent("acme")["period"] == "2026-10"  # a late manual send of October


def test_the_index_keeps_no_records_and_no_change_lists(tmp_path):
    path = tmp_path / "ledger.jsonl"
    for n in range(200):
        _result(Ledger(path), customer=f"c{n % 10}", period=f"2026-{n % 12 + 1:02d}")
    view = read_ledger(path)
    assert view.record_count == 200 and len(view.customers()) == 10
    assert not view._records and "changes" not in view.last_sent("c1")


def test_the_fast_reader_answers_as_a_full_parse_does(tmp_path):
    from reconciler.ledger import _read_index

    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    for n in range(30):
        customer, period = f"c{n % 4}", f"2026-{n % 12 + 1:02d}"
        ledger.intent(kind="billing", customer=customer, psa_company="Acme", period=period,
                      trigger="scheduled", changes=[{"action": "create", "reason": "odd { brace"}])
        if n % 5:
            _result(ledger, customer=customer, period=period, status="sent" if n % 3 else "failed")
    fast, full = _read_index(path, fast=True), _read_index(path, fast=False)
    for customer in ("c0", "c1", "c2", "c3"):
        assert fast.sent_periods(customer) == full.sent_periods(customer)
        assert fast.last_sent(customer) == full.last_sent(customer)
        assert fast.last_failed(customer) == full.last_failed(customer)
        assert fast.unsettled_intents(customer) == full.unsettled_intents(customer)
    assert fast.record_count == full.record_count == 54


def test_a_torn_line_that_looks_whole_sends_the_reader_the_slow_way(tmp_path):
    """A killed append cut right after an inner `}`, with a `}` inside a string making the braces
    balance, passes the cheap test; parsing the kept line catches it and the ledger is read in full."""
    path = tmp_path / "ledger.jsonl"
    whole = json.dumps(_record("result", "2026-11", status="sent", error="x }", additions={"hes": {"id": 1}}),
                       separators=(",", ":"))
    torn = whole[: whole.index('}},"day"') + 2] if '"day"' in whole else whole[: whole.rindex("}")]
    assert torn.endswith("}") and torn.count("{") == torn.count("}")
    (tmp_path / "ledger.2026-11.jsonl").write_text(torn + "\n")
    view = read_ledger(path)
    assert view.sent_periods("acme") == set()
    assert "incomplete record" in view.warnings[0]


def test_first_seen_is_no_later_than_the_earliest_period_recorded(tmp_path):
    """A run dated back (`--date`) records an old period today: the tool took the customer on
    from that period, so the never-sent rule must not call the next periods 'before it saw it'."""
    path = tmp_path / "ledger.jsonl"
    Ledger(path, run_id="backdated").intent(kind="billing", customer="acme", psa_company="Acme",
                                            period="2026-06", trigger="manual", changes=[])
    assert read_ledger(path).first_seen("acme") == "2026-06-01T00:00:00.000000Z"
    assert read_ledger(path).first_seen("acme", "summary") is None


def test_the_words_of_a_record_are_written_as_they_always_were(tmp_path):
    """Event, SendKind, Trigger and SendStatus are str-valued: the bytes on disk are the words."""
    ledger = Ledger(tmp_path / "ledger.jsonl", run_id="r1")
    ledger.intent(kind=SendKind.BILLING, customer="acme", psa_company="Acme", period="2026-11",
                  trigger=Trigger.MANUAL, changes=[])
    ledger.result(kind=SendKind.SUMMARY, customer="acme", psa_company="Acme", period="2026-11",
                  trigger=Trigger.SCHEDULED, status=SendStatus.SENT, error=None, changes=[])
    text = (tmp_path / "ledger.2026-11.jsonl").read_text()
    assert '"event":"intent","kind":"billing","customer":"acme","connectwise_company":"Acme","period":"2026-11",' \
           '"trigger":"manual"' in text
    assert '"event":"result","kind":"summary","customer":"acme","connectwise_company":"Acme","period":"2026-11",' \
           '"trigger":"scheduled","status":"sent"' in text
    view = read_ledger(tmp_path / "ledger.jsonl")
    assert view.sent_periods("acme", SendKind.SUMMARY) == {"2026-11"} == view.sent_periods("acme", "summary")


def test_a_word_this_version_does_not_know_is_passed_over_not_an_error():
    records = [
        {"ts": "2026-11-01T00:00:00Z", "run_id": "r1", "event": "result", "kind": "billing", "customer": "acme",
         "period": "2026-11", "status": "queued"},
        {"ts": "2026-11-01T00:00:01Z", "run_id": "r1", "event": "audit", "kind": "billing", "customer": "acme",
         "period": "2026-11", "status": "sent"},
        {"ts": "2026-11-01T00:00:02Z", "run_id": "r2", "event": "result", "kind": "invoice", "customer": "acme",
         "period": "2026-11", "status": "sent"},
    ]
    view = LedgerView(records)
    assert view.sent_periods("acme") == set() and view.last_failed("acme") is None
    assert view.sent_periods("acme", "invoice") == {"2026-11"}
    assert read_word(Trigger, "cron", Trigger.SCHEDULED) == "cron" and read_word(Trigger, None, Trigger.SCHEDULED) is Trigger.SCHEDULED
