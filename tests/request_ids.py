"""Every GraphQL answer ends with ``"extensions":{"requestId":…}`` naming the request (the
``X-Request-Id`` header's value). Test clients check that and take it off, so tests compare
answers as they compare them without it (byte for byte across requests, in noninterference)."""

from __future__ import annotations

import httpx


def stamp(request_id: str) -> bytes:
    return b'"extensions":{"requestId":"' + request_id.encode() + b'"}}'


async def take_off_request_id(response: httpx.Response) -> None:
    """httpx response hook for clients of ``/graphql``."""
    if response.request.url.path != "/graphql":
        return
    await response.aread()
    if not response.headers.get("content-type", "").startswith("application/"):
        return  # GraphiQL's page
    request_id = response.headers["x-request-id"]
    body = response.content
    mark = stamp(request_id)
    assert body.endswith(mark), f"no extensions.requestId {request_id!r} in {body[-200:]!r}"
    rest = body[: -len(mark)]
    response._content = rest[:-1] + b"}" if rest.endswith(b",") else rest + b"}"


def checked_client(transport: httpx.AsyncBaseTransport, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        base_url=base_url,
        event_hooks={"response": [take_off_request_id]},
    )


__all__ = ["checked_client", "stamp", "take_off_request_id"]
