"""Apply a plan: writes to the PSA for the customers that are due, bracketed by ledger records.

The caller holds the run lease (`reconciler.lease`) from before the plan's read to after the
last write, so no other run of the tool writes meanwhile: a write costs its own request and
nothing is read back.

Per customer: re-check the ledger (a saved plan may be older than another run's send), write
an `intent`, perform the changes (cancels, then updates, then creates: a moved product is
never billed on two agreements at once), then write the `result`. A failure is recorded as a
`failed` result with the changes that did happen, and the next run re-plans from ConnectWise,
so a rerun converges. Customers run in parallel on the shared, rate-limited target.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Callable

from reconciler.ledger import Ledger, LedgerView, SendKind, SendStatus, Trigger, read_word
from reconciler.money import price_fields
from reconciler.plan import Change, CustomerPlan, CustomerStatus, Plan
from reconciler.schedule import Due, Schedule
from reconciler.state import Addition, ExecutiveSummary, SummaryReport, tool_marker
from reconciler.target import Target, TargetError, capabilities_of

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


class FailureKind(StrEnum):
    """Why a `failed` result failed, for whoever acts on it (notify.py files an `unsafe` ticket
    for a refusal, a `failed` one for an error): decided here, never read back from the reason's
    text, which is for people."""

    ERROR = "error"  # something stopped it: the plan, ConnectWise, an interrupted period
    UNSAFE = "unsafe"  # the plan is beyond the safety thresholds and --force was not given


UNSAFE_REFUSED = "unsafe plan refused (use --force to apply)"  # how a refusal's reason begins


@dataclass
class CustomerResult:
    customer: str
    psa_company: str
    status: ResultStatus
    reason: str
    period: str | None = None
    trigger: Trigger | None = None
    applied: list[dict[str, Any]] = field(default_factory=list)
    failure: FailureKind | None = None  # set with status FAILED (not in the JSON: `status` says it)

    def as_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer, "connectwise_company": self.psa_company, "status": self.status,
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
    """Active additions of the change's catalog item (billing today, UTC, as ConnectWise's own
    status says), lowest id first."""
    wanted = (change.catalog_item or "").casefold()  # an addition change always names its item
    today = datetime.now(UTC).date()  # apply runs now
    return sorted((a for a in additions if a.bills_on(today) and a.product_identifier.casefold() == wanted),
                  key=lambda a: a.id)


def apply_change(target: Target, change: Change, catalog_ids: dict[str, int], marker: str = "",
                 known: list[Addition] | None = None) -> dict[str, Any]:
    """Perform one addition change; returns {id, quantity} of the addition that now bills it.
    `known`: the plan's read of the change's agreement (see `create_once`)."""
    agreement_id = change.agreement.id
    if change.action == "update":
        assert change.addition_id is not None  # the plan's update names the addition it read
        target.set_quantity(agreement_id, change.addition_id, change.after)
        return {"id": change.addition_id, "quantity": change.after}
    if change.action == "cancel":
        # the plan's cancel names the addition it read and the billing date it ends on
        assert change.addition_id is not None and change.effective_date is not None
        target.cancel_addition(agreement_id, change.addition_id, change.effective_date, zero_quantity=change.after == 0)
        return {"id": change.addition_id}
    return create_once(target, change, catalog_ids, marker, known)


def create_once(target: Target, change: Change, catalog_ids: dict[str, int], marker: str,
                known: list[Addition] | None = None) -> dict[str, Any]:
    """Create an addition: one POST, nothing read before or after it on the normal path.

    The run holds the run lease (`reconciler.lease`) from before the plan's read to after this
    write, so no other run of the tool writes meanwhile: the plan's read of the agreement
    (`known`) is the truth, however old. Only an agreement the plan did not read is read first
    (an addition of the product found there is adopted when this tool made it; one typed by
    hand fails the customer). An ambiguous POST failure is settled by the target's read-back
    (`known_ids`), never by a blind second POST. An addition a person types in between the
    plan's read and the POST is seen by the next run, whose plan fails the customer."""
    agreement_id = change.agreement.id
    assert change.catalog_item is not None  # an addition change always names its item
    if known is None:
        known = target.additions(agreement_id)
        present = _same_product(known, change)
        if present and not present[0].created_by_tool:
            raise ConcurrentAddition(
                f"an addition of {change.catalog_item} (id {present[0].id}) appeared on "
                f"{change.agreement.label} since the plan was made and was not created by this tool; plan again")
        if present:
            if present[0].quantity != change.after:
                target.set_quantity(agreement_id, present[0].id, change.after)
            return {"id": present[0].id, "quantity": change.after}
    created = target.create_addition(
        agreement_id, change.catalog_item, change.after, change.effective_date, marker,
        catalog_id=catalog_ids.get(change.catalog_item.casefold()), known_ids={a.id for a in known},
    )
    return {"id": created.id, "quantity": created.quantity}


