"""A remembered access decision lasts only until the next grant boundary: an expiring grant
stops serving at its ``valid_to`` even though nothing in the database changed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from catalog.access import GrantView
from catalog.models import Dataset, DatasetField
from catalog.principal import Principal
from hub.snapshot import Snapshot


def _dataset() -> Dataset:
    return Dataset(
        code="citizen",
        owner_code="SYT",
        status="PUBLISHED",
        sensitivity="RESTRICTED",
        key_field="citizen_id",
        fields=[
            DatasetField(name="citizen_id", sensitivity="RESTRICTED", type="string"),
            DatasetField(name="full_name", sensitivity="RESTRICTED", type="string"),
        ],
    )


async def test_expiring_grant_stops_at_valid_to_though_the_decision_was_remembered() -> None:
    now = datetime.now(UTC)
    grant = GrantView(
        id="g1",
        dataset="citizen",
        grantee="STNMT",
        fields=frozenset({"full_name"}),
        row_filter=None,
        status="APPROVED",
        valid_from=now - timedelta(days=1),
        valid_to=now + timedelta(milliseconds=400),
    )
    snapshot = Snapshot(datasets={"citizen": _dataset()}, grants_by_dataset={"citizen": [grant]})
    reader = Principal("app", "STNMT", frozenset({"reader"}))
    first = snapshot.access(reader, "citizen")
    assert first is not None and first.may_read_field("full_name")
    assert snapshot.access(reader, "citizen") is first  # remembered
    await asyncio.sleep(0.5)
    after = snapshot.access(reader, "citizen")
    assert after is not None and not after.allowed
