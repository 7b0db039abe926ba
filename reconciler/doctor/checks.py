"""The doctor's verdicts: pure functions from the config and what was read (facts.py) to
checklist items (report.py). No HTTP here; `reconciler.doctor.run_doctor` reads, then calls these.

Each function returns one `Check`. A check whose reads depend on an earlier item that failed is a
warning saying which item to fix first (never a second blocker for the same cause).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from reconciler.config.model import AgreementRef, Config

from .facts import ConnectWiseFacts, Endpoint, Failure, Names, TrendFacts
from .report import Check, Status

SHOWN = 5  # names shown in a detail line; `problems` holds them all
TREND_MAX_SKEW = 15 * 60  # Trend refuses a request whose x-posix-time is further off than this
CLOCK_WARN_SKEW = 5 * 60  # closer than that, but drifting: worth a look before it bites
# The documented (and possible) names of each summary-report figure: Trend's pages spell the
# used figure `used` or `used_units`; the billing-details report adds `_units` to every figure.
UNIT_FIELDS = {
    "provisioned": ("provisioned", "provisioned_units"),
    "used": ("used", "used_units"),
    "chargeable": ("chargeable", "chargeable_units", "charged_units"),
}
ROLES_WHERE = "System > Security Roles, the API member's role"
CREDENTIALS = "connectwise.credentials"
TREND_CREDENTIALS = "trend.credentials"


def shown(names: Sequence[str]) -> str:
    head = ", ".join(names[:SHOWN])
    return head + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _ok(key: str, title: str, detail: str) -> Check:
    return Check(key, title, Status.OK, detail)


def not_checked(key: str, title: str, prerequisite: str) -> Check:
    """A warning, not a blocker: the blocker is `prerequisite`'s, and fixing it is the fix."""
    return Check(key, title, Status.WARNING, f"not checked: {prerequisite} failed")


def _refused(key: str, title: str, failure: Failure, fix: str) -> Check:
    return Check(key, title, Status.BLOCKER, failure.text, fix)


# -- ConnectWise ------------------------------------------------------------------------------

def connectwise_credentials(config: Config, cw: ConnectWiseFacts) -> Check:
    key, title = CREDENTIALS, "ConnectWise keys and clientId"
    company = cw.login_company or config.connectwise.company_id
    keys_fix = (f"check connectwise.company_id in global.yaml ({company}), CW_PUBLIC_KEY and CW_PRIVATE_KEY "
                "(an API member's keys: System > Members > API Members > API Keys) and CW_CLIENT_ID "
                "(your integration's clientId from developer.connectwise.com)")
    if cw.credentials_problem:
        return Check(key, title, Status.BLOCKER, cw.credentials_problem,
                     "set CW_PUBLIC_KEY, CW_PRIVATE_KEY and CW_CLIENT_ID in the environment (or try "
                     "`reconcile --sandbox doctor` against the simulator)")
    info = cw.info
    if isinstance(info, Failure):
        if info.status == 401:
            who = "the clientId" if "clientid" in info.text.casefold() else "the keys or the clientId"
            return Check(key, title, Status.BLOCKER, f"ConnectWise refused {who} (HTTP 401): {info.text}", keys_fix)
        if info.status == 403:
            return Check(key, title, Status.BLOCKER,
                         f"ConnectWise accepted the keys, but the API member may not read system/info "
                         f"(HTTP 403): {info.text}",
                         f"in {ROLES_WHERE}: allow Inquire on System > System Info (or use a role with API access)")
        if info.status == 404:
            return Check(key, title, Status.BLOCKER, f"ConnectWise answered 404 for system/info: {info.text}",
                         "check connectwise.url: https://<site>/<codebase>/apis/3.0 (cloud sites need the api- "
                         "host, e.g. api-na.myconnectwise.net; the codebase from /login/companyinfo/<company>)")
        if info.status is None:
            return Check(key, title, Status.BLOCKER, f"could not reach ConnectWise: {info.text}",
                         "check connectwise.url in global.yaml and that this machine can reach it (proxy, firewall)")
        return _refused(key, title, info, keys_fix)
    version = str((info or {}).get("version") or "").strip()[:40]
    return _ok(key, title, f"ConnectWise{' ' + version if version else ''} accepted the keys and clientId "
                           f"of company {company}")


