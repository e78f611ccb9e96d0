"""The OpenSearch client of a hub process, and the one error search failures become.

Driver exceptions are mapped here, at the edge (STYLE.md): a server that cannot be reached,
times out, answers 5xx or refuses the hub's credentials is ``SearchUnavailable``
(``SEARCH_UNAVAILABLE``); PostgreSQL-backed reads keep working meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    ConnectionError,
    ImproperlyConfigured,
    TransportError,
)

from catalog.errors import SearchUnavailable
from hub.settings import Settings

UNAVAILABLE_MESSAGE = "search is unavailable right now; record queries still work"


def open_search(settings: Settings, url: str | None = None) -> AsyncOpenSearch:
    """An async client for ``url`` (default HUB_OPENSEARCH_URL) with the configured basic
    auth and TLS settings. It retries nothing itself: callers decide (the indexer backs off,
    a search answers SEARCH_UNAVAILABLE at once)."""
    # opensearch-py logs every failed request with its traceback at WARNING; the hub logs
    # one line per failure itself (the indexer's retries, a search's SEARCH_UNAVAILABLE).
    logging.getLogger("opensearch").setLevel(logging.ERROR)
    target = url or settings.opensearch_url
    if target is None:
        raise ValueError("no OpenSearch URL: HUB_OPENSEARCH_URL is unset and none was started")
    options: dict[str, Any] = {
        "hosts": [target],
        "timeout": settings.opensearch_timeout_seconds,
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if settings.opensearch_username is not None:
        password = settings.opensearch_password
        options["http_auth"] = (
            settings.opensearch_username,
            password.get_secret_value() if password is not None else "",
        )
    if target.startswith("https://"):
        options["use_ssl"] = True
        options["verify_certs"] = settings.opensearch_verify_certs
        options["ssl_show_warn"] = settings.opensearch_verify_certs
        if settings.opensearch_ca_file is not None:
            options["ca_certs"] = str(settings.opensearch_ca_file)
    return AsyncOpenSearch(**options)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the search server cannot serve now (not a bad request)."""
    if isinstance(error, ConnectionError | AuthenticationException | AuthorizationException):
        return True  # ConnectionTimeout and SSLError are ConnectionErrors
    if isinstance(error, ImproperlyConfigured):
        return True  # TLS settings the client could not use (found at the first request)
    if isinstance(error, TransportError):
        status = error.status_code
        return not isinstance(status, int) or status >= 500 or status == 429
    return isinstance(error, TimeoutError | OSError)


def unavailable(error: BaseException) -> SearchUnavailable:
    """The SearchUnavailable an unavailability ``error`` becomes (its detail stays in logs)."""
    if isinstance(error, AuthenticationException | AuthorizationException):
        return SearchUnavailable("search is unavailable: the search server refused the hub")
    if isinstance(error, ImproperlyConfigured):
        return SearchUnavailable("search is unavailable: the hub's TLS settings are unusable")
    return SearchUnavailable(UNAVAILABLE_MESSAGE)


@contextlib.contextmanager
def search_errors() -> Iterator[None]:
    """Turn unavailability errors raised inside into ``SearchUnavailable``; others pass."""
    try:
        yield
    except SearchUnavailable:
        raise
    except Exception as error:
        if is_unavailable(error):
            raise unavailable(error) from error
        raise


__all__ = [
    "SearchUnavailable",
    "is_unavailable",
    "open_search",
    "search_errors",
    "unavailable",
]
