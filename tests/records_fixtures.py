"""Shared record fixtures: realistic demo rows written through the real record store."""

from __future__ import annotations

from typing import Any

from catalog.crypto import FieldKeys
from catalog.models import Dataset
from catalog.records import write_records
from hub.demo import generate
from hub.runtime import Hub


def field_keys(hub: Hub) -> FieldKeys:
    return hub.keys.sealing_keys()


async def load_rows(hub: Hub, code: str, rows: list[dict[str, Any]]) -> None:
    async with hub.db.sessions.begin() as session:
        dataset = await session.get(Dataset, code)
        assert dataset is not None
        await write_records(session, dataset, rows, source="test", keys=field_keys(hub))


async def load_demo_records(
    hub: Hub, businesses: int = 60, parcels: int = 120, citizens: int = 80
) -> dict[str, list[dict[str, Any]]]:
    business_rows = generate.businesses(businesses)
    citizen_rows = generate.citizens(citizens)
    data = {
        "business": business_rows,
        "land_parcel": generate.land_parcels(parcels, [str(b["tax_code"]) for b in business_rows]),
        "citizen": citizen_rows,
        "health_insurance": generate.health_insurance(citizen_rows),
        "legal_document": generate.legal_documents(10),
    }
    for code, rows in data.items():
        await load_rows(hub, code, rows)
    return data
