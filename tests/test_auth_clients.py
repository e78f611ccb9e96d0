"""The embedded issuer's client registry on a real PostgreSQL database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.models import Agency, ApiClient
from hub.auth.clients import add_client, authenticate_client, list_clients, remove_client
from hub.db import Database


@pytest.fixture
async def database(database: Database) -> Database:
    """The test database with one agency, committed."""
    async with database.sessions() as session, session.begin():
        session.add(Agency(code="so-tnmt", name="Sở Tài nguyên và Môi trường", level="province"))
    return database


async def _register(
    database: Database, name: str = "portal", roles: tuple[str, ...] = ("reader",)
) -> tuple[ApiClient, str]:
    async with database.sessions() as session, session.begin():
        client, secret = await add_client(session, name, "so-tnmt", list(roles))
    return client, secret


async def _count(database: Database) -> int:
    async with database.sessions() as session:
        return await session.scalar(select(func.count()).select_from(ApiClient)) or 0


async def test_added_client_is_listed_with_agency_and_roles(database: Database) -> None:
    client, _ = await _register(database, "land portal", ("reader", "owner", "reader"))

    async with database.sessions() as session:
        listed = await list_clients(session)

    assert [(c.client_id, c.name, c.agency_code, c.roles) for c in listed] == [
        (client.client_id, "land portal", "so-tnmt", ["owner", "reader"])
    ]
    assert client.client_id.startswith("hub-") and len(client.client_id) == 20


async def test_secret_is_stored_as_salted_scrypt_hash_not_plaintext(database: Database) -> None:
    _, secret = await _register(database)
    _, other_secret = await _register(database, "second")

    async with database.sessions() as session:
        row = (await session.execute(text("SELECT * FROM api_clients ORDER BY name"))).all()

    assert all(secret not in str(value) for r in row for value in r)
    hashes = [r.secret_hash for r in row]
    assert all(h.startswith("scrypt$16384$8$1$") and len(h.split("$")) == 6 for h in hashes)
    assert hashes[0].split("$")[4] != hashes[1].split("$")[4]  # a salt per secret
    assert len(secret) >= 43 and secret != other_secret


async def test_right_secret_authenticates_the_client(database: Database) -> None:
    client, secret = await _register(database)

    async with database.sessions() as session:
        found = await authenticate_client(session, client.client_id, secret)

    assert found is not None and found.client_id == client.client_id


async def test_wrong_secret_is_rejected(database: Database) -> None:
    client, secret = await _register(database)

    async with database.sessions() as session:
        found = await authenticate_client(session, client.client_id, secret + "x")

    assert found is None


async def test_unknown_client_id_is_rejected(database: Database) -> None:
    _, secret = await _register(database)

    async with database.sessions() as session:
        found = await authenticate_client(session, "hub-ffffffffffffffff", secret)

    assert found is None


async def test_unknown_agency_is_refused_and_nothing_written(database: Database) -> None:
    with pytest.raises(NotFound) as caught:
        async with database.sessions() as session, session.begin():
            await add_client(session, "portal", "so-xyz", ["reader"])

    assert caught.value.message == "agency 'so-xyz' does not exist"
    assert await _count(database) == 0


async def test_unknown_role_is_refused_naming_it_and_nothing_written(database: Database) -> None:
    with pytest.raises(InvalidInput) as caught:
        async with database.sessions() as session, session.begin():
            await add_client(session, "portal", "so-tnmt", ["reader", "superuser"])

    assert caught.value.message == (
        "client 'portal': unknown role 'superuser' (known: admin, owner, reader, steward)"
    )
    assert caught.value.code == "BAD_USER_INPUT"
    assert await _count(database) == 0


async def test_empty_name_is_refused(database: Database) -> None:
    with pytest.raises(InvalidInput) as caught:
        async with database.sessions() as session, session.begin():
            await add_client(session, "  ", "so-tnmt", ["reader"])

    assert caught.value.message == "client name: must not be empty"
    assert await _count(database) == 0


async def test_add_does_not_commit_the_callers_session(database: Database) -> None:
    async with database.sessions() as session:
        await add_client(session, "portal", "so-tnmt", ["reader"])
        await session.rollback()

    assert await _count(database) == 0


async def test_removed_client_is_gone_and_cannot_authenticate(database: Database) -> None:
    client, secret = await _register(database)
    kept, _ = await _register(database, "kept")

    async with database.sessions() as session, session.begin():
        await remove_client(session, client.client_id)
    async with database.sessions() as session:
        listed = [c.client_id for c in await list_clients(session)]
        found = await authenticate_client(session, client.client_id, secret)

    assert listed == [kept.client_id]
    assert found is None


async def test_removing_an_unknown_client_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound) as caught:
        async with database.sessions() as session, session.begin():
            await remove_client(session, "hub-0000000000000000")

    assert caught.value.message == "client 'hub-0000000000000000' does not exist"


async def test_a_name_taken_in_any_letter_case_is_refused(database: Database) -> None:
    first, _ = await _register(database, "Cổng dịch vụ công")
    for taken in ("Cổng dịch vụ công", "CỔNG DỊCH VỤ CÔNG", "  cổng dịch vụ công "):
        with pytest.raises(Conflict) as refused:
            await _register(database, taken)
        assert f"exists already ({first.client_id})" in refused.value.message
    assert await _count(database) == 1
