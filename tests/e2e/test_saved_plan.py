"""`apply PLAN_FILE` sends exactly what was reviewed, or nothing (reconciler/saved_plan.py).

Each test saves a plan with the real CLI against the sandbox, then damages the file or the world
(ConnectWise, the config, the date) and applies it: exit 1, a line naming the difference, and
not one write in the sandbox."""

from __future__ import annotations

import json

import pytest

from tests.support.e2e import ledger_records, make_repo, reconcile, sandbox_writes


@pytest.fixture
def saved(tmp_path):
    """A repository with a sandbox and a plan saved with --send-now (acme-dental: hes 35 -> 38;
    cedar-law: create apex-one-saas; fjord-architects: cas moves agreements)."""
    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "plan", "--send-now", "--out", "plan.json")
    assert result.returncode == 0, result.stderr
    return repo


def _plan(repo):
    return json.loads((repo / "plan.json").read_text())


def _change(plan, customer, action):
    return next(c for c in plan["changes"] if c["customer"] == customer and c["action"] == action
                and c["kind"] == "addition")


def _apply_refused(repo, name="edited.json", *args):
    result = reconcile(repo, "--sandbox", "apply", name, "--auto-approve", *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox_writes(repo) == 0, "a refused plan wrote to ConnectWise"
    assert not ledger_records(repo), "a refused plan wrote to the ledger"
    return result.stderr


def _write(repo, plan, name="edited.json"):
    (repo / name).write_text(json.dumps(plan))


def test_an_unchanged_saved_plan_is_sent_and_a_replay_of_it_is_refused(saved):
    result = reconcile(saved, "--sandbox", "apply", "plan.json")
    assert result.returncode == 0, result.stdout + result.stderr
    writes = sandbox_writes(saved)
    assert writes > 0
    acme = next(r for r in ledger_records(saved) if r["customer"] == "acme-dental" and r["event"] == "result")
    assert acme["additions"]["hes"]["quantity"] == 38
    replay = reconcile(saved, "--sandbox", "apply", "plan.json")
    assert replay.returncode == 1
    assert "acme-dental: ConnectWise changed since the plan was saved: addition 2 (TM-HES) quantity 35 -> 38" \
        in replay.stderr, replay.stderr
    assert sandbox_writes(saved) == writes


def test_an_edited_quantity_is_refused(saved):
    plan = _plan(saved)
    _change(plan, "acme-dental", "update")["after"] = 1_000_000_000
    _write(saved, plan)
    assert "acme-dental, hes, addition 2: after 1000000000 -> 38" in _apply_refused(saved)


def test_a_change_moved_to_another_customer_is_refused(saved):
    plan = _plan(saved)
    _change(plan, "acme-dental", "update")["customer"] = "brightline-logistics"
    _write(saved, plan)
    stderr = _apply_refused(saved)
    assert "brightline-logistics, hes, addition 2: update quantity 35 -> 38 is in the plan file, not in today's plan" in stderr
    assert "acme-dental, hes, addition 2: update quantity 35 -> 38 is in today's plan, not in the plan file" in stderr


def test_a_change_moved_to_another_addition_is_refused(saved):
    plan = _plan(saved)
    _change(plan, "acme-dental", "update")["addition_id"] = 1
    _write(saved, plan)
    stderr = _apply_refused(saved)
    assert "acme-dental, hes, addition 1: update quantity 35 -> 38 is in the plan file, not in today's plan" in stderr


def test_an_update_turned_into_a_cancel_is_refused(saved):
    plan = _plan(saved)
    change = _change(plan, "acme-dental", "update")
    change.update(action="cancel", after=None)
    _write(saved, plan)
    stderr = _apply_refused(saved)
    assert "acme-dental, hes, addition 2: action cancel -> update" in stderr
    assert "acme-dental, hes, addition 2: after (none) -> 38" in stderr


def test_a_lowered_price_in_the_file_is_refused(saved):
    plan = _plan(saved)
    _change(plan, "cedar-law", "create")["money"]["unit_price"] = "0.01"
    _write(saved, plan)
    assert "cedar-law, apex-one-saas, new addition on agreement 4: unit_price 0.01 -> 5.25" in _apply_refused(saved)


def test_a_catalog_price_changed_between_plan_and_apply_is_refused(saved):
    from reconciler.sandbox import Store

    store = Store(saved / ".sandbox")
    try:
        item = store.find_one("catalog", identifier="TM-APEX1-SAAS")
        store.replace("catalog", dict(item, price=9.75))
    finally:
        store.close()
    assert "cedar-law, apex-one-saas, new addition on agreement 4: unit_price 5.25 -> 9.75" in _apply_refused(
        saved, "plan.json")


def test_a_plan_replayed_after_a_mapping_change_is_refused(saved):
    path = saved / "config" / "customers" / "fjord-architects.yaml"
    text = path.read_text()
    path.write_text(text.replace("  cas:\n    type: Microsoft 365 Services\n    name: Fjord M365 Protection\n",
                                 "  cas: default\n"))
    stderr = _apply_refused(saved, "plan.json")
    assert "fjord-architects, cas, addition 15: cancel quantity 29 -> (none) is in the plan file, not in today's plan" in stderr
    assert "fjord-architects, cas, new addition on agreement 10: create quantity (none) -> 29 is in the plan file" in stderr


def test_a_hand_edit_in_connectwise_is_refused_and_named(saved):
    from tests.e2e.test_e2e_engine import patch_addition_by_hand

    patch_addition_by_hand(saved, agreement_id=1, addition_id=2, quantity=36)
    writes = sandbox_writes(saved)
    result = reconcile(saved, "--sandbox", "apply", "plan.json")
    assert result.returncode == 1
    assert "ConnectWise changed since the plan was saved: addition 2 (TM-HES) quantity 35 -> 36" in result.stderr
    assert "acme-dental, hes, addition 2: before 35 -> 36" in result.stderr
    assert sandbox_writes(saved) == writes  # fjord-architects is not sent either: all or nothing
    assert not ledger_records(saved)


def test_a_plan_for_another_period_never_bills_this_one(tmp_path):
    repo = make_repo(tmp_path)
    made = reconcile(repo, "--sandbox", "plan", "--send-now", "--date", "2026-06-15", "--out", "plan.json")
    assert made.returncode == 0, made.stderr
    # Applied months later (or with a later --date): the periods differ, nothing is sent.
    for args in ((), ("--date", "2026-12-15")):
        stderr = _apply_refused(repo, "plan.json", *args)
        assert "acme-dental: billing period 2026-06 -> 2026-12" in stderr, stderr
    # The same day it was made for, it is the same plan.
    same = reconcile(repo, "--sandbox", "apply", "plan.json", "--date", "2026-06-15", "--dry-run")
    assert same.returncode == 0, same.stdout + same.stderr


@pytest.mark.parametrize("damage, says", [
    (lambda text: text[: len(text) // 2], "not JSON"),
    (lambda text: "{}", "'format_version' is a required property"),
    (lambda text: "[]", "not a JSON object"),
    (lambda text: "", "not JSON"),
    (lambda text: json.dumps(dict(json.loads(text), changes=None)), "$.changes: None is not of type 'array'"),
    (lambda text: json.dumps(dict(json.loads(text), customers=[])), "it lists no customers"),
    (lambda text: text.replace('"unit_price": "1.75"', '"unit_price": "NaN"'), "$.changes[0].money.unit_price"),
    (lambda text: text.replace('"unit_price": "1.75"', '"unit_price": NaN'), "NaN is not a number a plan can hold"),
    (lambda text: text.replace('"after": 38', '"after": Infinity'), "Infinity is not a number a plan can hold"),
    (lambda text: text.replace('"after": 38', '"after": "38"'), "'38' is not of type"),
    (lambda text: text.replace('"after": 38', '"after": null', 1).replace('"action": "update"', '"action": null'),
     "None is not one of"),
    (lambda text: text.replace('"send_now": true', '"send_now": "yes"'), "$.options.send_now"),
    (lambda text: text.replace('"product": "hes"', '"product": null', 1), "an addition change needs a product"),
    (lambda text: text.replace('"format_version": "1.1"', '"format_version": "0.9"'), "format_version 0.9"),
], ids=["truncated", "empty-object", "array", "empty-file", "null-changes", "no-customers", "nan-string",
        "nan-literal", "infinity", "quantity-as-text", "null-action", "send-now-text", "null-product", "old-format"])
def test_a_damaged_plan_file_is_one_line_and_sends_nothing(saved, damage, says):
    (saved / "edited.json").write_text(damage((saved / "plan.json").read_text()))
    stderr = _apply_refused(saved)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("error: edited.json: not a plan saved by `reconcile plan --out`"), stderr
    assert says in stderr, stderr
