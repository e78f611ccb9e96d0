"""Connector definitions in the hub: secrets sealed and never shown, checks at add (fields,
key, source columns, name, who may add), list, remove."""

from __future__ import annotations

import json

import pytest

from catalog.errors import Conflict, Forbidden, InvalidInput
from catalog.principal import Principal
from connectors.spec import parse_connector
from connectors.store import (
    add_connector,
    get_connector,
    list_connectors,
    remove_connector,
    shown_definition,
)
from hub.runtime import Hub
from tests.sync_support import SOURCE_DSN, add, connector_toml, make_dataset, rows, source_table

pytestmark = pytest.mark.usefixtures("seeded")

MAPPING = {"code": "ma", "name": "ten"}
SKHDT_OWNER = Principal("owner-1", "SKHDT", frozenset({"owner"}))
SYT_OWNER = Principal("owner-2", "SYT", frozenset({"owner"}))


def with_password(toml: str) -> str:
    return toml.replace(SOURCE_DSN, "postgresql://root:${SRC_PASSWORD}@127.0.0.1:5432/postgres")


async def test_secrets_are_sealed_and_never_shown(hub: Hub) -> None:
    await make_dataset(hub, "item")
    async with source_table("ma text, ten text") as (_conn, table):
        spec = parse_connector(
            with_password(connector_toml("items", "item", table, MAPPING)),
            fmt="toml",
            origin="items.toml",
        )
        async with hub.db.sessions.begin() as session:
            row = await add_connector(
                session,
                hub.keys.sealing_keys(),
                spec,
                actor=SKHDT_OWNER,
                environ={"SRC_PASSWORD": ""},
            )
            assert row.agency_code == "SKHDT"  # the dataset's owner, always
    stored = await rows(hub, "SELECT definition, secrets FROM connectors WHERE name = 'items'")
    assert stored[0]["definition"]["source"]["dsn"] == "<secret>"
    assert "SRC_PASSWORD" not in json.dumps(stored[0]["secrets"])  # sealed, not readable
    async with hub.db.sessions() as session:
        loaded = await get_connector(session, hub.keys.sealing_keys(), "items")
        assert loaded.spec.source["dsn"].endswith("${SRC_PASSWORD}@127.0.0.1:5432/postgres")
        assert shown_definition(loaded.row)["source"]["dsn"] == "<secret>"
    audit = await rows(
        hub, "SELECT subject, detail FROM audit_events WHERE action = 'connector.add'"
    )
    assert audit == [
        {
            "subject": "owner-1",
            "detail": {"connector": "items", "kind": "postgres", "schedule": None},
        }
    ]


async def test_add_checks_names_rights_and_sources(hub: Hub) -> None:
    await make_dataset(hub, "item")
    async with source_table("ma text, ten text") as (_conn, table):
        await add(hub, connector_toml("items", "item", table, MAPPING))
        with pytest.raises(Conflict, match="'items'"):
            await add(hub, connector_toml("items", "item", table, MAPPING))
        spec = parse_connector(
            connector_toml("other", "item", table, MAPPING), fmt="toml", origin="f"
        )
        async with hub.db.sessions.begin() as session:
            with pytest.raises(Forbidden, match="SKHDT"):
                await add_connector(
                    session, hub.keys.sealing_keys(), spec, actor=SYT_OWNER, environ={}
                )
        with pytest.raises(InvalidInput, match="'missing_col'"):
            await add(hub, connector_toml("x", "item", table, {**MAPPING, "name": "missing_col"}))
    # An unreachable source is refused with the reason, not a traceback.
    unreachable = connector_toml("y", "item", "t", MAPPING).replace("5432", "1")
    with pytest.raises(InvalidInput, match="connector 'y'"):
        await add(hub, unreachable)


async def test_list_pages_and_remove(hub: Hub) -> None:
    await make_dataset(hub, "item")
    for name in ("c_one", "c_two", "c_three"):
        await add(hub, connector_toml(name, "item", "t", MAPPING), check_source=False)
    async with hub.db.sessions() as session:
        first = await list_connectors(session, limit=2)
        assert [c.name for c in first] == ["c_one", "c_three"]
        rest = await list_connectors(session, after="c_three")
        assert [c.name for c in rest] == ["c_two"]
        assert await list_connectors(session, agency="SYT") == []
    async with hub.db.sessions.begin() as session:
        with pytest.raises(Forbidden):
            await remove_connector(session, "c_one", actor=SYT_OWNER)
    async with hub.db.sessions.begin() as session:
        await remove_connector(session, "c_one", actor=None)
    assert [r["name"] for r in await rows(hub, "SELECT name FROM connectors ORDER BY name")] == [
        "c_three",
        "c_two",
    ]
