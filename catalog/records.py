"""The record store: one current record per dataset and key, every change an immutable
version with its content hash, source and time (002 Điều 9, 11, 12.8).

Writes go through ``write_records`` (the sync engine, demo loading; set-based, in
``catalog.bulk_write``) or ``correct_record`` (an owner's correction, with a reason). Encrypted
fields are sealed here, before any SQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import policy
from catalog.audit import EventDraft, append_event
from catalog.crypto import FieldKeys, aad_for, is_envelope
from catalog.errors import InvalidInput, NotFound
from catalog.models import Dataset, Record, RecordVersion
from catalog.principal import Principal
from catalog.values import normalise_record


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input row that failed validation: its 0-based position in the input, the reason
    (field and problem, as ``normalise_record`` words it) and the row as given, for quarantine."""

    position: int
    reason: str
    row: Mapping[str, Any]


@dataclass
class WriteResult:
    """Counts of one write: ``read`` rows came in; of the valid ones, ``duplicates`` were
    superseded by a later row with the same key in their chunk, and each remaining row was
    ``inserted`` (new key), ``updated`` (new version) or ``unchanged``."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    keys_written: list[tuple[str, int]] = field(default_factory=list)
    read: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Sealed:
    """A record ready to store: its key as stored, data with sealed fields, blind indexes."""

    key: str
    data: dict[str, Any]
    blind: dict[str, str] | None
    hash: str


def canonical_json(values: Mapping[str, Any]) -> str:
    """The text ``content_hash`` hashes: keys sorted by code point, no whitespace (separators
    ``,`` and ``:``), non-ASCII characters written as themselves."""
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_plain(values: Mapping[str, Any]) -> bytes:
    """``canonical_json(values)`` in UTF-8, for values that are all text, whole numbers or
    booleans (the stored forms of every field type but ``json``, whose floats orjson prints
    differently). orjson writes those byte for byte as ``json.dumps`` does (checked on every
    code point by the tests) at a fifteenth of the cost; whole numbers beyond 64 bits and
    text that is not valid Unicode take the ``json`` path."""
    try:
        return orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return canonical_json(values).encode("utf-8")


def content_hash(values: Mapping[str, Any]) -> str:
    """SHA-256 (lowercase hex) of the canonical JSON (UTF-8) of ``values``, values in their
    stored forms (``catalog.values``). Stored with every version."""
    return hashlib.sha256(canonical_json(values).encode("utf-8")).hexdigest()


def view_hash(shown: Mapping[str, Any]) -> str:
    """The version hash a caller is given: ``content_hash`` of exactly the ``values`` it is
    shown, so it covers nothing the caller may not read and the caller can recompute it.

    The stored hash covers every field, hidden ones included; handing it out would let a
    caller confirm a guessed hidden value. For a caller that reads every field (the owner)
    the two are equal."""
    return content_hash(shown)


def stored_key(dataset: Dataset, key_value: Any, keys: FieldKeys) -> str:
    """The ``records.key`` of a key value: the blind index when the key field is encrypted."""
    key_field = next(f for f in dataset.fields if f.name == dataset.key_field)
    text_key = str(key_value)
    return keys.blind(text_key) if key_field.encrypted else text_key


def seal(dataset: Dataset, values: Mapping[str, Any], keys: FieldKeys) -> Sealed:
    data = dict(values)
    blind: dict[str, str] = {}
    for f in dataset.fields:
        if f.encrypted and f.name in data:
            plain = str(data[f.name])
            blind[f.name] = keys.blind(plain)
            data[f.name] = keys.encrypt(plain, aad_for(dataset.code, f.name))
    return Sealed(
        key=stored_key(dataset, values[dataset.key_field], keys),
        data=data,
        blind=blind or None,
        hash=content_hash(values),
    )


def unseal(dataset: Dataset, data: Mapping[str, Any], keys: FieldKeys) -> dict[str, Any]:
    out = dict(data)
    for name, value in data.items():
        if is_envelope(value):
            out[name] = keys.decrypt(value, aad_for(dataset.code, name))
    return out


async def write_records(
    session: AsyncSession,
    dataset: Dataset,
    rows: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
    *,
    source: str,
    keys: FieldKeys,
    reject_invalid: bool = False,
    chunk_size: int | None = None,
    track_keys: bool = True,
    outbox: bool = False,
) -> WriteResult:
    """Validate, dedupe by key (last wins), and store what changed, in the caller's
    transaction, set-based (``catalog.bulk_write``). Raises InvalidInput naming the first
    invalid row's position unless ``reject_invalid``, which returns such rows in
    ``result.rejected`` (for the caller to quarantine) and writes the others. ``outbox``
    announces every new version in ``search_outbox`` in the same transaction."""
    # Imported here: bulk_write builds on this module's sealing and hashing.
    from catalog.bulk_write import CHUNK, bulk_write

    return await bulk_write(
        session,
        dataset,
        rows,
        source=source,
        keys=keys,
        reject_invalid=reject_invalid,
        chunk_size=chunk_size or CHUNK,
        track_keys=track_keys,
        outbox=outbox,
    )


async def correct_record(
    session: AsyncSession,
    principal: Principal,
    dataset: Dataset,
    key: str,
    changes: Mapping[str, Any],
    reason: str,
    keys: FieldKeys,
    request_id: str | None = None,
) -> RecordVersion:
    """An owner's correction: a new version with a reason, never an edit in place."""
    policy.require_owner(principal, dataset.owner_code, "correctRecord")
    if not reason.strip():
        raise InvalidInput("correctRecord: a reason is required")
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidInput("correctRecord: 'values' must be a non-empty object of field → value")
    if dataset.key_field in changes:
        raise InvalidInput(
            f"correctRecord: the key field '{dataset.key_field}' cannot change; "
            "a different key is a different record"
        )
    skey = stored_key(dataset, key, keys)
    current = await session.scalar(
        select(Record)
        .where(Record.dataset_code == dataset.code, Record.key == skey, Record.deleted.is_(False))
        .with_for_update()
    )
    if current is None:
        raise NotFound(f"record '{key}' of dataset '{dataset.code}' does not exist")
    merged = {**unseal(dataset, current.data, keys), **changes}
    sealed = seal(dataset, normalise_record(dataset, merged), keys)
    if sealed.hash == current.hash:
        raise InvalidInput("correctRecord: the values are unchanged; nothing to correct")
    version = RecordVersion(
        dataset_code=dataset.code,
        key=skey,
        version=current.version + 1,
        data=sealed.data,
        blind=sealed.blind,
        hash=sealed.hash,
        source=f"correction by {principal.subject}",
        reason=reason.strip(),
        supersedes=current.version,
    )
    session.add(version)
    current.version += 1
    current.data = sealed.data
    current.blind = sealed.blind
    current.hash = sealed.hash
    current.updated_at = text("now()")  # type: ignore[assignment]
    await session.flush()
    # The new version reaches the search index through the outbox, as the sync engine's do.
    await session.execute(
        text("INSERT INTO search_outbox (dataset_code, key, version) VALUES (:c, :k, :v)"),
        {"c": dataset.code, "k": skey, "v": version.version},
    )
    await append_event(
        session,
        principal,
        EventDraft(
            "record.correct",
            dataset=dataset.code,
            keys=[skey],
            fields=sorted(changes),
            detail={
                "version": version.version,
                "supersedes": version.supersedes,
                "reason": reason.strip(),
            },
        ),
        request_id,
    )
    await session.refresh(version)
    return version


async def versions_of(
    session: AsyncSession, dataset: Dataset, skey: str, limit: int = 200
) -> list[RecordVersion]:
    rows = await session.scalars(
        select(RecordVersion)
        .where(RecordVersion.dataset_code == dataset.code, RecordVersion.key == skey)
        .order_by(RecordVersion.version.desc())
        .limit(limit)
    )
    return list(rows)


__all__ = [
    "Rejected",
    "Sealed",
    "WriteResult",
    "canonical_json",
    "content_hash",
    "correct_record",
    "seal",
    "stored_key",
    "unseal",
    "versions_of",
    "view_hash",
    "write_records",
]
