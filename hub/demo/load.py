"""``hub serve --demo``: the baseline catalogue, realistic demo records, demo grants and demo
clients, loaded idempotently so a restart does not duplicate anything."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select

from catalog.crypto import FieldKeys
from catalog.grants import GrantRequest, decide_grant, request_grant
from catalog.models import ApiClient, Dataset, Grant
from catalog.principal import Principal
from catalog.records import write_records
from catalog.seed import seed_baseline
from hub.auth.clients import add_client
from hub.demo import generate
from hub.runtime import Hub

SIZES = {"business": 5000, "land_parcel": 8000, "citizen": 3000, "legal_document": 120}

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
    businesses = generate.businesses(SIZES["business"])
    citizens = generate.citizens(SIZES["citizen"])
    batches: dict[str, list[dict[str, Any]]] = {
        "business": businesses,
        "land_parcel": generate.land_parcels(
            SIZES["land_parcel"], [str(b["tax_code"]) for b in businesses]
        ),
        "citizen": citizens,
        "health_insurance": generate.health_insurance(citizens),
        "legal_document": generate.legal_documents(SIZES["legal_document"]),
    }
    for code, rows in batches.items():
        async with hub.db.sessions.begin() as session:
            dataset = await session.get(Dataset, code)
            assert dataset is not None
            await write_records(session, dataset, rows, source="demo", keys=keys)


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