def _credentials_ok(cw: ConnectWiseFacts) -> bool:
    return not cw.credentials_problem and isinstance(cw.info, dict)


def endpoint(item: Endpoint, cw: ConnectWiseFacts) -> Check:
    key, title = f"connectwise.read.{item.name}", f"read {item.path}"
    if not _credentials_ok(cw):
        return not_checked(key, title, CREDENTIALS)
    if item.skipped:
        return _ok(key, title, f"not read: {item.skipped}")
    failure = item.failure
    if failure is None:
        return _ok(key, title, "readable")
    if failure.status == 403:
        return Check(key, title, Status.BLOCKER,
                     f"the API member may not read {item.path} (HTTP 403)",
                     f"in {ROLES_WHERE}: allow Inquire (level All) on {item.role}")
    return _refused(key, title, failure, f"see the error; `reconcile doctor` reads {item.path} the way plan does")


def prerequisite(cw: ConnectWiseFacts, endpoint_name: str) -> str:
    """The item to fix first when a read was skipped: the keys, else the endpoint it needs."""
    return CREDENTIALS if not _credentials_ok(cw) else f"connectwise.read.{endpoint_name}"


def _found(names: Names, key: str, title: str, fix: str, cw: ConnectWiseFacts, needs: str) -> Check | frozenset[str]:
    """The names read, or the Check saying why there are none."""
    if names is None:
        return not_checked(key, title, prerequisite(cw, needs))
    if isinstance(names, Failure):
        return _refused(key, title, names, fix)
    return names


def catalog_items(config: Config, cw: ConnectWiseFacts) -> Check:
    key, title = "connectwise.catalog_items", "catalog items in products"
    fix = ("create the item in ConnectWise (Procurement > Product Catalog) with exactly that identifier, or "
           "correct products.<key>.connectwise_product in global.yaml")
    found = _found(cw.catalog, key, title, fix, cw, "catalog")
    if isinstance(found, Check):
        return found
    missing = [f"{p.key} ({p.catalog_item})" for p in config.products.values()
               if p.catalog_item.casefold() not in found]
    if missing:
        return Check(key, title, Status.BLOCKER,
                     f"{len(missing)} of {len(config.products)} products name a catalog item ConnectWise does not "
                     f"have: {shown(missing)}", fix, tuple(missing))
    return _ok(key, title, f"all {len(config.products)} catalog items exist")


def agreement_types_named(config: Config) -> dict[str, list[str]]:
    """Every agreement type the config names -> where (global.yaml, or the customer files)."""
    named: dict[str, list[str]] = {t: ["agreements.default_types"] for t in config.default_agreement_types}
    for customer in config.customers:
        refs: Iterable[Any] = list(customer.agreements.values()) + [
            ref for refs in customer.also_bills_to.values() for ref in refs]
        for ref in refs:
            if isinstance(ref, AgreementRef):
                named.setdefault(ref.type, []).append(customer.slug)
    return named


def agreement_types(config: Config, cw: ConnectWiseFacts) -> Check:
    key, title = "connectwise.agreement_types", "agreement types"
    fix = ("add the type in ConnectWise (Setup Tables > Agreement Type) or correct the name: "
           "agreements.default_types in global.yaml, or the customer file's agreement type")
    found = _found(cw.agreement_types, key, title, fix, cw, "agreement_types")
    if isinstance(found, Check):
        return found
    named = agreement_types_named(config)
    missing = [f"{name!r} ({shown(sorted(set(where)))})" for name, where in named.items()
               if name.casefold() not in found]
    if missing:
        return Check(key, title, Status.BLOCKER,
                     f"{len(missing)} agreement type(s) do not exist in ConnectWise: {shown(missing)}", fix,
                     tuple(missing))
    return _ok(key, title, f"all {len(named)} agreement types exist ({shown(list(named))})")


