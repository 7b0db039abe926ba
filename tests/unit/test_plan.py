from datetime import date
from decimal import Decimal

import pytest

from reconciler.config.model import AgreementRef, SafetySettings
from reconciler.desired import CustomerError, resolve_agreement
from reconciler.money import price_change
from reconciler.plan import Change, CustomerPlan, CustomerStatus, Plan, apply_run_safety, safety_verdict
from reconciler.schedule import Due, Schedule
from reconciler.state import Agreement
from tests.support.engine_fixtures import BLOCK, M365, MANAGED, addition, customer, diff


def test_default_resolves_to_the_single_active_default_type_agreement():
    assert resolve_agreement("hes", "default", [MANAGED, M365, BLOCK], ("TMRM Management Solution", "Managed Service")) == MANAGED


def test_default_with_no_candidate_lists_the_agreements_that_exist():
    with pytest.raises(CustomerError) as error:
        resolve_agreement("hes", "default", [M365, BLOCK], ("Managed Service",))
    assert "found none" in str(error.value)
    assert "Block Hours / Acme Block Hours" in str(error.value) and "Microsoft 365 Services / Acme M365" in str(error.value)


def test_default_with_two_candidates_is_ambiguous():
    other = Agreement(13, "Acme TMRM", "TMRM Management Solution", 1)
    with pytest.raises(CustomerError, match="ambiguous, 2 active agreements"):
        resolve_agreement("hes", "default", [MANAGED, other], ("TMRM Management Solution", "Managed Service"))


def test_explicit_mapping_to_a_missing_agreement_names_the_existing_ones():
    with pytest.raises(CustomerError) as error:
        resolve_agreement("cas", AgreementRef("Microsoft 365 Services", "Nope"), [MANAGED, M365], ())
    assert "no active agreement Microsoft 365 Services / Nope" in str(error.value)
    assert "Managed Service / Acme Managed" in str(error.value)


def test_inactive_agreements_never_match():
    cancelled = Agreement(14, "Old", "Managed Service", 1, active=False)
    with pytest.raises(CustomerError):
        resolve_agreement("hes", "default", [cancelled], ("Managed Service",))


def test_create_update_and_untouched():
    changes, notes = diff(
        customer(), {"wfbss-svc": 42, "hes": 38}, [MANAGED, M365],
        [addition(1, MANAGED, "TM-WFBSS-SVC", 40), addition(2, MANAGED, "MS-365-BP", 7)],
    )
    by_action = {c.action: c for c in changes}
    assert set(by_action) == {"create", "update"}
    assert (by_action["update"].addition_id, by_action["update"].before, by_action["update"].after) == (1, 40, 42)
    assert (by_action["create"].product, by_action["create"].after, by_action["create"].agreement) == ("hes", 38, MANAGED)
    assert by_action["create"].effective_date.isoformat() == "2026-12-01"
    assert len(changes) == 2  # the non-catalog MS-365-BP addition is never touched


def test_matching_state_gives_no_changes_and_cancelled_additions_are_history():
    changes, _ = diff(
        customer(), {"wfbss-svc": 42, "hes": 38}, [MANAGED],
        [addition(1, MANAGED, "TM-WFBSS-SVC", 42), addition(2, MANAGED, "TM-HES", 38),
         addition(3, MANAGED, "TM-HES", 10, cancelled="2026-01-01T00:00:00Z")],
    )
    assert changes == []


def test_product_moved_to_another_agreement_cancels_the_old_addition_and_creates_the_new():
    cust = customer({"wfbss-svc": "default", "hes": AgreementRef("Microsoft 365 Services", "Acme M365")})
    changes, _ = diff(
        cust, {"wfbss-svc": 42, "hes": 38}, [MANAGED, M365],
        [addition(1, MANAGED, "TM-WFBSS-SVC", 42), addition(2, MANAGED, "TM-HES", 38)],
    )
    assert sorted((c.action, c.agreement.id, c.product) for c in changes) == [("cancel", 10, "hes"), ("create", 11, "hes")]
    cancel = next(c for c in changes if c.action == "cancel")
    assert cancel.addition_id == 2 and "now bills to Microsoft 365 Services / Acme M365" in cancel.reason


