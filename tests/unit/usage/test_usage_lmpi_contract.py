"""The LMPI client against Trend's documented requests and answers (tests/support/documented_lmpi.py),
served by a replay server that records the exact bytes of every request.

Each test is a fact from Trend's pages; none uses the sandbox or the client's own signature
code, so a wrong assumption in either cannot make them pass.
"""

from __future__ import annotations

import json
import re
import time
from email.utils import formatdate
from urllib.parse import parse_qs, urlsplit

import pytest

from reconciler.config.model import Product
from reconciler.usage import TrendIds, UsageSourceError
from reconciler.usage.lmpi import LmpiClient, read_lmpi, read_reported
from tests.support import documented_lmpi as doc
from tests.support.documented_lmpi import Replay, Seen, html_error, json_answer

TOKEN, SECRET = "6f3b2a10-0d4c-4b8e-9a51-2c7d8e9f0a1b", "documented-secret-key"
IDS = TrendIds.from_products({
    "wfbss-svc": Product("wfbss-svc", "WFBSS", "TM-WFBSS-SVC", trend_product_ids=(doc.PRODUCT_CODE_EXAMPLE,)),
    "hes": Product("hes", "HES", "TM-HES", trend_product_ids=("HESMWXE3X",)),
})
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def client_for(replay: Replay, **kw) -> LmpiClient:
    return LmpiClient(replay.url, TOKEN, SECRET, backoff_factor=0.0, max_retries=0, **kw)


def query(seen: Seen) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(seen.raw_uri).query).items()}


def paged(items: list[dict], key: str, seen: Seen) -> tuple:
    """A documented list answer: `limit` 1-100 (25 if absent), `paging.total`."""
    q = query(seen)
    limit, page = int(q.get("limit", doc.LIMIT_DEFAULT)), int(q.get("page", 1))
    if not 1 <= limit <= doc.LIMIT_MAX:
        return html_error(400, "InvalidParametersLimit", "limit must be 1-100")
    return json_answer({"paging": {"total": len(items), "limit": limit, "page": page},
                        key: items[(page - 1) * limit: page * limit]})


def documented(customers=(doc.CUSTOMER,), subscriptions=(doc.SUBSCRIPTION,), licences=(doc.LICENCE,),
               plans=doc.SERVICE_PLANS, report=(doc.REPORT_ROW,)):
    """An LMPI that answers as the pages say (ranges required, errors as text/html)."""

    def answer(seen: Seen):
        for header in doc.HEADERS:
            if not seen.headers.get(header):
                return html_error(400, "MissingHeader" + header, "missing")
        expected = doc.trend_signature(SECRET, seen.headers["x-posix-time"], seen.method, seen.raw_uri, seen.body)
        if seen.headers["x-signature"] != expected:
            return html_error(401, "AuthenticationFailureSignature", "signature does not match")
        path, q = urlsplit(seen.raw_uri).path, query(seen)
        if path == "/LMPI/v3/customers":
            for name in ("created_start", "created_end"):
                if not TIME.fullmatch(q.get(name, "")):
                    return html_error(400, "InvalidParameters" + name, f"{name} is required")
            return paged(list(customers), "customers", seen)
        if path == "/LMPI/v2.5/customers/subscriptions":
            ranges = [p for p in ("created", "modified") if f"{p}_start" in q or f"{p}_end" in q]
            if len(ranges) != 1 or not all(TIME.fullmatch(q.get(f"{ranges[0]}_{e}", "")) for e in ("start", "end")):
                return html_error(400, "InvalidParametersCreatedStart", "exactly one date range is required")
            return paged(list(subscriptions), "subscriptions", seen)
        if path.startswith("/LMPI/v3/customers/") and "/subscriptions/" in path:
            return json_answer({**doc.SUBSCRIPTION, "licenses": list(licences)})
        if path == "/LMPI/v3/me/serviceplans":
            return json_answer(list(plans))
        if path == "/LMPI/v3/reports/summary" and seen.method == "POST":
            return json_answer({"summary": list(report)})
        return html_error(404, "NotFound", path)

    return answer


# ---- requests -----------------------------------------------------------------------------------

