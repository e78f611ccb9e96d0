"""The app answers GraphQL over HTTP on a real database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

ME = "{ me { subject anonymous roles agency { code } } }"


async def test_anonymous_me(gql: Callable[..., Awaitable[dict[str, Any]]]) -> None:
    body = await gql(ME)
    me = {"subject": None, "anonymous": True, "roles": [], "agency": None}
    assert body == {"data": {"me": me}}


async def test_signed_in_me(
    gql: Callable[..., Awaitable[dict[str, Any]]], token: Callable[..., str]
) -> None:
    body = await gql(ME, token=token("SKHDT", "owner"))
    assert body["data"]["me"]["agency"] == {"code": "SKHDT"}
    assert body["data"]["me"]["roles"] == ["owner"]
