"""The HTTP edge refuses what is too big before doing the work, and checks and normalises
every text input once: documents (bytes, tokens), bodies (Content-Length, streams,
``Expect: 100-continue``), request heads, variables and literals (NFC, no NUL), X-Purpose,
X-Request-Id, the JSON media type and the token endpoint's parameters.

Size refusals are proven over a real socket against the real server (uvicorn with the hub's
own protocol and options, as ``hub serve`` runs it): refused within 100 ms while a keyed
lookup from another client stays fast.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from graphql import get_introspection_query
from sqlalchemy import select
from starlette.applications import Starlette

from catalog.models import AuditEvent
from hub.auth.issuer import MAX_TOKEN_BODY
from hub.db import Database
from hub.runtime import Hub
from hub.settings import Settings
from schema.document_limits import parse_bounded
from schema.inputs import header_text, normalise_variables
from tests.live_server import serving
from tests.records_fixtures import load_demo_records

Gql = Callable[..., Awaitable[dict[str, Any]]]

FAST = 0.1  # seconds: a refusal, and a keyed lookup beside an attack, answer within this
# In-process requests are timed in CPU seconds of this process (hub and client together): the
# work they cost, which a machine shared with other jobs does not inflate as it does wall time.
LOOKUP = "query($k: String!) { business(key: $k) { taxCode name } }"
COUNT = "{ businessList { totalCount } }"
BY_NAME = "query($w: String) { businessList(filter: {name: {contains: $w}}) { totalCount } }"
BY_DISTRICT = "query($f: BusinessFilter) { businessList(filter: $f) { totalCount } }"
FORM = "application/x-www-form-urlencoded"
PURPOSE = "Xác minh nơi thường trú"


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.fixture
async def demo(hub: Hub, app: Starlette) -> dict[str, list[dict[str, Any]]]:
    return await load_demo_records(hub, businesses=20, parcels=10, citizens=10)


async def _post(client: httpx.AsyncClient, payload: dict[str, Any], **headers: str) -> Any:
    return await client.post("/graphql", json=payload, headers=headers)


# -- 1. documents: bytes and tokens, before parsing -----------------------------------------------


async def test_document_over_byte_limit_is_413_naming_limit_and_size(
    client: httpx.AsyncClient,
) -> None:
    query = "{ datasets { totalCount } " + "@skip(if: false) " * 30_000 + "}"  # ~500 KB
    started = time.process_time()
    response = await _post(client, {"query": query})
    elapsed = time.process_time() - started
    assert response.status_code == 413
    body = response.json()
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    message = body["errors"][0]["message"]
    assert f"{len(query)} bytes" in message and "100000" in message
    assert "HUB_MAX_DOCUMENT_BYTES" in message
    assert elapsed < FAST * 3  # mostly the test client's JSON encoding of a megabyte


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda n: "{ __typename " + "@skip(if: false) " * n + "}", id="directives"),
        pytest.param(
            lambda n: "query Q(" + " ".join(f"$v{i}: Int" for i in range(n)) + ") { __typename }",
            id="unused-variables",
        ),
        pytest.param(
            lambda n: (
                "{ __typename } "
                + " ".join(f"fragment F{i} on Query {{ __typename }}" for i in range(n // 3))
            ),
            id="unused-fragments",
        ),
        pytest.param(lambda n: "#\n" * (n * 4) + "{ __typename }", id="comments"),
    ],
)
async def test_document_over_token_limit_is_refused_before_validation(
    gql: Gql, shape: Callable[[int], str]
) -> None:
    query = shape(4_000)
    assert len(query) < 100_000  # within the byte limit: the token count refuses it
    started = time.process_time()
    body = await gql(query)
    elapsed = time.process_time() - started
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    message = body["errors"][0]["message"]
    assert "at most 5000" in message and "HUB_MAX_DOCUMENT_TOKENS" in message
    assert elapsed < FAST


@pytest.mark.parametrize(
    ("query", "measured"),
    [
        pytest.param(
            "{ __typename } "
            + " ".join(f"fragment F{i} on Query {{ __typename }}" for i in range(700)),
            "defines 701 operations and fragments",
            id="unused-fragments",
        ),
        pytest.param(
            "{ "
            + " ".join(f"...F{i}" for i in range(450))
            + " } "
            + " ".join(f"fragment F{i} on Query {{ __typename }}" for i in range(450)),
            "defines 451 operations and fragments",
            id="used-fragments",
        ),
        pytest.param(
            " ".join(f"query Q{i} {{ __typename }}" for i in range(900)),
            "defines 900 operations and fragments",
            id="operations",
        ),
        pytest.param(
            "query Q(" + " ".join(f"$v{i}: Int" for i in range(1_200)) + ") { __typename }",
            "declares 1200 variables",
            id="unused-variables",
        ),
    ],
)
async def test_many_definitions_within_token_limit_are_refused_before_validation(
    gql: Gql, query: str, measured: str
) -> None:
    """Each of these took 0.1–1.4 s to validate (fragments are compared pairwise)."""
    started = time.process_time()
    body = await gql(query)
    elapsed = time.process_time() - started
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert measured in body["errors"][0]["message"]
    assert "at most 100" in body["errors"][0]["message"]
    assert elapsed < FAST


def test_parser_limit_messages_are_recognised() -> None:
    """graphql-core's limit messages end in "Parsing aborted."; an upgrade changing that
    would turn a limit into a plain syntax error."""
    from catalog.errors import QueryTooComplex

    # Within the quick count's margin (10 %), so the parser's own limits answer.
    with pytest.raises(QueryTooComplex, match="more than 100 tokens"):
        parse_bounded("{ " + "a " * 105 + "}", 10_000, 100)
    with pytest.raises(QueryTooComplex, match="more than 100 comments"):
        parse_bounded("#\n" * 105 + "{ a }", 10_000, 100)
    with pytest.raises(QueryTooComplex, match="more than 110 tokens"):
        parse_bounded("{ " + "a " * 200 + "}", 10_000, 100)


async def test_standard_introspection_query_still_passes(
    gql: Gql, token: Callable[..., str]
) -> None:
    query = get_introspection_query(
        descriptions=True, specified_by_url=True, directive_is_repeatable=True
    )
    for bearer in (None, token("SKHDT", "reader")):
        body = await gql(query, token=bearer)
        assert "errors" not in body, body
        assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_too_many_variable_values_are_refused(gql: Gql) -> None:
    body = await gql(BY_DISTRICT, f={"district": {"in": ["x"] * 20_000}})
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert "10000" in body["errors"][0]["message"]
    assert "HUB_MAX_VARIABLE_VALUES" in body["errors"][0]["message"]


async def test_deeply_nested_variables_are_refused(gql: Gql) -> None:
    nested: Any = "x"
    for _ in range(40):
        nested = [nested]
    body = await gql(BY_DISTRICT, f={"district": {"in": nested}})
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert "$f.district.in" in body["errors"][0]["message"]


# -- 4. text inputs: NUL refused, NFC once ---------------------------------------------------------


async def test_nul_byte_in_filter_variable_is_bad_input_naming_it(
    gql: Gql, demo: dict[str, Any]
) -> None:
    body = await gql(BY_DISTRICT, f={"district": {"eq": "Từ\x00Sơn"}})
    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert "$f.district.eq" in message and "NUL" in message
    assert "businessList.filter" in message  # where the document uses $f
    assert "data" not in body or body["data"] is None


async def test_nul_byte_in_document_literal_is_bad_input_naming_it(
    gql: Gql, demo: dict[str, Any]
) -> None:
    body = await gql('{ businessList(filter: {name: {contains: "a\\u0000"}}) { totalCount } }')
    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert "a string literal in the document" in message and "NUL" in message
    assert "businessList.filter.name.contains" in message


async def test_nfd_variable_and_nfd_literal_match_like_nfc(
    gql: Gql, demo: dict[str, list[dict[str, Any]]]
) -> None:
    word = next(b["name"] for b in demo["business"] if not b["name"].isascii()).split()[-1]
    nfd = unicodedata.normalize("NFD", word)
    assert nfd != unicodedata.normalize("NFC", word)
    expected = (await gql(BY_NAME, w=unicodedata.normalize("NFC", word)))["data"]
    assert expected["businessList"]["totalCount"] > 0
    assert (await gql(BY_NAME, w=nfd))["data"] == expected
    literal = f'{{ businessList(filter: {{name: {{contains: "{nfd}"}}}}) {{ totalCount }} }}'
    assert (await gql(literal))["data"] == expected


def test_variables_are_nfc_normalised_keys_and_values() -> None:
    decomposed = unicodedata.normalize("NFD", "Đình Bảng")
    out = normalise_variables({"f": {decomposed: [decomposed, 1, None]}}, 100)
    composed = unicodedata.normalize("NFC", decomposed)
    assert out == {"f": {composed: [composed, 1, None]}}


async def test_nul_byte_in_x_purpose_is_400_naming_the_header(
    client: httpx.AsyncClient,
) -> None:
    for value in (quote("xin\x00phép").encode(), b"a\x00b", b"a%07b"):
        response = await client.post(
            "/graphql", json={"query": COUNT}, headers={"X-Purpose": value}
        )
        assert response.status_code == 400, value
        body = response.json()
        assert codes(body) == ["BAD_USER_INPUT"]
        assert "X-Purpose" in body["errors"][0]["message"]


async def test_overlong_x_purpose_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": COUNT}, headers={"X-Purpose": "a" * 600}
    )
    assert response.status_code == 400
    assert "X-Purpose" in response.json()["errors"][0]["message"]


def test_x_purpose_raw_and_percent_encoded_utf8_decode_alike() -> None:
    raw = PURPOSE.encode("utf-8").decode("latin-1")  # what starlette makes of raw UTF-8
    nfd = unicodedata.normalize("NFD", PURPOSE)
    assert header_text("X-Purpose", raw, 500) == PURPOSE
    assert header_text("X-Purpose", quote(PURPOSE), 500) == PURPOSE
    assert header_text("X-Purpose", quote(nfd), 500) == PURPOSE  # NFC
    assert header_text("X-Purpose", "café".encode("latin-1").decode("latin-1"), 500) == "café"
    assert header_text("X-Purpose", "  ", 500) is None


async def test_raw_utf8_x_purpose_is_stored_as_sent(
    client: httpx.AsyncClient, demo: dict[str, Any], database: Database
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ businessList(first: 1) { edges { node { taxCode } } } }"},
        headers={"X-Purpose": PURPOSE.encode("utf-8"), "X-Request-Id": "raw-purpose-1"},
    )
    assert response.status_code == 200 and "errors" not in response.json()
    async with database.sessions() as session:
        purposes = list(
            await session.scalars(
                select(AuditEvent.purpose).where(AuditEvent.request_id == "raw-purpose-1")
            )
        )
    assert purposes == [PURPOSE]


# -- 5. X-Request-Id -------------------------------------------------------------------------------


async def test_safe_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await _post(client, {"query": COUNT}, **{"X-Request-Id": "portal:2024-01.abc_9"})
    assert response.headers["X-Request-Id"] == "portal:2024-01.abc_9"


@pytest.mark.parametrize(
    "sent",
    ["a" * 1_000_000, "a" * 65, "has space", "ngày", "<script>", ""],
    ids=["1MB", "65-chars", "space", "non-ascii", "markup", "empty"],
)
async def test_unsafe_request_id_is_replaced_by_a_new_one(
    client: httpx.AsyncClient, demo: dict[str, Any], database: Database, sent: str
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ businessList(first: 1) { edges { node { taxCode } } } }"},
        headers={"X-Request-Id": sent.encode("utf-8")},
    )
    assert response.status_code == 200
    echoed = response.headers["X-Request-Id"]
    assert echoed != sent and 1 <= len(echoed) <= 64
    async with database.sessions() as session:
        stored = list(await session.scalars(select(AuditEvent.request_id)))
    assert echoed in stored and sent not in stored


# -- 6. media type ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "media_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/json"]
)
async def test_json_media_type_in_any_case_is_accepted(
    client: httpx.AsyncClient, media_type: str
) -> None:
    response = await client.post(
        "/graphql", content=orjson.dumps({"query": COUNT}), headers={"Content-Type": media_type}
    )
    assert response.status_code == 200
    assert response.json()["data"]["businessList"]["totalCount"] >= 0


async def test_other_media_type_is_still_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"query=x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_USER_INPUT"]


# -- 7. /oauth/token parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [
        "grant_type=client_credentials&client_id=hub-a%00b&client_secret=s",
        "grant_type=client_credentials&client_id=hub-a&client_secret=s%00",
        "grant_type=client%00credentials&client_id=hub-a&client_secret=s",
    ],
    ids=["client_id", "client_secret", "grant_type"],
)
async def test_nul_byte_in_token_form_is_400_invalid_request(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    with caplog.at_level(logging.WARNING):
        response = await client.post("/oauth/token", content=form, headers={"Content-Type": FORM})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "control character" in body["error_description"]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_nul_byte_in_basic_credentials_is_401_invalid_client(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    for credentials in ("hub-a\x00b:secret", "hub-a:sec%00ret"):
        basic = base64.b64encode(credentials.encode()).decode()
        with caplog.at_level(logging.WARNING):
            response = await client.post(
                "/oauth/token",
                content="grant_type=client_credentials",
                headers={"Content-Type": FORM, "Authorization": f"Basic {basic}"},
            )
        assert response.status_code == 401, credentials
        assert response.json()["error"] == "invalid_client"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# -- 2 and 3. bodies and heads, over a real socket -------------------------------------------------


@pytest.fixture
async def port(app: Starlette, settings: Settings, demo: dict[str, Any]) -> AsyncIterator[int]:
    async with serving(app, settings) as bound:
        yield bound


@pytest.fixture
def tax_code(demo: dict[str, list[dict[str, Any]]]) -> str:
    return str(demo["business"][0]["tax_code"])


def _unstalled(seconds: float, quiet: float) -> bool:
    """A lookup beside an attack took no longer than FAST, or than a few times the same
    lookup on its own just before (the suite shares a busy machine: 0.1 s is the aim, not
    what a loaded CI box guarantees; a stall is seconds)."""
    return seconds < max(FAST, 4 * quiet)


async def _lookup_timed(port: int, tax_code: str) -> float:
    """Seconds a keyed lookup from another client takes (its connection already open)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as other:
        await other.post("/graphql", json={"query": LOOKUP, "variables": {"k": tax_code}})
        started = time.perf_counter()
        response = await other.post(
            "/graphql", json={"query": LOOKUP, "variables": {"k": tax_code}}
        )
        elapsed = time.perf_counter() - started
    assert response.json()["data"]["business"]["taxCode"] == tax_code
    return elapsed


