"""Typed list cursors never carry a key the caller may not read (DESIGN.md §5): the stored key
of a plain (not encrypted) key field is its plaintext, so where the caller may not read that
field on every row it sees, or may read it only with a purpose it did not state, the list is
served but cursors are refused."""

from __future__ import annotations

import base64
from collections.abc import Callable

from tests.record_support import Gql, codes
from tests.test_generic_view_rules import VISITS, inspections

__all__ = ["inspections"]  # the fixture, shared with the generic path's tests

PAGE = """
query($after: String) { siteInspectionList(first: 1, after: $after) {
  edges { cursor node { outcome } } pageInfo { endCursor } } }
"""
NODES = "{ siteInspectionList(first: 5) { totalCount edges { node { outcome } } } }"


async def test_cursor_of_a_key_the_caller_may_not_read_is_refused_not_leaked(
    gql: Gql, inspections: None
) -> None:
    # Anonymous callers read outcomes but not the INTERNAL visit number that keys them; the
    # cursor was base64 of [tag, sort value, "KT-2025-0001"].
    body = await gql(PAGE, after=None)
    assert codes(body) == ["FORBIDDEN"], body
    assert "visit_no" in body["errors"][0]["message"]
    assert body.get("data") is None
    forged = base64.b64encode(b'["visit_no:ASC", "KT-2025-0001", "KT-2025-0001"]').decode()
    probing = await gql(PAGE, after=forged)
    assert codes(probing) == ["FORBIDDEN"], probing


async def test_the_same_list_without_cursors_is_served(gql: Gql, inspections: None) -> None:
    body = await gql(NODES)
    assert "errors" not in body, body
    assert body["data"]["siteInspectionList"]["totalCount"] == len(VISITS)


async def test_a_caller_who_reads_the_key_pages_by_cursor(
    gql: Gql, token: Callable[..., str], inspections: None
) -> None:
    reader = token("STNMT", "reader")  # INTERNAL fields are open to signed-in agencies
    first = await gql(PAGE, token=reader, after=None)
    assert "errors" not in first, first
    cursor = first["data"]["siteInspectionList"]["pageInfo"]["endCursor"]
    second = await gql(PAGE, token=reader, after=cursor)
    assert "errors" not in second, second
    assert second["data"]["siteInspectionList"]["edges"]
