"""The plan as JSON: the versioned machine-readable view (`plan --format json`, what `--out`
saves, what `apply PLAN_FILE` reads back in `saved_plan`)."""

from __future__ import annotations

from typing import Any

from reconciler.money import text
from reconciler.plan import PLAN_FORMAT_VERSION, Plan


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The versioned machine-readable plan (also what `--out` saves and `apply PLAN` reads)."""
    customers = []
    for cp in plan.customers:
        schedule = cp.schedule
        customers.append({
            "customer": cp.customer,
            "name": cp.name,
            "connectwise_company": cp.psa_company,
            "due": cp.due,
            "status": cp.status,
            "reason": cp.reason,
            "schedule": None if schedule is None else {
                "status": schedule.status.value, "period": schedule.period,
                "billing_date": schedule.billing_date.isoformat(), "next_date": schedule.next_date.isoformat(),
                "reason": schedule.reason,
            },
            "summary_schedule": None if cp.summary_schedule is None else {
                "status": cp.summary_schedule.status.value, "period": cp.summary_schedule.period,
                "reason": cp.summary_schedule.reason, "report_id": cp.summary_report_id,
            },
            "unsafe_reasons": cp.unsafe_reasons,
            "notes": cp.notes,
            "fingerprint": [p.as_json() for p in cp.fingerprint],
            "current_additions": cp.current_additions,
            "connectwise_company_id": cp.connectwise_company_id,
            "connectwise_company_name": cp.connectwise_company_name,
            "monthly": {(currency or "unknown"): {"before": text(before), "after": text(after),
                                                  "change": text(after - before)}
                        for currency, (before, after) in cp.monthly.items()},
            "invoice_warnings": cp.invoice_warnings,
            "billing_read": cp.billing_read,
            "usage": cp.usage,
        })
    changes = [dict(c.as_json(), due=cp.change_due(c)) for cp in plan.customers for c in cp.changes]
    counts = plan.counts()
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "today": plan.today,
        "sandbox": plan.sandbox,
        "usage_source": plan.usage_source,
        "usage": plan.usage,
        "options": plan.options,
        "summary": {"add": counts["create"], "change": counts["update"], "cancel": counts["cancel"],
                    "executive_summaries": counts["summary"]},
        "customers": customers,
        "changes": changes,
        "money": plan.money().as_json(),
        "unknown_usage_customers": plan.unknown_usage_customers,
        "warnings": plan.warnings,
        "run_safety": plan.run_safety.as_json() if plan.run_safety else None,
    }
