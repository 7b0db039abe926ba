"""The ConnectWise REST subset: routing, queries, writes and CW-shaped responses.

Pure request -> response functions over a `Store`; the HTTP server (server.py) owns sockets,
auth and faults. Decisions where ConnectWise's behaviour is unconfirmed (see
shared/reference/connectwise-api-notes.md) are noted where they are made.
"""

from __future__ import annotations

import builtins  # in Api below `list` is a method: later annotations say builtins.list
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode

from reconciler.sandbox.conditions import (
    ConditionError,
    FieldResolver,
    get_path,
    parse_conditions,
    parse_order_by,
)
from reconciler.sandbox.fields import SCHEMA_FIELDS
from reconciler.sandbox.store import Record, Store, compute_addition, cw_now, ref

API_VERSION = "2025.1"
SERVER_VERSION = "v2025.1.10333"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000  # CW's documented hard limit; larger values are clamped (unconfirmed: clamp vs 400)
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-able, or None for no body
    headers: dict[str, str] = field(default_factory=dict)
    write: bool = False  # a committed API write (for stats)


def error(status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> Response:
    return Response(status, {"code": code, "message": message, "errors": errors})


def not_found(what: str) -> Response:
    return error(404, "NotFound", f"{what} not found")


class Invalid(Exception):
    """A write CW would refuse with 400 InvalidObject."""

    def __init__(self, resource: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(resource)
        self.resource = resource
        self.errors = errors

    def response(self) -> Response:
        return error(400, "InvalidObject", f"{self.resource} object is invalid", self.errors)


def _verr(code: str, message: str, resource: str, field_name: str) -> dict[str, Any]:
    return {"code": code, "message": message, "resource": resource, "field": field_name}


# ---- resources ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    kind: str
    schema: str
    resource_name: str  # the `resource` CW names in validation errors
    parent_kind: str | None = None
    item_methods: frozenset[str] = frozenset({"GET"})
    collection_methods: frozenset[str] = frozenset({"GET"})


COMPANY = Resource("company", "Company", "company")
AGREEMENT = Resource("agreement", "Agreement", "agreement", item_methods=frozenset({"GET", "PATCH"}))
AGREEMENT_TYPE = Resource("agreement_type", "AgreementType", "agreementType")
CATALOG = Resource("catalog", "CatalogItem", "catalogItem")
ADDITION = Resource(
    "addition", "Addition", "addition", parent_kind="agreement",
    item_methods=frozenset({"GET", "PATCH", "PUT", "DELETE"}),
    collection_methods=frozenset({"GET", "POST"}),
)
MSR = Resource(
    "msr", "CompanyManagementSummary", "companyManagementSummary", parent_kind="company",
    item_methods=frozenset({"GET", "PATCH", "PUT", "DELETE"}),
    collection_methods=frozenset({"GET", "POST"}),
)
# Service tickets and their notes: what billing-problem notifications use (issue 10). Only the
# operations in the OpenAPI subset are served; DELETE (which CW has) is refused here with 405.
TICKET = Resource(
    "ticket", "Ticket", "ticket",
    item_methods=frozenset({"GET", "PATCH"}), collection_methods=frozenset({"GET", "POST"}),
)
TICKET_NOTE = Resource(
    "ticket_note", "ServiceNote", "serviceNote", parent_kind="ticket",
    collection_methods=frozenset({"GET", "POST"}),
)
# What tickets and executive summaries reference: served read-only, because a ticket's board,
# status and type, and a summary's management solution, must exist in the tenant (a POST naming
# one that does not is refused with 400 InvalidObject, as ConnectWise does).
BOARD = Resource("service_board", "Board", "board")
BOARD_STATUS = Resource("board_status", "BoardStatus", "boardStatus", parent_kind="service_board")
BOARD_TYPE = Resource("board_type", "BoardType", "boardType", parent_kind="service_board")
MANAGEMENT_SOLUTION = Resource("management_solution", "ManagementItSolution", "managementItSolution")
SERIAL_NUMBER_MAX = 50  # the Addition schema: "serialNumber ... Max length: 50"
TICKET_SUMMARY_MAX = 100
# Ticket fields CW accepts on POST only and never returns (the schema says so).
_POST_ONLY_TICKET_TEXT = {
    "initialDescription": "detailDescriptionFlag",
    "initialInternalAnalysis": "internalAnalysisFlag",
    "initialResolution": "resolutionFlag",
}

# (regex over the path below apis/3.0/, resource, shape) where shape is collection|count|item
_ROUTES: list[tuple[re.Pattern[str], Resource, str]] = [
    (re.compile(r"^company/companies/?$"), COMPANY, "collection"),
    (re.compile(r"^company/companies/count$"), COMPANY, "count"),
    (re.compile(r"^company/companies/(?P<id>\d+)$"), COMPANY, "item"),
    (re.compile(r"^company/companies/(?P<parent>\d+)/managementSummaryReports/?$"), MSR, "collection"),
    (re.compile(r"^company/companies/(?P<parent>\d+)/managementSummaryReports/count$"), MSR, "count"),
    (re.compile(r"^company/companies/(?P<parent>\d+)/managementSummaryReports/(?P<id>\d+)$"), MSR, "item"),
    (re.compile(r"^finance/agreements/types/?$"), AGREEMENT_TYPE, "collection"),
    (re.compile(r"^finance/agreements/types/count$"), AGREEMENT_TYPE, "count"),
    (re.compile(r"^finance/agreements/types/(?P<id>\d+)$"), AGREEMENT_TYPE, "item"),
    (re.compile(r"^finance/agreements/?$"), AGREEMENT, "collection"),
    (re.compile(r"^finance/agreements/count$"), AGREEMENT, "count"),
    (re.compile(r"^finance/agreements/(?P<id>\d+)$"), AGREEMENT, "item"),
    (re.compile(r"^finance/agreements/(?P<parent>\d+)/additions/?$"), ADDITION, "collection"),
    (re.compile(r"^finance/agreements/(?P<parent>\d+)/additions/count$"), ADDITION, "count"),
    (re.compile(r"^finance/agreements/(?P<parent>\d+)/additions/(?P<id>\d+)$"), ADDITION, "item"),
    (re.compile(r"^procurement/catalog/?$"), CATALOG, "collection"),
    (re.compile(r"^procurement/catalog/count$"), CATALOG, "count"),
    (re.compile(r"^procurement/catalog/(?P<id>\d+)$"), CATALOG, "item"),
    (re.compile(r"^service/tickets/?$"), TICKET, "collection"),
    (re.compile(r"^service/tickets/(?P<id>\d+)$"), TICKET, "item"),
    (re.compile(r"^service/tickets/(?P<parent>\d+)/notes/?$"), TICKET_NOTE, "collection"),
    (re.compile(r"^service/boards/?$"), BOARD, "collection"),
    (re.compile(r"^service/boards/count$"), BOARD, "count"),
    (re.compile(r"^service/boards/(?P<id>\d+)$"), BOARD, "item"),
    (re.compile(r"^service/boards/(?P<parent>\d+)/statuses/?$"), BOARD_STATUS, "collection"),
    (re.compile(r"^service/boards/(?P<parent>\d+)/statuses/count$"), BOARD_STATUS, "count"),
    (re.compile(r"^service/boards/(?P<parent>\d+)/statuses/(?P<id>\d+)$"), BOARD_STATUS, "item"),
    (re.compile(r"^service/boards/(?P<parent>\d+)/types/?$"), BOARD_TYPE, "collection"),
    (re.compile(r"^service/boards/(?P<parent>\d+)/types/count$"), BOARD_TYPE, "count"),
    (re.compile(r"^service/boards/(?P<parent>\d+)/types/(?P<id>\d+)$"), BOARD_TYPE, "item"),
    (re.compile(r"^company/managementItSolutions/?$"), MANAGEMENT_SOLUTION, "collection"),
    (re.compile(r"^company/managementItSolutions/count$"), MANAGEMENT_SOLUTION, "count"),
    (re.compile(r"^company/managementItSolutions/(?P<id>\d+)$"), MANAGEMENT_SOLUTION, "item"),
]

# Reference schema -> (key of the link in the reference's _info, URL path template)
_REF_LINKS: dict[str, tuple[str, str]] = {
    "CompanyReference": ("company_href", "company/companies/{id}"),
    "AgreementTypeReference": ("type_href", "finance/agreements/types/{id}"),
    "AgreementReference": ("agreement_href", "finance/agreements/{id}"),
    "IvItemReference": ("catalog_href", "procurement/catalog/{id}"),
    "ContactReference": ("contact_href", "company/contacts/{id}"),
    "BillingCycleReference": ("billingCycle_href", "finance/billingCycles/{id}"),
    "CompanyStatusReference": ("status_href", "company/companies/statuses/{id}"),
    "ProductSubCategoryReference": ("subcategory_href", "procurement/subcategories/{id}"),
    "ProductTypeReference": ("type_href", "procurement/types/{id}"),
    "UnitOfMeasureReference": ("unitOfMeasure_href", "procurement/unitOfMeasures/{id}"),
    "ManagementSolutionReference": ("managementSolution_href", "company/managementItSolutions/{id}"),
    "BoardReference": ("board_href", "service/boards/{id}"),
    "PriorityReference": ("priority_href", "service/priorities/{id}"),
}
# References whose link needs the parent board's id (statuses and types live under a board).
_BOARD_CHILD_LINKS: dict[str, tuple[str, str]] = {
    "ServiceStatusReference": ("status_href", "service/boards/{board}/statuses/{id}"),
    "ServiceTypeReference": ("type_href", "service/boards/{board}/types/{id}"),
}

# Fields a client may send but the server owns.
_READ_ONLY: dict[str, set[str]] = {
    "Addition": {"id", "_info", "agreementId", "billedQuantity", "extPrice", "extCost", "margin",
                 "agreementStatus", "prorateCost", "proratePrice", "extendedProrateCost",
                 "extendedProratePrice"},
    "Agreement": {"id", "_info"},
    "CompanyManagementSummary": {"id", "_info"},
    # closedFlag is writable (the schema does not mark it readOnly): the run lease closes its ticket with it.
    "Ticket": {"id", "_info", "closedDate", "closedBy"},
    "ServiceNote": {"id", "_info", "ticketId", "dateCreated", "createdBy"},
}


class Api:
    """Answers ConnectWise requests. `base` is the absolute apis/3.0/ URL the client used."""

    def __init__(self, store: Store, updated_by: str) -> None:
        self.store = store
        self.updated_by = updated_by

    # ---- dispatch -------------------------------------------------------------------------
    def handle(self, method: str, subpath: str, query: str, body: bytes, base: str) -> Response:
        params = parse_qsl(query, keep_blank_values=True)
        if subpath.rstrip("/") == "system/info":
            if method != "GET":
                return error(405, "MethodNotAllowed", "The requested method is not allowed.")
            return Response(200, {
                "version": SERVER_VERSION, "isCloud": False, "serverTimeZone": "Central Standard Time",
                "licenseBits": [{"name": "Agreements", "activeFlag": True}], "cloudRegion": "NA",
                "maxWorkFlowRecordsAllowed": 1000,
            })
        for pattern, resource, shape in _ROUTES:
            match = pattern.match(subpath)
            if not match:
                continue
            groups = match.groupdict()
            parent_id = int(groups["parent"]) if groups.get("parent") else None
            item_id = int(groups["id"]) if groups.get("id") else None
            allowed = resource.item_methods if shape == "item" else (
                resource.collection_methods if shape == "collection" else frozenset({"GET"}))
            if method not in allowed:
                return error(405, "MethodNotAllowed", f"The requested method {method} is not allowed.")
            if parent_id is not None and resource.parent_kind:
                parent = self.store.get(resource.parent_kind, parent_id)
                if parent is None:
                    return not_found(f"{resource.parent_kind.capitalize()} {parent_id}")
            try:
                if shape == "count":
                    return self.count(resource, parent_id, params)
                if shape == "collection" and method == "GET":
                    return self.list(resource, parent_id, params, base, query)
                if shape == "collection":
                    return self.create(resource, parent_id, _json(body), base, params)
                return self.item(method, resource, parent_id, item_id, body, base, params)
            except ConditionError as exc:
                return error(400, "InvalidObject", str(exc), [
                    _verr("InvalidConditions", str(exc), resource.resource_name, "conditions")])
            except Invalid as exc:
                return exc.response()
            except _BadBody as exc:
                return error(400, "InvalidObject", str(exc))
        return error(404, "NotFound", f"The requested resource /{subpath} was not found.")

    # ---- reads ----------------------------------------------------------------------------
    def _select(self, resource: Resource, parent_id: int | None, params: list[tuple[str, str]]) -> list[Record]:
        values = dict(params)
        condition = None
        if values.get("conditions", "").strip():
            condition = parse_conditions(values["conditions"], resource.schema)
        records = self.store.query(resource.kind, condition, parent_id)
        if values.get("orderBy", "").strip():
            try:
                keys = parse_order_by(values["orderBy"], resource.schema)
            except ConditionError as exc:
                raise Invalid(resource.resource_name, [
                    _verr("InvalidOrderBy", str(exc), resource.resource_name, "orderBy")]) from exc
            for path, _ftype, descending in reversed(keys):
                # SQL Server sorts nulls first ascending; strings case-insensitively
                records.sort(key=_by_field(path), reverse=descending)
        return records

    def count(self, resource: Resource, parent_id: int | None, params: list[tuple[str, str]]) -> Response:
        return Response(200, {"count": len(self._select(resource, parent_id, params))})

    def list(self, resource: Resource, parent_id: int | None, params: list[tuple[str, str]],
             base: str, query: str) -> Response:
        values = dict(params)
        page = _int_param(values.get("page"), 1, resource, "page")
        page_size = _int_param(values.get("pageSize"), DEFAULT_PAGE_SIZE, resource, "pageSize")
        page = max(page, 1)
        page_size = DEFAULT_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
        projection = self._projection(resource, values.get("fields"))
        records = self._select(resource, parent_id, params)
        last = max(1, -(-len(records) // page_size))
        chunk = records[(page - 1) * page_size: page * page_size]
        body = [self.render(resource.schema, r, base, projection) for r in chunk]
        path = base + _route_path(resource, parent_id)
        return Response(200, body, {"Link": _link_header(path, params, page, last)})

    def item(self, method: str, resource: Resource, parent_id: int | None, item_id: int | None,
             body: bytes, base: str, params: builtins.list[tuple[str, str]]) -> Response:
        assert item_id is not None
        record = self.store.get(resource.kind, item_id)
        if record is None or (parent_id is not None and _parent_of(resource, record) != parent_id):
            return not_found(f"{resource.schema} {item_id}")
        if method == "GET":
            projection = self._projection(resource, dict(params).get("fields"))
            return Response(200, self.render(resource.schema, record, base, projection))
        if method == "DELETE":
            self.store.delete(resource.kind, item_id, api_write=True)
            return Response(204, None, write=True)
        payload = _json(body)
        if method == "PATCH":
            updated = self._apply_patch(resource, record, payload)
        else:  # PUT replaces: omitted fields go back to defaults (CW: "system defaults or Null")
            if not isinstance(payload, dict):
                raise _BadBody("The request body must be a JSON object.")
            updated = {"id": record["id"], "_info": record.get("_info"), **payload}
        updated = self._validate_and_build(resource, updated, parent_id, existing=record)
        saved = self.store.replace(resource.kind, updated, parent_id, api_write=True,
                                   updated_by=self.updated_by)
        return Response(200, self.render(resource.schema, saved, base), write=True)

    # ---- writes ---------------------------------------------------------------------------
    def create(self, resource: Resource, parent_id: int | None, payload: Any, base: str,
               params: builtins.list[tuple[str, str]]) -> Response:
        if not isinstance(payload, dict):
            raise _BadBody("The request body must be a JSON object.")
        payload = dict(payload)
        first_notes = {key: payload.pop(key) for key in _POST_ONLY_TICKET_TEXT
                       if resource is TICKET and key in payload}
        record = self._validate_and_build(resource, payload, parent_id, existing=None)
        record.pop("id", None)
        saved = self.store.insert(resource.kind, record, parent_id, api_write=True,
                                  updated_by=self.updated_by)
        for key, text in first_notes.items():
            # CW turns the initial texts into the ticket's first notes; they are never returned.
            if isinstance(text, str) and text:
                note = {"text": text, _POST_ONLY_TICKET_TEXT[key]: True}
                self._build_ticket_note(note, saved["id"], [])
                self.store.insert("ticket_note", note, saved["id"], updated_by=self.updated_by)
        return Response(201, self.render(resource.schema, saved, base), write=True)

    def _apply_patch(self, resource: Resource, record: Record, ops: Any) -> Record:
        if not isinstance(ops, list):
            raise _BadBody("The PATCH body must be a JSON array of operations {op, path, value}.")
        updated: dict[str, Any] = json.loads(json.dumps(record))
        fields_ = SCHEMA_FIELDS[resource.schema]
        errors = []
        for index, op in enumerate(ops):
            if not isinstance(op, dict) or not isinstance(op.get("path"), str):
                raise _BadBody(f"Operation {index} must be an object with op, path and value.")
            kind = str(op.get("op", "")).lower()
            path = op["path"].lstrip("/")
            if kind not in ("add", "replace", "remove"):
                errors.append(_verr("InvalidOperation", f"Unsupported op {op.get('op')!r}.",
                                    resource.resource_name, path))
                continue
            # CW paths are top-level field names, case-sensitive; a reference is replaced whole.
            # Real CW may answer a sub-path with a false 200; we refuse it so the bug is visible.
            if path not in fields_ or path in _READ_ONLY.get(resource.schema, {"id", "_info"}):
                errors.append(_verr("InvalidField", f"Field {path!r} cannot be patched.",
                                    resource.resource_name, path))
                continue
            if kind == "remove":
                updated.pop(path, None)
            else:
                if "value" not in op:
                    raise _BadBody(f"Operation {index} needs a value.")
                updated[path] = op["value"]
        if errors:
            raise Invalid(resource.resource_name, errors)
        return updated

    def _validate_and_build(self, resource: Resource, record: Record, parent_id: int | None,
                            existing: Record | None) -> Record:
        schema = resource.schema
        fields_ = SCHEMA_FIELDS[schema]
        read_only = _READ_ONLY.get(schema, {"id", "_info"})
        out: Record = {}
        errors: list[dict[str, Any]] = []
        for key, value in record.items():
            if key not in fields_:
                continue  # CW (Json.NET) ignores unknown properties
            if key in read_only and key not in ("id", "_info"):
                continue
            if value is None:
                continue  # null clears the field; nulls are never stored (and never rendered)
            problem = _type_problem(fields_[key], value)
            if problem:
                code = "UnsupportedFormat" if fields_[key] == "datetime" else "InvalidValue"
                errors.append(_verr(code, f"{key} {problem}", resource.resource_name, key))
                continue
            out[key] = value
        if existing is not None:
            out["id"] = existing["id"]
            out["_info"] = existing.get("_info")
        if errors:
            raise Invalid(resource.resource_name, errors)
        builder = getattr(self, f"_build_{resource.kind}", None)
        if builder is not None:
            builder(out, parent_id, errors)
        if errors:
            raise Invalid(resource.resource_name, errors)
        return out

    def _build_addition(self, record: Record, parent_id: int | None, errors: builtins.list[dict[str, Any]]) -> None:
        agreement = self.store.get("agreement", parent_id or 0)
        assert agreement is not None
        product = None
        if "product" not in record:
            errors.append(_verr("RequiredField", "The product field is required.", "addition", "product"))
        else:
            product = self._resolve(record["product"], "catalog", "identifier")
            if product is None:
                errors.append(_verr("InvalidValue", f"Product {_describe(record['product'])} was not found.",
                                    "addition", "product"))
        if record.get("billCustomer") not in ("Billable", "DoNotBill", "NoCharge"):
            message = ("The billCustomer field is required." if "billCustomer" not in record else
                       "billCustomer must be one of Billable, DoNotBill, NoCharge.")
            code = "RequiredField" if "billCustomer" not in record else "InvalidValue"
            errors.append(_verr(code, message, "addition", "billCustomer"))
        serial = record.get("serialNumber")
        if isinstance(serial, str) and len(serial) > SERIAL_NUMBER_MAX:
            errors.append(_verr("InvalidValue", f"The field serialNumber must be a string with a maximum length of "
                                f"{SERIAL_NUMBER_MAX}.", "addition", "serialNumber"))
        if errors or product is None:
            return
        record["product"] = {**ref(product, "identifier"), "serializedFlag": bool(product.get("serializedFlag"))}
        # Unconfirmed in CW docs: price, cost and description default from the catalog item.
        record.setdefault("unitPrice", product.get("price"))
        record.setdefault("unitCost", product.get("cost"))
        record.setdefault("description", product.get("description"))
        record.setdefault("lessIncluded", 0)
        record.setdefault("quantity", 0)
        compute_addition(record, agreement)

    def _build_agreement(self, record: Record, parent_id: int | None, errors: builtins.list[dict[str, Any]]) -> None:
        for key, kind, by in (("type", "agreement_type", "name"), ("company", "company", "identifier")):
            if key not in record:
                errors.append(_verr("RequiredField", f"The {key} field is required.", "agreement", key))
                continue
            target = self._resolve(record[key], kind, by)
            if target is None:
                errors.append(_verr("InvalidValue", f"{key} {_describe(record[key])} was not found.",
                                    "agreement", key))
                continue
            record[key] = ref(target, "identifier", "name") if kind == "company" else ref(target, "name")
        if not record.get("name"):
            errors.append(_verr("RequiredField", "The name field is required.", "agreement", "name"))
        elif len(record["name"]) > 100:
            errors.append(_verr("InvalidValue", "name must be at most 100 characters.", "agreement", "name"))

    def _build_msr(self, record: Record, parent_id: int | None, errors: builtins.list[dict[str, Any]]) -> None:
        company = self.store.get("company", parent_id or 0)
        assert company is not None
        group = record.get("groupIdentifier")
        if not group:
            errors.append(_verr("RequiredField", "The groupIdentifier field is required.",
                                "companyManagementSummary", "groupIdentifier"))
        elif len(group) > 100:
            errors.append(_verr("InvalidValue", "groupIdentifier must be at most 100 characters.",
                                "companyManagementSummary", "groupIdentifier"))
        record["company"] = ref(company, "identifier", "name")
        # The management solution is a reference by id or name and must exist in the tenant
        # (whether CW requires one at all is not documented: a report without one is accepted).
        if "managementSolution" in record:
            solution = self._resolve(record["managementSolution"], "management_solution", "name")
            if solution is None:
                errors.append(_verr("InvalidValue", f"managementSolution {_describe(record['managementSolution'])} "
                                    "was not found.", "companyManagementSummary", "managementSolution"))
            else:
                record["managementSolution"] = ref(solution, "name")
        if "agreement" in record:
            agreement = self._resolve(record["agreement"], "agreement", "name")
            if agreement is None:
                errors.append(_verr("InvalidValue", f"agreement {_describe(record['agreement'])} was not found.",
                                    "companyManagementSummary", "agreement"))
            else:
                record["agreement"] = {**ref(agreement, "name"), "type": agreement["type"].get("name")}

    def _build_ticket(self, record: Record, parent_id: int | None, errors: builtins.list[dict[str, Any]]) -> None:
        """Company and summary (at most 100 characters) are required; board, status and type are
        references by id or name that must exist (status and type on that board), or the POST is
        refused with 400 InvalidObject naming the field. Without a board the default board is
        used, and without a status the board's default status, as CW does for a member whose
        default board is set (unconfirmed: real CW may refuse a ticket without a board)."""
        if "company" not in record:
            errors.append(_verr("RequiredField", "The company field is required.", "ticket", "company"))
        else:
            company = self._resolve(record["company"], "company", "identifier")
            if company is None:
                errors.append(_verr("InvalidValue", f"company {_describe(record['company'])} was not found.",
                                    "ticket", "company"))
            else:
                record["company"] = ref(company, "identifier", "name")
        summary = record.get("summary")
        if not summary:
            errors.append(_verr("RequiredField", "The summary field is required.", "ticket", "summary"))
        elif len(summary) > TICKET_SUMMARY_MAX:
            errors.append(_verr("InvalidValue", f"The field summary must be a string with a maximum length of "
                                f"{TICKET_SUMMARY_MAX}.", "ticket", "summary"))
        boards = self.store.all("service_board")
        if "board" in record:
            board = self._resolve(record["board"], "service_board", "name")
        else:
            board = next((b for b in boards if b.get("defaultFlag")), boards[0] if boards else None)
        if board is None:
            errors.append(_verr("InvalidValue", f"board {_describe(record.get('board', {}))} was not found.",
                                "ticket", "board"))
            return
        record["board"] = ref(board, "name")
        statuses = self.store.all("board_status", board["id"])
        wanted = record.get("status")
        if wanted is None:
            status = next((st for st in statuses if st.get("defaultFlag")), statuses[0] if statuses else None)
        else:
            status = _child(statuses, wanted)
        if status is None:
            errors.append(_verr("InvalidValue", f"status {_describe(wanted or {})} was not found on board "
                                f"{board['name']}.", "ticket", "status"))
        else:
            record["status"] = {"id": status["id"], "name": status["name"], "sort": status.get("sortOrder", 0),
                                "_board": board["id"]}
        if "type" in record:
            service_type = _child(self.store.all("board_type", board["id"]), record["type"])
            if service_type is None:
                errors.append(_verr("InvalidValue", f"type {_describe(record['type'])} was not found on board "
                                    f"{board['name']}.", "ticket", "type"))
            else:
                record["type"] = {"id": service_type["id"], "name": service_type["name"], "_board": board["id"]}
        if status is None:
            return
        if record.get("closedFlag") is True and not status.get("closedStatus"):
            # Closed by its flag (the run lease's release): the board's closed status follows.
            status = next((st for st in statuses if st.get("closedStatus")), status)
            record["status"] = {"id": status["id"], "name": status["name"], "sort": status.get("sortOrder", 0),
                                "_board": board["id"]}
        record.setdefault("recordType", "ServiceTicket")
        record["closedFlag"] = bool(status.get("closedStatus")) or record.get("closedFlag") is True

    def _build_ticket_note(self, record: Record, parent_id: int | None, errors: builtins.list[dict[str, Any]]) -> None:
        """A note needs text; CW files it where its flag says (unconfirmed default: the discussion)."""
        if not record.get("text"):
            errors.append(_verr("RequiredField", "The text field is required.", "serviceNote", "text"))
            return
        if not any(record.get(flag) for flag in ("detailDescriptionFlag", "internalAnalysisFlag",
                                                  "resolutionFlag")):
            record["detailDescriptionFlag"] = True
        record["ticketId"] = parent_id
        record["dateCreated"] = cw_now()
        record["createdBy"] = self.updated_by

    def _resolve(self, value: Any, kind: str, by: str) -> Record | None:
        """Resolve a reference given as {"id": N} or {by: "X"} (e.g. identifier) to a record."""
        if not isinstance(value, dict):
            return None
        if isinstance(value.get("id"), int) and not isinstance(value.get("id"), bool):
            return self.store.get(kind, value["id"])
        if isinstance(value.get(by), str):
            return self.store.find_one(kind, **{by: value[by]})
        return None

    # ---- rendering ------------------------------------------------------------------------
    def _projection(self, resource: Resource, fields_param: str | None) -> builtins.list[tuple[str, ...]] | None:
        if not fields_param or not fields_param.strip():
            return None
        resolver = FieldResolver(resource.schema)
        out = []
        for name in fields_param.split(","):
            name = name.strip()
            if not name:
                continue
            try:
                out.append(resolver.resolve(name, allow_ref=True)[0])
            except ConditionError as exc:
                raise Invalid(resource.resource_name, [
                    _verr("InvalidField", str(exc), resource.resource_name, "fields")]) from exc
        return out

    def render(self, schema: str, record: Record, base: str,
               projection: builtins.list[tuple[str, ...]] | None = None) -> Record:
        """The record as CW returns it: nulls omitted, `_info` links on references."""
        out: Record = {"id": record["id"]} if "id" in record else {}
        if schema == "Agreement" and not record.get("nextInvoiceDate"):
            record = {**record, "nextInvoiceDate": next_invoice_date()}
        fields_ = SCHEMA_FIELDS[schema]
        for key, value in record.items():
            if value is None or key == "id":
                continue
            ftype = fields_.get(key, "")
            if ftype.startswith("ref:") and isinstance(value, dict):
                value = _render_ref(ftype[4:], value, base)
            elif key == "_info":
                value = {**value, **_top_links(schema, record, base)}
            out[key] = value
        if projection is None:
            return out
        projected: Record = {}
        for path in projection:
            value = get_path(out, path)
            if value is None:
                continue
            target = projected
            for part in path[:-1]:
                target = target.setdefault(part, {})
            target[path[-1]] = value
        return projected


class _BadBody(Exception):
    pass


def _json(body: bytes) -> Any:
    if not body:
        raise _BadBody("A JSON request body is required.")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise _BadBody(f"The request body is not valid JSON: {exc}") from exc


def _type_problem(ftype: str, value: Any) -> str | None:
    if ftype == "string":
        return None if isinstance(value, str) else "must be a string."
    if ftype == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer."
    if ftype == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "must be a number."
    if ftype == "boolean":
        return None if isinstance(value, bool) else "must be true or false."
    if ftype == "datetime":
        ok = isinstance(value, str) and _DATETIME_RE.match(value) is not None
        return None if ok else "must be a date-time formatted YYYY-MM-DDTHH:MM:SSZ."
    if ftype.startswith("ref:") or ftype == "object":
        return None if isinstance(value, dict) else "must be an object."
    if ftype == "array":
        return None if isinstance(value, list) else "must be an array."
    return None


def _child(children: list[Record], wanted: Any) -> Record | None:
    """A board's status or type named by a reference: {"id": N} or {"name": "X"} (case-insensitive)."""
    if not isinstance(wanted, dict):
        return None
    if isinstance(wanted.get("id"), int) and not isinstance(wanted.get("id"), bool):
        return next((c for c in children if c["id"] == wanted["id"]), None)
    if isinstance(wanted.get("name"), str):
        return next((c for c in children if c["name"].casefold() == wanted["name"].casefold()), None)
    return None


def _describe(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value


def _by_field(path: tuple[str, ...]) -> Callable[[Record], tuple[int, Any]]:
    """The sort key of a record by the field at `path`."""
    return lambda record: _sort_key(get_path(record, path))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.lower())
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (1, json.dumps(value, sort_keys=True))


def _int_param(raw: str | None, default: int, resource: Resource, name: str) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise Invalid(resource.resource_name, [
            _verr("InvalidValue", f"{name} must be an integer.", resource.resource_name, name)]) from exc


def _parent_of(resource: Resource, record: Record) -> int | None:
    if resource.kind == "addition":
        return record.get("agreementId")
    if resource.kind == "msr":
        return (record.get("company") or {}).get("id")
    if resource.kind == "ticket_note":
        return record.get("ticketId")
    if resource.kind in ("board_status", "board_type"):
        return (record.get("board") or {}).get("id")
    return None


def _route_path(resource: Resource, parent_id: int | None) -> str:
    return {
        "company": "company/companies",
        "agreement": "finance/agreements",
        "agreement_type": "finance/agreements/types",
        "catalog": "procurement/catalog",
        "addition": f"finance/agreements/{parent_id}/additions",
        "msr": f"company/companies/{parent_id}/managementSummaryReports",
        "ticket": "service/tickets",
        "ticket_note": f"service/tickets/{parent_id}/notes",
        "service_board": "service/boards",
        "board_status": f"service/boards/{parent_id}/statuses",
        "board_type": f"service/boards/{parent_id}/types",
        "management_solution": "company/managementItSolutions",
    }[resource.kind]


def _link_header(path: str, params: list[tuple[str, str]], page: int, last: int) -> str:
    """RFC 5988 links. `page` goes last in each URL: pyconnectwise's parser needs `page=N>`."""
    others = [(k, v) for k, v in params if k.lower() != "page"]

    def url(number: int) -> str:
        return f"<{path}?{urlencode(others + [('page', str(number))])}>"

    links = [f'{url(1)}; rel="first"']
    if page > 1:
        links.append(f'{url(min(page - 1, last))}; rel="prev"')
    if page < last:
        links.append(f'{url(page + 1)}; rel="next"')
    links.append(f'{url(last)}; rel="last"')
    return ", ".join(links)


def next_invoice_date(today: date | None = None) -> str:
    """The sandbox invoices every agreement on the 1st of the month, early in the day: on the
    1st that day's invoice is still to come, later in the month the next one is the next 1st.
    ConnectWise computes `nextInvoiceDate` itself; an agreement PATCHed with its own value keeps it."""
    today = today or datetime.now(timezone.utc).date()
    if today.day == 1:
        return f"{today.isoformat()}T00:00:00Z"
    first = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return f"{first.isoformat()}T00:00:00Z"


def _render_ref(ref_schema: str, value: Record, base: str) -> Record:
    link = _REF_LINKS.get(ref_schema)
    out = {k: v for k, v in value.items() if v is not None and not k.startswith("_board")}
    child = _BOARD_CHILD_LINKS.get(ref_schema)
    if child and isinstance(value.get("id"), int) and isinstance(value.get("_board"), int):
        key, template = child
        out["_info"] = {**(value.get("_info") or {}), key: base + template.format(board=value["_board"], id=value["id"])}
    elif link and isinstance(value.get("id"), int):
        key, template = link
        out["_info"] = {**(value.get("_info") or {}), key: base + template.format(id=value["id"])}
    return out


def _top_links(schema: str, record: Record, base: str) -> dict[str, str]:
    rid = record.get("id")
    if schema == "Company":
        return {"agreements_href": f"{base}finance/agreements?conditions=company/id={rid}",
                "reports_href": f"{base}company/companies/{rid}/managementSummaryReports"}
    if schema == "Agreement":
        return {"additions_href": f"{base}finance/agreements/{rid}/additions"}
    if schema == "Ticket":
        return {"notes_href": f"{base}service/tickets/{rid}/notes"}
    return {}


Handler = Callable[..., Response]
