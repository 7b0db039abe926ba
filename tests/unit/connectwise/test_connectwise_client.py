"""The client against a real (scripted) HTTP server: headers, paging, retries, POST safety."""

from __future__ import annotations

import base64
import logging
import socket
import time

import pytest

from reconciler.connectwise import (
    AmbiguousWrite,
    AuthError,
    BadRequest,
    Client,
    Conflict,
    Credentials,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    all_of,
    cond,
)
from tests.support.fake_cw import FakeCW, Reply, Seen, script

CREDS = Credentials("northwind", "pub-KEY-123", "priv-SECRET-456", "client-guid")


def make_client(url: str, **kw) -> Client:
    kw.setdefault("max_retries", 3)
    kw.setdefault("backoff_factor", 0.01)
    kw.setdefault("requests_per_minute", 60000)
    kw.setdefault("timeout", 5.0)
    return Client(url, CREDS, "2025.1", **kw)


def no_secret(text: str) -> None:
    token = base64.b64encode(b"northwind+pub-KEY-123:priv-SECRET-456").decode()
    for secret in ("priv-SECRET-456", "pub-KEY-123", token):
        assert secret not in text


def test_credentials_repr_masks_keys():
    for text in (repr(CREDS), str(CREDS), f"{CREDS}", repr([CREDS])):
        no_secret(text)
        assert "northwind" in text
    no_secret(repr(make_client("http://127.0.0.1:1/x")))


def test_headers_and_basic_auth():
    with FakeCW(script(Reply(200, {"id": 1}))) as cw:
        client = make_client(cw.url)
        assert client.get("finance/agreements/1") == {"id": 1}
        seen = cw.seen[0]
        assert seen.path == "/v4_6_release/apis/3.0/finance/agreements/1"
        kind, blob = seen.headers["authorization"].split()
        assert kind == "Basic"
        assert base64.b64decode(blob).decode() == "northwind+pub-KEY-123:priv-SECRET-456"
        assert seen.headers["clientid"] == "client-guid"
        assert seen.headers["accept"] == "application/vnd.connectwise.com+json; version=2025.1"
        assert seen.headers["content-type"] == "application/json"
        assert client.request_count == 1


def _paged(total: int, link: bool = True, foreign_host: bool = False):
    records = [{"id": i} for i in range(1, total + 1)]

    def handler(req: Seen) -> Reply:
        size, page = int(req.query["pageSize"]), int(req.query.get("page", 1))
        chunk = records[(page - 1) * size : page * size]
        headers = {}
        if link:
            host = "http://evil.example:9" if foreign_host else "http://127.0.0.1"
            links = [f'<{host}/v4_6_release/apis/3.0/x?pageSize={size}&page=1>; rel="first"']
            if page * size < total:
                links.append(
                    f'<{host}/x?pageSize={size}&page={page + 1}&conditions=ignored>; rel="next"'
                )
            headers["Link"] = ", ".join(links)
        return Reply(200, chunk, headers)

    return handler


@pytest.mark.parametrize("link", [True, False])
def test_list_pages_until_done(link):
    with FakeCW(_paged(2500, link=link)) as cw:
        client = make_client(cw.url)
        records = client.list(
            "company/companies",
            conditions=cond("deletedFlag", "=", False),
            fields=["id", "name"],
            order_by="id asc",
        )
        assert [r["id"] for r in records] == list(range(1, 2501))
        assert [s.query["page"] for s in cw.seen] == ["1", "2", "3"]
        assert all(s.query["pageSize"] == "1000" for s in cw.seen)
        assert cw.seen[0].query["conditions"] == "deletedFlag = false"
        assert cw.seen[0].query["fields"] == "id,name"
        assert cw.seen[0].query["orderBy"] == "id asc"


