"""Helpers shared by the record, grant and audit API tests: load records, make grants."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from catalog.crypto import FieldKeys
from catalog.models import Dataset
from catalog.records import write_records
from hub.db import Database
from hub.keys import KeyStore

Gql = Callable[..., Awaitable[dict[str, Any]]]
TUSON = "Thị xã Từ Sơn"

REQUEST_GRANT = """
mutation($input: GrantRequestInput!) {
  requestGrant(input: $input) { id status fields rowFilter dataset { code } grantee { code } }
}"""
DECIDE_GRANT = """
mutation($id: ID!, $approve: Boolean!, $note: String) {
  decideGrant(id: $id, approve: $approve, note: $note) { id status decidedBy decidedAt }
}"""


def field_keys(keys: KeyStore) -> FieldKeys:
    return keys.sealing_keys()


async def load(
    database: Database, keys: KeyStore, code: str, rows: Sequence[dict[str, Any]]
) -> None:
    async with database.sessions.begin() as session:
        dataset = await session.get(Dataset, code)
        assert dataset is not None
        await write_records(session, dataset, rows, source="test", keys=field_keys(keys))


async def approved_grant(
    gql: Gql,
    grantee_token: str,
    owner_token: str,
    dataset: str,
    fields: list[str],
    row_filter: dict[str, Any] | None = None,
) -> str:
    """Request and approve a grant through the API; returns its id."""
    body = await gql(
        REQUEST_GRANT,
        token=grantee_token,
        input={
            "dataset": dataset,
            "fields": fields,
            "rowFilter": row_filter,
            "purpose": "Giải quyết thủ tục hành chính",
        },
    )
    assert "errors" not in body, body
    grant_id: str = body["data"]["requestGrant"]["id"]
    decided = await gql(DECIDE_GRANT, token=owner_token, id=grant_id, approve=True)
    assert decided["data"]["decideGrant"]["status"] == "APPROVED", decided
    return grant_id


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