def ticket_checks(config: Config, cw: ConnectWiseFacts) -> list[Check]:
    """The ticket board, its status and its type (`notifications.connectwise_ticket`)."""
    settings = config.notifications.connectwise_ticket
    keys = ("connectwise.ticket_board", "connectwise.ticket_status", "connectwise.ticket_type")
    titles = ("ticket board", "ticket status", "ticket type")
    if settings is None:
        return [_ok(k, t, "tickets are off (no notifications.connectwise_ticket)") for k, t in zip(keys, titles)]
    if not cw.tickets_offered:
        return [_not_offered(k, t, cw.psa, "service tickets", "notifications.connectwise_ticket")
                for k, t in zip(keys, titles)]
    board = settings.board
    board_fix = ("create the board in ConnectWise (Setup Tables > Service Board) or set "
                 "notifications.connectwise_ticket.board in global.yaml to one that exists")
    refs = cw.tickets
    if refs is None:
        return [not_checked(k, t, prerequisite(cw, "service_boards")) for k, t in zip(keys, titles)]
    if isinstance(refs, Failure):
        return [_refused(keys[0], titles[0], refs, board_fix),
                *(not_checked(k, t, keys[0]) for k, t in zip(keys[1:], titles[1:]))]
    checks = []
    if refs.board_id is None:
        checks.append(Check(keys[0], titles[0], Status.BLOCKER, _missing(refs.missing, "board", f"service board "
                                                                         f"{board!r} does not exist"), board_fix))
    else:
        checks.append(_ok(keys[0], titles[0], f"service board {board!r} exists"))
    for key, title, field, wanted, found in ((keys[1], titles[1], "status", refs.status, refs.status_id),
                                             (keys[2], titles[2], "type", refs.type, refs.type_id)):
        where = "Statuses" if field == "status" else "Types"
        fix = (f"add the {field} to board {board!r} in ConnectWise (Setup Tables > Service Board > {where}) "
               f"or set notifications.connectwise_ticket.{field} in global.yaml to one the board has")
        if not wanted:
            checks.append(_ok(key, title, f"not set: tickets take board {board!r}'s default {field}"))
        elif refs.board_id is None:
            checks.append(not_checked(key, title, keys[0]))
        elif found is None:
            checks.append(Check(key, title, Status.BLOCKER,
                                _missing(refs.missing, field, f"{field} {wanted!r} does not exist on board {board!r}"),
                                fix))
        else:
            checks.append(_ok(key, title, f"{field} {wanted!r} exists on board {board!r}"))
    return checks


def _not_offered(key: str, title: str, psa: str, what: str, setting: str) -> Check:
    """The config asks for something the PSA does not keep: a warning (plan and apply send none
    and say so), not a blocker, since billing itself is unaffected."""
    return Check(key, title, Status.WARNING, f"{psa} keeps no {what}: none will be sent",
                 f"remove {setting} from the config, or bill through a PSA that keeps {what}")


def _missing(missing: Iterable[str], word: str, default: str) -> str:
    """The lookup's own sentence about `word` (it lists what does exist), else `default`."""
    return next((m for m in missing if m.startswith(word + " ")), default)


def ticket_company_settings(config: Config, login_company: str) -> dict[str, str]:
    """Companies the ticket settings name: setting -> identifier (the own company defaults to
    the API login's company id, as notify.py files it)."""
    settings = config.notifications.connectwise_ticket
    if settings is None:
        return {}
    named = {"own_company": getattr(settings, "own_company", None) or login_company}
    if settings.company:
        named["company"] = settings.company
    return named