@pytest.mark.parametrize("link", [True, False])
def test_pages_are_read_one_at_a_time_as_they_are_asked_for(link):
    """A reader that keeps only what it needs of each page holds one page of JSON, not the list
    (issue 22): the next page is requested only once the previous one was handed over."""
    with FakeCW(_paged(2500, link=link)) as cw:
        pages = make_client(cw.url).pages("company/companies")
        first = next(pages)
        assert [r["id"] for r in first][:2] == [1, 2] and len(first) == 1000
        assert cw.count() == 1
        rest = list(pages)
        assert [len(p) for p in rest] == [1000, 500]
        assert cw.count() == 3


def test_the_directory_is_turned_into_records_page_by_page():
    """Every company and agreement: each page becomes records before the next is asked for."""
    from reconciler.connectwise import ConnectWiseTarget

    requests_when_converted: list[int] = []
    with FakeCW(_paged(2500)) as cw:
        target = ConnectWiseTarget(make_client(cw.url))
        import reconciler.connectwise.target as target_module

        original = target_module.company_from

        def observed(record):
            if record["id"] % 1000 == 1:
                requests_when_converted.append(cw.count())
            return original({**record, "identifier": f"C{record['id']}"})

        target_module.company_from = observed
        try:
            companies = target.companies()
        finally:
            target_module.company_from = original
    assert [c.id for c in companies] == list(range(1, 2501))
    assert requests_when_converted == [1, 2, 3]


def test_list_exact_multiple_without_link_asks_one_more_page():
    with FakeCW(_paged(2000, link=False)) as cw:
        assert len(make_client(cw.url).list("x")) == 2000
        assert cw.count() == 3  # the third page is empty


def test_list_follows_next_link_query_but_never_its_host():
    with FakeCW(_paged(1500, foreign_host=True)) as cw:
        records = make_client(cw.url).list("x")
        assert len(records) == 1500  # page 2 came from our server, not evil.example
        assert cw.seen[1].query["page"] == "2"


def test_list_rejects_hand_built_conditions():
    client = make_client("http://127.0.0.1:1/x")
    with pytest.raises(TypeError):
        client.list("x", conditions='name = "x" or 1=1')  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.list("x", order_by="id; drop")


def test_get_retries_503_and_429_with_retry_after_zero():
    replies = script(
        Reply(503, b"<html>busy</html>"),
        Reply(429, {"error": "ConnectWiseAPI", "message": "Too many"}, {"Retry-After": "0"}),
        Reply(502, b"bad gateway"),
        Reply(200, [{"id": 1}]),
    )
    with FakeCW(replies) as cw:
        client = make_client(cw.url)
        assert client.list("x") == [{"id": 1}]
        assert cw.count() == 4
        assert client.request_count == 4


def test_get_retries_500_but_patch_does_not():
    with FakeCW(script(Reply(500, {"code": "x", "message": "oops"}), Reply(200, {"id": 1}))) as cw:
        assert make_client(cw.url).get("a/1") == {"id": 1}
        assert cw.count() == 2
    with FakeCW(script(Reply(500, {"code": "x", "message": "oops"}), Reply(200, {"id": 1}))) as cw:
        with pytest.raises(ServerError):
            make_client(cw.url).patch("a/1", [{"op": "replace", "path": "quantity", "value": 2}])
        assert cw.count() == 1


def test_patch_retries_503_and_dropped_connection():
    with FakeCW(script(Reply(503, b""), "drop", Reply(200, {"id": 7, "quantity": 5}))) as cw:
        client = make_client(cw.url)
        out = client.patch(
            "finance/agreements/1/additions/7", [{"op": "replace", "path": "quantity", "value": 5}]
        )
        assert out["quantity"] == 5
        assert [s.method for s in cw.seen] == ["PATCH"] * 3
        assert cw.seen[0].body == [{"op": "replace", "path": "quantity", "value": 5}]
        assert client.request_count == 3


def test_patch_validates_operations():
    client = make_client("http://127.0.0.1:1/x")
    for bad in ([], {"op": "replace"}, [{"op": "move", "path": "a"}], [{"op": "replace"}]):
        with pytest.raises(ValueError):
            client.patch("a/1", bad)  # type: ignore[arg-type]


