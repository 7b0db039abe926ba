"""A saved plan (`reconcile plan --out FILE`) and what `reconcile apply FILE` promises about it.

Like Terraform's saved plans, a plan file is something a person reviewed and signed off; unlike
a Terraform plan it is plain JSON, so it can be edited, truncated or replayed months later. Apply
therefore never sends what the file says. It recomputes the plan from today's config, usage and
ConnectWise (with the file's `send_now` and customer selection), checks the recomputed plan's
safety, money limits and ownership as any apply does, and then compares it with the file: every
due change (customer, product, agreement, addition, action, quantities, effective date, prices and
currency), every due customer's billing period and status, and the ConnectWise records each plan
was made from must be the same. Any difference refuses the whole apply, naming each difference,
and nothing is sent: "exactly what was reviewed, or nothing".

The plan's date: a plan made with `--date D` was computed as if today were D. Apply uses its own
`--date` (default: today in each customer's time zone), never the file's, and refuses when the
periods differ, so a plan reviewed for the June period cannot bill a December one. A plan
replayed after it was applied is refused too (its customers are no longer due: stale).

The file is parsed whole against `schemas/plan.schema.json` before anything is read; any damage
(`{}`, nulls, NaN, wrong types, missing keys, a truncated file) is one line and exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from reconciler.config.quickcheck import compile_quick_check
from reconciler.config.schemas import SCHEMA_DIR, Validator
from reconciler.errors import ReconcileError
from reconciler.plan import PLAN_FORMAT_VERSION, CustomerPlan, CustomerStatus, Plan
from reconciler.render.plan_json import plan_to_json
from reconciler.state import AdditionPrint, plain_number

MAX_SHOWN = 40  # differences listed before "and N more"
SCHEMA_ID = "urn:tmrm-billing-reconciler:schema:plan"


class PlanFileInvalid(ReconcileError):
    """The file is not a plan this version saved (damaged, edited into a wrong shape, or empty)."""


class StalePlan(ReconcileError):
    """Today's plan differs from the saved one: nothing is sent."""

    def __init__(self, path: str, differences: list[str]) -> None:
        self.path, self.differences = path, differences
        super().__init__(f"{path}: {len(differences)} difference(s) between the saved plan and today's plan")

    def line(self) -> str:
        shown = self.differences[:MAX_SHOWN]
        more = len(self.differences) - len(shown)
        lines = [(f"error: {self.path}: the saved plan does not match today's plan, so nothing was sent "
                  f"(file -> today; run `reconcile plan --out` again and review it):")]
        lines += [f"{self.path}: {difference}" for difference in shown]
        if more:
            lines.append(f"{self.path}: ... and {more} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class SavedPlan:
    """A plan file parsed whole: its options and its JSON records (validated, not trusted)."""

    path: str
    send_now: bool
    selected: tuple[str, ...]  # the customers the plan covered, in file order
    customers: dict[str, dict[str, Any]]  # slug -> its customer record
    changes: list[dict[str, Any]]  # every change record, as saved


@cache
def _schema() -> tuple[Draft202012Validator, Callable[[Any], bool] | None]:
    """jsonschema's validator (it words the errors) and the quick yes/no check compiled from the
    same schema (config/quickcheck.py): jsonschema alone took about 2 s per 1,000 customers of
    a valid plan, the quick check a small fraction of that."""
    schema = json.loads((SCHEMA_DIR / "plan.schema.json").read_text(encoding="utf-8"))
    registry: Registry = Registry().with_resource(SCHEMA_ID, Resource.from_contents(schema))
    return Validator(schema, registry=registry), compile_quick_check(schema, registry)


def _first_problem(data: Any) -> ValidationError | None:
    validator, quick = _schema()
    if quick is not None and quick(data):
        return None
    best: ValidationError | None = best_match(validator.iter_errors(data))
    return best


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number a plan can hold")


def _where(error: ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return "$" + path


def read_saved_plan(path: Path) -> SavedPlan:
    """The file, or PlanFileInvalid: one line naming the file and the first problem."""
    shown = str(path)

    def invalid(why: str) -> PlanFileInvalid:
        return PlanFileInvalid(f"{shown}: not a plan saved by `reconcile plan --out`: {why}; nothing was sent")

    if not path.is_file():  # a FIFO would wait for a writer forever, a device never ends
        raise invalid("not a regular file (a FIFO, device or directory)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise invalid(f"cannot read it ({getattr(error, 'strerror', None) or error})") from None
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except ValueError as error:  # JSONDecodeError (a truncated file) is a ValueError
        raise invalid(f"not JSON ({error})") from None
    except RecursionError:
        raise invalid("nested too deeply") from None
    if not isinstance(data, dict):
        raise invalid("not a JSON object")
    problem = _first_problem(data)
    if problem is not None:
        raise invalid(f"{_where(problem)}: {_short(problem.message)}")
    if data["format_version"] != PLAN_FORMAT_VERSION:
        raise invalid(f"format_version {_short(data['format_version'])!s}, this version reads {PLAN_FORMAT_VERSION}")
    for number, change in enumerate(data["changes"]):
        # What the schema cannot say without anyOf (whose errors quote a whole change): the
        # shape that goes with the kind.
        if change["kind"] == "addition" and not (isinstance(change["product"], str)
                                                 and isinstance(change["connectwise_product"], str)
                                                 and not isinstance(change["after"], dict)):
            raise invalid(f"$.changes[{number}]: an addition change needs a product, a connectwise_product "
                          "and a number or null as after")
        if change["kind"] == "summary" and not isinstance(change["after"], dict):
            raise invalid(f"$.changes[{number}]: an executive summary change needs its report as after")
    customers: dict[str, dict[str, Any]] = {}
    for record in data["customers"]:
        if record["customer"] in customers:
            raise invalid(f"customer {_short(record['customer'])} is listed twice")
        customers[record["customer"]] = record
    if not customers:
        raise invalid("it lists no customers")
    return SavedPlan(path=shown, send_now=data["options"]["send_now"], selected=tuple(customers),
                     customers=customers, changes=list(data["changes"]))


def _short(value: Any) -> str:
    text = str(value).encode("unicode_escape").decode("ascii")
    return text if len(text) <= 120 else text[:117] + "..."


# --- comparing -------------------------------------------------------------------------------

_MONEY_FIELDS = ("currency", "unit_price", "unit_cost", "less_included", "billed_before", "billed_after")


def _identity(change: dict[str, Any]) -> tuple[Any, ...]:
    """What names one change: which addition (or new addition, or summary) of which customer."""
    product = change.get("product") if change["kind"] == "addition" else (change.get("after") or {}).get("group")
    return (change["customer"], change["kind"], str(product), change["agreement"]["id"], change.get("addition_id"))


def _label(change: dict[str, Any]) -> str:
    if change["kind"] == "summary":
        return f"{change['customer']}, executive summary on agreement {change['agreement']['id']}"
    where = (f"addition {change['addition_id']}" if change.get("addition_id") is not None
             else f"new addition on agreement {change['agreement']['id']}")
    return f"{change['customer']}, {change['product']}, {where}"


def _describe(change: dict[str, Any]) -> str:
    if change["kind"] == "summary":
        return "post executive summary"
    return f"{change['action']} quantity {_value(change.get('before'))} -> {_value(change.get('after'))}"


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return str(plain_number(value))
    return _short(value)


def _same(a: Any, b: Any) -> bool:
    """Equal as the plan means it: 35 == 35.0, "4.20" == "4.2" for money, else exact."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        try:
            return Decimal(a) == Decimal(b)
        except (InvalidOperation, ValueError):
            return a == b
    return bool(a == b)  # two JSON values: lists and objects compare as Python's do


def _field_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for name in ("action", "connectwise_product", "before", "after", "effective_date"):
        if (name == "connectwise_product" and old.get(name) and new.get(name)
                and str(old[name]).casefold() == str(new[name]).casefold()):
            continue
        if not _same(old.get(name), new.get(name)):
            found.append(f"{name} {_value(old.get(name))} -> {_value(new.get(name))}")
    for name in ("name", "type"):
        if old["agreement"].get(name) != new["agreement"].get(name):
            found.append(f"agreement {name} {_value(old['agreement'].get(name))} -> {_value(new['agreement'].get(name))}")
    old_money, new_money = old.get("money"), new.get("money")
    if (old_money is None) != (new_money is None):
        found.append(f"price {'(none)' if old_money is None else 'known'} -> {'(none)' if new_money is None else 'known'}")
    elif old_money is not None and new_money is not None:  # both known (not one: the branch above)
        for name in _MONEY_FIELDS:
            if not _same(old_money.get(name), new_money.get(name)):
                found.append(f"{name} {_value(old_money.get(name))} -> {_value(new_money.get(name))}")
    return found


def _schedule_differences(slug: str, record: dict[str, Any], cp: CustomerPlan) -> list[str]:
    """A due customer must be due for the same period, with the same status, today."""
    found: list[str] = []
    saved_due = record["due"] and record["status"] == CustomerStatus.OK
    if not (saved_due or cp.actionable):
        return found
    saved_period = (record.get("schedule") or {}).get("period")
    fresh_period = cp.schedule.period if cp.schedule else None
    if saved_period != fresh_period:
        found.append(f"{slug}: billing period {saved_period} -> {fresh_period}")
    if record["due"] != cp.due:
        found.append(f"{slug}: due {'yes' if record['due'] else 'no'} -> {'yes' if cp.due else 'no'}"
                     + (f" ({_short(cp.reason)})" if cp.reason else ""))
    if record["status"] != cp.status:
        found.append(f"{slug}: status {record['status']} -> {cp.status}" + (f" ({_short(cp.reason)})" if cp.reason else ""))
    return found


def _record_differences(slug: str, record: dict[str, Any], cp: CustomerPlan) -> list[str]:
    """The ConnectWise records both plans were made from (a hand edit moves `last_updated`)."""
    if not (record["billing_read"] and cp.billing_read) or cp.status == CustomerStatus.FAILED:
        return []
    before = {p.id: p for p in map(AdditionPrint.from_json, record["fingerprint"]) if p is not None}
    now = {p.id: p for p in cp.fingerprint}
    if before == now:
        return []
    return [f"{slug}: ConnectWise changed since the plan was saved: {describe_moves(before, now)}"]


def describe_moves(before: dict[int, AdditionPrint], now: dict[int, AdditionPrint]) -> str:
    parts = []
    for addition_id in sorted(set(before) | set(now)):
        old, new = before.get(addition_id), now.get(addition_id)
        if new is None:
            parts.append(f"addition {addition_id} is gone or cancelled")
        elif old is None:
            parts.append(f"addition {addition_id} is new")
        elif old != new:
            parts.append(f"addition {addition_id} ({new.product}) quantity {plain_number(old.quantity)} -> "
                         f"{plain_number(new.quantity)}" if old.quantity != new.quantity
                         else f"addition {addition_id} ({new.product}) was edited at {new.last_updated}")
    return "; ".join(parts)


def differences(saved: SavedPlan, fresh: Plan) -> list[str]:
    """Every way today's plan differs from the saved one, as `customer, product, addition: field
    old -> new` (file -> today). Empty: apply may send today's plan, which is the saved one."""
    found: list[str] = []
    by_slug = {cp.customer: cp for cp in fresh.customers}
    for slug, record in saved.customers.items():
        cp = by_slug.get(slug)
        if cp is None:
            found.append(f"{slug}: in the plan file, not in today's plan (its customer file is gone or renamed)")
            continue
        found += _schedule_differences(slug, record, cp)
        found += _record_differences(slug, record, cp)
    for slug in by_slug.keys() - saved.customers.keys():
        found.append(f"{slug}: in today's plan, not in the plan file")

    fresh_json = json.loads(json.dumps(plan_to_json(fresh)["changes"]))  # the same shapes as the file's
    saved_due = [c for c in saved.changes if c["due"]]
    fresh_due = [c for c in fresh_json if c["due"]]
    for change in saved_due:
        if change["customer"] not in saved.customers:
            found.append(f"{_label(change)}: a change for a customer the plan file does not list")
    old_by_id: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for change in saved_due:
        old_by_id.setdefault(_identity(change), []).append(change)
    new_by_id: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for change in fresh_due:
        new_by_id.setdefault(_identity(change), []).append(change)
    for identity in sorted(set(old_by_id) | set(new_by_id), key=str):
        olds, news = old_by_id.get(identity, []), new_by_id.get(identity, [])
        for old, new in zip(olds, news):
            found += [f"{_label(new)}: {what}" for what in _field_differences(old, new)]
        for old in olds[len(news):]:
            found.append(f"{_label(old)}: {_describe(old)} is in the plan file, not in today's plan")
        for new in news[len(olds):]:
            found.append(f"{_label(new)}: {_describe(new)} is in today's plan, not in the plan file")
    return found


def check_matches(saved: SavedPlan, fresh: Plan) -> None:
    """Raise StalePlan unless today's plan is the saved one."""
    found = differences(saved, fresh)
    if found:
        raise StalePlan(saved.path, found)

