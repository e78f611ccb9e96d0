"""Re-encryption after a field-key rotation, in small batches so a large store never holds a
long transaction, and resumable: a batch selects only values not yet under the active key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.crypto import FieldKeys, aad_for, is_envelope

BATCH = 500

_STALE = (
    "EXISTS (SELECT 1 FROM jsonb_each(data) e WHERE jsonb_typeof(e.value) = 'object' "
    "AND e.value ? '$enc' AND e.value->>'$enc' <> :kid)"
)


@dataclass
class RotationReport:
    records: int = 0
    versions: int = 0


async def reencrypt_batch(session: AsyncSession, keys: FieldKeys, table: str) -> int:
    """Re-encrypt up to BATCH rows of ``records`` or ``record_versions`` still under an old
    key; returns how many. The caller commits (one batch per transaction)."""
    if table not in ("records", "record_versions"):
        raise ValueError(table)
    id_columns = "dataset_code, key" + (", version" if table == "record_versions" else "")
    if table == "record_versions":
        # The append-only trigger lets exactly this through: same hash, new ciphertext.
        await session.execute(text("SET LOCAL hub.reencrypting = 'on'"))
    rows = (
        await session.execute(
            text(
                f"SELECT {id_columns}, data FROM {table} WHERE {_STALE} "
                "LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {"kid": keys.active_kid, "n": BATCH},
        )
    ).all()
    for row in rows:
        data = dict(row.data)
        for name, value in row.data.items():
            if is_envelope(value) and value["$enc"] != keys.active_kid:
                aad = aad_for(row.dataset_code, name)
                data[name] = keys.encrypt(keys.decrypt(value, aad), aad)
        where = "dataset_code = :d AND key = :k" + (
            " AND version = :v" if table == "record_versions" else ""
        )
        params: dict[str, object] = {"d": row.dataset_code, "k": row.key, "data": _json(data)}
        if table == "record_versions":
            params["v"] = row.version
        await session.execute(
            text(f"UPDATE {table} SET data = CAST(:data AS jsonb) WHERE {where}"), params
        )
    return len(rows)


def _json(data: dict[str, object]) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)


__all__ = ["RotationReport", "reencrypt_batch"]
