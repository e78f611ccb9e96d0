"""Which media type a GraphQL response is sent as (GraphQL over HTTP, "Accept" and status
codes): ``application/graphql-response+json`` when the client asks for it, with 4xx for
request errors; ``application/json`` otherwise, as legacy clients expect (always 200 once
the request was understood)."""

from __future__ import annotations

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_ANY = frozenset({"*/*", "application/*"})


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer with, or None when the client accepts neither (406).

    Without an ``Accept`` header the answer is JSON. Among acceptable types the highest
    quality wins; on a tie graphql-response+json (the spec's preference) wins over JSON."""
    if accept is None or not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    for item in accept.split(",")[:50]:  # bounded: a header is attacker-supplied
        media, _, params = item.partition(";")
        media = media.strip().lower()
        quality = _quality(params)
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            choice = (quality, 2, GRAPHQL_RESPONSE)
        elif media == JSON:
            choice = (quality, 1, JSON)
        elif media in _ANY:
            choice = (quality, 0, JSON)  # legacy clients sending */* expect JSON
        else:
            continue
        if best is None or choice > best:
            best = choice
    return best[2] if best else None


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value.strip())))
            except ValueError:
                return 0.0
    return 1.0


__all__ = ["GRAPHQL_RESPONSE", "JSON", "response_media_type"]