def _final_additions(applied: list[tuple[Change, dict[str, Any]]], current: dict[str, Any]) -> dict[str, Any]:
    """Product -> the addition that bills it after this send, for the ledger and drift checks."""
    additions = {k: dict(v) for k, v in current.items()}
    for change, record in applied:
        assert change.product is not None  # addition changes only: each names its product
        if change.action == "cancel":
            if additions.get(change.product, {}).get("id") == change.addition_id:
                additions.pop(change.product, None)
            continue
        additions[change.product] = {
            "id": record.get("id", change.addition_id), "agreement_id": change.agreement.id,
            "agreement": change.agreement.label, "quantity": change.after,
            "connectwise_product": change.catalog_item, **price_fields(change.money),
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
    """Interrupted periods that can no longer be finished first (recorded as failed), then
    billing, then the executive summary; each has its own schedule and ledger records."""
    interrupted = settle_interrupted(cp, ledger, options)
    result = apply_billing(target, cp, ledger, view, options, catalog_ids)
    outcome = apply_summary(target, cp, ledger, view, options)
    if outcome is not None:
        ok, text = outcome
        result.reason = f"{result.reason}; {text}" if result.reason else text
        if not ok:
            result.status, result.failure = ResultStatus.FAILED, FailureKind.ERROR
        elif result.status in (ResultStatus.NOT_DUE, ResultStatus.SKIPPED):  # never over "missed": that hides a missed bill
            result.status = ResultStatus.SUMMARY_SENT if not options.dry_run else result.status
    if interrupted:
        # A problem for a person, whatever else this run did: exit 1 and, with tickets on, a
        # ticket for the interrupted period (the one that needs checking).
        result.status, result.period = ResultStatus.FAILED, str(cp.interrupted[0].get("period"))
        result.failure = FailureKind.ERROR  # the interrupted period is the problem, even beside a refusal
        result.reason = f"{interrupted}; {result.reason}" if result.reason else interrupted
    return result


def settle_interrupted(cp: CustomerPlan, ledger: Ledger, options: ApplyOptions) -> str | None:
    """Record a `failed` result for each intent of a period that can no longer be finished
    (`engine.interrupted_intents`), which settles it in the ledger, and say what to check. The
    run that wrote the intent may have changed additions before it died; a later period's send
    has since set them, so only that period's invoice can be wrong, and a person decides."""
    if not cp.interrupted:
        return None
    texts = []
    for intent in cp.interrupted:
        kind, period, run_id = intent["kind"], str(intent.get("period")), intent.get("run_id")
        what = "billing" if kind == SendKind.BILLING else "executive summary"
        error = (f"{what} for {period} was interrupted (run {run_id} stopped after its intent, with no result) and "
                 f"a later period has come, so it cannot be finished: check {period}'s invoice and the "
                 "additions in ConnectWise")
        if not options.dry_run:
            ledger.result(kind=kind, customer=cp.customer, psa_company=cp.psa_company, period=period,
                          trigger=read_word(Trigger, intent.get("trigger"), Trigger.SCHEDULED),
                          status=SendStatus.FAILED, error=error, changes=[],
                          connectwise_company_id=intent.get("connectwise_company_id"),
                          connectwise_company_name=intent.get("connectwise_company_name"), day=intent.get("day"))
        texts.append(error)
    return "; ".join(texts)


def apply_summary(target: Target, cp: CustomerPlan, ledger: Ledger, view: LedgerView,
                  options: ApplyOptions) -> tuple[bool, str] | None:
    """Post this period's executive summary once. The groupIdentifier is a stable key of
    customer and period, and `create_management_summary_report` reads back by it after an
    ambiguous failure, so neither a rerun nor a crash after the POST posts a second report."""
    if not cp.summary_due or (cp.status == CustomerStatus.UNSAFE and not options.force):
        return None  # totals from a suspicious usage source are not worth an executive's time
    schedule = cp.summary_schedule
    assert schedule is not None  # summary_due: the schedule was decided
    trigger = trigger_of(schedule)
    if trigger == Trigger.SCHEDULED and schedule.period in view.sent_periods(cp.customer, SendKind.SUMMARY):
        return None
    change = next((c for c in cp.changes if c.kind == "summary"), None)
    if change is not None and not capabilities_of(target).summaries:
        # The engine plans none for such a PSA; a saved plan made against another is refused
        # here, before any ledger record, and reported (never dropped in silence).
        return False, f"executive summary for {schedule.period} not posted: {target.name} keeps no executive summaries"
    if options.dry_run:
        return (True, f"executive summary for {schedule.period} would be posted") if change else None
    common = dict(kind=SendKind.SUMMARY, customer=cp.customer, psa_company=cp.psa_company,
                  period=schedule.period, trigger=trigger, **_company_fields(cp, schedule.day))
    if change is None:
        if cp.summary_report_id is None:
            return None
        # Posted by a run that died before its result (or by a racing run): settle the ledger,
        # post nothing, and remove what a race posted twice.
        try:
            for duplicate in cp.summary_duplicate_ids:
                assert cp.connectwise_company_id is not None  # duplicates were read on the company
                target.delete_summary(cp.connectwise_company_id, duplicate)
        except TargetError as error:
            return False, f"executive summary duplicates could not be removed: {error}"
        ledger.result(status=SendStatus.SENT, error=None, changes=[], report_id=cp.summary_report_id, **common)
        return True, f"executive summary for {schedule.period} already in ConnectWise (report {cp.summary_report_id})"
    ledger.intent(changes=[change.as_json()], **common)
    try:
        report = post_summary_once(target, ExecutiveSummary.from_json(change.after))
    except TargetError as error:
        ledger.result(status=SendStatus.FAILED, error=str(error), changes=[], **common)
        return False, f"executive summary failed: {error}"
    ledger.result(status=SendStatus.SENT, error=None, changes=[change.as_json()], report_id=report.id, **common, **_usage_fields(cp))
    return True, f"executive summary for {schedule.period} posted (report {report.id})"


def post_summary_once(target: Target, summary: ExecutiveSummary) -> SummaryReport:
    """Post an executive summary: the POST alone. The ledger said it was not posted (and an
    unsettled intent made the plan read ConnectWise and adopt what was there), and the run lease
    keeps any other run of the tool from posting meanwhile, so nothing is read before or after.
    After an ambiguous POST failure the target reads back by the group key before any retry."""
    return target.post_summary(summary)


def trigger_of(schedule: Schedule) -> Trigger:
    """A send asked for with --send-now is `manual`; one whose billing date came, `scheduled`."""
    return Trigger.MANUAL if schedule.status == Due.MANUAL else Trigger.SCHEDULED


def apply_billing(target: Target, cp: CustomerPlan, ledger: Ledger, view: LedgerView, options: ApplyOptions,
                  catalog_ids: dict[str, int]) -> CustomerResult:
    schedule = cp.schedule
    result = CustomerResult(cp.customer, cp.psa_company, ResultStatus.NOT_DUE, cp.reason,
                            period=schedule.period if schedule else None)
    if cp.status == CustomerStatus.FAILED:
        result.status, result.failure = ResultStatus.FAILED, FailureKind.ERROR
        return result
    if cp.status == CustomerStatus.SKIPPED:
        result.status = ResultStatus.SKIPPED
        return result
    if not cp.due:
        result.reason = schedule.reason if schedule else cp.reason
        if schedule and schedule.status == Due.MISSED:
            result.status = ResultStatus.MISSED
        return result
    assert schedule is not None  # due: the schedule was decided
    if cp.status == CustomerStatus.UNSAFE and not options.force:
        result.status, result.reason = ResultStatus.FAILED, f"{UNSAFE_REFUSED}: {cp.reason}"
        result.failure = FailureKind.UNSAFE
        return result
    trigger = trigger_of(schedule)
    result.trigger = trigger
    if trigger == Trigger.SCHEDULED and schedule.period in view.sent_periods(cp.customer):
        result.reason = f"billing for {schedule.period} was already sent"
        return result
    changes = sorted([c for c in cp.changes if c.kind == "addition"], key=lambda c: ORDER[c.action])
    if options.dry_run:
        result.status = ResultStatus.WOULD_SEND if changes else ResultStatus.UNCHANGED
        result.reason = (f"{len(changes)} change{'s' if len(changes) != 1 else ''} for {schedule.period} would be sent"
                         if changes else f"nothing to change for {schedule.period}")
        return result

    common = dict(kind=SendKind.BILLING, customer=cp.customer, psa_company=cp.psa_company,
                  period=schedule.period, trigger=trigger, **_company_fields(cp, schedule.day))
    if changes:
        ledger.intent(changes=[c.as_json() for c in changes], **common)
    applied: list[tuple[Change, dict[str, Any]]] = []
    marker = tool_marker(ledger.run_id)
    try:
        for change in changes:
            known = cp.additions_read.get(change.agreement.id) if change.action == "create" else None
            applied.append((change, apply_change(target, change, catalog_ids, marker, known)))
    except TargetError as error:
        result.status, result.reason, result.failure = ResultStatus.FAILED, str(error), FailureKind.ERROR
        result.applied = [c.as_json() for c, _ in applied]
        ledger.result(status=SendStatus.FAILED, error=str(error), changes=result.applied,
                      additions=_final_additions(applied, cp.current_additions), **common, **_usage_fields(cp))
        return result
    result.applied = [c.as_json() for c, _ in applied]
    ledger.result(status=SendStatus.SENT, error=None, changes=result.applied,
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
            return CustomerResult(cp.customer, cp.psa_company, ResultStatus.FAILED, f"{type(error).__name__}: {error}",
                                  failure=FailureKind.ERROR)
        finally:
            if progress:
                progress(1)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(work, plan.customers))
