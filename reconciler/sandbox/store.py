"""The sandbox's state: JSON documents in one SQLite file, with an in-memory read cache.

Every record is a ConnectWise-shaped dict (references without their `_info` links; those depend
on the URL the client used and are added when rendering). SQLite is the truth so that an apply in
one process is seen by a plan in the next; the cache exists because the benchmark lists
thousands of agreements and decoding JSON rows per request would dominate. A `version` row in
`meta` is bumped by every write transaction; a store that sees a version it did not write
itself (another process wrote) reloads everything. One lock serialises all access: the
ThreadingHTTPServer's threads share a single connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.sandbox.conditions import Condition, get_path

Record = dict[str, Any]

# Store kind -> OpenAPI schema name (None: not a ConnectWise resource).
KINDS: dict[str, str | None] = {
    "company": "Company",
    "agreement_type": "AgreementType",
    "agreement": "Agreement",
    "catalog": "CatalogItem",
    "addition": "Addition",
    "msr": "CompanyManagementSummary",
    "ticket": "Ticket",
    "ticket_note": "ServiceNote",
    # What tickets and executive summaries reference, and must exist (read-only here).
    "service_board": "Board",
    "board_status": "BoardStatus",  # parent: the board
    "board_type": "BoardType",  # parent: the board
    "management_solution": "ManagementItSolution",
    "lmpi_customer": None,
    "lmpi_subscription": None,
    "lmpi_serviceplan": None,
    # The API member's security role: endpoints it may not read (`deny_api_member`), answered 403.
    "role_denial": None,
}

DB_NAME = "sandbox.db"


def cw_now() -> str:
    """The current time in ConnectWise's format (UTC, whole seconds)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SandboxStateError(ReconcileError):
    """`sandbox.db` cannot be used: damaged (not SQLite, or not ours), or not readable or
    writable. One line naming the file and the fix."""

    damaged = False

    @classmethod
    def about(cls, path: Path, error: sqlite3.DatabaseError) -> SandboxStateError:
        if isinstance(error, sqlite3.OperationalError) and "not a database" not in str(error):
            return cls(f"{path}: cannot use the sandbox state ({error}): check that its directory "
                       "is readable and writable")
        problem = cls(f"{path}: the sandbox state is damaged ({error}): run `reconcile sandbox reset` "
                      "to start again from the demo data (the damaged file is kept beside it)")
        problem.damaged = True
        return problem