def test_retry_after_is_honoured_and_capped():
    with FakeCW(
        script(Reply(429, {"error": "e", "message": "m"}, {"Retry-After": "1"}), Reply(200, {}))
    ) as cw:
        start = time.monotonic()
        make_client(cw.url).get("a")
        assert time.monotonic() - start >= 0.9
    with FakeCW(
        script(Reply(429, {"error": "e", "message": "m"}, {"Retry-After": "3600"}), Reply(200, {}))
    ) as cw:
        start = time.monotonic()
        make_client(cw.url, retry_after_max=0.2).get("a")
        assert time.monotonic() - start < 2


def test_exhausted_retries_raise_typed_errors():
    with FakeCW(
        script(
            Reply(
                429,
                {"error": "ConnectWiseAPI", "message": "Too many requests"},
                {"Retry-After": "0"},
            )
        )
    ) as cw:
        with pytest.raises(RateLimited) as info:
            make_client(cw.url, max_retries=2).get("a")
        assert cw.count() == 3
        assert info.value.code == "ConnectWiseAPI" and "Too many requests" in str(info.value)
    with FakeCW(script(Reply(503, b"<html/>"))) as cw:
        with pytest.raises(ServerError) as info:
            make_client(cw.url, max_retries=2).get("a")
        assert info.value.status == 503


@pytest.mark.parametrize(
    "status,cls",
    [(400, BadRequest), (401, AuthError), (403, AuthError), (404, NotFound), (409, Conflict)],
)
def test_4xx_maps_to_typed_errors_without_retry(status, cls):
    body = {
        "code": "InvalidObject",
        "message": "addition object is invalid",
        "errors": [
            {"code": "Required", "message": "billCustomer is required", "field": "billCustomer"}
        ],
    }
    with FakeCW(script(Reply(status, body))) as cw:
        with pytest.raises(cls) as info:
            make_client(cw.url).get("finance/agreements/1/additions?secret=1")
        assert cw.count() == 1
    text = str(info.value)
    assert f"HTTP {status}" in text and "GET finance/agreements/1/additions" in text
    assert "InvalidObject" in text and "billCustomer is required" in text
    assert "secret=1" not in text
    no_secret(text + repr(info.value))


def test_read_timeout_on_get_is_retried():
    with FakeCW(script(("hang", 1.0), Reply(200, {"ok": True}))) as cw:
        assert make_client(cw.url, timeout=0.3).get("a") == {"ok": True}
        assert cw.count() == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_transport_error_has_no_secrets_and_no_cause():
    url = f"http://127.0.0.1:{_free_port()}/v4_6_release/apis/3.0"
    with pytest.raises(TransportError) as info:
        make_client(url, max_retries=1).list("x", conditions=cond("name", "=", "a"))
    assert info.value.__cause__ is None and info.value.__suppress_context__
    text = str(info.value)
    assert "GET x" in text and "could not connect" in text and "conditions" not in text
    no_secret(text)


# -- POST ---------------------------------------------------------------------------------


def test_create_success_posts_once():
    with FakeCW(script(Reply(201, {"id": 9}))) as cw:
        called = []
        out = make_client(cw.url).create("a", {"x": 1}, lambda: called.append(1))
        assert out == {"id": 9} and called == [] and cw.count("POST") == 1
        assert cw.seen[0].body == {"x": 1}


@pytest.mark.parametrize(
    "failure", ["drop", Reply(503, b""), Reply(500, {"code": "x"}), ("hang", 1.0)]
)
def test_ambiguous_post_reads_back_instead_of_reposting(failure):
    with FakeCW(script(failure, Reply(201, {"id": 2}))) as cw:
        found = {"id": 1, "note": "created by the lost POST"}
        out = make_client(cw.url, timeout=0.3).create("a", {"x": 1}, lambda: found)
        assert out is found
        assert cw.count("POST") == 1


