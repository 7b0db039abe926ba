"""The ledger checkpoint (reconciler/ledger_checkpoint.py): a plan's ledger cost follows the
customers, not the ledger's age, and a resumed index answers exactly as a full read."""

from __future__ import annotations

import random

import pytest

from reconciler import ledger as ledger_module
from reconciler import ledger_checkpoint
from reconciler.ledger import (
    Ledger,
    _read_index,
    _Track,
    exclusive,
    read_ledger,
    shard_ledger_path,
    update_checkpoint,
)
from reconciler.ledger_checkpoint import checkpoint_path

CUSTOMERS = ("acme", "brightline", "cedar", "delta")
PERIODS = ("2025-11", "2025-12", "2026-01", "2026-02", "2026-03")


def _answers(view) -> dict:
    """Every question the engine asks of the index, for every customer and kind."""
    customers = sorted(view.customers())
    return {
        "records": view.record_count,
        "customers": customers,
        "runs": sorted(view._runs),  # what LedgerView.knows_run answers from
        **{f"{c}/{k}": (sorted(view.sent_periods(c, k)), view.last_sent(c, k), view.last_failed(c, k),
                        view.unsettled_intents(c, k), view.first_seen(c, k))
           for c in customers for k in ("billing", "summary")},
    }


def _full(path):
    return _read_index(path, fast=False)  # every line parsed, no checkpoint


def _write_history(path, rng: random.Random, steps: int, shards: bool = False) -> list:
    """`steps` sends of random customers, kinds and periods, some failed, some interrupted (an
    intent with no result), some from a shard if `shards`; returns one callable per step."""
    actions = []
    for n in range(steps):
        customer, period = rng.choice(CUSTOMERS), rng.choice(PERIODS)
        kind = rng.choice(("billing", "billing", "summary"))
        outcome = rng.choice(("sent", "sent", "failed", "interrupted"))
        target = shard_ledger_path(path, (1, 2)) if shards and n % 5 == 4 else path

        def act(customer=customer, period=period, kind=kind, outcome=outcome, target=target, n=n):
            ledger = Ledger(target, run_id=f"run-{n}")
            fields = {"kind": kind, "customer": customer, "psa_company": customer.title(),
                      "period": period, "trigger": "scheduled"}
            ledger.intent(**fields, changes=[{"action": "update", "product": "cas", "before": n, "after": n + 1}])
            if outcome != "interrupted":
                ledger.result(**fields, status=outcome, error=None if outcome == "sent" else "HTTP 500",
                              changes=[], additions={"cas": {"quantity": n + 1}})
        actions.append(act)
    return actions


