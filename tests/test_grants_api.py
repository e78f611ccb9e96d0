"""The grant lifecycle through the real app: request, decide (only by the owner agency's
``owner`` role), revoke, expiry, and that a decision bites on the very next request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from hub.db import Database
from hub.demo import generate
from hub.embedded_postgres import to_libpq_url
from hub.keys import KeyStore
from tests.record_support import DECIDE_GRANT, REQUEST_GRANT, TUSON, Gql, codes, load

GRANTS = """
query($dataset: String, $grantee: String, $status: GrantStatus) {
  grants(dataset: $dataset, grantee: $grantee, status: $status) {
    id status fields rowFilter purpose legalBasis validFrom validTo decidedBy decidedAt note
    dataset { code owner { code } } grantee { code name }
  }
}"""
REVOKE = """
mutation($id: ID!, $reason: String!) { revokeGrant(id: $id, reason: $reason) { id status note } }
"""
CITIZENS = 'query { records(dataset: "citizen", first: 100) { totalCount edges { node { key } } } }'

CITIZEN_REQUEST = {
    "dataset": "citizen",
    "fields": ["citizen_id", "full_name", "district"],
    "rowFilter": {"district": TUSON},
    "purpose": "Đối chiếu hồ sơ giao đất cho hộ gia đình",
    "legalBasis": "Luật Đất đai 2024",
}
PURPOSE = "Đối chiếu hồ sơ giao đất"


async def _request(gql: Gql, token: str, **overrides: Any) -> dict[str, Any]:
    return await gql(REQUEST_GRANT, token=token, input={**CITIZEN_REQUEST, **overrides})


async def _status(gql: Gql, owner: str, grant_id: str) -> str:
    body = await gql(GRANTS, token=owner, dataset="citizen")
    return next(g["status"] for g in body["data"]["grants"] if g["id"] == grant_id)


async def test_reader_requests_and_owner_approves(gql: Gql, token: Callable[..., str]) -> None:
    stnmt, owner = token("STNMT", "reader"), token("SYT", "owner", subject="syt-head")
    requested = await _request(gql, stnmt)
    assert "errors" not in requested, requested
    grant = requested["data"]["requestGrant"]
    assert grant["status"] == "REQUESTED"
    assert grant["dataset"] == {"code": "citizen"} and grant["grantee"] == {"code": "STNMT"}
    assert grant["rowFilter"] == {"district": {"eq": TUSON}}
    listed = (await gql(GRANTS, token=owner, status="REQUESTED"))["data"]["grants"]
    assert [g["id"] for g in listed] == [grant["id"]]
    assert listed[0]["purpose"] == CITIZEN_REQUEST["purpose"]
    assert listed[0]["dataset"]["owner"] == {"code": "SYT"}
    decided = await gql(DECIDE_GRANT, token=owner, id=grant["id"], approve=True, note="Đồng ý")
    assert decided["data"]["decideGrant"]["status"] == "APPROVED"
    assert decided["data"]["decideGrant"]["decidedBy"] == "syt-head"
    assert decided["data"]["decideGrant"]["decidedAt"]
    mine = (await gql(GRANTS, token=stnmt))["data"]["grants"]
    assert [(g["id"], g["status"], g["note"]) for g in mine] == [
        (grant["id"], "APPROVED", "Đồng ý")
    ]
    assert mine[0]["validFrom"] is not None


async def test_owner_may_deny(gql: Gql, token: Callable[..., str]) -> None:
    grant_id = (await _request(gql, token("STNMT", "reader")))["data"]["requestGrant"]["id"]
    owner = token("SYT", "owner")
    denied = await gql(
        DECIDE_GRANT, token=owner, id=grant_id, approve=False, note="Không đủ căn cứ"
    )
    assert denied["data"]["decideGrant"]["status"] == "DENIED"
    again = await gql(DECIDE_GRANT, token=owner, id=grant_id, approve=True)
    assert codes(again) == ["CONFLICT"]
    assert await _status(gql, owner, grant_id) == "DENIED"


@pytest.mark.parametrize(
    ("agency", "roles"),
    [
        ("STNMT", ("reader",)),  # the grantee itself
        ("STNMT", ("owner",)),  # the grantee's head: not the data owner
        ("SYT", ("reader",)),  # the owner agency, but not its owner role
        ("SYT", ("steward",)),
    ],
)
async def test_forged_decision_is_forbidden_and_changes_nothing(
    gql: Gql, token: Callable[..., str], agency: str, roles: tuple[str, ...]
) -> None:
    grant_id = (await _request(gql, token("STNMT", "reader")))["data"]["requestGrant"]["id"]
    forged = await gql(DECIDE_GRANT, token=token(agency, *roles), id=grant_id, approve=True)
    assert codes(forged) == ["FORBIDDEN"]
    assert forged.get("data") is None
    assert await _status(gql, token("SYT", "owner"), grant_id) == "REQUESTED"


async def test_decision_by_an_unrelated_agency_reads_as_not_found(
    gql: Gql, token: Callable[..., str]
) -> None:
    grant_id = (await _request(gql, token("STNMT", "reader")))["data"]["requestGrant"]["id"]
    forged = await gql(DECIDE_GRANT, token=token("SKHDT", "owner"), id=grant_id, approve=True)
    assert codes(forged) == ["NOT_FOUND"]  # no existence oracle for other agencies' grants
    anonymous = await gql(DECIDE_GRANT, id=grant_id, approve=True)
    assert codes(anonymous) == ["UNAUTHENTICATED"]
    assert await _status(gql, token("SYT", "owner"), grant_id) == "REQUESTED"


async def test_grants_are_listed_only_to_owner_grantee_and_stewards(
    gql: Gql, token: Callable[..., str]
) -> None:
    grant_id = (await _request(gql, token("STNMT", "reader")))["data"]["requestGrant"]["id"]
    assert (await gql(GRANTS, token=token("SKHDT", "owner")))["data"]["grants"] == []
    steward = (await gql(GRANTS, token=token("STTTT", "steward")))["data"]["grants"]
    assert [g["id"] for g in steward] == [grant_id]
    assert codes(await gql(GRANTS)) == ["UNAUTHENTICATED"]


async def test_revoked_grant_takes_effect_on_the_next_request(
    gql: Gql, token: Callable[..., str], database: Database, keys: KeyStore
) -> None:
    citizens = generate.citizens(30)
    await load(database, keys, "citizen", citizens)
    tuson, owner = token("UBND-TX-TUSON", "reader"), token("SYT", "owner")
    grant_id = (await _request(gql, tuson))["data"]["requestGrant"]["id"]
    before = await gql(CITIZENS, token=tuson, purpose=PURPOSE)
    assert before["data"]["records"]["edges"] == []  # requested is not approved
    await gql(DECIDE_GRANT, token=owner, id=grant_id, approve=True)
    during = await gql(CITIZENS, token=tuson, purpose=PURPOSE)
    in_tuson = sum(1 for c in citizens if c["district"] == TUSON)
    assert during["data"]["records"]["totalCount"] == in_tuson > 0
    forged = await gql(REVOKE, token=tuson, id=grant_id, reason="tự thu hồi")
    assert codes(forged) == ["FORBIDDEN"]
    revoked = await gql(REVOKE, token=owner, id=grant_id, reason="Hết nhu cầu sử dụng")
    assert revoked["data"]["revokeGrant"] == {
        "id": grant_id,
        "status": "REVOKED",
        "note": "Hết nhu cầu sử dụng",
    }
    after = await gql(CITIZENS, token=tuson, purpose=PURPOSE)
    assert after["data"]["records"] == {"totalCount": None, "edges": []}
    again = await gql(REVOKE, token=owner, id=grant_id, reason="lần nữa")
    assert codes(again) == ["CONFLICT"]


async def test_revocation_by_another_process_bites_at_once(
    gql: Gql, token: Callable[..., str], database: Database, keys: KeyStore, database_url: str
) -> None:
    """A grant revoked behind this process's back (another hub process, or SQL) is seen on the
    next request: the resolvers check the policy counter first."""
    await load(database, keys, "citizen", generate.citizens(20))
    tuson = token("UBND-TX-TUSON", "reader")
    grant_id = (await _request(gql, tuson, rowFilter=None))["data"]["requestGrant"]["id"]
    await gql(DECIDE_GRANT, token=token("SYT", "owner"), id=grant_id, approve=True)
    assert (await gql(CITIZENS, token=tuson, purpose=PURPOSE))["data"]["records"]["totalCount"]
    connection = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await connection.execute("UPDATE grants SET status = 'REVOKED' WHERE id = $1", grant_id)
    finally:
        await connection.close()
    after = await gql(CITIZENS, token=tuson, purpose=PURPOSE)
    assert after["data"]["records"]["edges"] == []


async def test_grant_past_valid_to_reads_expired(
    gql: Gql, token: Callable[..., str], database_url: str
) -> None:
    stnmt, owner = token("STNMT", "reader"), token("SYT", "owner")
    valid_to = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    grant_id = (await _request(gql, stnmt, validTo=valid_to))["data"]["requestGrant"]["id"]
    await gql(DECIDE_GRANT, token=owner, id=grant_id, approve=True)
    connection = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await connection.execute(
            "UPDATE grants SET valid_to = now() - interval '1 minute' WHERE id = $1", grant_id
        )
    finally:
        await connection.close()
    expired = (await gql(GRANTS, token=owner, status="EXPIRED"))["data"]["grants"]
    assert [(g["id"], g["status"]) for g in expired] == [(grant_id, "EXPIRED")]
    assert (await gql(GRANTS, token=owner, status="APPROVED"))["data"]["grants"] == []
    revoke = await gql(REVOKE, token=owner, id=grant_id, reason="đã hết hạn")
    assert codes(revoke) == ["CONFLICT"]


@pytest.mark.parametrize(
    ("overrides", "code", "needle"),
    [
        ({"fields": ["shoe_size"]}, "BAD_USER_INPUT", "shoe_size"),
        ({"fields": []}, "BAD_USER_INPUT", "fields"),
        ({"rowFilter": {"address": "Từ Sơn"}}, "BAD_USER_INPUT", "'address'"),
        ({"purpose": "x"}, "BAD_USER_INPUT", "purpose"),
        ({"validTo": "2001-01-01T00:00:00Z"}, "BAD_USER_INPUT", "validTo"),
        ({"dataset": "no_such_dataset"}, "NOT_FOUND", "no_such_dataset"),
    ],
)
async def test_bad_grant_request_is_refused(
    gql: Gql, token: Callable[..., str], overrides: dict[str, Any], code: str, needle: str
) -> None:
    body = await _request(gql, token("STNMT", "reader"), **overrides)
    assert codes(body) == [code]
    assert needle in body["errors"][0]["message"]
    assert (await gql(GRANTS, token=token("SYT", "owner")))["data"]["grants"] == []


async def test_anonymous_and_owner_cannot_request(gql: Gql, token: Callable[..., str]) -> None:
    assert codes(await _request(gql, None)) == ["UNAUTHENTICATED"]
    assert codes(await _request(gql, token("SYT", "reader"))) == ["CONFLICT"]


async def test_malformed_grant_id_is_bad_input(gql: Gql, token: Callable[..., str]) -> None:
    body = await gql(DECIDE_GRANT, token=token("SYT", "owner"), id="not-a-uuid", approve=True)
    assert codes(body) == ["BAD_USER_INPUT"]
