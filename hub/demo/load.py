"""``hub serve --demo``: the baseline catalogue, realistic demo records, demo grants and demo
clients, loaded idempotently so a restart does not duplicate anything.

The records come in through the real connectors (``hub/demo/connectors/*.toml``), as an
agency's would: the business registry from a PostgreSQL database beside the hub's, land
parcels from an XLSX file, citizens from a CSV in TCVN3, health-insurance cards from a CSV in
Windows-1258, legal documents from a local HTTP JSON API. A second load adds no connector and
writes no version: every row comes back unchanged."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from pathlib import Path

from sqlalchemy import select

from catalog.crypto import FieldKeys
from catalog.errors import HubError
from catalog.grants import GrantRequest, decide_grant, request_grant
from catalog.models import ApiClient, Grant
from catalog.principal import Principal
from catalog.seed import seed_baseline
from catalog.sync_models import Connector
from connectors.engine import run_connector
from connectors.spec import read_connector_file
from connectors.store import add_connector
from hub.auth.clients import add_client
from hub.demo import generate, make_fixtures
from hub.demo.make_fixtures import FIXTURES
from hub.demo.sources import documents_server, ensure_registry_database
from hub.runtime import Hub

CONNECTORS = Path(__file__).parent / "connectors"
# Masters before the datasets that reference them, so reconciliation finds them.
CONNECTOR_FILES = (
    "business_postgres.toml",
    "citizen_csv_tcvn3.toml",
    "land_parcel_xlsx.toml",
    "health_insurance_csv.toml",
    "legal_document_http.toml",
)


class DemoLoadFailed(HubError):
    """A demo connector's run failed: the demo is incomplete, so ``hub serve`` stops."""


# name → (agency, roles): an agency app of each kind the README walks through.
DEMO_CLIENTS: dict[str, tuple[str, list[str]]] = {
    "demo-steward": ("STTTT", ["steward", "reader"]),
    "demo-skhdt-owner": ("SKHDT", ["owner", "reader"]),
    "demo-syt-owner": ("SYT", ["owner", "reader"]),
    "demo-stnmt-app": ("STNMT", ["reader"]),
    "demo-tuson-app": ("UBND-TX-TUSON", ["reader"]),
    "demo-admin": ("VPUBND", ["admin", "reader"]),
}

TUSON = "Thị xã Từ Sơn"


async def load_demo(hub: Hub) -> list[str]:
    """Load everything; returns lines telling a newcomer how to get a token."""
    keys = hub.keys.sealing_keys()
    async with hub.db.sessions.begin() as session:
        await seed_baseline(session)
    await _load_records(hub, keys)
    await _load_grants(hub)
    credentials = await _demo_clients(hub)
    path = hub.settings.data_dir / "demo-clients.json"
    first = credentials["demo-tuson-app"]
    # Secrets stay in the 0600 file: a terminal or a service log is no place for them.
    return [
        f"Demo clients (id and secret) are in {path} (mode 0600).",
        "Get a token, e.g. for the Từ Sơn town app reading citizens under a grant:",
        "  make token AS=demo-tuson-app",
        f"  (or: hub token --client-id {first['client_id']} --client-secret <its secret>)",
    ]


async def _load_records(hub: Hub, keys: FieldKeys) -> None:
    """Each core dataset filled by its connector from a real source (DESIGN.md §9)."""
    businesses = generate.businesses(make_fixtures.SIZES["business"])
    url = await ensure_registry_database(hub.db.url, businesses)
    token = secrets.token_urlsafe(24)  # the API's key for this load only
    documents = FIXTURES / make_fixtures.FILES["legal_document"]
    async with documents_server(documents, token) as api:
        # Only what the demo's connector files name: nothing of the hub's own environment.
        environ = {
            "DEMO_DKKD_DSN": url,
            "DEMO_FIXTURES": str(FIXTURES.resolve()),
            "DEMO_VAN_BAN_URL": api,
            "DEMO_VAN_BAN_TOKEN": token,
        }
        specs = [
            await asyncio.to_thread(read_connector_file, CONNECTORS / file)
            for file in CONNECTOR_FILES
        ]
        async with hub.db.sessions.begin() as session:
            for spec in specs:
                if await session.get(Connector, spec.name) is None:
                    await add_connector(session, keys, spec, actor=None, environ=environ)
        for spec in specs:
            outcome = await run_connector(
                hub.db.sessions, keys, spec.name, trigger="manual", environ=environ
            )
            if outcome.status != "SUCCEEDED":
                raise DemoLoadFailed(f"demo connector {spec.name}: {outcome.error}")


async def _load_grants(hub: Hub) -> None:
    async with hub.db.sessions.begin() as session:
        if await session.scalar(select(Grant.id).limit(1)) is not None:
            return
        tuson = Principal("demo:tuson", "UBND-TX-TUSON", frozenset({"reader"}))
        stnmt = Principal("demo:stnmt", "STNMT", frozenset({"reader"}))
        syt_owner = Principal("demo:syt-owner", "SYT", frozenset({"owner"}))
        skhdt_owner = Principal("demo:skhdt-owner", "SKHDT", frozenset({"owner"}))
        citizens = await request_grant(
            session,
            tuson,
            GrantRequest(
                dataset="citizen",
                fields=[
                    "citizen_id",
                    "full_name",
                    "birth_date",
                    "sex",
                    "commune",
                    "address",
                    "district",
                ],
                row_filter={"district": TUSON},
                purpose="Giải quyết thủ tục hành chính cho công dân thường trú tại thị xã",
                legal_basis="Nghị định 13/2023/NĐ-CP, Điều 17",
            ),
        )
        await decide_grant(
            session, syt_owner, str(citizens.id), True, "Đồng ý trong phạm vi thị xã"
        )
        phones = await request_grant(
            session,
            stnmt,
            GrantRequest(
                dataset="business",
                fields=["representative_phone"],
                purpose="Liên hệ doanh nghiệp về thủ tục giao đất, cho thuê đất",
                legal_basis="Luật Đất đai 2024",
            ),
        )
        await decide_grant(session, skhdt_owner, str(phones.id), True, None)


async def _demo_clients(hub: Hub) -> dict[str, dict[str, str]]:
    path: Path = hub.settings.data_dir / "demo-clients.json"
    saved: dict[str, dict[str, str]] = {}
    if await asyncio.to_thread(path.exists):
        saved = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    async with hub.db.sessions.begin() as session:
        existing = set(await session.scalars(select(ApiClient.client_id)))
        for name, (agency, roles) in DEMO_CLIENTS.items():
            if name in saved and saved[name]["client_id"] in existing:
                continue
            client, secret = await add_client(session, name, agency, roles)
            saved[name] = {
                "client_id": client.client_id,
                "client_secret": secret,
                "agency": agency,
                "roles": ",".join(roles),
            }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(saved, fh, ensure_ascii=False, indent=2)
    return saved


__all__ = ["DEMO_CLIENTS", "load_demo"]