async def _response_head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


async def _feed(writer: asyncio.StreamWriter, chunk: bytes, times: int) -> None:
    """Keep sending like an attacker; the server may stop reading or close meanwhile."""
    with contextlib.suppress(ConnectionError, OSError):
        for _ in range(times):
            writer.write(chunk)
            await writer.drain()


async def _body(reader: asyncio.StreamReader, head: bytes) -> dict[str, Any]:
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    decoded: dict[str, Any] = orjson.loads(await asyncio.wait_for(reader.readexactly(length), 5))
    return decoded


async def test_oversized_header_is_431_within_100ms_while_lookups_stay_fast(
    port: int, tax_code: str
) -> None:
    quiet = await _lookup_timed(port, tax_code)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(b"POST /graphql HTTP/1.1\r\nHost: hub\r\nX-Big: ")
    attack = asyncio.create_task(_feed(writer, b"a" * 65_536, 1_600))  # 100 MB, if let in
    head = await _response_head(reader)
    refused_after = time.perf_counter() - started
    lookup = await _lookup_timed(port, tax_code)
    attack.cancel()
    writer.close()
    assert head.startswith(b"HTTP/1.1 431 ")
    body = await _body(reader, head)
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert "16384" in body["errors"][0]["message"]
    assert "HUB_MAX_HEADER_BYTES" in body["errors"][0]["message"]
    assert refused_after < FAST
    assert _unstalled(lookup, quiet)


