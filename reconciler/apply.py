"""Apply a plan: writes to the PSA for the customers that are due, bracketed by ledger records.

Per customer: re-check the ledger (a saved plan may be older than another run's send), write
an `intent`, perform the changes (cancels, then updates, then creates: a moved product is
never billed on two agreements at once), then write the `result`. A failure is recorded as a
`failed` result with the changes that did happen, and the next run re-plans from ConnectWise,
so a rerun converges. Customers run in parallel on the shared, rate-limited target.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Callable

from reconciler.ledger import Ledger, LedgerView
from reconciler.money import price_fields
from reconciler.plan import Change, CustomerPlan, CustomerStatus, Plan
from reconciler.schedule import Due
from reconciler.state import Addition, ExecutiveSummary, SummaryReport, plain_number, tool_marker
from reconciler.target import Target, TargetError

ORDER = {"cancel": 0, "update": 1, "create": 2}


class ResultStatus(StrEnum):
    """What apply did for a customer (str-valued: the results table and JSON read the word)."""

    SENT = "sent"
    UNCHANGED = "unchanged"  # due, nothing to change; the period is recorded as sent
    NOT_DUE = "not due"
    MISSED = "missed"  # its billing date passed beyond catch_up_days and nothing was sent
    SKIPPED = "skipped"
    FAILED = "failed"
    WOULD_SEND = "would send"  # --dry-run
    SUMMARY_SENT = "summary sent"  # only the executive summary went out today


@dataclass
class CustomerResult:
    customer: str
    connectwise_company: str
    status: ResultStatus
    reason: str
    period: str | None = None
    trigger: str | None = None
    applied: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer, "connectwise_company": self.connectwise_company, "status": self.status,
            "reason": self.reason, "period": self.period, "trigger": self.trigger, "applied": self.applied,
        }


@dataclass
class ApplyOptions:
    force: bool = False  # apply unsafe plans
    dry_run: bool = False


class ConcurrentAddition(TargetError):
    """An addition of the product appeared on the agreement between the plan and the create,
    and this tool did not make it: creating another would bill twice."""


def _same_product(additions: list[Addition], change: Change) -> list[Addition]:
    """Active additions of the change's catalog item, lowest id first."""
    wanted = change.connectwise_product.casefold()
    return sorted((a for a in additions if a.active and a.product_identifier.casefold() == wanted),
                  key=lambda a: a.id)


# How long the plan's read of an agreement stands in for the read before a create. Within it, an
# addition typed by hand or created by a racing run meanwhile is still caught, by the read-back
# after the POST (below); the read before it only saves a POST in that rare case. Ten minutes
# covers apply right after its own plan for most runs; older reads (a long plan at the throttle)
# are read again.
FRESH_READ_SECONDS = 600


def apply_change(target: Target, change: Change, catalog_ids: dict[str, int], marker: str = "",
                 side_effects: list[Change] | None = None, known: list[Addition] | None = None) -> dict[str, Any]:
    """Perform one addition change; returns {id, quantity} of the addition that now bills it.

    Creates go through `create_once` (with `known`, the plan's fresh read of the agreement, when
    there is one); extra writes it makes (cancelling a race's duplicate) are appended to
    `side_effects` so the ledger names them.
    """
    agreement_id = change.agreement.id
    if change.action == "update":
        target.set_quantity(agreement_id, change.addition_id, change.after)
        return {"id": change.addition_id, "quantity": change.after}
    if change.action == "cancel":
        target.cancel_addition(agreement_id, change.addition_id, change.effective_date, zero_quantity=change.after == 0)
        return {"id": change.addition_id}
    return create_once(target, change, catalog_ids, marker, side_effects if side_effects is not None else [], known)


