"""Business names in Vietnamese (tones, case, đ, equal names) and paging through them by name:
what the orderBy tests of both text orders (sort key and ICU) read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from catalog.collation import vietnamese_sort_key
from hub.demo import generate
from hub.runtime import Hub
from tests.records_fixtures import load_rows

Gql = Callable[..., Awaitable[dict[str, Any]]]

NAMES = [
    *("Đà Lạt", "Dương", "Zeta", "An Giang", "Ánh Dương", "ánh dương", "Ánh dương", "Âu Lạc"),
    *("Ăn Uống", "Bắc Ninh", "Bạc Liêu", "Đông Á", "Dong A", "Ơn Trời", "Ông Ích", "Ưu Việt"),
    *("Uyên", "Yên Phong", "Quảng Ngãi", "Quang Ngai", "Hòa Bình", "Hoà Bình", "Hợp Nhất"),
    *("Hồng Hà", "Hưng Thịnh", "Hà Nội", "ma", "mà", "mả", "mã", "má", "mạ", "Ma", "MA"),
    *("đất đai", "Đất Đai", "dat dai", "Tràng An", "Trăng", "Trắng", "Thương Tín", "Thường Tín"),
    *("Ánh Dương",) * 3,  # equal names: the key breaks the tie
]

NAME_PAGE = """
query Page($after: String, $order: BusinessOrderBy!) {
  businessList(first: 7, orderBy: $order, after: $after) {
    edges { cursor node { taxCode name } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def load_named_businesses(hub: Hub, names: Sequence[str]) -> list[dict[str, Any]]:
    """Generated businesses carrying ``names``, written through the record store."""
    rows = generate.businesses(len(names), seed=11)
    for row, name in zip(rows, names, strict=True):
        row["name"] = name
    await load_rows(hub, "business", rows)
    return rows


async def all_name_pages(gql: Gql, order: str) -> list[tuple[str, str]]:
    """(name, tax code) of every business, page after page in ``order`` (NAME_ASC/DESC)."""
    seen: list[tuple[str, str]] = []
    after = None
    for _ in range(20):
        body = await gql(NAME_PAGE, order=order, after=after)
        assert "errors" not in body, body
        page = body["data"]["businessList"]
        seen += [(e["node"]["name"], e["node"]["taxCode"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


def name_order(rows: Sequence[dict[str, Any]], direction: str) -> list[tuple[str, str]]:
    """(name, tax code) of ``rows`` in Vietnamese order (the sort key's), ties by key."""
    return sorted(
        ((str(r["name"]), str(r["tax_code"])) for r in rows),
        key=lambda pair: (vietnamese_sort_key(pair[0]), pair[1]),
        reverse=direction == "DESC",
    )


__all__ = [
    "NAMES",
    "NAME_PAGE",
    "Gql",
    "all_name_pages",
    "load_named_businesses",
    "name_order",
]