def test_a_mapped_product_on_any_other_agreement_of_the_company_is_cancelled_as_moved():
    # One owner per product and company: an addition on an agreement the config never named
    # (typed by hand, left from TMRM) would bill the customer twice.
    cust = customer({"hes": AgreementRef("Microsoft 365 Services", "Acme M365")})
    adds = [addition(2, BLOCK, "TM-HES", 38)]
    changes, _ = diff(cust, {"hes": 38}, [BLOCK, M365], adds)
    assert sorted((c.action, c.agreement.id) for c in changes) == [("cancel", BLOCK.id), ("create", M365.id)]
    cancel = next(c for c in changes if c.action == "cancel")
    assert cancel.reason == "hes now bills to Microsoft 365 Services / Acme M365"
    assert cancel.after is None and cancel.effective_date == date(2026, 12, 1)


def test_also_bills_to_leaves_the_other_addition_alone_and_notes_it():
    cust = customer({"hes": AgreementRef("Microsoft 365 Services", "Acme M365")})
    adds = [addition(2, BLOCK, "TM-HES", 38)]
    changes, notes = diff(cust, {"hes": 38}, [BLOCK, M365], adds, also_bills_to={"hes": {BLOCK.id}})
    assert [(c.action, c.agreement.id) for c in changes] == [("create", M365.id)]
    assert any("addition 2" in n and "also_bills_to" in n for n in notes)


def test_unmapped_catalog_products_on_other_agreements_stay_untouched():
    cust = customer({"hes": AgreementRef("Microsoft 365 Services", "Acme M365")})
    adds = [addition(2, BLOCK, "TM-WFBSS-SVC", 5), addition(3, M365, "TM-HES", 38)]
    changes, _ = diff(cust, {"hes": 38, "wfbss-svc": 5}, [BLOCK, M365], adds)
    assert changes == []


def test_usage_gone_keeps_the_addition_unless_prune():
    adds = [addition(1, MANAGED, "TM-WFBSS-SVC", 42), addition(2, MANAGED, "TM-HES", 38)]
    kept, notes = diff(customer(), {"wfbss-svc": 42}, [MANAGED], adds)
    assert kept == [] and any("billing.prune is off" in n for n in notes)
    pruned, _ = diff(customer(prune=True), {"wfbss-svc": 42}, [MANAGED], adds)
    assert [(c.action, c.addition_id) for c in pruned] == [("cancel", 2)]


def test_two_active_additions_of_one_product_fail_the_customer():
    with pytest.raises(CustomerError, match="2 active additions of TM-HES.*addition 2 was not created by this tool"):
        diff(customer(), {"hes": 1}, [MANAGED], [addition(1, MANAGED, "TM-HES", 1), addition(2, MANAGED, "TM-HES", 1)])


def test_duplicates_this_tool_created_converge_on_the_lowest_id():
    marked = [addition(7, MANAGED, "TM-HES", 3, serial="tmrm-reconcile 20261130T111700Z-bbbbbb"),
              addition(5, MANAGED, "TM-HES", 3, serial="tmrm-reconcile 20261130T111700Z-aaaaaa"),
              addition(9, MANAGED, "TM-HES", 3, serial="tmrm-reconcile 20261130T111700Z-cccccc")]
    changes, _ = diff(customer(), {"hes": 4}, [MANAGED], marked)
    cancels = sorted((c.addition_id, c.after) for c in changes if c.action == "cancel")
    assert cancels == [(7, 0), (9, 0)]  # quantity 0: a duplicate never bills, not even one day
    assert [(c.action, c.addition_id, c.after) for c in changes if c.action != "cancel"] == [("update", 5, 4)]


def test_a_hand_typed_lowest_id_stays_and_marked_duplicates_go():
    adds = [addition(4, MANAGED, "TM-HES", 3), addition(8, MANAGED, "TM-HES", 3, serial="tmrm-reconcile 20261130T111700Z-aaaaaa")]
    changes, _ = diff(customer(), {"hes": 3}, [MANAGED], adds)
    assert [(c.action, c.addition_id) for c in changes] == [("cancel", 8)]


def test_a_serial_number_that_only_starts_like_the_marker_is_typed_by_hand():
    """Issue 20: a forged marker (right prefix, not a run id of this tool) fails the customer
    instead of being cancelled at quantity 0 as a race's duplicate."""
    for forged in ("tmrm-reconcile by hand", "tmrm-reconcile 20261130T111700Z-aaaaaa copy", "ref R-1234",
                   "ref R-20261130T111700Z-AAAAAA", "REF R-20261130T111700Z-aaaaaa"):
        adds = [addition(4, MANAGED, "TM-HES", 3, serial="ref R-20261130T111700Z-aaaaaa"),
                addition(8, MANAGED, "TM-HES", 3, serial=forged)]
        with pytest.raises(CustomerError, match="addition 8 was not created by this tool"):
            diff(customer(), {"hes": 3}, [MANAGED], adds)