async def test_oversized_url_is_431(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /graphql?query=" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: hub\r\n\r\n")
    head = await _response_head(reader)
    writer.close()
    assert head.startswith(b"HTTP/1.1 431 ")


async def test_oversized_head_arriving_in_one_read_is_431_and_never_served(port: int) -> None:
    # 40 KB of headers sent at once reach the parser in one read, before any byte count.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    padding = b"".join(b"X-Pad-%d: " % i + b"p" * 4_000 + b"\r\n" for i in range(10))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n" + padding + b"\r\n")
    head = await _response_head(reader)
    writer.close()
    assert head.startswith(b"HTTP/1.1 431 ")


async def test_head_dripped_slower_than_the_header_timeout_is_408_and_closed(
    app: Starlette, settings: Settings
) -> None:
    quick = settings.model_copy(update={"header_timeout_seconds": 0.3})
    async with serving(app, quick) as bound:
        reader, writer = await asyncio.open_connection("127.0.0.1", bound)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")  # and never the blank line
        started = time.perf_counter()
        head = await asyncio.wait_for(_response_head(reader), 5)
        waited = time.perf_counter() - started
        writer.close()
        served = await asyncio.wait_for(_get_health(bound), 5)
    assert head.startswith(b"HTTP/1.1 408 ")
    assert 0.2 < waited < 3
    assert served == 200


