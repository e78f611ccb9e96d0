"""Connector definitions stored in the hub: add (checked against the dataset and the source),
read back with their secrets, list, remove.

Invariants: a connector writes only into a dataset its own agency owns (its agency *is* the
dataset's owner); every field of the mapping is a field of the dataset and the key field is
mapped; the stored definition holds no secret (``connectors.spec.split_secrets``), the secrets
are one AES-GCM envelope bound to the connector's name; every change is audited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import policy
from catalog.audit import EventDraft, append_event
from catalog.crypto import FieldKeys
from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.models import Dataset
from catalog.principal import Principal
from catalog.sync_models import Connector
from connectors.spec import ConnectorSpec, join_secrets, source_config, split_secrets

# Who acts when the operator runs a command on the hub's own machine (no token).
OPERATOR = Principal(subject="operator:cli", roles=frozenset({"admin", "steward"}))
MAX_LIST = 1000

# The advisory lock of a connector's runs: (namespace, name) so that it never meets the
# hub's other advisory locks. Held by a run on its own connection (session level).
LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('hub-connector'), hashtext(:name))"
XACT_LOCK_SQL = "SELECT pg_try_advisory_xact_lock(hashtext('hub-connector'), hashtext(:name))"
UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtext('hub-connector'), hashtext(:name))"
# A push run (``push:<dataset>``, no connector lock: pushes to one dataset may run at once)
# holds this on its own connection while it lives; a RUNNING push run whose lock is free
# was left by a process that died.
PUSH_LOCK_SQL = "SELECT pg_advisory_lock(hashtext('hub-push-run'), (:run_id % 2147483647)::int)"
PUSH_XACT_LOCK_SQL = (
    "SELECT pg_try_advisory_xact_lock(hashtext('hub-push-run'), (:run_id % 2147483647)::int)"
)


@dataclass(frozen=True, slots=True)
class StoredConnector:
    """A connector's row and its definition with the secrets put back (``${VAR}`` unexpanded)."""

    row: Connector
    spec: ConnectorSpec


def secrets_aad(name: str) -> str:
    return f"connector:{name}"


async def add_connector(
    session: AsyncSession,
    keys: FieldKeys,
    spec: ConnectorSpec,
    *,
    actor: Principal | None,
    environ: Mapping[str, str],
    check_source: bool = True,
) -> Connector:
    """Store ``spec`` after checking it; InvalidInput names the field or column at fault,
    Conflict the name taken, Forbidden a caller who manages no such dataset."""
    dataset = await session.get(Dataset, spec.dataset)
    if dataset is None:
        raise NotFound(f"connector '{spec.name}': dataset '{spec.dataset}' does not exist")
    principal = actor or OPERATOR
    policy.require_dataset_manager(principal, dataset.owner_code, "addConnector")
    if dataset.status == "DEPRECATED":
        raise InvalidInput(
            f"connector '{spec.name}': dataset '{spec.dataset}' is deprecated and takes no new data"
        )
    check_mapping(spec, dataset)
    if await session.get(Connector, spec.name) is not None:
        raise Conflict(f"connector '{spec.name}' already exists; remove it first to replace it")
    if check_source:
        await check_source_columns(spec, environ)
    public, secrets = split_secrets(spec)
    sealed = (
        keys.encrypt(json.dumps(secrets, ensure_ascii=False), secrets_aad(spec.name))
        if secrets
        else None
    )
    now = await session.scalar(select(func.now()))
    row = Connector(
        name=spec.name,
        agency_code=dataset.owner_code,
        dataset_code=dataset.code,
        kind=spec.kind,
        schedule=spec.schedule,
        definition=public,
        secrets=sealed,
        cursor=None,
        # A scheduled connector is due at once: the first run fills the dataset.
        next_run_at=now if spec.schedule and now is not None else None,
        created_by=principal.subject,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"connector '{spec.name}' already exists") from None
    await append_event(
        session,
        principal,
        EventDraft(
            "connector.add",
            dataset=dataset.code,
            detail={"connector": spec.name, "kind": spec.kind, "schedule": spec.schedule},
        ),
    )
    return row


def check_mapping(spec: ConnectorSpec, dataset: Dataset) -> None:
    """Every mapped field exists in the dataset, and the key field is mapped."""
    fields = {f.name for f in dataset.fields}
    for field in spec.mapping:
        if field not in fields:
            raise InvalidInput(
                f"connector '{spec.name}': mapping names field '{field}', which dataset "
                f"'{dataset.code}' does not have (fields: {', '.join(sorted(fields))})"
            )
    if dataset.key_field not in spec.mapping:
        raise InvalidInput(
            f"connector '{spec.name}': the key field '{dataset.key_field}' of dataset "
            f"'{dataset.code}' must be mapped to a source column"
        )


async def check_source_columns(spec: ConnectorSpec, environ: Mapping[str, str]) -> None:
    """Open the source and check that every column the definition names exists."""
    from connectors.sources import SourceError, open_source

    try:
        async with open_source(spec.kind, source_config(spec, environ)) as source:
            present = set(await source.columns())
    except SourceError as error:
        raise InvalidInput(f"connector '{spec.name}': {error}") from None
    for column in spec.source_columns():
        if column not in present:
            shown = ", ".join(sorted(present)[:50])
            raise InvalidInput(
                f"connector '{spec.name}': source column '{column}' does not exist in the "
                f"source (columns: {shown})"
            )


async def get_connector(session: AsyncSession, keys: FieldKeys, name: str) -> StoredConnector:
    row = await session.get(Connector, name)
    if row is None:
        raise NotFound(f"connector '{name}' does not exist")
    secrets: dict[str, Any] = {}
    if row.secrets:
        secrets = json.loads(keys.decrypt(row.secrets, secrets_aad(name)))
    return StoredConnector(row=row, spec=join_secrets(row.definition, secrets))


async def list_connectors(
    session: AsyncSession,
    *,
    agency: str | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[Connector]:
    """Connectors by name (``after`` a name, for the next page); at most ``MAX_LIST``."""
    query = select(Connector).order_by(Connector.name).limit(max(1, min(limit, MAX_LIST)))
    if agency is not None:
        query = query.where(Connector.agency_code == agency)
    if after is not None:
        query = query.where(Connector.name > after)
    return list(await session.scalars(query))


async def remove_connector(session: AsyncSession, name: str, *, actor: Principal | None) -> None:
    """Remove a connector (its runs, quarantine and findings stay as history). Refused while
    one of its runs holds the lock."""
    row = await session.get(Connector, name, with_for_update=True)
    if row is None:
        raise NotFound(f"connector '{name}' does not exist")
    principal = actor or OPERATOR
    policy.require_dataset_manager(principal, row.agency_code, "removeConnector")
    if not await session.scalar(text(XACT_LOCK_SQL), {"name": name}):
        raise Conflict(f"connector '{name}' is running; remove it when the run has finished")
    await session.execute(text("DELETE FROM sync_row_hashes WHERE connector = :n"), {"n": name})
    await session.delete(row)
    await session.flush()
    await append_event(
        session,
        principal,
        EventDraft("connector.remove", dataset=row.dataset_code, detail={"connector": name}),
    )


def shown_definition(row: Connector) -> dict[str, Any]:
    """What ``show`` prints: the definition as added, each secret value as "<secret>"."""
    return dict(row.definition)


__all__ = [
    "LOCK_SQL",
    "OPERATOR",
    "UNLOCK_SQL",
    "StoredConnector",
    "add_connector",
    "check_mapping",
    "check_source_columns",
    "get_connector",
    "list_connectors",
    "remove_connector",
    "secrets_aad",
    "shown_definition",
]