def test_a_marked_duplicate_of_an_unknown_run_fails_the_customer():
    """Under the run lease a duplicate is explained only by a run that died mid-send (its lease
    expired) or one the ledger knows; any other run id fails the customer."""
    adds = [addition(4, MANAGED, "TM-HES", 3, serial="ref R-20261130T111700Z-aaaaaa"),
            addition(8, MANAGED, "TM-HES", 3, serial="ref R-20261130T111800Z-bbbbbb")]
    with pytest.raises(CustomerError, match="addition 8 carries the marker of run 20261130T111800Z-bbbbbb"):
        diff(customer(), {"hes": 3}, [MANAGED], adds, run_accounted_for=lambda run: run == "20261130T111700Z-aaaaaa")
    changes, _ = diff(customer(), {"hes": 3}, [MANAGED], adds, run_accounted_for=lambda run: True)
    assert [(c.action, c.addition_id, c.after) for c in changes] == [("cancel", 8, 0)]


def test_duplicates_with_the_marker_written_before_the_lease_need_a_run_the_ledger_knows():
    """Issue 20: a hand-typed copy of an old-style marker is not a race's duplicate. The ledger of
    an upgrading MSP knows the runs that wrote real ones, so those still converge."""
    adds = [addition(4, MANAGED, "TM-HES", 3, serial="tmrm-reconcile 20261001T000000Z-aaaaaa"),
            addition(8, MANAGED, "TM-HES", 3, serial="tmrm-reconcile 20261001T000001Z-bbbbbb")]
    with pytest.raises(CustomerError, match="addition 8 carries the marker of run 20261001T000001Z-bbbbbb"):
        diff(customer(), {"hes": 3}, [MANAGED], adds, run_accounted_for=lambda run: False)
    changes, _ = diff(customer(), {"hes": 3}, [MANAGED], adds,
                      run_accounted_for=lambda run: run == "20261001T000001Z-bbbbbb")
    assert [(c.action, c.addition_id) for c in changes] == [("cancel", 8)]


def test_zero_usage_with_no_addition_creates_nothing():
    changes, notes = diff(customer(), {"wfbss-svc": 0, "hes": 3}, [MANAGED], [])
    assert [(c.action, c.product) for c in changes] == [("create", "hes")]
    assert any("usage is 0" in n for n in notes)


def _update(before, after, unit_price=Decimal("1.00")):
    money = price_change("update", before, after, currency="USD", unit_price=unit_price, unit_cost=None)
    return Change("update", "addition", "acme", "Acme", MANAGED, "hes", "TM-HES", 1, before, after, money=money)


def test_safety_quantity_drop_beyond_threshold():
    assert safety_verdict([_update(100, 60)], 2, True, SafetySettings()) == []
    reasons = safety_verdict([_update(100, 40)], 2, True, SafetySettings())
    assert reasons and "drops 100 -> 40 (60% > max_quantity_drop_percent 50%)" in reasons[0]


def test_safety_change_percent_applies_only_from_min_additions():
    changes = [_update(10, 11) for _ in range(4)]
    assert safety_verdict(changes, 9, True, SafetySettings()) == []
    reasons = safety_verdict(changes, 10, True, SafetySettings())
    assert reasons and "changes 4 of 10 managed additions (40% > max_change_percent 30%)" in reasons[0]


def test_safety_no_usage_that_would_cancel_is_unsafe():
    cancel = Change("cancel", "addition", "acme", "Acme", MANAGED, "hes", "TM-HES", 1, 5, None)
    assert "returned nothing" in safety_verdict([cancel], 1, False, SafetySettings())[0]


def test_a_create_that_cannot_be_priced_is_unsafe_never_free():
    unpriced = price_change("create", None, 9_999, currency="USD", unit_price=None, unit_cost=None)
    create = Change("create", "addition", "acme", "Acme", MANAGED, "hes", "TM-HES", None, None, 9_999, money=unpriced)
    reasons = safety_verdict([create], 0, True, SafetySettings())
    assert reasons == ["hes: this create cannot be priced (ConnectWise gave no price for TM-HES), "
                       "so the money limits cannot check it"]
    unknown = Change("update", "addition", "acme", "Acme", MANAGED, "hes", "TM-HES", 1, 10, 11)  # never priced
    assert "cannot be priced" in safety_verdict([unknown], 1, True, SafetySettings())[0]


