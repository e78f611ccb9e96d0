"""Version hashes cover the caller's view only (issue 7 item 1): a hash is SHA-256 of the
canonical JSON of exactly the ``values`` the caller is shown, so a client recomputes it from
the answer, a hidden value can never be confirmed by guessing, and a change to a hidden field
leaves the hash as it was. The owner's hash equals the stored content hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from hub.db import Database
from hub.demo import generate
from hub.keys import KeyStore
from tests.record_support import Gql, approved_grant, codes, load

HISTORY = """
query($d: String!, $k: String!) {
  recordHistory(dataset: $d, key: $k) { version hash changedAt source reason values }
}"""
TYPED_HISTORY = """
query($k: String!) { business(key: $k) { taxCode history { version hash values } } }
"""
CORRECT = """
mutation($d: String!, $k: String!, $v: JSON!, $r: String!) {
  correctRecord(dataset: $d, key: $k, values: $v, reason: $r) { version hash values }
}"""
PURPOSE = "Giải quyết thủ tục hành chính"


def client_hash(values: dict[str, Any]) -> str:
    """What an agency computes from an answer, per the README (no hub code involved)."""
    canonical = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@pytest.fixture
async def rows(app: Any, database: Database, keys: KeyStore) -> dict[str, list[dict[str, Any]]]:
    businesses = generate.businesses(6)
    for b in businesses:
        b["representative_phone"] = b.get("representative_phone") or "0912345678"
    citizens = generate.citizens(12)
    cards = generate.health_insurance(citizens)
    cards[0]["chronic_conditions"] = "Tăng huyết áp"
    data = {"business": businesses, "citizen": citizens, "health_insurance": cards}
    for code, batch in data.items():
        await load(database, keys, code, batch)
    return data


async def _stored_hash(database: Database, code: str, key: str) -> str:
    async with database.sessions() as session:
        found = await session.scalar(
            text("SELECT hash FROM records WHERE dataset_code = :d AND key = :k"),
            {"d": code, "k": key},
        )
    assert isinstance(found, str)
    return found


async def test_anonymous_history_hash_is_recomputable_from_the_values_shown(
    gql: Gql, rows: dict[str, Any]
) -> None:
    business = rows["business"][0]
    body = await gql(HISTORY, d="business", k=business["tax_code"])
    (version,) = body["data"]["recordHistory"]
    assert "representative_phone" not in version["values"]
    assert version["hash"] == client_hash(version["values"])


async def test_anonymous_hash_does_not_cover_the_representative_phone(
    gql: Gql, database: Database, rows: dict[str, Any]
) -> None:
    business = rows["business"][0]
    body = await gql(HISTORY, d="business", k=business["tax_code"])
    (version,) = body["data"]["recordHistory"]
    assert version["hash"] != await _stored_hash(database, "business", business["tax_code"])
    # A guess of the phone, even the right one, cannot be confirmed against the hash.
    guessed = {**version["values"], "representative_phone": business["representative_phone"]}
    assert version["hash"] != client_hash(guessed)


async def test_owner_hash_equals_the_stored_content_hash(
    gql: Gql, token: Callable[..., str], database: Database, rows: dict[str, Any]
) -> None:
    business = rows["business"][0]
    body = await gql(HISTORY, token=token("SKHDT", "owner"), d="business", k=business["tax_code"])
    (version,) = body["data"]["recordHistory"]
    assert version["values"]["representative_phone"] == business["representative_phone"]
    assert version["hash"] == client_hash(version["values"])
    assert version["hash"] == await _stored_hash(database, "business", business["tax_code"])


async def test_correct_record_returns_the_owner_view_hash(
    gql: Gql, token: Callable[..., str], database: Database, rows: dict[str, Any]
) -> None:
    business = rows["business"][0]
    body = await gql(
        CORRECT,
        token=token("SKHDT", "owner"),
        d="business",
        k=business["tax_code"],
        v={"address": "Số 2 đường Lý Thái Tổ"},
        r="Sai địa chỉ",
    )
    fixed = body["data"]["correctRecord"]
    assert fixed["version"] == 2
    assert fixed["hash"] == client_hash(fixed["values"])
    assert fixed["hash"] == await _stored_hash(database, "business", business["tax_code"])


async def test_typed_history_hash_is_over_the_callers_view(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    business = rows["business"][0]
    body = await gql(TYPED_HISTORY, token=token("STNMT", "reader"), k=business["tax_code"])
    (version,) = body["data"]["business"]["history"]
    assert "representative_phone" not in version["values"]
    assert "legal_representative" in version["values"]  # INTERNAL: any signed-in agency
    assert version["hash"] == client_hash(version["values"])


async def test_partial_grant_reader_cannot_confirm_a_guessed_chronic_condition(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = token("UBND-TX-TUSON", "reader")
    await approved_grant(
        gql, reader, token("SYT", "owner"), "health_insurance", ["card_no", "hospital_code"]
    )
    card = rows["health_insurance"][0]
    body = await gql(
        HISTORY, token=reader, purpose=PURPOSE, d="health_insurance", k=card["card_no"]
    )
    (version,) = body["data"]["recordHistory"]
    assert set(version["values"]) == {"card_no", "hospital_code"}
    assert version["hash"] == client_hash(version["values"])
    guessed = {**version["values"], "chronic_conditions": card["chronic_conditions"]}
    assert version["hash"] != client_hash(guessed)


async def test_fields_withheld_for_a_missing_purpose_are_not_hashed(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = token("UBND-TX-TUSON", "reader")
    await approved_grant(
        gql, reader, token("SKHDT", "owner"), "business", ["tax_code", "representative_phone"]
    )
    business = rows["business"][0]
    without = await gql(HISTORY, token=reader, d="business", k=business["tax_code"])
    assert codes(without) == ["BAD_USER_INPUT"]  # the purpose error, values still served
    (bare,) = without["data"]["recordHistory"]
    assert "representative_phone" not in bare["values"]
    assert bare["hash"] == client_hash(bare["values"])
    stated = await gql(HISTORY, token=reader, purpose=PURPOSE, d="business", k=business["tax_code"])
    (full,) = stated["data"]["recordHistory"]
    assert full["values"]["representative_phone"] == business["representative_phone"]
    assert full["hash"] == client_hash(full["values"]) != bare["hash"]


async def test_changing_only_a_hidden_field_leaves_the_callers_history_unchanged(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    business = rows["business"][0]
    before = await gql(HISTORY, d="business", k=business["tax_code"])
    typed_before = await gql(TYPED_HISTORY, k=business["tax_code"])
    fixed = await gql(
        CORRECT,
        token=token("SKHDT", "owner"),
        d="business",
        k=business["tax_code"],
        v={"representative_phone": "0987654321"},
        r="Cập nhật số điện thoại",
    )
    assert fixed["data"]["correctRecord"]["version"] == 2
    assert await gql(HISTORY, d="business", k=business["tax_code"]) == before
    assert await gql(TYPED_HISTORY, k=business["tax_code"]) == typed_before
