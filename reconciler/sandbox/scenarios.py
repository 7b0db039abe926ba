"""Sandbox scenarios: ledger history that makes the demo show a billing problem on purpose.

The demo data has no ledger, so every customer is new and none can be *missed* (a customer the
tool never saw has nothing to miss; docs/how-it-decides.md). `reconcile sandbox reset --scenario
missed` writes the history of a customer the tool did bill, then stopped billing:
fjord-architects (billed on the 15th) was sent for the period before its latest billing date,
and the latest one never was. A run on a day more than `catch_up_days` (7) after that date
(the 23rd to the 14th) reports fjord-architects as missed, exits 1 and, on `apply`, opens a
ConnectWise ticket; from the 15th to the 22nd it is caught up instead.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from reconciler.ledger import Ledger, SendKind, SendStatus, Trigger
from reconciler.periods import period_of, previous_period
from reconciler.sandbox import demo
from reconciler.schedule import billing_date_for, latest_billing_date

FJORD: dict[str, Any] = {"customer": "fjord-architects", "connectwise_company": "FjordArch", "day": 15}

SCENARIOS = ("missed",)


def record_sent(ledger_path: Path, *, customer: str, psa_company: str, period: str, day: int) -> None:
    """Write a `sent` billing result for `period`, dated that period's billing date: the history
    of a customer the tool has billed (nothing is sent to the sandbox). Like a real result it
    names the demo company it went to (the demo assigns company ids in `demo.COMPANIES` order)."""
    sent_on = billing_date_for(period, day)
    identifiers = [identifier for identifier, _name, _trend in demo.COMPANIES]
    company: dict[str, Any] = {"connectwise_company_id": identifiers.index(psa_company) + 1,
               "connectwise_company_name": demo.COMPANIES[identifiers.index(psa_company)][1]}
    Ledger(ledger_path, run_id="sandbox-scenario").result(
        kind=SendKind.BILLING, customer=customer, psa_company=psa_company, period=period,
        trigger=Trigger.SCHEDULED, status=SendStatus.SENT, error=None, changes=[], **company, day=day,
        ts=f"{sent_on.isoformat()}T11:17:00.000000Z")


def seed_missed(ledger_path: Path, today: date) -> str:
    """Record fjord-architects as sent for the period before its latest billing date on `today`;
    returns the period it now misses (once `catch_up_days` have passed)."""
    latest = latest_billing_date(today, FJORD["day"])
    record_sent(ledger_path, customer=FJORD["customer"], psa_company=FJORD["connectwise_company"],
                period=previous_period(period_of(latest)), day=FJORD["day"])
    return period_of(latest)
