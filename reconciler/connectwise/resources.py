"""Thin, named wrappers over the endpoints the reconciler uses (mixed into `Client`).

They add three things the bare verbs do not: URL paths in one place, `in (...)` filters
split so no URL exceeds CW's ~2000-character limit, and the read-back each create needs
to stay safe after an ambiguous failure (see `Client.create`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .conditions import Condition, all_of, cond

if TYPE_CHECKING:
    import builtins

MAX_URL = 2000
# Room left for pageSize/page/fields/orderBy and the Link-derived parameters.
_URL_SLACK = 120


def cw_date(day: date) -> str:
    """ConnectWise's date-time form of a calendar date (midnight UTC); the one place dates are formatted."""
    return f"{day.isoformat()}T00:00:00Z"


def _ids(value: int) -> int:
    """Record ids go into URL paths: accept only real integers (not "12/../x")."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer id, got {value!r}")
    return value


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


class ResourcesMixin:
    """Domain helpers. Expects `list`, `get`, `create`, `patch` and `base_url` (see Client)."""

    # -- reads ------------------------------------------------------------------------------

    def companies(self, identifiers: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """All companies, or those whose `identifier` is one of `identifiers`."""
        return self._list_in("company/companies", "identifier", identifiers)

    def agreements(self, company_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """All agreements, or those of the given company ids (`company/id in (...)`)."""
        ids = None if company_ids is None else [_ids(i) for i in company_ids]
        return self._list_in("finance/agreements", "company/id", ids)

    def agreement_types(self) -> list[dict[str, Any]]:
        return self.list("finance/agreements/types")

    def catalog_items(
        self, identifiers: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        return self._list_in("procurement/catalog", "identifier", identifiers)

    def additions(self, agreement_id: int) -> list[dict[str, Any]]:
        return self.list(f"finance/agreements/{_ids(agreement_id)}/additions")

    def management_summary_reports(
        self, company_id: int, group_identifier: str | None = None
    ) -> list[dict[str, Any]]:
        conditions = cond("groupIdentifier", "=", group_identifier) if group_identifier else None
        return self.list(
            f"company/companies/{_ids(company_id)}/managementSummaryReports", conditions=conditions
        )

    def system_info(self) -> dict[str, Any]:
        return self.get("system/info")

    # -- writes -----------------------------------------------------------------------------

    def create_addition(
        self, agreement_id: int, body: dict[str, Any], known_ids: set[Any] | None = None
    ) -> dict[str, Any]:
        """POST an addition. `body["product"]` must name the product by `id` or `identifier`.

        Read-back after an ambiguous failure: an active (no `cancelledDate`) addition of the
        same product on this agreement whose id was not there before the POST. The snapshot
        is taken here unless the caller has just read the agreement (`known_ids`). Two writers
        racing on one agreement are the caller's to resolve after the create (see apply).
        """
        path = f"finance/agreements/{_ids(agreement_id)}/additions"
        matches = _product_matcher(body.get("product"))
        before = known_ids if known_ids is not None else {a.get("id") for a in self.additions(agreement_id)}

        def find_existing() -> dict[str, Any] | None:
            new = [
                a
                for a in self.additions(agreement_id)
                if a.get("id") not in before
                and not a.get("cancelledDate")
                and matches(a.get("product"))
            ]
            return min(new, key=lambda a: a.get("id") or 0) if new else None

        return self.create(path, body, find_existing)

    def update_addition(
        self, agreement_id: int, addition_id: int, operations: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return self.patch(
            f"finance/agreements/{_ids(agreement_id)}/additions/{_ids(addition_id)}", operations
        )

    def cancel_addition(
        self, agreement_id: int, addition_id: int, cancelled_date: date,
        zero_quantity: bool = False,
    ) -> dict[str, Any]:
        """Stop billing by setting `cancelledDate` (keeps history; DELETE would lose it).

        `zero_quantity` also sets the quantity to 0, for an addition that was never meant to
        bill (a duplicate from a race): effective and cancelled dates in one period would
        otherwise leave ConnectWise a one-time fee to invoice.
        """
        value = cw_date(cancelled_date)
        operations = [{"op": "replace", "path": "quantity", "value": 0}] if zero_quantity else []
        operations.append({"op": "replace", "path": "cancelledDate", "value": value})
        return self.update_addition(agreement_id, addition_id, operations)

    def create_management_summary_report(
        self, company_id: int, body: dict[str, Any]
    ) -> dict[str, Any]:
        """POST an executive summary. No read before it: the caller knows from its ledger (and,
        after an interrupted run, from its plan's read) that none was posted, and the run lease
        keeps other runs from posting meanwhile (`reconciler.lease`). After an ambiguous
        failure, a report with the same groupIdentifier is taken as this POST's before any retry."""
        group = body.get("groupIdentifier")
        if not isinstance(group, str) or not group:
            raise ValueError("a management summary report needs a groupIdentifier")
        path = f"company/companies/{_ids(company_id)}/managementSummaryReports"

        def find_existing() -> dict[str, Any] | None:
            found = [r for r in self.management_summary_reports(company_id, group)
                     if r.get("groupIdentifier") == group]
            return min(found, key=lambda r: r.get("id") or 0) if found else None

        return self.create(path, body, find_existing)

    def delete_management_summary_report(self, company_id: int, report_id: int) -> None:
        """Remove a duplicate executive summary. Reports carry no cancel date and bill nothing;
        this is the only DELETE the tool sends, and only for a report with its own
        groupIdentifier that a concurrent run posted twice."""
        self.delete(f"company/companies/{_ids(company_id)}/managementSummaryReports/{_ids(report_id)}")

    # -- service tickets (billing-problem notifications) ------------------------------------
    # No ticket search here puts text in `conditions` (`[` and `]` delimit date-times there, and
    # our summaries hold brackets): boards, statuses and types are few and matched by name here,
    # tickets are found by board id, company id and the open flag, and then by exact summary.

    def service_boards(self) -> list[dict[str, Any]]:
        return self.list("service/boards", fields=["id", "name", "inactiveFlag"], order_by="id asc")

    def board_statuses(self, board_id: int) -> list[dict[str, Any]]:
        return self.list(f"service/boards/{_ids(board_id)}/statuses",
                         fields=["id", "name", "inactive", "closedStatus", "defaultFlag"], order_by="id asc")

    def board_types(self, board_id: int) -> list[dict[str, Any]]:
        return self.list(f"service/boards/{_ids(board_id)}/types",
                         fields=["id", "name", "inactiveFlag", "defaultFlag"], order_by="id asc")

    def management_solutions(self) -> list[dict[str, Any]]:
        return self.list("company/managementItSolutions", fields=["id", "name"], order_by="id asc")

    def open_board_tickets(self, board_id: int, company_id: int | None = None) -> list[dict[str, Any]]:
        """Open tickets on a board (of one company), lowest id first: id, summary and company only."""
        conditions = all_of(cond("board/id", "=", _ids(board_id)), cond("closedFlag", "=", False),
                            cond("company/id", "=", _ids(company_id)) if company_id is not None else None)
        return self.list("service/tickets", conditions=conditions, fields=["id", "summary", "company/id"],
                         order_by="id asc")

    def create_ticket(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a service ticket; read-back after an ambiguous failure is a new open ticket with
        the same summary on the same board and company, so a retried POST never files twice.
        `body` names its board and company by id."""
        summary = body.get("summary")
        board_id = (body.get("board") or {}).get("id")
        company_id = (body.get("company") or {}).get("id")
        if not isinstance(summary, str) or not summary or not isinstance(board_id, int) \
                or not isinstance(company_id, int):
            raise ValueError("a ticket needs a summary, a board id and a company id")

        def same(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [t for t in tickets if t.get("summary") == summary]

        before = {t.get("id") for t in same(self.open_board_tickets(board_id, company_id))}

        def find_existing() -> dict[str, Any] | None:
            new = [t for t in same(self.open_board_tickets(board_id, company_id)) if t.get("id") not in before]
            return new[0] if new else None

        return self.create("service/tickets", body, find_existing)

    def ticket_notes(self, ticket_id: int) -> list[dict[str, Any]]:
        return self.list(f"service/tickets/{_ids(ticket_id)}/notes")

    def add_ticket_note(self, ticket_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """POST a note; read-back is a new note with the same text (a note is never added twice)."""
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise ValueError("a ticket note needs text")
        path = f"service/tickets/{_ids(ticket_id)}/notes"
        before = {n.get("id") for n in self.ticket_notes(ticket_id)}

        def find_existing() -> dict[str, Any] | None:
            new = [n for n in self.ticket_notes(ticket_id) if n.get("id") not in before and n.get("text") == text]
            return min(new, key=lambda n: n.get("id") or 0) if new else None

        return self.create(path, body, find_existing)

    # -- helpers ----------------------------------------------------------------------------

    def _list_in(
        self, path: str, field: str, values: Iterable[Any] | None
    ) -> list[dict[str, Any]]:
        if values is None:
            return self.list(path)
        wanted = _unique(values)
        records: dict[Any, dict[str, Any]] = {}
        for conditions in _in_chunks(field, wanted, MAX_URL - len(self.base_url) - len(path)):
            for record in self.list(path, conditions=conditions):
                records.setdefault(record.get("id", id(record)), record)
        return list(records.values())

    if TYPE_CHECKING:  # Client's verbs, which these helpers call (last: `list` would shadow the type above)
        base_url: str

        def get(self, path: str) -> dict[str, Any]: ...
        def patch(self, path: str, operations: builtins.list[dict[str, Any]]) -> dict[str, Any]: ...
        def delete(self, path: str) -> None: ...
        def create(self, path: str, body: dict[str, Any],
                   find_existing: Callable[[], dict[str, Any] | None]) -> dict[str, Any]: ...
        def list(self, path: str, conditions: Condition | None = None,
                 fields: str | builtins.list[str] | tuple[str, ...] | None = None,
                 order_by: str | None = None) -> builtins.list[dict[str, Any]]: ...


def _in_chunks(field: str, values: list[Any], room: int) -> Iterator[Condition]:
    """`field in (...)` conditions, each short enough once URL-encoded to fit in `room`."""
    budget = room - _URL_SLACK
    chunk: list[Any] = []
    for value in values:
        trial = chunk + [value]
        if chunk and len(urlencode({"conditions": cond(field, "in", trial)})) > budget:
            yield all_of(cond(field, "in", chunk))
            chunk = [value]
        else:
            chunk = trial
    if chunk:
        yield all_of(cond(field, "in", chunk))


def _product_matcher(product: Any) -> Callable[[Any], bool]:
    if isinstance(product, dict) and isinstance(product.get("id"), int):
        wanted_id = product["id"]
        return lambda p: isinstance(p, dict) and p.get("id") == wanted_id
    if isinstance(product, dict) and isinstance(product.get("identifier"), str):
        wanted = product["identifier"].casefold()
        return lambda p: isinstance(p, dict) and str(p.get("identifier", "")).casefold() == wanted
    raise ValueError("an addition body needs product {'id': N} or {'identifier': 'X'}")
