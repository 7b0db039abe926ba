"""The sandbox's LMPI against Trend's documented behaviour (tests/support/documented_lmpi.py).

Requests here are built and signed by hand with the recipe written from Trend's page, never with
the client: the sandbox must accept what Trend accepts and refuse what Trend refuses, with
Trend's status codes and error bodies.
"""

from __future__ import annotations

import json
import time
import uuid
from email.utils import parsedate_to_datetime

import pytest
import requests

from reconciler.sandbox import SandboxServer
from reconciler.sandbox.lmpi import LmpiReadings, license_record, service_plan_id
from tests.support import documented_lmpi as doc

ALL_TIME = "created_start=2000-01-01T00:00:00Z&created_end=2099-01-01T00:00:00Z"


@pytest.fixture
def sb(tmp_path):
    with SandboxServer(data_dir=tmp_path / "lmpi", port=0, seed_demo=True) as server:
        yield server


@pytest.fixture(autouse=True)
def plain_readings(sb):
    sb.lmpi.readings = LmpiReadings()
    yield
    sb.lmpi.readings = LmpiReadings()


def call(sb, method: str, uri: str, body: bytes = b"", *, drop: str = "", posix: float | None = None,
         secret: str | None = None, content_type: str = "application/json") -> requests.Response:
    """One request, signed over `uri` exactly as sent (the session keeps it byte for byte)."""
    stamp = str(int(time.time() if posix is None else posix))
    headers = {
        "x-access-token": sb.credentials.lmpi_access_token,
        "x-posix-time": stamp,
        "x-signature": doc.trend_signature(secret or sb.credentials.lmpi_secret_key, stamp, method, uri, body),
        "x-traceid": str(uuid.uuid4()),
        "content-type": content_type,
    }
    headers.pop(drop, None)
    prepared = requests.Request(method, f"{sb.base_url}{uri}", data=body or None, headers=headers).prepare()
    prepared.url = f"{sb.base_url}{uri}"
    return requests.Session().send(prepared, timeout=10)


def trend_error(response: requests.Response) -> tuple[int, str]:
    body = json.loads(response.content)  # whatever the content type says
    assert set(body) == {"error_subject", "error_message"} and body["error_message"]
    return response.status_code, body["error_subject"]


def test_a_correctly_signed_request_with_colons_unencoded_is_answered(sb):
    response = call(sb, "GET", f"/LMPI/v3/customers?{ALL_TIME}&page=1&limit=100")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"paging", "customers"} and body["paging"]["total"] == len(body["customers"]) == 8
    assert set(body["customers"][0]) <= set(doc.CUSTOMER)


@pytest.mark.parametrize("uri,subject", [
    ("/LMPI/v3/customers", "InvalidParametersCreatedStart"),
    ("/LMPI/v3/customers?created_start=2000-01-01T00:00:00Z", "InvalidParametersCreatedEnd"),
    ("/LMPI/v3/customers?created_start=2000-01-01&created_end=2099-01-01T00:00:00Z", "InvalidParametersCreatedStart"),
    (f"/LMPI/v3/customers?{ALL_TIME}&limit=101", "InvalidParametersLimit"),
    (f"/LMPI/v3/customers?{ALL_TIME}&limit=0", "InvalidParametersLimit"),
    ("/LMPI/v2.5/customers/subscriptions", "InvalidParametersCreatedStart"),
    ((f"/LMPI/v2.5/customers/subscriptions?{ALL_TIME}&modified_start=2000-01-01T00:00:00Z"
      "&modified_end=2099-01-01T00:00:00Z"), "InvalidParametersModifiedStart"),
    ("/LMPI/v2.5/customers/subscriptions?modified_start=2000-01-01T00:00:00Z", "InvalidParametersModifiedEnd"),
])
def test_required_ranges_and_limits_are_enforced_with_trends_error_body(sb, uri, subject):
    response = call(sb, "GET", uri)
    assert trend_error(response) == (400, subject)
    assert response.headers["Content-Type"].startswith("text/html")  # as Trend's example answer


def test_subscriptions_take_either_range_and_page_with_a_default_limit_of_25(sb):
    created = call(sb, "GET", f"/LMPI/v2.5/customers/subscriptions?{ALL_TIME}")
    modified = call(sb, "GET", "/LMPI/v2.5/customers/subscriptions?modified_start=2000-01-01T00:00:00Z"
                    "&modified_end=2099-01-01T00:00:00Z&limit=100")
    assert created.status_code == modified.status_code == 200
    assert created.json()["paging"] == {"total": 18, "limit": 25, "page": 1}
    assert len(modified.json()["subscriptions"]) == 18
    assert set(created.json()["subscriptions"][0]) <= set(doc.SUBSCRIPTION) | {"licenses"}
    # Strictly inside the range: nothing was created before 2000 or after now.
    empty = call(sb, "GET", "/LMPI/v2.5/customers/subscriptions?created_start=2000-01-01T00:00:00Z"
                 "&created_end=2001-01-01T00:00:00Z")
    assert empty.json()["subscriptions"] == []


@pytest.mark.parametrize("header", doc.HEADERS)
def test_a_missing_header_is_400_missing_header(sb, header):
    status, subject = trend_error(call(sb, "GET", "/LMPI/v3/me/serviceplans", drop=header))
    assert status == 400 and subject.startswith("MissingHeader")


