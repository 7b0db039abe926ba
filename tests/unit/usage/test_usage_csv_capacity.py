"""The usage file of the largest MSP is read; a wrong file is still stopped (docs/scale.md)."""

from __future__ import annotations

import uuid

import pytest

from reconciler.usage import csv_source
from reconciler.usage.base import UsageInvalid
from reconciler.usage.csv_source import read_csv

PRODUCTS = ("wfbss-svc", "cas", "hes", "apex-one-saas", "wfs-advanced", "workload-security")


def _guid(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def test_a_100000_customer_file_is_read_whole(tmp_path):
    # 100,000 customers, two to three products each, as the bench's world writes them (the 2 MiB
    # limit of before refused 40,000 customers' rows).
    path = tmp_path / "seats.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("trend_customer_id,product,quantity\n")
        for n in range(100_000):
            for product in PRODUCTS[: 2 + n % 2]:
                out.write(f"{_guid(n)},{product},{n % 97 + 1}\n")
    assert path.stat().st_size > 10 * 1024 * 1024
    usage = read_csv(path, PRODUCTS)
    assert len(usage.customers()) == 100_000
    assert usage.for_customer(_guid(99_999)) == dict.fromkeys(("wfbss-svc", "cas", "hes"), 99_999 % 97 + 1)


def test_a_file_of_too_many_lines_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_source, "MAX_ROWS", 100)
    path = tmp_path / "seats.csv"
    path.write_text("trend_customer_id,product,quantity\n" + "".join(
        f"{_guid(n)},cas,1\n" for n in range(100)), encoding="utf-8")
    with pytest.raises(UsageInvalid) as caught:
        read_csv(path, PRODUCTS)
    assert str(caught.value).endswith(":101: error: usage file: more than 100 lines; is this the right file?")


def test_a_file_of_exactly_the_line_limit_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_source, "MAX_ROWS", 100)
    path = tmp_path / "seats.csv"
    path.write_text("trend_customer_id,product,quantity\n" + "".join(
        f"{_guid(n)},cas,1\n" for n in range(99)), encoding="utf-8")
    assert len(read_csv(path, PRODUCTS).customers()) == 99


def test_a_file_above_the_byte_limit_is_refused_unread(tmp_path):
    path = tmp_path / "seats.csv"
    with path.open("wb") as out:
        out.truncate(csv_source.MAX_BYTES + 1)  # sparse: no disk used
    with pytest.raises(UsageInvalid) as caught:
        read_csv(path, PRODUCTS)
    assert "larger than the limit of 65536 KiB" in str(caught.value)
