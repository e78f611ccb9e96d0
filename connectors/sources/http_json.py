"""An HTTP JSON API as a source: GET one page after another (page number, offset, cursor or
next link), take the list of rows at a dotted path in each response, and yield each object at
"page N item M". Every request is bounded (time, response size, number of pages) and retried
with exponential back-off on 429, 5xx and connection errors; headers (which carry the API's
secrets) and query strings never appear in a message."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from connectors.sources.base import SourceError, SourceRow
from connectors.sources.config import SourceConfig
from connectors.sources.paths import dotted

PAGINATIONS = ("none", "page", "offset", "cursor", "next")
MAX_RETRY_AFTER = 60.0
MAX_BACKOFF = 30.0


class _Retryable(Exception):
    """A response or failure worth another attempt, with the server's Retry-After if any."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after


def shown_url(url: str) -> str:
    """``url`` without credentials, query or fragment, as messages show it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class HttpSource:
    """Config keys: ``url``, ``rows``, ``pagination`` and its keys, ``headers``, ``token``,
    ``api_key``/``api_key_header``, ``timeout``, ``max_pages``, ``max_response_bytes``,
    ``max_attempts``, ``retry_wait``, ``cursor``, ``since_param`` (see the README)."""

    def __init__(self, config: SourceConfig) -> None:
        self._url = config.required_text("url")
        if urlsplit(self._url).scheme not in ("http", "https") or not urlsplit(self._url).hostname:
            raise SourceError("http source: key 'url' must be an http:// or https:// URL")
        self._rows_path = config.text("rows", "") or ""
        self._pagination = config.choice("pagination", "none", PAGINATIONS)
        self._page_param = config.text("page_param", "page") or "page"
        self._page_start = config.integer("page_start", 1, minimum=0, maximum=1_000_000)
        self._size_param = config.text("size_param")
        self._offset_param = config.text("offset_param", "offset") or "offset"
        self._limit_param = config.text("limit_param", "limit") or "limit"
        default_size = 100 if self._pagination == "offset" else 0
        self._page_size = config.integer(
            "page_size", default_size, minimum=default_size and 1, maximum=100_000
        )
        self._cursor_param = config.text("cursor_param", "cursor") or "cursor"
        self._next_cursor = config.text("next_cursor")
        if self._pagination == "cursor" and self._next_cursor is None:
            raise SourceError("http source: key 'next_cursor' is missing (pagination = cursor)")
        self._next_link = config.text("next_link")
        headers = config.table("headers")
        token = config.text("token")
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        api_key = config.text("api_key")
        api_key_header = config.text("api_key_header", "X-API-Key") or "X-API-Key"
        if api_key is not None:
            headers.setdefault(api_key_header, api_key)
        self._timeout = config.number("timeout", 30.0, maximum=600.0)
        self._max_pages = config.integer("max_pages", 1000, maximum=1_000_000)
        self._max_bytes = config.integer(
            "max_response_bytes", 50 * 1024 * 1024, maximum=1024 * 1024 * 1024
        )
        self._attempts = config.integer("max_attempts", 4, maximum=20)
        self._retry_wait = config.number("retry_wait", 1.0, maximum=60.0)
        self._cursor = config.text("cursor")
        self._since_param = config.text("since_param")
        self._headers = headers
        self._client: httpx.AsyncClient | None = None
        self._columns: list[str] | None = None

    async def columns(self) -> list[str]:
        """The keys of the first page's rows, in order of appearance."""
        if self._columns is None:
            names: dict[str, None] = {}
            async with contextlib.aclosing(self._pages(None)) as pages:
                async for page in pages:
                    for row in page:
                        names.update(dict.fromkeys(row.values))
                    break
            self._columns = list(names)
        return list(self._columns)

    async def batches(
        self, since: Any | None = None, size: int = 5000
    ) -> AsyncIterator[list[SourceRow]]:
        batch: list[SourceRow] = []
        async for page in self._pages(since):
            for row in page:
                if self._is_before(row, since):
                    continue
                batch.append(row)
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _is_before(self, row: SourceRow, since: Any | None) -> bool:
        """Rows before ``since`` by the cursor field, when the API was not asked to leave
        them out (no ``since_param``)."""
        if self._cursor is None or since is None or self._since_param is not None:
            return False
        value = row.values.get(self._cursor)
        if value is None:
            return False
        try:
            return bool(value < since)
        except TypeError:
            raise SourceError(
                f"http source: {row.position}: cursor field '{self._cursor}' holds "
                f"{type(value).__name__}, not comparable with the stored cursor"
            ) from None

    async def _pages(self, since: Any | None) -> AsyncGenerator[list[SourceRow], None]:
        """Each page's rows, following the configured pagination, at most max_pages."""
        url = self._url
        params: dict[str, str] = {}
        if since is not None and self._since_param is not None:
            params[self._since_param] = _as_param(since)
        if self._size_param and self._page_size:
            params[self._size_param] = str(self._page_size)
        offset = 0
        for number in range(1, self._max_pages + 2):
            if number > self._max_pages:
                raise SourceError(
                    f"http source: GET {shown_url(self._url)} has more than {self._max_pages} "
                    "pages (key 'max_pages')"
                )
            if self._pagination == "page":
                params[self._page_param] = str(self._page_start + number - 1)
            elif self._pagination == "offset":
                params[self._offset_param] = str(offset)
                params[self._limit_param] = str(self._page_size)
            document, response = await self._get(url, params, number)
            rows = self._rows(document, number)
            yield rows
            offset += len(rows)
            if self._pagination == "none" or not rows:
                return
            if self._pagination in ("page", "offset"):
                if self._page_size and len(rows) < self._page_size:
                    return
            elif self._pagination == "cursor":
                assert self._next_cursor is not None
                token = dotted(document, self._next_cursor)
                if token in (None, ""):
                    return
                params[self._cursor_param] = _as_param(token)
            else:
                next_url = self._next_url(document, response, url, number)
                if next_url is None:
                    return
                url, params = next_url, {}

    def _next_url(
        self, document: Any, response: httpx.Response, url: str, number: int
    ) -> str | None:
        if self._next_link is not None:
            link = dotted(document, self._next_link)
        else:
            link = response.links.get("next", {}).get("url")
        if link in (None, ""):
            return None
        if not isinstance(link, str):
            raise SourceError(f"http source: page {number}: the next link is not text")
        resolved = urljoin(url, link)
        # Headers carry the API's secrets: never send them to another server.
        if urlsplit(resolved)[:2] != urlsplit(self._url)[:2]:
            raise SourceError(
                f"http source: page {number}: the next link leads to another server "
                f"({shown_url(resolved)})"
            )
        return resolved

    def _rows(self, document: Any, number: int) -> list[SourceRow]:
        found = dotted(document, self._rows_path) if self._rows_path else document
        where = f"'{self._rows_path}'" if self._rows_path else "the response"
        if not isinstance(found, list):
            kind = "missing" if found is None else f"a JSON {_json_kind(found)}"
            raise SourceError(f"http source: page {number}: {where} is {kind}, not a list of rows")
        rows = []
        for index, item in enumerate(found, start=1):
            if not isinstance(item, dict):
                raise SourceError(
                    f"http source: page {number} item {index} is a JSON {_json_kind(item)}, "
                    "not an object"
                )
            rows.append(SourceRow(f"page {number} item {index}", item))
        return rows

    async def _get(
        self, url: str, params: dict[str, str], number: int
    ) -> tuple[Any, httpx.Response]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    body, response = await self._fetch(url, params, number)
        except _Retryable as exc:
            raise SourceError(
                f"http source: GET {shown_url(url)} {exc.problem} after {self._attempts} attempts"
            ) from None
        try:
            return orjson.loads(body), response
        except orjson.JSONDecodeError as exc:
            raise SourceError(
                f"http source: page {number} (GET {shown_url(url)}) is not valid JSON: {exc}"
            ) from None

    async def _fetch(
        self, url: str, params: dict[str, str], number: int
    ) -> tuple[bytes, httpx.Response]:
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers=self._headers, timeout=self._timeout, follow_redirects=True, max_redirects=5
            )
        try:
            # No params at all for a next link: httpx would replace the query it carries.
            async with self._client.stream("GET", url, params=params or None) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Retryable(f"answered {response.status_code}", _retry_after(response))
                if response.status_code >= 400:
                    raise SourceError(
                        f"http source: page {number}: GET {shown_url(url)} answered "
                        f"{response.status_code}"
                    )
                chunks: list[bytes] = []
                total = 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > self._max_bytes:
                        raise SourceError(
                            f"http source: page {number}: GET {shown_url(url)} answered more "
                            f"than {self._max_bytes} bytes (key 'max_response_bytes')"
                        )
                    chunks.append(chunk)
                return b"".join(chunks), response
        except httpx.TransportError as exc:
            raise _Retryable(f"failed ({type(exc).__name__})") from None

    def _wait(self, state: RetryCallState) -> float:
        """Exponential back-off, or the server's Retry-After, both capped."""
        backoff = min(self._retry_wait * 2 ** (state.attempt_number - 1), MAX_BACKOFF)
        outcome = state.outcome
        failure = outcome.exception() if outcome is not None else None
        if isinstance(failure, _Retryable) and failure.retry_after is not None:
            return min(failure.retry_after, MAX_RETRY_AFTER)
        return backoff

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> HttpSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date, or nothing: the back-off decides


def _as_param(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _json_kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number"}
    return names.get(type(value), "number" if isinstance(value, float) else "null")


__all__ = ["PAGINATIONS", "HttpSource", "shown_url"]
