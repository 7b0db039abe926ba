"""The LMPI usage source against the sandbox's signature-checking LMPI endpoints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time

import pytest
import requests

from reconciler.config.model import Product
from reconciler.usage import TrendIds, UsageSourceError, read_usage
from reconciler.usage.lmpi import LmpiClient, LmpiSigner, read_lmpi, read_reported, signature

sandbox = pytest.importorskip("reconciler.sandbox")
lmpi_mod = pytest.importorskip("reconciler.sandbox.lmpi")

# What an MSP's global.yaml says; the tool has no table of its own.
TREND = {"wfbss-svc": "WFSBWXE3X", "wfs-advanced": "WFSAWXE3X", "cas": "CASMWXE3X", "hes": "HESMWXE3X",
         "apex-one-saas": "APX1WXE3X", "workload-security": "C1WLWXE3X"}
CONFIG_PRODUCTS = {k: Product(k, k, k, trend_product_ids=(v,)) for k, v in TREND.items()}
PRODUCTS = TrendIds.from_products(CONFIG_PRODUCTS)


def ids(**trend_product_ids: str) -> TrendIds:
    return TrendIds.from_products({k.replace("_", "-"): Product(k, k, k, trend_product_ids=(v,))
                                   for k, v in trend_product_ids.items()})


@pytest.fixture
def sb(tmp_path):
    with sandbox.SandboxServer(data_dir=tmp_path / "sb", port=0, seed_demo=False) as server:
        yield server


def env_for(sb, **override) -> dict[str, str]:
    env = {
        "TM_LMPI_URL": sb.lmpi_url,
        "TM_ACCESS_TOKEN": sb.credentials.lmpi_access_token,
        "TM_SECRET_KEY": sb.credentials.lmpi_secret_key,
    }
    env.update(override)
    return env


def test_signature_matches_the_documented_recipe():
    # The client and the sandbox share one implementation; this checks it independently of it:
    # HMAC-SHA256 over time+METHOD+uri+b64(md5(body)), the method upper-cased.
    assert signature("s", "1700000000", "get", "/LMPI/v3/customers", None) == base64.b64encode(
        hmac.new(b"s", b"1700000000GET/LMPI/v3/customers", hashlib.sha256).digest()).decode()
    md5 = base64.b64encode(hashlib.md5(b"{}").digest()).decode()
    mac = hmac.new(b"k", ("9POST/LMPI/v3/x?a=1" + md5).encode(), hashlib.sha256).digest()
    assert signature("k", "9", "POST", "/LMPI/v3/x?a=1", b"{}") == base64.b64encode(mac).decode()
    assert "S3CR3T" not in repr(LmpiSigner("T0K3N", "S3CR3T")) + str(LmpiSigner("T0K3N", "S3CR3T"))


def test_trend_ids_come_from_the_config_products():
    assert PRODUCTS.product_for("c1wlwxe3x") == "workload-security"
    assert PRODUCTS.product_for(" WFSBWXE3X ") == "wfbss-svc"
    assert PRODUCTS.product_for("NOPE") is None
    several = TrendIds.from_products({"edr": Product("edr", "EDR", "TM-EDR", trend_product_ids=("A", "B"),
                                                     trend_service_plan_ids=("plan-1",), trend_names=("Endpoint",))})
    assert [several.product_for(x) for x in ("a", "B")] == ["edr", "edr"]
    assert several.product_for(service_plan_id="PLAN-1") == several.product_for(name="endpoint") == "edr"
    assert several.product_for("unknown", "plan-1") == "edr"  # falls back to the subscription's plan


def test_reads_units_of_enabled_licenses_across_pages(sb):
    lic = lmpi_mod.license_record
    for i in range(130):  # more than one page of customers (limit 100)
        sb.store.add_lmpi_customer(f"cust-{i:03d}", f"Customer {i}")
    plan = lmpi_mod.service_plan_id("WFSBWXE3X")
    sb.store.add_lmpi_subscription(
        "cust-000",
        "sub-a",
        "A",
        plan,
        [lic("WFSBWXE3X", 40), lic("WFSBWXE3X", 2), lic("HESMWXE3X", 5, False)],
    )
    sb.store.add_lmpi_subscription("cust-000", "sub-b", "B", plan, [lic("HESMWXE3X", 7)])
    sb.store.add_lmpi_subscription(
        "cust-001", "sub-c", "C", plan, [lic("C1WLWXE3X", 3)], enabled=False
    )
    sb.store.add_lmpi_subscription(
        "cust-129", "sub-d", "D", plan, [lic("CASMWXE3X", 11), lic("MYSTERY01", 9)]
    )
    usage = read_usage(_lmpi_config(), env=env_for(sb))
    assert usage.source == "lmpi"
    assert usage.quantities == {
        ("cust-000", "wfbss-svc"): 42,
        ("cust-000", "hes"): 7,
        ("cust-129", "cas"): 11,
    }
    assert any("MYSTERY01" in w for w in usage.warnings)


def test_ids_no_configured_product_counts_are_reported(sb):
    sb.store.add_lmpi_customer("c", "C")
    sb.store.add_lmpi_subscription("c", "s", "S", "plan", [lmpi_mod.license_record("HESMWXE3X", 4)])
    usage = read_lmpi(ids(cas="CASMWXE3X"), env_for(sb))
    assert usage.quantities == {}
    assert any("'HESMWXE3X'" in w and "counted by no product" in w and "4 units" in w for w in usage.warnings)


def test_changing_a_products_trend_ids_changes_what_is_counted(sb):
    sb.store.add_lmpi_customer("c", "C")
    sb.store.add_lmpi_subscription("c", "s", "S", "plan-x", [lmpi_mod.license_record("HESMWXE3X", 4),
                                                             lmpi_mod.license_record("CASMWXE3X", 6)])
    assert read_lmpi(ids(hes="HESMWXE3X"), env_for(sb)).quantities == {("c", "hes"): 4}
    both = TrendIds.from_products({"mail": Product("mail", "Mail", "TM-MAIL",
                                                   trend_product_ids=("hesmwxe3x", "casmwxe3x"))})
    usage = read_lmpi(both, env_for(sb))
    assert usage.quantities == {("c", "mail"): 10} and usage.warnings == ()
    by_plan = TrendIds.from_products({"bundle": Product("bundle", "B", "TM-B", trend_service_plan_ids=("PLAN-X",))})
    assert read_lmpi(by_plan, env_for(sb)).quantities == {("c", "bundle"): 10}
    assert {r["product_id"] for r in usage.rows} == {"HESMWXE3X", "CASMWXE3X"}  # the evidence names what was counted


def test_customer_ids_in_another_case_are_one_customer(sb):
    guid = "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a65"
    sb.store.add_lmpi_customer(guid, "Fjord")
    sb.store.add_lmpi_subscription(guid.upper(), "s1", "S1", "plan", [lmpi_mod.license_record("CASMWXE3X", 20)])
    sb.store.add_lmpi_subscription(guid, "s2", "S2", "plan", [lmpi_mod.license_record("CASMWXE3X", 9)])
    usage = read_lmpi(PRODUCTS, env_for(sb))
    assert usage.quantities == {(guid, "cas"): 29}
    assert usage.for_customer(guid.upper()) == {"cas": 29}
    assert not any("unknown customer" in w for w in usage.warnings)


def test_bad_secret_is_a_clear_error_without_the_secret(sb, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UsageSourceError) as info:
        read_lmpi(PRODUCTS, env_for(sb, TM_SECRET_KEY="wrong-secret-value"))
    assert "401" in str(info.value) and "wrong-secret-value" not in str(info.value) + caplog.text


def test_clock_far_off_is_refused(sb):
    client = LmpiClient(
        sb.lmpi_url, sb.credentials.lmpi_access_token, sb.credentials.lmpi_secret_key
    )
    client._auth = LmpiSigner(
        sb.credentials.lmpi_access_token,
        sb.credentials.lmpi_secret_key,
        clock=lambda: time.time() - 3600,
    )
    with pytest.raises(UsageSourceError, match="401"):
        client.customers()


def test_missing_env_names_variables_not_values():
    with pytest.raises(UsageSourceError) as info:
        read_lmpi(PRODUCTS, {"TM_LMPI_URL": "http://x", "TM_SECRET_KEY": "s3cr3t"})
    text = str(info.value)
    assert "TM_ACCESS_TOKEN" in text and "s3cr3t" not in text


def test_lmpi_get_retries_faults(sb):
    sb.store.add_lmpi_customer("c", "C")
    sb.store.add_lmpi_subscription("c", "s", "S", "plan", [lmpi_mod.license_record("CASMWXE3X", 4)])
    sb.set_faults(sandbox.FaultPlan(nth={1: "503", 2: "429", 4: "drop"}, retry_after=0))
    client = LmpiClient(
        sb.lmpi_url,
        sb.credentials.lmpi_access_token,
        sb.credentials.lmpi_secret_key,
        backoff_factor=0.01,
    )
    assert read_lmpi(PRODUCTS, {}, client=client).quantities == {("c", "cas"): 4}


def _lmpi_config():
    from reconciler.config.model import Config, ConnectWiseSettings, UsageSettings

    return Config(
        root=None,  # type: ignore[arg-type]
        connectwise=ConnectWiseSettings(url="http://x/apis/3.0", company_id="c", api_version="1"),
        products=CONFIG_PRODUCTS,
        default_agreement_types=(),
        billing=None,
        executive_summary=None,
        safety=None,  # type: ignore[arg-type]
        usage=UsageSettings(source="lmpi"),
    )


@pytest.mark.parametrize("units", [1.5, 1e308, "1e3", -3, True, "NaN"])
def test_units_that_are_not_whole_seats_stop_the_read_instead_of_billing(sb, units):
    # LMPI's answer is untrusted: int(1.5) would bill 1 seat, int(1e308) an absurd number.
    sb.store.add_lmpi_customer("c", "C")
    record = lmpi_mod.license_record("HESMWXE3X", 4)
    record["units"] = units
    sb.store.add_lmpi_subscription("c", "s", "S", "plan", [record])
    with pytest.raises(UsageSourceError, match="not a whole number of units"):
        read_lmpi(ids(hes="HESMWXE3X"), env_for(sb))


def test_licence_units_sent_as_a_digit_string_count(sb):
    sb.store.add_lmpi_customer("c", "C")
    record = lmpi_mod.license_record("HESMWXE3X", 4)
    record["units"] = "12"
    sb.store.add_lmpi_subscription("c", "s", "S", "plan", [record])
    assert read_lmpi(ids(hes="HESMWXE3X"), env_for(sb)).quantities == {("c", "hes"): 12}


# --- the reported basis and service plans, against the sandbox's LMPI --------------------------

def _this_month_minus(months: int) -> str:
    now = time.gmtime()
    index = now.tm_year * 12 + now.tm_mon - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _seed_report(sb):
    lic = lmpi_mod.license_record
    sb.store.add_lmpi_customer("c-1", "One")
    plan = lmpi_mod.service_plan_id("HESMWXE3X")
    sb.store.add_lmpi_subscription("c-1", "s-1", "S1", plan, [lic("HESMWXE3X", 40), lic("CASMWXE3X", 8, False)])
    sb.store.add_lmpi_subscription("c-1", "s-2", "S2", plan, [lic("WFSBWXE3X", 16)], enabled=False)
    sb.store.add_lmpi_subscription("c-1", "s-3", "S3", "plan-mystery", [lic("MYSTERY01", 3)])


@pytest.mark.parametrize("units,expected", [("provisioned", 40), ("used", 35)])
def test_reported_basis_bills_the_chosen_figure_of_the_months_report(sb, units, expected):
    _seed_report(sb)
    month = _this_month_minus(1)
    usage = read_reported(PRODUCTS, month, units, env_for(sb))
    # Consistent with the subscriptions: only the enabled HES licence of the enabled subscription.
    assert usage.quantities == {("c-1", "hes"): expected}
    assert (usage.basis, usage.report_month, usage.units) == ("reported", month, units)
    assert any("MYSTERY01" in w and "counted by no product" in w for w in usage.warnings)
    (evidence,) = usage.rows
    assert evidence[units] == expected and evidence["quantity"] == expected and evidence["report_month"] == month
    assert evidence["product_code"] == "HESMWXE3X" and evidence["customer"] == "One"


def test_reported_rows_match_by_service_plan_id_or_name_when_no_product_code_is_listed(sb):
    _seed_report(sb)
    by_plan = TrendIds.from_products({"mail": Product("mail", "M", "TM-M",
                                                      trend_service_plan_ids=(lmpi_mod.service_plan_id("HESMWXE3X"),))})
    assert read_reported(by_plan, _this_month_minus(1), "provisioned", env_for(sb)).quantities == {("c-1", "mail"): 40}
    by_name = TrendIds.from_products({"mail": Product("mail", "M", "TM-M", trend_names=("hosted email security",))})
    assert read_reported(by_name, _this_month_minus(1), "provisioned", env_for(sb)).quantities == {("c-1", "mail"): 40}


@pytest.mark.parametrize("months_ago", [-1, 24])
def test_a_report_month_the_sandbox_does_not_keep_is_a_clear_error(sb, months_ago):
    with pytest.raises(UsageSourceError, match="HTTP 400 InvalidParameters"):
        read_reported(PRODUCTS, _this_month_minus(months_ago), "provisioned", env_for(sb))


def test_the_summary_post_is_signed_over_its_body(sb):
    client = LmpiClient(sb.lmpi_url, sb.credentials.lmpi_access_token, sb.credentials.lmpi_secret_key)
    assert client.summary_report(_this_month_minus(1)) == []
    # A body other than the one signed is refused, like any request with a wrong signature.
    request = requests.Request("POST", f"{sb.lmpi_url}/v3/reports/summary", data=b'{"report_cycle_year":"2026"}')
    prepared = client._auth(request.prepare())
    prepared.body = b'{"report_cycle_year":"2025","report_cycle_month":"01"}'
    response = requests.Session().send(prepared, timeout=10)
    assert response.status_code == 401 and response.json()["error_subject"] == "AuthenticationFailureSignature"
    with pytest.raises(UsageSourceError, match="401 AuthenticationFailureSignature"):
        read_reported(PRODUCTS, _this_month_minus(1), "provisioned", env_for(sb, TM_SECRET_KEY="nope"))


def test_service_plans_are_listed_with_id_name_product_and_code(sb):
    client = LmpiClient(sb.lmpi_url, sb.credentials.lmpi_access_token, sb.credentials.lmpi_secret_key)
    plans = client.service_plans()
    assert {p["product_code"] for p in plans} == set(lmpi_mod.DEMO_PRODUCTS)
    assert {p["product"] for p in plans} == set(lmpi_mod.DEMO_PRODUCTS.values())
    for plan in plans:
        assert plan["service_plan_id"] in {lmpi_mod.service_plan_id(plan["product_code"], term)
                                           for term in ("monthly", "annual")}
        assert plan["name"] and len(plan["product_code"]) == 9


def test_an_lmpi_answer_echoing_our_secret_never_lands_in_warnings_or_saved_rows(sb):
    secret = sb.credentials.lmpi_secret_key
    lic = lmpi_mod.license_record
    sb.store.add_lmpi_customer("c-1", f"One {secret}")
    sb.store.add_lmpi_subscription("c-1", "s-1", "S1", "plan-x", [lic(secret, 5)])
    sb.store.add_lmpi_subscription("c-1", "s-2", "S2", lmpi_mod.service_plan_id("HESMWXE3X"), [lic("HESMWXE3X", 7)])
    for usage in (read_lmpi(PRODUCTS, env_for(sb)),
                  read_reported(PRODUCTS, _this_month_minus(1), "provisioned", env_for(sb))):
        assert usage.quantities == {("c-1", "hes"): 7}
        assert usage.warnings and secret not in " ".join(usage.warnings)
        assert usage.rows and secret not in repr(usage.rows)


def test_an_lmpi_error_echoing_our_secret_is_masked(sb):
    sb.lmpi.readings = lmpi_mod.LmpiReadings()
    with pytest.raises(UsageSourceError) as info:
        read_lmpi(PRODUCTS, env_for(sb, TM_ACCESS_TOKEN="not-the-token-value"))
    assert "AuthenticationFailureAccessToken" in str(info.value) and "not-the-token-value" not in str(info.value)