class Store:
    """SQLite-backed records. Direct-insert helpers are for seeding, tests and benchmarks."""

    def __init__(self, data_dir: Path, updated_by: str = "sandbox") -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / DB_NAME
        self.updated_by = updated_by
        self._lock = threading.RLock()
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as error:
            raise SandboxStateError.about(self.path, error) from None
        self._cache: dict[str, dict[int, Record]] = {}
        self._parents: dict[str, dict[int, list[int]]] = {}
        self._indexes: dict[tuple[str, tuple[str, ...]], dict[Any, list[int]]] = {}
        self._cache_version: int | None = None

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so id allocation is race-free
        # even against another process writing the same file.
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(
                """
                CREATE TABLE IF NOT EXISTS records (
                    kind TEXT NOT NULL, id INTEGER NOT NULL, parent INTEGER, body TEXT NOT NULL,
                    PRIMARY KEY (kind, id));
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """
            )
            conn.execute("SELECT kind, id, parent, body FROM records LIMIT 0")  # the columns we need
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    # ---- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _db_version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        return int(row[0]) if row else 0

    def _sync(self) -> None:
        version = self._db_version()
        if version == self._cache_version:
            return
        self._cache = {kind: {} for kind in KINDS}
        self._parents = {kind: {} for kind in KINDS}
        self._indexes = {}
        for kind, rid, parent, body in self._conn.execute(
            "SELECT kind, id, parent, body FROM records ORDER BY kind, id"
        ):
            self._cache.setdefault(kind, {})[rid] = json.loads(body)
            if parent is not None:
                self._parents.setdefault(kind, {}).setdefault(parent, []).append(rid)
        self._cache_version = version

    def _begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._sync()

    def _commit(self, kinds: Iterable[str], api_writes: int = 0) -> None:
        version = self._db_version() + 1
        self._conn.execute(
            "INSERT INTO meta(key, value) VALUES('version', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (str(version),),
        )
        if api_writes:
            self._conn.execute(
                "INSERT INTO meta(key, value) VALUES('writes', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER)+?",
                (str(api_writes), api_writes),
            )
        self._conn.execute("COMMIT")
        self._cache_version = version
        for key in [k for k in self._indexes if k[0] in set(kinds)]:
            del self._indexes[key]

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._cache_version = None  # the cache may hold uncommitted changes: reload next time

    def _next_id(self, kind: str) -> int:
        records = self._cache.get(kind) or {}
        return (max(records) if records else 0) + 1

    def _put(self, kind: str, record: Record, parent: int | None) -> None:
        rid = record["id"]
        self._conn.execute(
            "INSERT OR REPLACE INTO records(kind, id, parent, body) VALUES(?,?,?,?)",
            (kind, rid, parent, json.dumps(record, separators=(",", ":"))),
        )
        kind_cache = self._cache.setdefault(kind, {})
        if rid not in kind_cache and parent is not None:
            self._parents.setdefault(kind, {}).setdefault(parent, []).append(rid)
        kind_cache[rid] = record

    def _stamp(self, record: Record, updated_by: str | None, new: bool) -> None:
        info = dict(record.get("_info") or {})
        now = cw_now()
        info["lastUpdated"] = now
        info["updatedBy"] = updated_by or self.updated_by
        if new:
            info.setdefault("dateEntered", now)
            info.setdefault("enteredBy", updated_by or self.updated_by)
        record["_info"] = info

    # ---- reads ----------------------------------------------------------------------------
    def get(self, kind: str, rid: int) -> Record | None:
        with self._lock:
            self._sync()
            return self._cache.get(kind, {}).get(rid)

    def all(self, kind: str, parent: int | None = None) -> list[Record]:
        with self._lock:
            self._sync()
            records = self._cache.get(kind, {})
            if parent is None:
                return list(records.values())
            return [records[i] for i in self._parents.get(kind, {}).get(parent, []) if i in records]

    def query(self, kind: str, condition: Condition | None, parent: int | None = None) -> list[Record]:
        """Records of `kind` (under `parent`) matching `condition`, in id order."""
        with self._lock:
            self._sync()
            if parent is not None:
                candidates = self.all(kind, parent)
            elif condition is not None and condition.equalities:
                path, literal = condition.equalities[0]
                index = self._index(kind, path)
                records = self._cache.get(kind, {})
                candidates = [records[i] for i in index.get(literal, [])]
            else:
                candidates = list(self._cache.get(kind, {}).values())
        if condition is not None:
            candidates = [r for r in candidates if condition.predicate(r)]
        return sorted(candidates, key=lambda r: r["id"])

    def _index(self, kind: str, path: tuple[str, ...]) -> dict[Any, list[int]]:
        key = (kind, path)
        if key not in self._indexes:
            index: dict[Any, list[int]] = {}
            for rid, record in self._cache.get(kind, {}).items():
                value = get_path(record, path)
                if value is None:
                    continue
                # normalise the way conditions compare: strings lower-cased, numbers as numbers
                normalised = value.lower() if isinstance(value, str) else value
                index.setdefault(normalised, []).append(rid)
            self._indexes[key] = index
        return self._indexes[key]

    def find_one(self, kind: str, **fields: Any) -> Record | None:
        """First record whose top-level fields equal `fields` (strings case-insensitively)."""
        for record in self.all(kind):
            if all(_same(record.get(k), v) for k, v in fields.items()):
                return record
        return None

    def count(self, kind: str) -> int:
        with self._lock:
            self._sync()
            return len(self._cache.get(kind, {}))

    def is_empty(self) -> bool:
        with self._lock:
            return bool(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 0)

    @property
    def write_count(self) -> int:
        """API writes (POST/PATCH/PUT/DELETE) ever committed to this DB since the last reset."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key='writes'").fetchone()
            return int(row[0]) if row else 0

    # ---- writes ---------------------------------------------------------------------------
    def insert(
        self, kind: str, record: Record, parent: int | None = None, *,
        api_write: bool = False, updated_by: str | None = None,
    ) -> Record:
        return self.insert_many(kind, [(record, parent)], api_write=api_write, updated_by=updated_by)[0]

    def insert_many(
        self, kind: str, items: Iterable[tuple[Record, int | None]], *,
        api_write: bool = False, updated_by: str | None = None,
    ) -> list[Record]:
        """Insert (record, parent) pairs in one transaction; ids are assigned unless given."""
        with self._lock:
            self._begin()
            try:
                out = []
                next_id = self._next_id(kind)
                for record, parent in items:
                    record = dict(record)
                    if record.get("id") is None:
                        record["id"] = next_id
                    next_id = max(next_id, record["id"]) + 1
                    self._stamp(record, updated_by, new=True)
                    self._put(kind, record, parent)
                    out.append(record)
                self._commit([kind], api_writes=len(out) if api_write else 0)
                return out
            except BaseException:
                self._rollback()
                raise

    def replace(
        self, kind: str, record: Record, parent: int | None = None, *,
        api_write: bool = False, updated_by: str | None = None,
    ) -> Record:
        """Store `record` (which has an id) as the new version; bumps `_info`."""
        with self._lock:
            self._begin()
            try:
                record = dict(record)
                self._stamp(record, updated_by, new=False)
                self._put(kind, record, parent)
                self._commit([kind], api_writes=1 if api_write else 0)
                return record
            except BaseException:
                self._rollback()
                raise

    def delete(self, kind: str, rid: int, *, api_write: bool = False) -> bool:
        with self._lock:
            self._begin()
            try:
                cur = self._conn.execute("DELETE FROM records WHERE kind=? AND id=?", (kind, rid))
                self._cache.get(kind, {}).pop(rid, None)
                for ids in self._parents.get(kind, {}).values():
                    if rid in ids:
                        ids.remove(rid)
                self._commit([kind], api_writes=1 if api_write else 0)
                return cur.rowcount > 0
            except BaseException:
                self._rollback()
                raise

    def clear(self) -> None:
        """Remove every record and zero the write counter."""
        with self._lock:
            self._begin()
            try:
                self._conn.execute("DELETE FROM records")
                self._conn.execute("DELETE FROM meta WHERE key='writes'")
                self._cache = {kind: {} for kind in KINDS}
                self._parents = {kind: {} for kind in KINDS}
                self._commit(list(KINDS))
            except BaseException:
                self._rollback()
                raise

    # ---- typed helpers (seeding, tests, benchmark generators) -----------------------------
    def add_company(self, identifier: str, name: str, **extra: Any) -> Record:
        return self.insert("company", company_record(identifier, name, **extra))

    def add_agreement_type(self, name: str, **extra: Any) -> Record:
        return self.insert("agreement_type", agreement_type_record(name, **extra))

    def add_catalog_item(
        self, identifier: str, description: str, price: float, cost: float, **extra: Any
    ) -> Record:
        return self.insert("catalog", catalog_record(identifier, description, price, cost, **extra))

    def add_agreement(self, company: Record, agreement_type: Record, name: str, **extra: Any) -> Record:
        return self.insert("agreement", agreement_record(company, agreement_type, name, **extra))

    def add_addition(
        self, agreement: Record, product: Record, quantity: float, **extra: Any
    ) -> Record:
        record = addition_record(agreement, product, quantity, **extra)
        return self.insert("addition", record, parent=agreement["id"])

    def deny_api_member(self, path: str) -> Record:
        """Take a right away from the API member's security role: every request under `path`
        (e.g. "procurement/catalog") is then answered 403, as ConnectWise answers a role
        without Inquire on that area (tests of `reconcile doctor` use it)."""
        return self.insert("role_denial", {"path": path.strip("/")})

    def add_management_solution(self, name: str, **extra: Any) -> Record:
        return self.insert("management_solution", management_solution_record(name, **extra))

    def add_service_board(self, name: str, statuses: list[tuple[str, dict[str, Any]]] | None = None,
                          types: list[tuple[str, dict[str, Any]]] | None = None, **extra: Any) -> Record:
        """A board (default: statuses New and Closed, type Billing) for ticket tests."""
        return seed_board(self, name, statuses if statuses is not None else [
            ("New", {"defaultFlag": True}), ("Closed", {"closedStatus": True})],
            types if types is not None else [("Billing", {"defaultFlag": True})], **extra)

    def add_lmpi_customer(self, customer_id: str, name: str, status: str = "Active",
                          created: str | None = None) -> Record:
        record = lmpi_customer_record(customer_id, name, status)
        if created:
            record["_created"] = created  # LMPI's ranges filter on it; never shown
        return self.insert("lmpi_customer", record)

    def add_lmpi_subscription(
        self, customer_id: str, subscription_id: str, name: str, service_plan_id: str,
        licenses: list[dict[str, Any]], enabled: bool = True, created: str | None = None,
    ) -> Record:
        record = lmpi_subscription_record(customer_id, subscription_id, name, service_plan_id, licenses, enabled)
        if created:
            record["_created"] = created  # LMPI's ranges filter on it; never shown
        return self.insert("lmpi_subscription", record)

    def bulk_insert(self, kind: str, records: list[Record], parent_field: str | None = None) -> list[Record]:
        """Insert many already-shaped records in one transaction (benchmarks: 5,000 customers).

        `parent_field` names the field holding the parent id (`agreementId` for additions,
        `company` -> its id for management summary reports).
        """
        def parent_of(record: Record) -> int | None:
            if parent_field is None:
                return None
            value = record.get(parent_field)
            return value.get("id") if isinstance(value, dict) else value

        return self.insert_many(kind, [(r, parent_of(r)) for r in records])

    def load_many(self, records: dict[str, list[Record]]) -> dict[str, list[Record]]:
        """Insert several kinds at once; `records` keys are kinds. Parents are derived."""
        parent_fields = {"addition": "agreementId", "msr": "company", "ticket_note": "ticketId",
                         "board_status": "board", "board_type": "board"}
        return {kind: self.bulk_insert(kind, recs, parent_fields.get(kind)) for kind, recs in records.items()}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


# ---- record builders: the shapes real ConnectWise returns --------------------------------
def ref(record: Record, *fields: str) -> Record:
    """A reference to `record` holding its id and the given fields."""
    return {"id": record["id"], **{f: record[f] for f in fields if record.get(f) is not None}}


CURRENCIES: dict[str, Record] = {
    "USD": {"id": 1, "symbol": "$", "currencyCode": "USD", "decimalSeparator": ".", "numberOfDecimals": 2,
            "thousandsSeparator": ",", "negativeParenthesesFlag": False, "displaySymbolFlag": True},
    "EUR": {"id": 2, "symbol": "€", "currencyCode": "EUR", "decimalSeparator": ",", "numberOfDecimals": 2,
            "thousandsSeparator": ".", "negativeParenthesesFlag": False, "displaySymbolFlag": True},
    "GBP": {"id": 3, "symbol": "£", "currencyCode": "GBP", "decimalSeparator": ".", "numberOfDecimals": 2,
            "thousandsSeparator": ",", "negativeParenthesesFlag": False, "displaySymbolFlag": True},
}


def company_record(identifier: str, name: str, **extra: Any) -> Record:
    return {
        "identifier": identifier,
        "name": name,
        "currency": CURRENCIES["USD"],
        "status": {"id": 1, "name": "Active"},
        "types": [{"id": 1, "name": "Client"}],
        "addressLine1": "1 Main Street",
        "city": "Springfield",
        "deletedFlag": False,
        **extra,
    }


def agreement_type_record(name: str, **extra: Any) -> Record:
    return {
        "name": name,
        "defaultFlag": False,
        "inactiveFlag": False,
        "prorateFlag": False,
        "invoiceProratedAdditionsFlag": False,
        "billingCycle": {"id": 2, "name": "Monthly"},
        "employeeCompRate": "Actual",
        "employeeCompNotExceed": "Billing",
        "invoicingCycle": "CalendarYear",
        "billTime": "Billable",
        "billExpenses": "Billable",
        "billProducts": "Billable",
        **extra,
    }


def catalog_record(identifier: str, description: str, price: float, cost: float, **extra: Any) -> Record:
    return {
        "identifier": identifier,
        "description": description,
        "customerDescription": description,
        "inactiveFlag": False,
        "subcategory": {"id": 1, "name": "Security"},
        "type": {"id": 1, "name": "Subscription"},
        "productClass": "Agreement",
        "serializedFlag": False,
        "price": price,
        "cost": cost,
        "taxableFlag": False,
        "unitOfMeasure": {"id": 1, "name": "Each"},
        **extra,
    }


def agreement_record(company: Record, agreement_type: Record, name: str, **extra: Any) -> Record:
    return {
        "name": name,
        "type": ref(agreement_type, "name"),
        "company": ref(company, "identifier", "name"),
        "contact": {"id": company["id"] * 10 + 1, "name": "Billing Contact"},
        "startDate": "2024-01-01T00:00:00Z",
        "noEndingDateFlag": True,
        "cancelledFlag": False,
        "billingCycle": {"id": 2, "name": "Monthly"},
        "currency": CURRENCIES["USD"],
        "invoiceProratedAdditionsFlag": False,
        "applicationUnits": "Amount",
        "applicationUnlimitedFlag": True,
        "employeeCompRate": "Actual",
        "invoicingCycle": "CalendarYear",
        "billTime": "Billable",
        "billExpenses": "Billable",
        "billProducts": "Billable",
        "prorateFlag": False,
        "agreementStatus": "Active",
        **extra,
    }


def addition_record(agreement: Record, product: Record, quantity: float, **extra: Any) -> Record:
    record: Record = {
        "product": ref(product, "identifier"),
        "quantity": quantity,
        "lessIncluded": 0,
        "unitPrice": product.get("price"),
        "unitCost": product.get("cost"),
        "billCustomer": "Billable",
        "effectiveDate": "2024-01-01T00:00:00Z",
        "taxableFlag": False,
        "description": product.get("description"),
        "uom": "Each",
        **extra,
    }
    record["product"]["serializedFlag"] = bool(product.get("serializedFlag", False))
    return compute_addition(record, agreement)


def compute_addition(record: Record, agreement: Record) -> Record:
    """Fill the read-only fields CW derives on additions (see connectwise-api-notes 4.2):
    billed quantity = quantity - less included; extended price and cost = billed x unit, to the
    cent (half up, in decimal: float rounding would drift by a cent); margin = price - cost."""
    quantity = Decimal(str(record.get("quantity") or 0))
    less = Decimal(str(record.get("lessIncluded") or 0))
    price = Decimal(str(record.get("unitPrice") or 0))
    cost = Decimal(str(record.get("unitCost") or 0))
    billed = quantity - less
    ext_price = (billed * price).quantize(CENT, ROUND_HALF_UP)
    ext_cost = (billed * cost).quantize(CENT, ROUND_HALF_UP)
    record["billedQuantity"] = _num(float(billed))
    record["extPrice"] = float(ext_price)
    record["extCost"] = float(ext_cost)
    record["margin"] = float(ext_price - ext_cost)
    record["agreementId"] = agreement["id"]
    # A cancelled date is the day the addition stops billing: one still to come is Active until
    # then (connectwise-api-notes, "Checked again on 2026-12-04").
    cancelled = str(record.get("cancelledDate") or "")[:10]
    ended = bool(cancelled) and cancelled <= datetime.now(UTC).date().isoformat()
    record["agreementStatus"] = "Cancelled" if ended else agreement.get("agreementStatus", "Active")
    return record


CENT = Decimal("0.01")


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def seed_board(store: Store, name: str, statuses: list[tuple[str, dict[str, Any]]],
               types: list[tuple[str, dict[str, Any]]], **extra: Any) -> Record:
    """A service board with its statuses and types, as ConnectWise keeps them: children of the
    board (`service/boards/{id}/statuses` and `/types`), each `(name, extra fields)`, e.g.
    `("New", {"defaultFlag": True})` or `("Closed", {"closedStatus": True})`."""
    board = store.insert("service_board", {"name": name, "inactiveFlag": False, **extra})
    board_ref = ref(board, "name")
    store.insert_many("board_status", [
        ({"name": status, "board": board_ref, "sortOrder": n, "displayOnBoard": True, "inactive": False,
          "closedStatus": False, "defaultFlag": False, **fields}, board["id"])
        for n, (status, fields) in enumerate(statuses)])
    store.insert_many("board_type", [
        ({"name": type_name, "category": "Reactive", "board": board_ref, "inactiveFlag": False,
          "defaultFlag": False, **fields}, board["id"])
        for type_name, fields in types])
    return board


def management_solution_record(name: str, **extra: Any) -> Record:
    return {"name": name, "type": "Custom", "managementProductsFlag": False, **extra}


def lmpi_customer_record(customer_id: str, name: str, status: str = "Active") -> Record:
    return {"customer_id": customer_id, "name": name, "status": status, "country": "US"}


def lmpi_subscription_record(
    customer_id: str, subscription_id: str, name: str, service_plan_id: str,
    licenses: list[dict[str, Any]], enabled: bool = True,
) -> Record:
    return {
        "subscription_id": subscription_id,
        "name": name,
        "enabled": enabled,
        "is_auto_renewal": True,
        "service_plan_id": service_plan_id,
        "customer_id": customer_id,
        "licenses": licenses,
    }


__all__ = ["Store", "KINDS", "cw_now", "ref"]