@pytest.mark.parametrize("seed", range(6))
def test_a_resumed_index_answers_as_a_full_read_at_every_cut(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "state" / "ledger.jsonl"
    actions = _write_history(path, rng, 30)
    for cut, act in enumerate(actions):  # cut: where the last checkpoint was written
        act()
        if cut % 3 == 0:
            assert update_checkpoint(path) == checkpoint_path(path)
        resumed = read_ledger(path)
        assert _answers(resumed) == _answers(_full(path)), f"seed {seed}, after step {cut}"


@pytest.mark.parametrize("seed", range(4))
def test_with_shards_every_send_and_failure_matches_a_full_read(tmp_path, seed):
    """Shards: the answers match too, except that an interrupted intent in one file may be
    settled by a later result of another run in a file read before it; a full read then keeps
    the intent open (it reads the result first), a resumed one settles it as the rule says. The
    intents a resumed read keeps open are always among those of the full read."""
    rng = random.Random(100 + seed)
    path = tmp_path / "state" / "ledger.jsonl"
    for cut, act in enumerate(_write_history(path, rng, 30, shards=True)):
        act()
        if cut % 3 == 0:
            update_checkpoint(path)
        resumed, full = _answers(read_ledger(path)), _answers(_full(path))
        assert {k: v[:3] if isinstance(v, tuple) else v for k, v in resumed.items()} == \
            {k: v[:3] if isinstance(v, tuple) else v for k, v in full.items()}
        for key, value in resumed.items():
            if isinstance(value, tuple):
                assert all(intent in full[key][3] for intent in value[3]), key


def test_unsettled_intents_of_any_age_stay_visible(tmp_path):
    path = tmp_path / "ledger.jsonl"
    old = Ledger(path, run_id="interrupted-2024")
    old.intent(kind="billing", customer="acme", psa_company="Acme", period="2024-01",
               trigger="scheduled", changes=[])
    for period in ("2025-01", "2025-02", "2025-03"):
        Ledger(path, run_id=f"run-{period}").result(
            kind="billing", customer="acme", psa_company="Acme", period=period, trigger="scheduled",
            status="sent", error=None, changes=[])
        update_checkpoint(path)
    view = read_ledger(path)
    assert [(i["run_id"], i["period"]) for i in view.unsettled_intents("acme")] == [("interrupted-2024", "2024-01")]


def test_the_plan_reads_only_what_was_appended_since_the_checkpoint(tmp_path):
    path = tmp_path / "ledger.jsonl"
    for n, period in enumerate(("2025-01", "2025-02")):
        for customer in range(200):
            Ledger(path, run_id=f"r{n}").result(
                kind="billing", customer=f"c{customer}", psa_company="C", period=period,
                trigger="scheduled", status="sent", error=None, changes=[])
    update_checkpoint(path)
    # Damage far before the end of the covered bytes: a full read stops on it, a resumed read
    # never looks at it (the plan does not re-read covered history; `reconcile report` does).
    january = path.with_name("ledger.2025-01.jsonl")
    data = bytearray(january.read_bytes())
    data[:1] = b"X"
    january.write_bytes(bytes(data))
    Ledger(path, run_id="r3").result(kind="billing", customer="c1", psa_company="C", period="2025-03",
                                     trigger="scheduled", status="sent", error=None, changes=[])
    view = read_ledger(path)
    assert view.sent_periods("c1") == {"2025-01", "2025-02", "2025-03"}
    assert view.record_count == 401
    with pytest.raises(ledger_module.LedgerCorrupt):
        _full(path)


@pytest.mark.parametrize("damage", ["truncated", "rewritten tail", "garbage checkpoint", "index changed shape"])
def test_a_checkpoint_that_no_longer_matches_is_ignored(tmp_path, monkeypatch, damage):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path, run_id="r1")
    for customer in ("acme", "brightline"):
        ledger.result(kind="billing", customer=customer, psa_company="C", period="2025-01",
                      trigger="scheduled", status="sent", error=None, changes=[])
    update_checkpoint(path)
    period_file = path.with_name("ledger.2025-01.jsonl")
    lines = period_file.read_text().splitlines(keepends=True)
    if damage == "truncated":
        period_file.write_text(lines[0])
    elif damage == "rewritten tail":
        period_file.write_text(lines[0] + lines[1].replace("brightline", "cedarlaw01"))
    elif damage == "garbage checkpoint":
        checkpoint_path(path).write_text('{"format": 2, "records": 7}\n[1, 2]\n')
    else:
        monkeypatch.setattr(ledger_checkpoint, "fields_of", lambda track_type: ["sent", "something_new"])
    files = [f.path for f in ledger_module.ledger_file_list(path)]
    assert ledger_checkpoint.resume(path, files, ledger_module.LedgerView(), _Track) is None
    assert _answers(read_ledger(path)) == _answers(_full(path))


def test_an_apply_writes_the_checkpoint_when_it_lets_go_of_the_ledger(tmp_path):
    path = tmp_path / "state" / "ledger.2of3.jsonl"
    with exclusive(path):
        Ledger(path).result(kind="billing", customer="acme", psa_company="C", period="2025-01",
                            trigger="scheduled", status="sent", error=None, changes=[])
    assert checkpoint_path(path).name == "ledger.checkpoint.2of3.json"
    assert checkpoint_path(path).exists()
    assert read_ledger(path).sent_periods("acme") == {"2025-01"}
    # the checkpoint is not a ledger file: no reader takes it for one
    assert [p.name for p in ledger_module.ledger_files(path)] == ["ledger.2025-01.2of3.jsonl"]


def test_ledger_cost_does_not_grow_with_the_ledgers_age(tmp_path):
    """12 and 36 months of history for the same customers: with the checkpoint, reading the
    index after the next month's sends costs about the same (bench/ measures the real sizes)."""
    def world(months: int):
        path = tmp_path / f"{months}m" / "ledger.jsonl"
        for m in range(months):
            period = f"{2020 + m // 12}-{m % 12 + 1:02d}"
            ledger = Ledger(path, run_id=f"r{m}")
            for customer in range(100):
                ledger.result(kind="billing", customer=f"c{customer}", psa_company="C", period=period,
                              trigger="scheduled", status="sent", error=None, changes=[], additions={})
        update_checkpoint(path)
        ledger = Ledger(path, run_id="next")
        for customer in range(100):
            ledger.result(kind="billing", customer=f"c{customer}", psa_company="C", period="2030-01",
                          trigger="scheduled", status="sent", error=None, changes=[], additions={})
        return path

    twelve, thirty_six = world(12), world(36)
    assert read_ledger(twelve).record_count == 1300 and read_ledger(thirty_six).record_count == 3700
    # what a resumed read parses: only the lines appended after the checkpoint, in both
    assert _resumed_lines(twelve) == _resumed_lines(thirty_six) == 100


def _resumed_lines(path) -> int:
    files = ledger_module.ledger_file_list(path)
    start = ledger_checkpoint.resume(path, [f.path for f in files], ledger_module.LedgerView(), _Track)
    assert start is not None
    total = 0
    for file in files:
        offset, _ = start.get(file.path.name, (0, 0))
        with open(file.path, "rb") as handle:
            handle.seek(offset)
            total += sum(1 for line in handle if line.strip())
    return total
