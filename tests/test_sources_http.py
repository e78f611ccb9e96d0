"""HTTP JSON sources against a real local HTTP server: each pagination style, retries with
back-off on 5xx and 429, and bad responses refused naming the page, with the API's secrets
(headers, query strings) never in a message."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.sources import SourceError, SourceRow, open_source

Reply = tuple[int, dict[str, str], bytes]
Route = Callable[[dict[str, str], dict[str, str]], Reply]
ROUTES: dict[str, Route] = {}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        route = ROUTES.get(parts.path)
        if route is None:
            status, headers, body = 404, {}, b"{}"
        else:
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            status, headers, body = route(query, dict(self.headers))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # keep test output clean


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Base URL of a real HTTP server on a free local port, serving ``ROUTES``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def route(handler: Route) -> str:
    path = f"/{uuid.uuid4().hex}"
    ROUTES[path] = handler
    return path


def ok(document: Any, headers: dict[str, str] | None = None) -> Reply:
    return (
        200,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(document).encode(),
    )


PEOPLE = [{"id": i, "ten": f"Người {i}"} for i in range(1, 8)]


async def read_all(config: dict[str, Any], since: Any = None) -> list[SourceRow]:
    async with open_source("http", {"retry_wait": 0.01, **config}) as source:
        return [row async for batch in source.batches(since, size=3) for row in batch]


async def test_single_response_at_a_rows_path(server: str) -> None:
    path = route(lambda q, h: ok({"data": {"items": PEOPLE[:2]}}))
    config = {"url": server + path, "rows": "data.items"}
    async with open_source("http", config) as source:
        assert await source.columns() == ["id", "ten"]
    rows = await read_all(config)
    assert rows == [
        SourceRow("page 1 item 1", {"id": 1, "ten": "Người 1"}),
        SourceRow("page 1 item 2", {"id": 2, "ten": "Người 2"}),
    ]


async def test_page_numbers_until_a_short_page(server: str) -> None:
    def pages(q: dict[str, str], h: dict[str, str]) -> Reply:
        page, size = int(q["trang"]), int(q["so_dong"])
        return ok(PEOPLE[page * size : (page + 1) * size])

    config = {
        "url": server + route(pages),
        "pagination": "page",
        "page_param": "trang",
        "page_start": 0,
        "size_param": "so_dong",
        "page_size": 3,
    }
    rows = await read_all(config)
    assert [r.values["id"] for r in rows] == list(range(1, 8))
    assert rows[3].position == "page 2 item 1"


async def test_offset_and_limit(server: str) -> None:
    seen: list[str] = []

    def items(q: dict[str, str], h: dict[str, str]) -> Reply:
        seen.append(q["offset"])
        start, limit = int(q["offset"]), int(q["limit"])
        return ok({"results": PEOPLE[start : start + limit]})

    config = {"url": server + route(items), "rows": "results", "pagination": "offset"}
    rows = await read_all(config | {"page_size": 4})
    assert [r.values["id"] for r in rows] == list(range(1, 8))
    assert seen == ["0", "4"]


async def test_cursor_pagination_follows_next_cursor(server: str) -> None:
    def items(q: dict[str, str], h: dict[str, str]) -> Reply:
        start = int(q.get("after", "0"))
        page = PEOPLE[start : start + 3]
        following = str(start + 3) if start + 3 < len(PEOPLE) else None
        return ok({"items": page, "meta": {"next": following}})

    config = {
        "url": server + route(items),
        "rows": "items",
        "pagination": "cursor",
        "cursor_param": "after",
        "next_cursor": "meta.next",
    }
    assert [r.values["id"] for r in await read_all(config)] == list(range(1, 8))


async def test_next_link_in_the_body_resolves_relative_urls(server: str) -> None:
    def items(q: dict[str, str], h: dict[str, str]) -> Reply:
        page = int(q.get("p", "1"))
        following = f"{path}?p={page + 1}" if page < 3 else None
        return ok({"rows": PEOPLE[(page - 1) * 3 : page * 3], "links": {"next": following}})

    path = route(items)
    config = {"url": server + path, "rows": "rows", "pagination": "next", "next_link": "links.next"}
    assert [r.values["id"] for r in await read_all(config)] == list(range(1, 8))


async def test_next_link_in_the_link_header(server: str) -> None:
    def items(q: dict[str, str], h: dict[str, str]) -> Reply:
        page = int(q.get("p", "1"))
        headers = {"Link": f'<{server}{path}?p={page + 1}>; rel="next"'} if page < 3 else {}
        return ok(PEOPLE[(page - 1) * 3 : page * 3], headers)

    path = route(items)
    assert len(await read_all({"url": server + path, "pagination": "next"})) == 7


async def test_next_link_to_another_server_is_refused(server: str) -> None:
    path = route(lambda q, h: ok({"rows": PEOPLE[:1], "next": "http://elsewhere.example/x"}))
    config = {"url": server + path, "rows": "rows", "pagination": "next", "next_link": "next"}
    with pytest.raises(SourceError, match=r"page 1: the next link leads to another server"):
        await read_all(config)


async def test_headers_and_since_param_are_sent(server: str) -> None:
    seen: list[tuple[str | None, str | None, str | None]] = []

    def items(q: dict[str, str], h: dict[str, str]) -> Reply:
        seen.append((h.get("Authorization"), h.get("X-Tinh"), q.get("tu")))
        return ok([{"id": 1, "luc": "2024-05-02"}, {"id": 2, "luc": "2024-05-01"}])

    config = {
        "url": server + route(items),
        "headers": {"Authorization": "Bearer top-secret", "X-Tinh": "QNg"},
        "cursor": "luc",
        "since_param": "tu",
    }
    rows = await read_all(config, since="2024-05-01")
    assert seen == [("Bearer top-secret", "QNg", "2024-05-01")]
    assert [r.values["id"] for r in rows] == [1, 2]  # the API filtered; order as it gives


async def test_cursor_without_since_param_filters_here(server: str) -> None:
    path = route(lambda q, h: ok([{"id": 1, "luc": "2024-05-02"}, {"id": 2, "luc": "2024-04-30"}]))
    rows = await read_all({"url": server + path, "cursor": "luc"}, since="2024-05-01")
    assert [r.values["id"] for r in rows] == [1]


async def test_500_then_success_is_retried(server: str) -> None:
    calls: list[int] = []

    def flaky(q: dict[str, str], h: dict[str, str]) -> Reply:
        calls.append(1)
        return (500, {}, b"oops") if len(calls) < 3 else ok(PEOPLE[:2])

    assert len(await read_all({"url": server + route(flaky)})) == 2
    assert len(calls) == 3


async def test_429_with_retry_after_is_retried(server: str) -> None:
    calls: list[int] = []

    def limited(q: dict[str, str], h: dict[str, str]) -> Reply:
        calls.append(1)
        return (429, {"Retry-After": "0"}, b"") if len(calls) == 1 else ok(PEOPLE[:1])

    assert len(await read_all({"url": server + route(limited)})) == 1
    assert len(calls) == 2


async def test_always_500_fails_after_the_attempts_without_query_secrets(server: str) -> None:
    calls: list[int] = []

    def broken(q: dict[str, str], h: dict[str, str]) -> Reply:
        calls.append(1)
        return 500, {}, b"down"

    path = route(broken)
    config = {"url": f"{server}{path}?api_key=hush-hush", "token": "also-secret"}
    with pytest.raises(SourceError) as caught:
        await read_all(config)
    assert str(caught.value) == f"http source: GET {server}{path} answered 500 after 4 attempts"
    assert len(calls) == 4


async def test_refused_connection_fails_after_the_attempts() -> None:
    config = {"url": "http://127.0.0.1:1/api", "max_attempts": 2}
    with pytest.raises(
        SourceError, match=r"GET http://127.0.0.1:1/api failed \(ConnectError\) after 2"
    ):
        await read_all(config)


async def test_client_error_is_not_retried(server: str) -> None:
    calls: list[int] = []

    def forbidden(q: dict[str, str], h: dict[str, str]) -> Reply:
        calls.append(1)
        return 403, {}, b"{}"

    path = route(forbidden)
    with pytest.raises(SourceError, match=rf"page 1: GET {server}{path} answered 403"):
        await read_all({"url": server + path})
    assert len(calls) == 1


async def test_malformed_json_names_the_page(server: str) -> None:
    def items(q: dict[str, str], h: dict[str, str]) -> Reply:
        return ok(PEOPLE[:3]) if q["page"] == "1" else (200, {}, b'[{"id": 4,')

    config = {"url": server + route(items), "pagination": "page", "page_size": 3}
    with pytest.raises(SourceError, match=r"http source: page 2 \(GET .*\) is not valid JSON"):
        await read_all(config)


async def test_rows_path_that_is_not_a_list_names_the_page(server: str) -> None:
    path = route(lambda q, h: ok({"data": {"items": {"id": 1}}}))
    with pytest.raises(SourceError, match=r"page 1: 'data.items' is a JSON object, not a list"):
        await read_all({"url": server + path, "rows": "data.items"})


async def test_missing_rows_path_names_the_page(server: str) -> None:
    path = route(lambda q, h: ok({"data": {}}))
    with pytest.raises(SourceError, match=r"page 1: 'data.items' is missing, not a list of rows"):
        await read_all({"url": server + path, "rows": "data.items"})


async def test_row_that_is_not_an_object_names_page_and_item(server: str) -> None:
    path = route(lambda q, h: ok([{"id": 1}, [2]]))
    with pytest.raises(SourceError, match=r"page 1 item 2 is a JSON array, not an object"):
        await read_all({"url": server + path})


async def test_page_bound_exceeded_is_an_error(server: str) -> None:
    path = route(lambda q, h: ok(PEOPLE[:3]))  # every page full: never ends
    config = {"url": server + path, "pagination": "page", "page_size": 3, "max_pages": 4}
    with pytest.raises(SourceError, match=r"has more than 4 pages \(key 'max_pages'\)"):
        await read_all(config)


async def test_response_size_bound(server: str) -> None:
    path = route(lambda q, h: ok([{"ten": "x" * 5000}]))
    with pytest.raises(SourceError, match=r"answered more than 1024 bytes"):
        await read_all({"url": server + path, "max_response_bytes": 1024})


async def test_cursor_pagination_needs_next_cursor() -> None:
    with pytest.raises(SourceError, match=r"key 'next_cursor' is missing"):
        open_source("http", {"url": "http://127.0.0.1/x", "pagination": "cursor"})
