"""A push's run as the contract's ``SyncRun`` (``schema.connectors.types``), and as the JSON
the upload endpoint answers (the same names)."""

from __future__ import annotations

from typing import Any

import strawberry

from connectors.engine import RunOutcome
from schema.connectors.types import SyncRun, SyncStatus

TRIGGER = "push"


def run_of(outcome: RunOutcome) -> SyncRun:
    return SyncRun(
        id=strawberry.ID(str(outcome.run_id)),
        connector=outcome.connector,
        status=SyncStatus(outcome.status),
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        read=outcome.read,
        inserted=outcome.inserted,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        deleted=outcome.deleted,
        rejected=outcome.rejected,
        error=outcome.error,
        trigger=TRIGGER,
        unresolved_references=outcome.unresolved,
        disagreements=outcome.disagreeing,
    )


def run_json(outcome: RunOutcome) -> dict[str, Any]:
    """The run with GraphQL's camelCase names, times in ISO 8601."""
    return {
        "id": str(outcome.run_id),
        "connector": outcome.connector,
        "status": outcome.status,
        "trigger": TRIGGER,
        "startedAt": outcome.started_at.isoformat(),
        "finishedAt": outcome.finished_at.isoformat(),
        "read": outcome.read,
        "inserted": outcome.inserted,
        "updated": outcome.updated,
        "unchanged": outcome.unchanged,
        "deleted": outcome.deleted,
        "rejected": outcome.rejected,
        "unresolvedReferences": outcome.unresolved,
        "disagreements": outcome.disagreeing,
        "error": outcome.error,
    }


__all__ = ["run_json", "run_of"]
