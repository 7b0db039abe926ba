"""One "invoice already out" line per customer and invoice, however many changes it concerns
(issue 21: one line per change repeated the same sentence two and three times)."""

from __future__ import annotations

from datetime import date

from reconciler.money import customer_invoice_warnings

NOV15, DEC1, JAN1 = date(2026, 11, 15), date(2026, 12, 1), date(2027, 1, 1)


def test_two_late_changes_of_one_customer_share_one_line():
    lines = customer_invoice_warnings([
        ("cas", "create", "Microsoft 365 Services / Fjord M365", NOV15, JAN1, "Monthly", True),
        ("cas", "cancel", "Managed Service / Fjord Managed", NOV15, JAN1, "Monthly", True),
    ])
    late = [line for line in lines if "already out" in line]
    assert len(late) == 1, lines
    assert "2026-12-01 invoice" in late[0] and "2027-01-01 invoice" in late[0]
    assert "create cas on Microsoft 365 Services / Fjord M365" in late[0]
    assert "cancel cas on Managed Service / Fjord Managed" in late[0]
    assert late[0].count("Check the customer's last invoice") == 1


def test_changes_that_land_on_different_invoices_keep_their_own_lines():
    lines = customer_invoice_warnings([
        ("cas", "update", "A", NOV15, JAN1, "Monthly", True),
        ("hes", "update", "B", date(2026, 10, 15), DEC1, "Monthly", True),
    ])
    assert len([line for line in lines if "already out" in line]) == 2


def test_a_change_in_time_for_its_invoice_has_no_line():
    assert customer_invoice_warnings([("hes", "update", "A", NOV15, DEC1, "Monthly", True)]) == []


def test_proration_off_is_still_said_once_per_new_addition():
    lines = customer_invoice_warnings([("cas", "create", "A", NOV15, JAN1, "Monthly", False)])
    assert len(lines) == 2 and "proration is off" in lines[1]