def ticket_company(config: Config, cw: ConnectWiseFacts) -> Check:
    """Where tickets are filed: `company` (every ticket) must exist; the MSP's own company (for
    a problem whose customer company cannot be trusted) is a warning when missing, since only
    those tickets fail."""
    key, title = "connectwise.ticket_company", "companies tickets are filed on"
    if config.notifications.connectwise_ticket is None:
        return _ok(key, title, "tickets are off (no notifications.connectwise_ticket)")
    if not cw.tickets_offered:
        return _not_offered(key, title, cw.psa, "service tickets", "notifications.connectwise_ticket")
    fix = ("set notifications.connectwise_ticket.{setting} in global.yaml to a company identifier that exists "
           "(own_company: your own company in ConnectWise)")
    found = cw.ticket_companies
    if found is None:
        return not_checked(key, title, prerequisite(cw, "companies"))
    if isinstance(found, Failure):
        return _refused(key, title, found, fix.format(setting="company"))
    missing = [setting for setting, (_name, exists) in found.items() if not exists]
    if not missing:
        return _ok(key, title, ", ".join(f"{s} {found[s][0]!r}" for s in found) + (" exist" if len(found) > 1 else " exists"))
    status = Status.BLOCKER if "company" in missing else Status.WARNING
    detail = "; ".join(f"{s} {found[s][0]!r} does not exist in ConnectWise" for s in missing)
    if missing == ["own_company"]:
        detail += " (only tickets for a customer whose company cannot be trusted need it)"
    return Check(key, title, status, detail, fix.format(setting=missing[0]))


def solutions_named(config: Config) -> dict[str, list[str]]:
    """Management solutions the executive summaries name -> the customers sending them."""
    named: dict[str, list[str]] = {}
    for customer in config.customers:
        if customer.executive_summary.enabled:
            named.setdefault(customer.executive_summary.management_solution, []).append(customer.slug)
    if config.executive_summary.enabled and not named:
        named[config.executive_summary.management_solution] = ["executive_summary"]
    return named


def summaries_on(config: Config) -> bool:
    return bool(solutions_named(config))


def management_solution(config: Config, cw: ConnectWiseFacts) -> Check:
    key, title = "connectwise.management_solution", "executive summaries' management solution"
    named = solutions_named(config)
    if not named:
        return _ok(key, title, "executive summaries are off")
    if not cw.summaries_offered:
        return _not_offered(key, title, cw.psa, "executive summaries", "executive_summary")
    fix = ("add the management IT solution in ConnectWise (Setup Tables > Management IT Solutions) or set "
           "executive_summary.management_solution to one that exists")
    if cw.solutions is None:
        return not_checked(key, title, prerequisite(cw, "management_solutions"))
    if isinstance(cw.solutions, Failure):
        return _refused(key, title, cw.solutions, fix)
    missing = [f"{name!r} ({shown(where)})" for name, where in named.items() if not cw.solutions.get(name)]
    if missing:
        return Check(key, title, Status.BLOCKER,
                     f"management solution {shown(missing)} does not exist in ConnectWise", fix, tuple(missing))
    return _ok(key, title, f"management solution {shown([repr(n) for n in named])} exists")


def customer_companies(config: Config, cw: ConnectWiseFacts) -> Check:
    key, title = "customers.connectwise_company", "customer files' ConnectWise companies"
    fix = ("correct connectwise_company in the file: the company's identifier (its Company ID in "
           "ConnectWise), or create the company")
    if cw.companies is None:
        return not_checked(key, title, prerequisite(cw, "companies"))
    if isinstance(cw.companies, Failure):
        return _refused(key, title, cw.companies, fix)
    problems = []
    for customer in config.customers:
        found = cw.companies.get(customer.psa_company.casefold())
        if found is None:
            problems.append(f"{customer.slug} ({customer.psa_company})")
        elif customer.connectwise_company_id is not None and found != customer.connectwise_company_id:
            problems.append(f"{customer.slug} ({customer.psa_company} is company {found}, "
                            f"the file pins {customer.connectwise_company_id})")
    if problems:
        return Check(key, title, Status.BLOCKER,
                     f"{len(problems)} of {len(config.customers)} customer files name a ConnectWise company that "
                     f"does not exist: {shown(problems)}", fix, tuple(problems))
    return _ok(key, title, f"all {len(config.customers)} customer files' companies exist")


