"""The LMPI usage source against the sandbox's signature-checking LMPI endpoints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time

import pytest

from reconciler.usage import UsageSourceError, read_usage
from reconciler.usage.lmpi import LmpiClient, LmpiSigner, read_lmpi, signature
from reconciler.usage.products import TREND_PRODUCT_IDS, product_key

sandbox = pytest.importorskip("reconciler.sandbox")
lmpi_mod = pytest.importorskip("reconciler.sandbox.lmpi")

PRODUCTS = list(TREND_PRODUCT_IDS.values())


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
    assert signature(
        "s", "1700000000", "get", "/LMPI/v3/customers?page=1&limit=100", None
    ) == lmpi_mod.sign("s", "1700000000", "GET", "/LMPI/v3/customers?page=1&limit=100")
    assert signature("s", "1", "POST", "/x", b'{"a":1}') == lmpi_mod.sign(
        "s", "1", "POST", "/x", b'{"a":1}'
    )
    # Independently of both implementations: HMAC-SHA256 over time+METHOD+uri+b64(md5(body)).
    md5 = base64.b64encode(hashlib.md5(b"{}").digest()).decode()
    mac = hmac.new(b"k", ("9POST/LMPI/v3/x?a=1" + md5).encode(), hashlib.sha256).digest()
    assert signature("k", "9", "POST", "/LMPI/v3/x?a=1", b"{}") == base64.b64encode(mac).decode()
    assert "S3CR3T" not in repr(LmpiSigner("T0K3N", "S3CR3T")) + str(LmpiSigner("T0K3N", "S3CR3T"))


def test_product_table():
    assert product_key("wfbss-svc") == "wfbss-svc" and product_key("C1-WLS") == "workload-security"
    assert product_key("NOPE") is None
    assert lmpi_mod.TREND_PRODUCT_IDS == TREND_PRODUCT_IDS


def test_reads_units_of_enabled_licenses_across_pages(sb):
    lic = lmpi_mod.license_record
    for i in range(130):  # more than one page of customers (limit 100)
        sb.store.add_lmpi_customer(f"cust-{i:03d}", f"Customer {i}")
    plan = lmpi_mod.service_plan_id("WFBSS-SVC")
    sb.store.add_lmpi_subscription(
        "cust-000",
        "sub-a",
        "A",
        plan,
        [lic("WFBSS-SVC", 40), lic("WFBSS-SVC", 2), lic("HES", 5, False)],
    )
    sb.store.add_lmpi_subscription("cust-000", "sub-b", "B", plan, [lic("HES", 7)])
    sb.store.add_lmpi_subscription(
        "cust-001", "sub-c", "C", plan, [lic("C1-WLS", 3)], enabled=False
    )
    sb.store.add_lmpi_subscription(
        "cust-129", "sub-d", "D", plan, [lic("CAS", 11), lic("MYSTERY-PRODUCT", 9)]
    )
    usage = read_usage(_lmpi_config(), env=env_for(sb))
    assert usage.source == "lmpi"
    assert usage.quantities == {
        ("cust-000", "wfbss-svc"): 42,
        ("cust-000", "hes"): 7,
        ("cust-129", "cas"): 11,
    }
    assert any("MYSTERY-PRODUCT" in w for w in usage.warnings)


def test_products_missing_from_config_are_reported(sb):
    sb.store.add_lmpi_customer("c", "C")
    sb.store.add_lmpi_subscription("c", "s", "S", "plan", [lmpi_mod.license_record("HES", 4)])
    usage = read_lmpi(["cas"], env_for(sb))
    assert usage.quantities == {}
    assert any("hes" in w and "not in config" in w for w in usage.warnings)


def test_customer_ids_in_another_case_are_one_customer(sb):
    guid = "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a65"
    sb.store.add_lmpi_customer(guid, "Fjord")
    sb.store.add_lmpi_subscription(guid.upper(), "s1", "S1", "plan", [lmpi_mod.license_record("CAS", 20)])
    sb.store.add_lmpi_subscription(guid, "s2", "S2", "plan", [lmpi_mod.license_record("CAS", 9)])
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
    sb.store.add_lmpi_subscription("c", "s", "S", "plan", [lmpi_mod.license_record("CAS", 4)])
    sb.set_faults(sandbox.FaultPlan(nth={1: "503", 2: "429", 4: "drop"}, retry_after=0))
    client = LmpiClient(
        sb.lmpi_url,
        sb.credentials.lmpi_access_token,
        sb.credentials.lmpi_secret_key,
        backoff_factor=0.01,
    )
    assert read_lmpi(PRODUCTS, {}, client=client).quantities == {("c", "cas"): 4}


def _lmpi_config():
    from reconciler.config.model import Config, ConnectWiseSettings, Product, UsageSettings

    return Config(
        root=None,  # type: ignore[arg-type]
        connectwise=ConnectWiseSettings(url="http://x/apis/3.0", company_id="c", api_version="1"),
        products={k: Product(k, k, k) for k in PRODUCTS},
        default_agreement_types=(),
        billing=None,
        executive_summary=None,
        safety=None,  # type: ignore[arg-type]
        usage=UsageSettings(source="lmpi"),
    )


@pytest.mark.parametrize("units", [1.5, 1e308, "12", -3, True])
def test_units_that_are_not_whole_seats_stop_the_read_instead_of_billing(sb, units):
    # LMPI's answer is untrusted: int(1.5) would bill 1 seat, int(1e308) an absurd number.
    sb.store.add_lmpi_customer("c", "C")
    record = lmpi_mod.license_record("HES", 4)
    record["units"] = units
    sb.store.add_lmpi_subscription("c", "s", "S", "plan", [record])
    with pytest.raises(UsageSourceError, match="not a whole, non-negative number of seats"):
        read_lmpi(["hes"], env_for(sb))