def test_ambiguous_post_with_nothing_found_posts_again():
    with FakeCW(script("drop", Reply(201, {"id": 2}))) as cw:
        calls = []
        out = make_client(cw.url).create("a", {"x": 1}, lambda: calls.append(1))
        assert out == {"id": 2} and calls == [1] and cw.count("POST") == 2


def test_ambiguous_post_gives_up_after_bounded_attempts():
    with FakeCW(script(Reply(503, b""))) as cw:
        with pytest.raises(ServerError):
            make_client(cw.url, post_attempts=3).create("a", {}, lambda: None)
        assert cw.count("POST") == 3


def test_ambiguous_post_with_failed_read_back_is_ambiguous_write():
    def boom():
        raise TransportError(None, None, "down", method="GET", path="a")

    with FakeCW(script("drop")) as cw:
        with pytest.raises(AmbiguousWrite) as info:
            make_client(cw.url).create("a", {}, boom)
        assert cw.count("POST") == 1
        no_secret(str(info.value))


def test_post_clean_4xx_raises_without_read_back():
    with FakeCW(
        script(Reply(400, {"code": "InvalidObject", "message": "bad", "errors": None}))
    ) as cw:
        with pytest.raises(BadRequest):
            make_client(cw.url).create("a", {}, lambda: pytest.fail("no read-back on 400"))
        assert cw.count() == 1


def test_post_429_is_resent_after_retry_after():
    with FakeCW(
        script(
            Reply(429, {"error": "e", "message": "m"}, {"Retry-After": "0"}), Reply(201, {"id": 3})
        )
    ) as cw:
        out = make_client(cw.url).create("a", {}, lambda: pytest.fail("429 is not ambiguous"))
        assert out == {"id": 3} and cw.count("POST") == 2


def test_post_to_closed_port_is_transport_error_without_read_back():
    url = f"http://127.0.0.1:{_free_port()}/x"
    with pytest.raises(TransportError):
        make_client(url, max_retries=1).create("a", {}, lambda: pytest.fail("nothing was sent"))


def test_logs_never_hold_keys(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeCW(
        script("drop", Reply(503, b""), Reply(401, {"code": "Unauthorized", "message": "bad"}))
    ) as cw:
        client = make_client(cw.url)
        with pytest.raises(AmbiguousWrite) as info:  # the read-back hit a 401
            client.create("a", {}, lambda: client.get("a"))
        assert "401" in str(info.value)
    no_secret(caplog.text + str(info.value) + repr(info.value))


def test_conditions_are_url_encoded():
    with FakeCW(script(Reply(200, []))) as cw:
        c = all_of(cond("name", "=", 'A&B "co" 100%'), cond("id", "in", [1, 2]))
        make_client(cw.url).list("x", conditions=c)
        assert cw.seen[0].query["conditions"] == '(name = "A&B \\"co\\" 100%" and id in (1, 2))'


def test_an_unreachable_connectwise_announces_each_retry_and_the_total_wait(caplog):
    """Each retry is a log line (the CLI shows them on a terminal) and the final error says how
    long the tool kept trying, instead of half a minute of silence."""
    url = f"http://127.0.0.1:{_free_port()}/v4_6_release/apis/3.0"
    caplog.set_level(logging.INFO, logger="reconciler.connectwise.client.retry")
    with pytest.raises(TransportError) as info:
        make_client(url, max_retries=3, backoff_factor=0.4).get("company/companies")
    lines = [r.getMessage() for r in caplog.records if r.name == "reconciler.connectwise.client.retry"]
    assert len(lines) == 3, lines
    assert lines[0].startswith("ConnectWise GET /v4_6_release/apis/3.0/company/companies: ")
    assert "retry 1 of 3 in " in lines[0] and "retry 3 of 3 in " in lines[2]
    assert "object at 0x" not in lines[0] and "Connection refused" in lines[0]
    assert "gave up after" in str(info.value) and " s of retries" in str(info.value)
    no_secret("\n".join(lines) + str(info.value))