async def _get_health(port: int) -> int:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        return (await http.get("/healthz")).status_code


async def test_headers_just_within_the_limit_are_served(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        response = await http.post(
            "/graphql", json={"query": COUNT}, headers={"X-Padding": "p" * 12_000}
        )
    assert response.status_code == 200
    assert response.json()["data"]["businessList"]["totalCount"] == 20


async def test_expect_continue_with_huge_length_is_413_never_100(port: int, tax_code: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000000\r\nExpect: 100-continue\r\n\r\n"
    )
    head = await _response_head(reader)
    refused_after = time.perf_counter() - started
    body = await _body(reader, head)
    rest = await asyncio.wait_for(reader.read(), 5)  # the server closes the connection
    writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in head + rest
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    message = body["errors"][0]["message"]
    assert "1000000000000 bytes" in message and "1048576" in message
    assert "HUB_MAX_BODY_BYTES" in message
    assert refused_after < FAST
    assert await _lookup_timed(port, tax_code) < FAST


async def test_declared_length_over_limit_is_413_before_the_body_is_read(
    port: int, tax_code: str
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Content-Length: 400000000\r\n\r\n"
    )
    head = await _response_head(reader)
    refused_after = time.perf_counter() - started
    body = await _body(reader, head)
    writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in head.lower()
    assert "400000000 bytes" in body["errors"][0]["message"]
    assert refused_after < FAST


async def test_chunked_body_over_limit_is_refused_at_the_cap_with_memory_bounded(
    port: int, tax_code: str
) -> None:
    quiet = await _lookup_timed(port, tax_code)
    rss_before = _rss()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b" " * 65_536 + b"\r\n"
    attack = asyncio.create_task(_feed(writer, chunk, 6_000))  # 400 MB, if let in
    head = await _response_head(reader)
    refused_after = time.perf_counter() - started
    body = await _body(reader, head)
    lookup = await _lookup_timed(port, tax_code)
    await asyncio.sleep(0.5)  # the attacker keeps sending; the hub discards, unparsed
    grown = _rss() - rss_before
    attack.cancel()
    writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert "more than 1048576 bytes" in body["errors"][0]["message"]
    assert refused_after < FAST * 2  # a megabyte crosses the socket first
    assert _unstalled(lookup, quiet)
    assert grown < 64 * 2**20, f"hub and test grew by {grown / 2**20:.0f} MB"


async def test_expect_continue_within_the_limit_still_gets_100_and_an_answer(port: int) -> None:
    payload = orjson.dumps({"query": COUNT})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\nExpect: 100-continue\r\n\r\n"
    )
    interim = await _response_head(reader)
    writer.write(payload)
    head = await _response_head(reader)
    body = await _body(reader, head)
    writer.close()
    assert interim.startswith(b"HTTP/1.1 100 Continue")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body["data"]["businessList"]["totalCount"] == 20


def _rss() -> int:
    """Resident memory of this process (the hub serves in it), in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_token_endpoint_body_over_its_limit_is_413_in_oauth_shape(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        response = await http.post(
            "/oauth/token",
            content=b"grant_type=client_credentials&pad=" + b"x" * (MAX_TOKEN_BODY + 1),
            headers={"Content-Type": FORM},
        )
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "invalid_request"
    assert str(MAX_TOKEN_BODY) in body["error_description"]