def create_once(target: Target, change: Change, catalog_ids: dict[str, int], marker: str,
                side_effects: list[Change], known: list[Addition] | None = None) -> dict[str, Any]:
    """Create an addition so that two applies racing on one agreement end with one.

    No shared lock is needed. Before the POST the agreement's additions are looked at: the plan's
    read when it is fresh (`known`, see FRESH_READ_SECONDS), else a new read. An addition of the
    product that another run of this tool created is adopted (its quantity set), one typed by
    hand fails the customer. The target never re-POSTs blindly.
    After the create the agreement is read back: when several active additions of the product
    exist, the lowest id stays and every other one this tool created (this run's included) is
    cancelled at quantity 0, so both racers converge on the same survivor. When the lowest is
    one typed by hand that the read before the POST did not show, the tool's own are cancelled
    and the customer fails, as if the read before had seen it. A read-back can miss a create
    that commits a moment later; the plan applies the same rule on every later run.
    """
    agreement_id = change.agreement.id
    additions = known if known is not None else target.additions(agreement_id)
    present = _same_product(additions, change)
    if present and not present[0].created_by_tool:
        raise ConcurrentAddition(
            f"an addition of {change.connectwise_product} (id {present[0].id}) appeared on {change.agreement.label} "
            "since the plan was made and was not created by this tool; plan again"
        )
    known_ids = {a.id for a in additions}
    if present:
        record: dict[str, Any] = {"id": present[0].id, "quantity": present[0].quantity}
    else:
        created = target.create_addition(
            agreement_id, change.connectwise_product, change.after, change.effective_date, marker,
            catalog_id=catalog_ids.get(change.connectwise_product.casefold()), known_ids=known_ids,
        )
        record = {"id": created.id, "quantity": created.quantity}
    survivors = _same_product(target.additions(agreement_id), change)
    if not survivors:
        return record
    keep = survivors[0]
    by_hand = not keep.created_by_tool and keep.id not in known_ids
    for extra in (survivors if by_hand else survivors[1:]):
        if not extra.created_by_tool:
            continue  # typed by hand: never ours to cancel; the next plan fails the customer
        target.cancel_addition(agreement_id, extra.id, change.effective_date, zero_quantity=True)
        side_effects.append(Change(
            "cancel", "addition", change.customer, change.connectwise_company, change.agreement, change.product,
            change.connectwise_product, extra.id, plain_number(extra.quantity), 0, change.effective_date,
            f"duplicate of addition {keep.id}, created by a concurrent run ({extra.marker})"
            if not by_hand else f"addition {keep.id} of the product was typed by hand meanwhile",
        ))
    if by_hand:
        raise ConcurrentAddition(
            f"an addition of {change.connectwise_product} (id {keep.id}) appeared on {change.agreement.label} "
            "since the plan was made and was not created by this tool; plan again"
        )
    if keep.quantity != change.after:
        target.set_quantity(agreement_id, keep.id, change.after)
    return {"id": keep.id, "quantity": change.after}


def _plan_read(cp: CustomerPlan, agreement_id: int, written: set[int]) -> list[Addition] | None:
    """The plan's read of an agreement's additions, if fresh and not written since by this apply."""
    if cp.read_at is None or agreement_id in written or agreement_id not in cp.additions_read:
        return None
    if time.monotonic() - cp.read_at > FRESH_READ_SECONDS:
        return None
    return cp.additions_read[agreement_id]


def _final_additions(applied: list[tuple[Change, dict[str, Any]]], current: dict[str, Any]) -> dict[str, Any]:
    """Product -> the addition that bills it after this send, for the ledger and drift checks."""
    additions = {k: dict(v) for k, v in current.items()}
    for change, record in applied:
        if change.action == "cancel":
            if additions.get(change.product, {}).get("id") == change.addition_id:
                additions.pop(change.product, None)
            continue
        additions[change.product] = {
            "id": record.get("id", change.addition_id), "agreement_id": change.agreement.id,
            "agreement": change.agreement.label, "quantity": change.after,
            "connectwise_product": change.connectwise_product, **price_fields(change.money),
        }
    return additions


def _company_fields(cp: CustomerPlan, day: int | None) -> dict[str, Any]:
    """What the ledger keeps so a later run can tell the company record it billed (an identifier
    can be reused after a rename) and the day of the month the period was sent under (a later
    change of the day must not skip a period)."""
    return {"connectwise_company_id": cp.connectwise_company_id,
            "connectwise_company_name": cp.connectwise_company_name, "day": day}


