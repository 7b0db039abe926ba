"""reconciler.report.history and .figures: the ledger read back as a pure model."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from reconciler.ledger import LedgerCorrupt as LedgerError
from reconciler.ledger import SendKind, Trigger
from reconciler.periods import period_window, shift_period
from reconciler.report.figures import build_figures
from reconciler.report.history import (
    FailureStatus,
    build_history,
    current_period,
    read_ledger,
)
from reconciler.report.names import Names, load_names
from tests.unit.report.test_report_fixtures import (
    CEDAR_GAP,
    CUSTOMERS,
    EVIL_NAME,
    EXPECTED,
    PERIODS,
    REPORT_PERIOD,
    write_config,
    write_ledger,
)


@pytest.fixture()
def history(tmp_path: Path):
    return build_history(read_ledger(write_ledger(tmp_path)))


# ---------------------------------------------------------------- reading


def test_reads_main_file_and_shards_merged_by_ts(tmp_path: Path) -> None:
    records = read_ledger(write_ledger(tmp_path))
    assert {r["customer"] for r in records} == set(CUSTOMERS)
    stamps = [r["ts"] for r in records]
    assert stamps == sorted(stamps)
    # interleaved: the shards' records sit between the main file's
    assert [r["customer"] for r in records[:3]] == ["acme-dental"] * 2 + ["brightline-logistics"]


def test_equal_timestamps_keep_main_file_first(tmp_path: Path) -> None:
    rec = {
        "v": 1,
        "ts": "2026-01-01T00:00:00Z",
        "event": "intent",
        "customer": "a",
        "period": "2026-01",
    }
    (tmp_path / "ledger.1of2.jsonl").write_text(json.dumps({**rec, "run_id": "shard"}) + "\n")
    (tmp_path / "ledger.jsonl").write_text(json.dumps({**rec, "run_id": "main"}) + "\n")
    assert [r["run_id"] for r in read_ledger(tmp_path / "ledger.jsonl")] == ["main", "shard"]


def test_accepts_offset_timestamps_when_merging(tmp_path: Path) -> None:
    (tmp_path / "ledger.jsonl").write_text(
        '{"ts": "2026-01-01T02:00:00+01:00", "n": 1}\n{"ts": "2026-01-01T00:30:00Z", "n": 2}\n'
    )
    assert [r["n"] for r in read_ledger(tmp_path / "ledger.jsonl")] == [2, 1]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not a JSON ledger record"),
        ("[1, 2]", "not an object"),
        ('{"event": "intent"}', "no ISO 'ts'"),
        ('{"ts": "yesterday"}', "no ISO 'ts'"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = '{"ts": "2026-01-01T00:00:00Z"}'
    shard = tmp_path / "ledger.2of2.jsonl"
    (tmp_path / "ledger.jsonl").write_text(good + "\n")
    shard.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(LedgerError) as raised:
        read_ledger(tmp_path / "ledger.jsonl")
    assert str(raised.value).startswith(f"{shard}:3: ")
    assert message in str(raised.value)


def test_missing_ledger_reads_as_empty(tmp_path: Path) -> None:
    assert read_ledger(tmp_path / "nowhere" / "ledger.jsonl") == []
    empty = build_history([])
    assert empty.latest_period() is None and empty.customers == ()


# ---------------------------------------------------------------- model


def test_seats_per_customer_and_period_match_the_ledger(history) -> None:
    for customer in CUSTOMERS:
        for period in PERIODS:
            assert history.customer_seats(customer, period) == EXPECTED.get((customer, period))


def test_pinned_numbers(history) -> None:
    assert history.customer_seats("acme-dental", REPORT_PERIOD) == {"wfbss-svc": 53}
    assert history.customer_seats("cedar-law", CEDAR_GAP) is None  # failed, never resent
    # the manual resend came after the scheduled send, so its 80 CAS seats win over 74
    assert history.customer_seats("brightline-logistics", REPORT_PERIOD) == {
        "apex-one-saas": 39,
        "cas": 80,
        "wfbss-svc": 23,
    }
    assert history.latest_period() == REPORT_PERIOD
    assert history.companies["cedar-law"] == "CedarLaw"


def test_agreement_per_product(history) -> None:
    billed = history.last_billed("cedar-law", REPORT_PERIOD)
    holding = billed.holdings["workload-security"]
    assert (holding.agreement, holding.agreement_id) == ("Managed Service / Cedar <Legal> & Co", 44)
    assert billed.trigger == "manual"
    # last_billed looks back past a gap
    assert history.last_billed("cedar-law", CEDAR_GAP).period == shift_period(CEDAR_GAP, -1)


def test_msp_totals_sum_only_customers_sent(history) -> None:
    products = ("wfbss-svc", "cas", "hes", "apex-one-saas", "workload-security")
    for period in PERIODS:
        sent = [EXPECTED[(c, period)] for c in CUSTOMERS if (c, period) in EXPECTED]
        want = {p: sum(s.get(p, 0) for s in sent) for p in products}
        assert history.msp_seats(period, products) == want
    assert history.msp_seats(CEDAR_GAP, ["workload-security"]) == {"workload-security": 0}
    assert history.msp_seats("2020-01", products) is None


def test_changes_this_period(history) -> None:
    changes = history.changes_in(REPORT_PERIOD)
    summary = [(c.customer, c.product, c.action, c.before, c.after, c.trigger) for c in changes]
    assert summary == [
        ("acme-dental", "wfbss-svc", "update", 52, 53, "scheduled"),
        ("brightline-logistics", "apex-one-saas", "update", 36, 39, "scheduled"),
        ("brightline-logistics", "cas", "update", 76, 74, "scheduled"),
        ("brightline-logistics", "wfbss-svc", "update", 22, 23, "scheduled"),
        ("brightline-logistics", "cas", "update", 74, 80, "manual"),
    ]
    cancel = [c for c in history.changes_in("2026-10") if c.action == "cancel"]
    assert [(c.customer, c.product, c.before, c.after) for c in cancel] == [
        ("acme-dental", "hes", 22, None)
    ]
    created = [c for c in history.changes_in("2026-03") if c.action == "create"]
    assert [(c.product, c.before, c.after) for c in created] == [("apex-one-saas", None, 15)]


def test_failures_interrupted_runs_and_resolution(history) -> None:
    failures = {(f.customer, f.period): f for f in history.failures}
    assert set(failures) == {
        ("cedar-law", CEDAR_GAP),
        ("cedar-law", REPORT_PERIOD),
        ("acme-dental", "2026-10"),
    }
    assert failures[("cedar-law", CEDAR_GAP)].resolved is False
    assert failures[("cedar-law", CEDAR_GAP)].error == "ConnectWise 503: Service Unavailable"
    assert failures[("cedar-law", REPORT_PERIOD)].resolved is True
    interrupted = failures[("acme-dental", "2026-10")]
    assert (interrupted.status, interrupted.resolved) == ("interrupted", True)
    assert [f.customer for f in history.failures_in(REPORT_PERIOD)] == ["cedar-law"]


def test_manual_scheduled_and_summary_sends(history) -> None:
    sends = history.sends_in(REPORT_PERIOD)
    billing = [(s.customer, s.trigger) for s in sends if s.kind == "billing"]
    assert billing == [
        ("acme-dental", "scheduled"),
        ("brightline-logistics", "scheduled"),
        ("cedar-law", "manual"),
        ("brightline-logistics", "manual"),
    ]
    summaries = [(s.customer, s.report_id) for s in sends if s.kind == "summary"]
    assert summaries == [("acme-dental", 9013), ("brightline-logistics", 9100)]


def test_unknown_events_and_bad_periods_are_ignored() -> None:
    records = [
        {"ts": "2026-01-01T00:00:00Z", "event": "heartbeat", "customer": "a", "period": "2026-01"},
        {
            "ts": "2026-01-01T00:00:01Z",
            "event": "result",
            "kind": "billing",
            "status": "sent",
            "customer": "a",
            "period": "January",
            "additions": {"x": {"quantity": 3}},
        },
        {
            "ts": "2026-01-01T00:00:02Z",
            "event": "result",
            "kind": "billing",
            "status": "sent",
            "customer": "a",
            "period": "2026-01",
            "additions": {"x": {"quantity": True}, "y": "junk"},
        },
    ]
    history = build_history(records)
    assert history.customer_seats("a", "2026-01") == {"x": 0}
    assert history.periods == ("2026-01",)


def test_words_are_read_as_enums_and_a_foreign_word_is_kept_as_written() -> None:
    """The ledger's words become their enums at the edge; a kind, trigger or status this version
    does not know (a newer writer, a hand edit) is read as before: kept, or passed over."""
    base = {"customer": "a", "period": "2026-01", "connectwise_company": "A"}
    records = [
        {**base, "ts": "2026-01-01T00:00:01Z", "event": "result", "kind": "billing", "trigger": "manual",
         "status": "sent", "additions": {"x": {"quantity": 3}}},
        {**base, "ts": "2026-01-01T00:00:02Z", "event": "result", "kind": "invoice", "trigger": "cron",
         "status": "sent"},
        {**base, "ts": "2026-01-01T00:00:03Z", "event": "result", "status": "queued"},
        {**base, "ts": "2026-01-01T00:00:04Z", "event": "problem", "kind": "billing", "status": "unsafe",
         "error": "refused"},
        {**base, "ts": "2026-01-01T00:00:05Z", "event": "problem", "kind": "billing", "status": "late",
         "error": "a kind of problem this version does not know"},
    ]
    history = build_history(records)
    billing, foreign = history.sends
    assert (billing.kind, billing.trigger) == (SendKind.BILLING, Trigger.MANUAL)
    assert isinstance(billing.kind, SendKind) and isinstance(billing.trigger, Trigger)
    assert (foreign.kind, foreign.trigger) == ("invoice", "cron")
    (failure,) = history.failures
    assert failure.status is FailureStatus.UNSAFE and failure.trigger is Trigger.SCHEDULED
    assert history.customer_seats("a", "2026-01") == {"x": 3}


# ---------------------------------------------------------------- periods and figures


def test_periods() -> None:
    assert shift_period("2026-01", -1) == "2025-12"
    assert shift_period("2025-12", 13) == "2027-01"
    window = period_window("2026-02", 12)
    assert window[0] == "2025-03" and window[-1] == "2026-02" and len(window) == 12
    from datetime import datetime

    assert current_period(datetime(2026, 3, 31, 23, tzinfo=UTC)) == "2026-03"


def test_figures_window_and_series(history, tmp_path: Path) -> None:
    names = load_names(write_config(tmp_path / "config"))
    figures = build_figures(history, REPORT_PERIOD, names)
    assert figures.periods == PERIODS[2:]  # 12 of the 14 periods
    # config order of products, then display names from the config
    assert [s.product for s in figures.series] == [
        "wfbss-svc",
        "cas",
        "hes",
        "apex-one-saas",
        "workload-security",
    ]
    assert figures.series[1].label == "Cloud App Security <M365>"
    assert figures.billed_counts[PERIODS[2:].index(CEDAR_GAP)] == 2
    cedar = next(c for c in figures.customers if c.key == "cedar-law")
    values = dict(zip(figures.periods, cedar.series[0].values, strict=True))
    assert values[CEDAR_GAP] is None and values[REPORT_PERIOD] == 11
    brightline = next(c for c in figures.customers if c.key == "brightline-logistics")
    assert brightline.name == EVIL_NAME
    assert figures.count_sends("billing", "manual") == 2
    assert figures.count_sends("summary") == 2


def test_figures_for_one_customer(history) -> None:
    figures = build_figures(history, REPORT_PERIOD, Names(), "cedar-law")
    assert [c.key for c in figures.customers] == ["cedar-law"]
    assert [s.product for s in figures.series] == ["workload-security"]
    assert [f.customer for f in figures.failures] == ["cedar-law"]
    assert figures.changes == ()


def test_file_slugs_are_safe_and_unique() -> None:
    records = [
        {
            "ts": f"2026-01-01T00:00:0{i}Z",
            "event": "result",
            "kind": "billing",
            "status": "sent",
            "customer": key,
            "period": "2026-01",
            "additions": {},
        }
        for i, key in enumerate(["../etc/passwd", "ACME", "acme"])
    ]
    figures = build_figures(build_history(records), "2026-01", Names())
    assert [c.file_slug for c in figures.customers] == ["etc-passwd", "acme", "acme-2"]


def test_names_tolerate_broken_or_missing_config(tmp_path: Path) -> None:
    assert load_names(tmp_path / "missing") == Names()
    (tmp_path / "customers").mkdir()
    (tmp_path / "global.yaml").write_text("products: [unclosed\n")
    (tmp_path / "customers" / "a.yaml").write_text("name: Alpha\n")
    (tmp_path / "customers" / "b.yaml").write_text("- not a mapping\n")
    names = load_names(tmp_path)
    assert names.customers == {"a": "Alpha"}
    assert names.products == {}
    assert len(names.warnings) == 1 and "global.yaml" in names.warnings[0]
    assert names.customer("zz") == "zz" and names.product("cas") == "cas"