def test_authentication_failures_are_trends(sb):
    uri = "/LMPI/v3/me/serviceplans"
    assert trend_error(call(sb, "GET", uri, content_type="text/plain")) == (415, "InvalidHeaderContentType")
    assert trend_error(call(sb, "GET", uri, secret="wrong")) == (401, "AuthenticationFailureSignature")
    assert trend_error(call(sb, "GET", uri, posix=time.time() - 16 * 60)) == (401, "AuthenticationFailurePosixTime")
    assert call(sb, "GET", uri, posix=time.time() - 14 * 60).status_code == 200
    # The signature covers the URI exactly as sent: `%3A` is a different request from `:`.
    signed = f"/LMPI/v3/customers?{ALL_TIME}"
    stamp = str(int(time.time()))
    headers = {"x-access-token": sb.credentials.lmpi_access_token, "x-posix-time": stamp,
               "x-signature": doc.trend_signature(sb.credentials.lmpi_secret_key, stamp, "GET", signed),
               "x-traceid": "t", "content-type": "application/json"}
    prepared = requests.Request("GET", sb.base_url + signed.replace(":", "%3A"), headers=headers).prepare()
    prepared.url = sb.base_url + signed.replace(":", "%3A")
    assert trend_error(requests.Session().send(prepared, timeout=10)) == (401, "AuthenticationFailureSignature")


def test_the_report_post_is_signed_over_its_body(sb):
    body = json.dumps({"report_cycle_year": time.strftime("%Y"), "report_cycle_month": time.strftime("%m")}).encode()
    assert call(sb, "POST", "/LMPI/v3/reports/summary", body).status_code == 200
    stamp = str(int(time.time()))
    other = doc.trend_signature(sb.credentials.lmpi_secret_key, stamp, "POST", "/LMPI/v3/reports/summary", b"{}")
    response = requests.post(f"{sb.lmpi_url}/v3/reports/summary", data=body, timeout=10, headers={
        "x-access-token": sb.credentials.lmpi_access_token, "x-posix-time": stamp, "x-signature": other,
        "x-traceid": "t", "content-type": "application/json"})
    assert trend_error(response) == (401, "AuthenticationFailureSignature")


def test_service_plans_are_a_bare_array_of_documented_plans(sb):
    plans = call(sb, "GET", "/LMPI/v3/me/serviceplans").json()
    assert isinstance(plans, list) and plans
    for plan in plans:
        assert set(doc.SERVICE_PLANS[0]) <= set(plan)
        assert len(plan["product_code"]) == 9 and plan["product_code"].isalnum()
        assert plan["product"] and plan["product"] != plan["product_code"]  # a display name


def report(sb) -> list[dict]:
    body = json.dumps({"report_cycle_year": time.strftime("%Y"), "report_cycle_month": time.strftime("%m")}).encode()
    response = call(sb, "POST", "/LMPI/v3/reports/summary", body)
    assert response.status_code == 200, response.text
    return response.json()["summary"]


def test_report_rows_carry_names_and_no_ids(sb):
    rows = report(sb)
    assert rows
    for row in rows:
        assert set(row) == doc.REPORT_ROW_KEYS | {"used"}
        assert isinstance(row["provisioned"], int)
    acme = [r for r in rows if r["customer"] == "Acme Dental Group"]
    assert {(r["product_name"], r["provisioned"]) for r in acme} == {
        ("Worry-Free Business Security Services", 42), ("Hosted Email Security", 38)}


def test_the_sandbox_plays_each_reading_the_pages_leave_open(sb):
    sb.lmpi.readings = LmpiReadings(used_field="used_units", units_as="string", null_used=("HESMWXE3X",))
    rows = report(sb)
    hes = next(r for r in rows if r["product_name"] == "Hosted Email Security")
    other = next(r for r in rows if r["product_name"] != "Hosted Email Security")
    assert hes["used_units"] is None and "used" not in hes
    assert isinstance(other["used_units"], str) and other["used_units"].isdigit()
    assert isinstance(other["provisioned"], str)
    sb.lmpi.readings = LmpiReadings(used_field="none", duplicate_rows=True)
    rows = report(sb)
    assert set(rows[0]) == doc.REPORT_ROW_KEYS and rows[0] == rows[1]
    sb.lmpi.readings = LmpiReadings(error_content_type="application/json")
    response = call(sb, "GET", "/LMPI/v3/customers")
    assert response.headers["Content-Type"].startswith("application/json") and trend_error(response)[0] == 400


def test_the_sandbox_clock_can_be_off_and_says_so_in_its_date_header(sb):
    sb.lmpi.readings = LmpiReadings(clock_offset=3600)
    response = call(sb, "GET", "/LMPI/v3/me/serviceplans")
    assert trend_error(response) == (401, "AuthenticationFailurePosixTime")
    served = parsedate_to_datetime(response.headers["Date"]).timestamp()
    assert 3500 < served - time.time() < 3700
    assert call(sb, "GET", "/LMPI/v3/me/serviceplans", posix=time.time() + 3600).status_code == 200


def test_readings_parse_from_the_environment_text():
    readings = LmpiReadings.from_text("used_field=used_units; units_as=string; null_used=A,B; clock_offset=-90")
    assert (readings.used_field, readings.units_as, readings.null_used, readings.clock_offset) == (
        "used_units", "string", ("A", "B"), -90)
    with pytest.raises(ValueError, match="unknown LMPI reading"):
        LmpiReadings.from_text("chargeable=1")


def test_a_subscriptions_licences_carry_product_codes(sb):
    sb.store.add_lmpi_customer("5a5a5a5a-0000-4000-8000-000000000001", "Code Check Ltd")
    sb.store.add_lmpi_subscription("5a5a5a5a-0000-4000-8000-000000000001", "S-1", "S", service_plan_id("HESMWXE3X"),
                                   [license_record("HESMWXE3X", 3)])
    answer = call(sb, "GET", "/LMPI/v3/customers/5A5A5A5A-0000-4000-8000-000000000001/subscriptions/s-1").json()
    (licence,) = answer["licenses"]
    assert licence["product_id"] == "HESMWXE3X" and licence["units"] == 3