def _due_customer(slug, monthly_before, monthly_after, currency="USD"):
    schedule = Schedule(status=Due.DUE, period="2026-11", billing_date=date(2026, 11, 1),
                        next_date=date(2026, 12, 1), reason="due")
    cp = CustomerPlan(customer=slug, name=slug, psa_company=slug, schedule=schedule)
    cp.changes = [_update(10, 11)]
    cp.monthly = {currency: (Decimal(monthly_before), Decimal(monthly_after))}
    return cp


def test_forty_customers_just_under_their_own_limit_make_the_run_unsafe():
    settings = SafetySettings()
    just_under = Decimal(str(settings.max_monthly_increase)) - Decimal("1.00")
    plan = Plan(today="2026-11-01", customers=[_due_customer(f"c{i:02}", "100", str(100 + just_under))
                                               for i in range(40)])
    apply_run_safety(plan, settings)
    assert plan.run_safety.increase["USD"] == 40 * just_under
    assert all(cp.status == CustomerStatus.UNSAFE for cp in plan.customers)
    assert plan.customers[0].reason == ("the run as a whole: the run raises monthly totals by +$99,960.00 in all, "
                                        "beyond max_run_monthly_increase $10,000.00")
    assert not plan.has_changes  # nothing goes out without --force


def test_run_limits_are_per_currency_and_count_customers():
    settings = SafetySettings(max_run_monthly_decrease=100, max_run_customers_changed=3)
    euros = [_due_customer(f"e{i}", "100", "40", currency="EUR") for i in range(2)]  # -120 EUR in all
    dollars = [_due_customer("d1", "100", "40")]  # -60 USD: under the limit on its own
    plan = Plan(today="2026-11-01", customers=euros + dollars)
    apply_run_safety(plan, settings)
    assert plan.run_safety.reasons == ["the run lowers monthly totals by -€120.00 in all, beyond "
                                       "max_run_monthly_decrease €100.00"]
    plan = Plan(today="2026-11-01", customers=[_due_customer(f"d{i}", "100", "101") for i in range(4)])
    apply_run_safety(plan, settings)
    assert plan.run_safety.reasons == ["the run changes 4 customers, beyond max_run_customers_changed 3"]


def test_a_run_within_its_limits_changes_nobody_and_already_unsafe_customers_are_not_counted():
    settings = SafetySettings()
    unsafe = _due_customer("big", "0", "50000")
    unsafe.status = CustomerStatus.UNSAFE
    plan = Plan(today="2026-11-01", customers=[_due_customer("a", "100", "200"), unsafe])
    apply_run_safety(plan, settings)
    assert plan.run_safety.reasons == [] and plan.run_safety.customers_changed == 1
    assert plan.customers[0].status == CustomerStatus.OK


# -- issue 19, item 5: a cancelled date is the day billing stops, not "cancelled already" ---------

def test_an_addition_ending_after_the_billing_date_is_the_products_addition_and_is_updated_not_doubled():
    # Billing date 2026-12-01; a person set the addition to end on 2026-12-31: it bills December.
    changes, notes = diff(customer(), {"hes": 38}, [MANAGED],
                          [addition(2, MANAGED, "TM-HES", 35, cancelled="2026-12-31T00:00:00Z")])
    assert [(c.action, c.addition_id, c.before, c.after) for c in changes] == [("update", 2, 35, 38)]
    assert changes[0].reason == "ends 2026-12-31"
    assert any("addition 2" in n and "ends 2026-12-31" in n and "left as it is" in n for n in notes), notes


def test_an_addition_ending_after_the_billing_date_with_the_right_quantity_plans_nothing_but_says_when_it_ends():
    changes, notes = diff(customer(), {"hes": 38}, [MANAGED],
                          [addition(2, MANAGED, "TM-HES", 38, cancelled="2027-01-15T00:00:00Z")])
    assert changes == []
    assert any("ends 2027-01-15" in n for n in notes), notes


def test_an_addition_ending_on_or_before_the_billing_date_no_longer_bills_so_a_new_one_is_created():
    for day in ("2026-12-01", "2026-11-30"):
        changes, _ = diff(customer(), {"hes": 38}, [MANAGED],
                          [addition(2, MANAGED, "TM-HES", 35, cancelled=f"{day}T00:00:00Z")])
        assert [(c.action, c.after) for c in changes] == [("create", 38)], day


def test_the_plan_text_says_when_an_updated_addition_ends():
    from reconciler.render.plan_text import change_line

    (change,), _ = diff(customer(), {"hes": 38}, [MANAGED],
                        [addition(2, MANAGED, "TM-HES", 35, cancelled="2026-12-31T00:00:00Z")])
    assert change_line(change).endswith("quantity = 35 -> 38 (ends 2026-12-31)")