def _usage_fields(cp: CustomerPlan) -> dict[str, Any]:
    """The usage a billing result was computed from (usage/audit.py), so the ledger alone can say
    which source, basis, Trend report month and rows (by hash) a bill used."""
    return {"usage": cp.usage} if cp.usage else {}


def apply_customer(target: Target, cp: CustomerPlan, ledger: Ledger, view: LedgerView, options: ApplyOptions,
                   catalog_ids: dict[str, int]) -> CustomerResult:
    """Billing first, then the executive summary; each has its own schedule and ledger records."""
    result = apply_billing(target, cp, ledger, view, options, catalog_ids)
    outcome = apply_summary(target, cp, ledger, view, options)
    if outcome is not None:
        ok, text = outcome
        result.reason = f"{result.reason}; {text}" if result.reason else text
        if not ok:
            result.status = ResultStatus.FAILED
        elif result.status in (ResultStatus.NOT_DUE, ResultStatus.SKIPPED):  # never over "missed": that hides a missed bill
            result.status = ResultStatus.SUMMARY_SENT if not options.dry_run else result.status
    return result


def apply_summary(target: Target, cp: CustomerPlan, ledger: Ledger, view: LedgerView,
                  options: ApplyOptions) -> tuple[bool, str] | None:
    """Post this period's executive summary once. The groupIdentifier is a stable key of
    customer and period, and `create_management_summary_report` reads back by it after an
    ambiguous failure, so neither a rerun nor a crash after the POST posts a second report."""
    if not cp.summary_due or (cp.status == CustomerStatus.UNSAFE and not options.force):
        return None  # totals from a suspicious usage source are not worth an executive's time
    schedule = cp.summary_schedule
    trigger = "manual" if schedule.status.value == "manual" else "scheduled"
    if trigger == "scheduled" and schedule.period in view.sent_periods(cp.customer, "summary"):
        return None
    change = next((c for c in cp.changes if c.kind == "summary"), None)
    if options.dry_run:
        return (True, f"executive summary for {schedule.period} would be posted") if change else None
    common = dict(kind="summary", customer=cp.customer, connectwise_company=cp.connectwise_company,
                  period=schedule.period, trigger=trigger, **_company_fields(cp, schedule.day))
    if change is None:
        if cp.summary_report_id is None:
            return None
        # Posted by a run that died before its result (or by a racing run): settle the ledger,
        # post nothing, and remove what a race posted twice.
        try:
            for duplicate in cp.summary_duplicate_ids:
                target.delete_summary(cp.connectwise_company_id, duplicate)
        except TargetError as error:
            return False, f"executive summary duplicates could not be removed: {error}"
        ledger.result(status="sent", error=None, changes=[], report_id=cp.summary_report_id, **common)
        return True, f"executive summary for {schedule.period} already in ConnectWise (report {cp.summary_report_id})"
    ledger.intent(changes=[change.as_json()], **common)
    try:
        report = post_summary_once(target, ExecutiveSummary.from_json(change.after))
    except TargetError as error:
        ledger.result(status="failed", error=str(error), changes=[], **common)
        return False, f"executive summary failed: {error}"
    ledger.result(status="sent", error=None, changes=[change.as_json()], report_id=report.id, **common, **_usage_fields(cp))
    return True, f"executive summary for {schedule.period} posted (report {report.id})"


def post_summary_once(target: Target, summary: ExecutiveSummary) -> SummaryReport:
    """Post an executive summary so that two applies racing end with one report per group key.

    Requests: the POST and one read-back, nothing before. The ledger said it was not posted (and
    an unsettled intent made the plan read ConnectWise and adopt what was there), so a read
    before the POST would only matter against a run racing this one, and the read-back settles
    that case too: the lowest id stays (an existing report is adopted) and the others, all
    carrying this tool's own group key, are deleted (reports bill nothing and have no cancel
    date). After an ambiguous POST failure the target reads back before any retry."""
    posted = target.post_summary(summary)
    reports = sorted(target.summaries(summary.company_id, summary.group), key=lambda r: r.id)
    for duplicate in reports[1:]:
        target.delete_summary(summary.company_id, duplicate.id)
    return reports[0] if reports else posted


