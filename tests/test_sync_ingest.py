"""``connectors.engine.ingest``: pushed rows through the same batch path as a connector run
(validation, quarantine, versions, outbox, a push:<dataset> run, audit)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from catalog.errors import Forbidden, NotFound
from connectors.engine import ingest
from connectors.sources.base import SourceRow
from hub.runtime import Hub
from tests.sync_support import live, make_dataset, rows

pytestmark = pytest.mark.usefixtures("seeded")


async def pushed(
    *batches: list[dict[str, object]], fail_after: int | None = None
) -> AsyncIterator[list[SourceRow]]:
    line = 0
    for number, batch in enumerate(batches):
        if fail_after is not None and number >= fail_after:
            raise ValueError("line 7: not valid JSON")
        out = []
        for values in batch:
            line += 1
            out.append(SourceRow(f"line {line}", dict(values)))
        yield out


async def test_pushed_rows_are_written_quarantined_and_announced(hub: Hub) -> None:
    await make_dataset(hub, "item")
    outcome = await ingest(
        hub.db.sessions,
        hub.keys.sealing_keys(),
        "item",
        pushed(
            [{"code": "P1", "name": "Một"}, {"code": "P2", "name": "Hai", "amount": "nhiều"}],
            [{"code": "P1", "name": "Một (sửa)"}, {"code": "P3", "colour": "đỏ"}],
        ),
        label="push:test-client",
        started_by="test-client",
        agency="SKHDT",
    )
    assert outcome.status == "SUCCEEDED", outcome.error
    assert outcome.connector == "push:item"
    assert (outcome.read, outcome.inserted, outcome.updated, outcome.rejected) == (4, 1, 1, 2)
    assert await live(hub, "item") == {"P1": {"code": "P1", "name": "Một (sửa)"}}
    quarantined = await rows(
        hub, "SELECT position, reason, connector FROM sync_quarantine ORDER BY id"
    )
    assert [q["position"] for q in quarantined] == ["line 2", "line 4"]
    assert "amount" in quarantined[0]["reason"] and "colour" in quarantined[1]["reason"]
    assert {q["connector"] for q in quarantined} == {"push:item"}
    versions = await rows(hub, "SELECT source, version FROM record_versions ORDER BY version")
    assert versions == [
        {"source": "push:test-client", "version": 1},
        {"source": "push:test-client", "version": 2},
    ]
    assert len(await rows(hub, "SELECT 1 FROM search_outbox WHERE key <> ''")) == 2
    audit = await rows(hub, "SELECT subject, detail FROM audit_events WHERE action = 'sync.run'")
    assert audit[0]["subject"] == "test-client" and audit[0]["detail"]["rejected"] == 2


async def test_a_failing_stream_keeps_committed_batches(hub: Hub) -> None:
    await make_dataset(hub, "item")
    outcome = await ingest(
        hub.db.sessions,
        hub.keys.sealing_keys(),
        "item",
        pushed([{"code": "Q1", "name": "Một"}], [{"code": "Q2", "name": "Hai"}], fail_after=1),
        label="push:test",
        started_by=None,
        agency=None,
    )
    assert outcome.status == "FAILED"
    assert outcome.error == "ValueError: line 7: not valid JSON"
    assert set(await live(hub, "item")) == {"Q1"}


async def test_only_the_owner_agency_may_push(hub: Hub) -> None:
    await make_dataset(hub, "item")
    with pytest.raises(Forbidden, match="SKHDT"):
        await ingest(
            hub.db.sessions,
            hub.keys.sealing_keys(),
            "item",
            pushed([{"code": "R1", "name": "Một"}]),
            label="push:x",
            started_by="x",
            agency="SYT",
        )
    with pytest.raises(NotFound, match="'nothing'"):
        await ingest(
            hub.db.sessions,
            hub.keys.sealing_keys(),
            "nothing",
            pushed(),
            label="push:x",
            started_by="x",
            agency=None,
        )
    assert await rows(hub, "SELECT 1 FROM sync_runs") == []