def test_every_request_carries_the_documented_headers_and_is_signed_over_the_bytes_sent():
    with Replay(documented()) as replay:
        usage = read_lmpi(IDS, {}, client=client_for(replay))
        read_reported(IDS, "2026-10", "provisioned", {}, client=client_for(replay))
    assert usage.quantities == {(doc.CUSTOMER["customer_id"], "wfbss-svc"): 35}
    assert len(replay.seen) >= 6
    for seen in replay.seen:
        assert all(seen.headers.get(h) for h in doc.HEADERS), seen.headers
        assert seen.headers["content-type"] == "application/json"
        assert seen.raw_uri.startswith("/LMPI/")
        # The signature is over exactly the URI on the request line (and the body's MD5).
        assert seen.headers["x-signature"] == doc.trend_signature(
            SECRET, seen.headers["x-posix-time"], seen.method, seen.raw_uri, seen.body)
    post = next(s for s in replay.seen if s.method == "POST")
    assert post.raw_uri == "/LMPI/v3/reports/summary"
    assert json.loads(post.body) == doc.REPORT_REQUEST


def test_both_lists_send_a_created_range_over_all_time_with_colons_unencoded():
    with Replay(documented()) as replay:
        client = client_for(replay)
        client.customers()
        client.subscriptions()
    lists = [s for s in replay.seen if s.raw_uri.split("?")[0] in (
        "/LMPI/v3/customers", "/LMPI/v2.5/customers/subscriptions")]
    assert len(lists) == 2
    for seen in lists:
        assert "%3A" not in seen.raw_uri and "created_start=2000-01-01T00:00:00Z" in seen.raw_uri
        q = query(seen)
        assert TIME.fullmatch(q["created_end"])
        assert abs(time.mktime(time.strptime(q["created_end"], "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(
            time.gmtime())) < 120  # "up to now"
        assert q["limit"] == "100" and "modified_start" not in q  # exactly one range


def test_customers_are_paged_until_paging_total_even_when_the_server_pages_smaller():
    many = [{**doc.CUSTOMER, "customer_id": f"c-{i:03d}", "name": f"C {i}"} for i in range(130)]

    def capped(seen: Seen):  # a server that gives 25 per page whatever limit says
        if urlsplit(seen.raw_uri).path == "/LMPI/v3/customers":
            page = int(query(seen).get("page", 1))
            return json_answer({"paging": {"total": 130, "limit": 25, "page": page},
                                "customers": many[(page - 1) * 25: page * 25]})
        return documented()(seen)

    with Replay(capped) as replay:
        assert len(client_for(replay).customers()) == 130
    assert [query(s)["page"] for s in replay.seen] == [str(n) for n in range(1, 7)]


def test_a_list_shorter_than_paging_total_is_an_error_not_a_silent_drop():
    def ignores_page(seen: Seen):
        return json_answer({"paging": {"total": 130, "limit": 100, "page": 1},
                            "customers": [{**doc.CUSTOMER, "customer_id": f"c-{i}"} for i in range(100)]})

    with Replay(ignores_page) as replay, pytest.raises(UsageSourceError, match="paging.total is 130"):
        client_for(replay).customers()


# ---- errors -------------------------------------------------------------------------------------

def test_trends_error_body_reaches_the_user_even_as_text_html():
    refusal = html_error(400, "InvalidParametersCreatedStart", f"created_start is required {SECRET}")
    with Replay(lambda seen: refusal) as replay, pytest.raises(UsageSourceError) as info:
        client_for(replay).customers()
    line = str(info.value)
    assert "HTTP 400 InvalidParametersCreatedStart: created_start is required" in line
    assert SECRET not in line and "\n" not in line


def test_a_posix_time_failure_says_the_clock_is_off_and_by_how_much():
    ahead = formatdate(time.time() + 3600, usegmt=True)
    refusal = html_error(401, "AuthenticationFailurePosixTime", "posix time off")
    with Replay(lambda seen: refusal, date=ahead) as replay, pytest.raises(UsageSourceError) as info:
        client_for(replay).service_plans()
    line = str(info.value)
    assert "AuthenticationFailurePosixTime" in line and "clock is off" in line
    assert re.search(r"Trend's clock is 3\d{3} s ahead", line)


def test_the_clock_offset_is_read_from_the_date_header():
    behind = formatdate(time.time() - 600, usegmt=True)
    with Replay(documented(), date=behind) as replay:
        offset = client_for(replay).clock_offset()
    assert -660 < offset < -540


# ---- answers ------------------------------------------------------------------------------------

def test_service_plans_are_a_bare_array():
    with Replay(documented()) as replay:
        plans = client_for(replay).service_plans()
    assert [p["product_code"] for p in plans] == [p["product_code"] for p in doc.SERVICE_PLANS]


def report_of(*rows, customers=(doc.CUSTOMER,), units="provisioned"):
    with Replay(documented(customers=customers, report=rows)) as replay:
        return read_reported(IDS, "2026-10", units, {}, client=client_for(replay))


def test_report_rows_without_ids_bill_by_customer_name_and_the_plans_product_code():
    usage = report_of({**doc.REPORT_ROW, "customer": "  example   COMPANY "},
                      {**doc.REPORT_ROW, "service_plan": "HES Monthly", "product_name": "Hosted Email Security",
                       "provisioned": 12})
    guid = doc.CUSTOMER["customer_id"]
    assert usage.quantities == {(guid, "wfbss-svc"): 35, (guid, "hes"): 12}
    assert (usage.basis, usage.report_month, usage.units) == ("reported", "2026-10", "provisioned")
    assert {r["product_code"] for r in usage.rows} == {"WFSBWXE3X", "HESMWXE3X"}


@pytest.mark.parametrize("field", ["used", "used_units"])
@pytest.mark.parametrize("value", [30, "30"])
def test_the_used_figure_is_read_under_either_name_as_integer_or_digit_string(field, value):
    usage = report_of({**doc.REPORT_ROW, field: value}, units="used")
    assert usage.quantities == {(doc.CUSTOMER["customer_id"], "wfbss-svc"): 30}
    assert report_of({**doc.REPORT_ROW, "provisioned": "35"}).quantities == {
        (doc.CUSTOMER["customer_id"], "wfbss-svc"): 35}


@pytest.mark.parametrize("row", [{**doc.REPORT_ROW, "used": None}, dict(doc.REPORT_ROW),
                                 {**doc.REPORT_ROW, "used_units": None}])
def test_a_null_or_missing_used_figure_is_refused_with_the_fix_never_billed_as_zero(row):
    with pytest.raises(UsageSourceError) as info:
        report_of(row, units="used")
    assert "2026-10" in str(info.value) and "usage.reported_units: provisioned" in str(info.value)


def test_used_and_used_units_that_disagree_are_refused():
    with pytest.raises(UsageSourceError, match="disagree"):
        report_of({**doc.REPORT_ROW, "used": 30, "used_units": "31"}, units="used")


@pytest.mark.parametrize("bad", [1.5, "1e3", -1, True, "NaN", 10**12])
def test_units_that_are_not_whole_numbers_stop_the_read(bad):
    with pytest.raises(UsageSourceError, match="not a whole number"):
        report_of({**doc.REPORT_ROW, "provisioned": bad})


def test_unknown_and_ambiguous_customer_names_are_refused_naming_them_and_the_month():
    with pytest.raises(UsageSourceError) as info:
        report_of({**doc.REPORT_ROW, "customer": "Nobody Ltd"})
    assert "'Nobody Ltd' is unknown" in str(info.value) and "2026-10" in str(info.value)
    twins = (doc.CUSTOMER, {**doc.CUSTOMER, "customer_id": "11111111-2222-4333-8444-555555555555"})
    with pytest.raises(UsageSourceError, match=r"'Example Company' is ambiguous \(2 Trend customers"):
        report_of(doc.REPORT_ROW, customers=twins)


def test_a_duplicated_report_row_is_refused_naming_the_month_never_doubled():
    with pytest.raises(UsageSourceError) as info:
        report_of(doc.REPORT_ROW, dict(doc.REPORT_ROW))
    assert "duplicate rows in Trend's report for 2026-10" in str(info.value)
    assert "row 2 repeats row 1" in str(info.value)


def test_two_service_plans_of_one_product_are_summed_and_the_parts_are_shown():
    usage = report_of(doc.REPORT_ROW, {**doc.REPORT_ROW, "service_plan": "WFBSS Annual", "provisioned": 5})
    assert usage.quantities == {(doc.CUSTOMER["customer_id"], "wfbss-svc"): 40}
    (note,) = usage.warnings
    assert "wfbss-svc = 35 (WFBSS Monthly) + 5 (WFBSS Annual) = 40" in note and "2026-10" in note


def test_a_row_whose_plan_no_product_counts_is_a_warning_not_a_silent_drop():
    usage = report_of({**doc.REPORT_ROW, "service_plan": "Retired Plan", "product_name": "Old Product"})
    assert usage.quantities == {}
    assert any("'Retired Plan'" in w and "counted by no product" in w for w in usage.warnings)


def test_licences_are_counted_by_their_product_code_and_guids_match_in_any_case():
    other = {**doc.LICENCE, "product_id": "ZZZZZZZZZ", "units": 4}
    with Replay(documented(licences=(doc.LICENCE, other, {**doc.LICENCE, "enabled": False}))) as replay:
        usage = read_lmpi(IDS, {}, client=client_for(replay))
    assert usage.for_customer(doc.CUSTOMER["customer_id"]) == {"wfbss-svc": 35}
    assert not any("unknown customer" in w for w in usage.warnings)  # upper-case GUID, same customer
    assert any("'ZZZZZZZZZ'" in w for w in usage.warnings)