# -- Trend ------------------------------------------------------------------------------------

def _posix_refusal(failure: Failure | None) -> bool:
    if failure is None or failure.status != 401:
        return False
    return "posixtime" in failure.subject.casefold() or "posix" in failure.text.casefold()


def _unused(key: str, title: str, config: Config) -> Check:
    return _ok(key, title, f"not used: usage.source is {config.usage.source}")


def trend_credentials(config: Config, trend: TrendFacts) -> Check:
    key, title = TREND_CREDENTIALS, "Trend LMPI keys"
    if not trend.used:
        return _unused(key, title, config)
    if trend.settings_problem:
        return Check(key, title, Status.BLOCKER, trend.settings_problem,
                     "set TM_LMPI_URL, TM_ACCESS_TOKEN and TM_SECRET_KEY (Trend's LMPI access for your partner "
                     "account) in the environment")
    failure = trend.clock_failure
    if failure is None:
        return _ok(key, title, "Trend accepted the access token and the signature")
    if _posix_refusal(failure):
        return not_checked(key, title, "trend.clock")
    if failure.status is None:
        return Check(key, title, Status.BLOCKER, f"could not reach Trend's LMPI: {failure.text}",
                     "check TM_LMPI_URL and that this machine can reach it (proxy, firewall)")
    return Check(key, title, Status.BLOCKER, f"Trend refused the request: {failure.text}",
                 "check TM_ACCESS_TOKEN and TM_SECRET_KEY (no stray spaces; the pair belongs together) and TM_LMPI_URL")


def _minutes(seconds: float) -> str:
    return f"{abs(seconds) / 60:.0f} min {'behind' if seconds > 0 else 'ahead of'} Trend's"


def trend_clock(config: Config, trend: TrendFacts) -> Check:
    key, title = "trend.clock", "clock against Trend's"
    if not trend.used:
        return _unused(key, title, config)
    if trend.settings_problem:
        return not_checked(key, title, TREND_CREDENTIALS)
    fix = ("set this machine's clock right and keep it synchronised (NTP, e.g. `timedatectl set-ntp true`): "
           "Trend refuses requests more than 15 minutes off")
    offset = trend.clock_offset
    if _posix_refusal(trend.clock_failure):
        how = f" (this clock is {_minutes(offset)})" if offset is not None else ""
        return Check(key, title, Status.BLOCKER,
                     f"Trend refused the request's time: this machine's clock is more than 15 minutes off{how}", fix)
    if offset is None:
        if trend.clock_failure is not None:
            return not_checked(key, title, TREND_CREDENTIALS)
        return Check(key, title, Status.WARNING, "Trend's answer carried no Date header: the clocks were not compared",
                     "make sure this machine's clock is synchronised (NTP)")
    if abs(offset) > TREND_MAX_SKEW:
        return Check(key, title, Status.BLOCKER, f"this machine's clock is {_minutes(offset)}", fix)
    if abs(offset) > CLOCK_WARN_SKEW:
        return Check(key, title, Status.WARNING, f"this machine's clock is {_minutes(offset)} "
                     "(Trend refuses beyond 15 minutes)", fix)
    return _ok(key, title, f"within {abs(offset):.0f} s of Trend's clock")


def trend_prerequisite(trend: TrendFacts) -> str:
    """Why Trend's lists were not read: the clock (Trend refused the time), else the keys."""
    return "trend.clock" if _posix_refusal(trend.clock_failure) else TREND_CREDENTIALS