def apply_billing(target: Target, cp: CustomerPlan, ledger: Ledger, view: LedgerView, options: ApplyOptions,
                  catalog_ids: dict[str, int]) -> CustomerResult:
    schedule = cp.schedule
    result = CustomerResult(cp.customer, cp.connectwise_company, ResultStatus.NOT_DUE, cp.reason,
                            period=schedule.period if schedule else None)
    if cp.status == CustomerStatus.FAILED:
        result.status = ResultStatus.FAILED
        return result
    if cp.status == CustomerStatus.SKIPPED:
        result.status = ResultStatus.SKIPPED
        return result
    if not cp.due:
        result.reason = schedule.reason if schedule else cp.reason
        if schedule and schedule.status == Due.MISSED:
            result.status = ResultStatus.MISSED
        return result
    if cp.status == CustomerStatus.UNSAFE and not options.force:
        result.status, result.reason = ResultStatus.FAILED, f"unsafe plan refused (use --force to apply): {cp.reason}"
        return result
    trigger = "manual" if schedule.status.value == "manual" else "scheduled"
    result.trigger = trigger
    if trigger == "scheduled" and schedule.period in view.sent_periods(cp.customer):
        result.reason = f"billing for {schedule.period} was already sent"
        return result
    changes = sorted([c for c in cp.changes if c.kind == "addition"], key=lambda c: ORDER[c.action])
    if options.dry_run:
        result.status = ResultStatus.WOULD_SEND if changes else ResultStatus.UNCHANGED
        result.reason = (f"{len(changes)} change{'s' if len(changes) != 1 else ''} for {schedule.period} would be sent"
                         if changes else f"nothing to change for {schedule.period}")
        return result

    common = dict(kind="billing", customer=cp.customer, connectwise_company=cp.connectwise_company,
                  period=schedule.period, trigger=trigger, **_company_fields(cp, schedule.day))
    if changes:
        ledger.intent(changes=[c.as_json() for c in changes], **common)
    applied: list[tuple[Change, dict[str, Any]]] = []
    marker = tool_marker(ledger.run_id)
    try:
        written: set[int] = set()  # agreements this apply has written: the plan's read of them is stale
        for change in changes:
            side_effects: list[Change] = []
            try:
                known = _plan_read(cp, change.agreement.id, written) if change.action == "create" else None
                written.add(change.agreement.id)
                applied.append((change, apply_change(target, change, catalog_ids, marker, side_effects, known)))
            finally:
                applied.extend((extra, {"id": extra.addition_id}) for extra in side_effects)
    except TargetError as error:
        result.status, result.reason = ResultStatus.FAILED, str(error)
        result.applied = [c.as_json() for c, _ in applied]
        ledger.result(status="failed", error=str(error), changes=result.applied,
                      additions=_final_additions(applied, cp.current_additions), **common, **_usage_fields(cp))
        return result
    result.applied = [c.as_json() for c, _ in applied]
    ledger.result(status="sent", error=None, changes=result.applied,
                  additions=_final_additions(applied, cp.current_additions), **common, **_usage_fields(cp))
    result.status = ResultStatus.SENT if changes else ResultStatus.UNCHANGED
    result.reason = f"{len(changes)} change{'s' if len(changes) != 1 else ''} sent for {schedule.period}" if changes \
        else f"nothing to change; {schedule.period} recorded as sent"
    return result


def apply_plan(target: Target, plan: Plan, ledger: Ledger, view: LedgerView, options: ApplyOptions,
               catalog_ids: dict[str, int], workers: int = 8,
               progress: Callable[[int], None] | None = None) -> list[CustomerResult]:
    def work(cp: CustomerPlan) -> CustomerResult:
        try:
            return apply_customer(target, cp, ledger, view, options, catalog_ids)
        except Exception as error:  # one customer's surprise must not stop the others
            return CustomerResult(cp.customer, cp.connectwise_company, ResultStatus.FAILED, f"{type(error).__name__}: {error}")
        finally:
            if progress:
                progress(1)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(work, plan.customers))