def _trend_read(key: str, title: str, config: Config, trend: TrendFacts,
               value: list[dict[str, Any]] | Failure | None, what: str) -> Check | list[dict[str, Any]]:
    if not trend.used:
        return _unused(key, title, config)
    if value is None:
        return not_checked(key, title, trend_prerequisite(trend))
    if isinstance(value, Failure):
        return Check(key, title, Status.BLOCKER, f"Trend refused the {what}: {value.text}",
                     "see Trend's message; check the LMPI access of TM_ACCESS_TOKEN's partner account")
    return value


def trend_customers(config: Config, trend: TrendFacts) -> Check:
    key, title = "trend.customers", "Trend customers readable"
    read = _trend_read(key, title, config, trend, trend.customers, "customers list")
    if isinstance(read, Check):
        return read
    return _ok(key, title, f"{len(read)} customers")


def trend_service_plans(config: Config, trend: TrendFacts) -> Check:
    key, title = "trend.service_plans", "Trend service plans readable"
    read = _trend_read(key, title, config, trend, trend.service_plans, "service plans list")
    if isinstance(read, Check):
        return read
    return _ok(key, title, f"{len(read)} service plans")


def unit_field_present(row: Any, units: str) -> bool:
    return isinstance(row, dict) and any(name in row for name in UNIT_FIELDS.get(units, (units,)))


def trend_report(config: Config, trend: TrendFacts) -> Check:
    key, title = "trend.report", f"Trend's summary report for {trend.report_month or 'last month'}"
    reported = config.usage.basis == "reported"
    if not trend.used:
        return _unused(key, title, config)
    if trend.report is None:
        return not_checked(key, title, trend_prerequisite(trend))
    if isinstance(trend.report, Failure):
        if not reported:
            return Check(key, title, Status.WARNING,
                         f"Trend refused the report (not used for billing with usage.basis: licensed): "
                         f"{trend.report.text}", "none needed unless you switch to usage.basis: reported")
        return Check(key, title, Status.BLOCKER, f"Trend refused the report: {trend.report.text}",
                     "see Trend's message; the report needs the partner account's report access")
    rows = trend.report
    if not reported:
        return _ok(key, title, f"{len(rows)} rows (not used for billing with usage.basis: licensed)")
    units = config.usage.reported_units
    if not rows:
        return Check(key, title, Status.WARNING,
                     f"the report has no rows: whether they carry {units!r} could not be checked",
                     "run `reconcile doctor` again once Trend has reported a month with usage")
    lacking = sum(1 for row in rows if not unit_field_present(row, units))
    if lacking:
        present = sorted({u for u in UNIT_FIELDS for row in rows if unit_field_present(row, u)})
        return Check(key, title, Status.BLOCKER,
                     f"{lacking} of {len(rows)} report rows carry no {units!r} figure "
                     f"(usage.reported_units: {units})",
                     f"set usage.reported_units in global.yaml to a figure the rows carry "
                     f"({', '.join(present) or 'none found'})")
    return _ok(key, title, f"{len(rows)} rows, each with a {units!r} figure")


def customer_trend_ids(config: Config, trend: TrendFacts) -> Check:
    key, title = "customers.trend_customer", "customer files' Trend customers"
    read = _trend_read(key, title, config, trend, trend.customers, "customers list")
    if isinstance(read, Check):
        return read
    known = {str(c.get("customer_id") or "").casefold() for c in read if isinstance(c, dict)}
    missing = [f"{c.slug} ({c.trend_customer_id})" for c in config.customers
               if c.trend_customer_id.casefold() not in known]
    if missing:
        return Check(key, title, Status.BLOCKER,
                     f"{len(missing)} of {len(config.customers)} customer files name a Trend customer LMPI does not "
                     f"list: {shown(missing)}",
                     "correct trend_customer_id in the file: the customer's GUID in Trend's console (or "
                     "`reconcile import` to start from what Trend lists)", tuple(missing))
    return _ok(key, title, f"all {len(config.customers)} customer files' Trend customers exist")
