"""From a source row to what the engine needs before the record store sees it: the record
(dataset field -> source value), its stored key, a digest of the raw values, the soft-delete
flag and the cursor value.

The digest covers the mapped raw values and a salt naming the dataset's field rules and the
mapping, so a row read again unchanged is recognised without validating it again; any change
to the fields, the mapping or the rules (``RULES``) changes every digest and sends every row
through validation once more.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from operator import itemgetter
from typing import Any

from catalog.crypto import FieldKeys
from catalog.errors import InvalidInput
from catalog.models import Dataset
from catalog.values import value_converter

# Bump when catalog.values changes what it stores for the same input.
RULES = "values-1"
_TRUE = frozenset({"true", "1", "yes", "y", "t", "x", "có", "co", "deleted"})


@dataclass(frozen=True, slots=True)
class RowPlan:
    """How one connector's rows become records, worked out once per run."""

    dataset: Dataset  # a detached view (catalog.bulk_write.detached_view)
    mapping: dict[str, str] | None  # field -> column; None: the row's keys are field names
    cursor: str | None
    soft_delete: str | None
    salt: bytes
    keys: FieldKeys

    @property
    def key_column(self) -> str:
        key = self.dataset.key_field
        return key if self.mapping is None else self.mapping[key]


def make_plan(
    view: Dataset,
    mapping: Mapping[str, str] | None,
    keys: FieldKeys,
    *,
    cursor: str | None = None,
    soft_delete: str | None = None,
) -> RowPlan:
    rules = [
        (f.name, f.type, f.required, f.pii_kind, f.encrypted, list(f.enum_values or ()))
        for f in view.fields
    ]
    salt = json.dumps(
        [RULES, view.code, view.key_field, rules, sorted((mapping or {}).items()), soft_delete],
        ensure_ascii=False,
    ).encode("utf-8")
    return RowPlan(view, dict(mapping) if mapping else None, cursor, soft_delete, salt, keys)


def record_of(plan: RowPlan, values: Mapping[str, Any]) -> dict[str, Any]:
    """The record to validate: mapped fields with their source values (missing column: None)."""
    if plan.mapping is None:
        return dict(values)
    return {field: values.get(column) for field, column in plan.mapping.items()}


def digest_columns(plan: RowPlan) -> list[str]:
    """The source columns a row digest covers: the mapped ones and the soft-delete flag."""
    columns = list(dict.fromkeys([*(plan.mapping or {}).values(), plan.soft_delete or ""]))
    return [c for c in columns if c]


def source_salt(plan: RowPlan) -> str:
    """The salt of digests computed by a source server (its own namespace: a source's text
    form of a row is not Python's repr, so the two kinds never compare equal). The plan's salt
    enters as its own MD5: the server hashes it with every row, so it is kept short."""
    return "source-row-2|" + hashlib.md5(plan.salt, usedforsecurity=False).hexdigest()


class Digester:
    """Digest of a row's mapped raw values (and soft-delete flag): 16 bytes of MD5 over the
    salt and the values' repr. Not a security boundary: a changed row with a colliding digest
    would need a collision in the source's own data. A row the source server digested
    (``SourceRow.digest``) keeps that digest."""

    def __init__(self, plan: RowPlan) -> None:
        self._columns = digest_columns(plan)
        self._get = itemgetter(*self._columns) if self._columns else None
        self._salt = plan.salt

    def __call__(self, values: Mapping[str, Any]) -> bytes:
        try:
            picked = self._get(values) if self._get is not None else ()
        except KeyError:
            picked = tuple(values.get(c) for c in self._columns)
        digest = hashlib.md5(self._salt, usedforsecurity=False)
        digest.update(repr(picked).encode("utf-8", "surrogatepass"))
        return digest.digest()


def key_normaliser(plan: RowPlan) -> Any:
    """``stored_key`` bound to the plan's key field, looked up once."""
    view = plan.dataset
    field = next(f for f in view.fields if f.name == view.key_field)
    convert = value_converter(field, view.code)
    blind = plan.keys.blind if field.encrypted else None

    def key_of(raw: Any) -> str | None:
        if raw is None:
            return None
        try:
            value = convert(raw)
        except InvalidInput:
            return None
        text = str(value)
        if not text.strip():
            return None
        return blind(text) if blind is not None else text

    return key_of


def is_deleted(value: Any) -> bool:
    """A soft-delete column's value as a flag: true, 1, yes, x, a non-zero number."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    if isinstance(value, datetime | date):
        return True  # a deletion time
    return str(value).strip().casefold() in _TRUE


def cursor_json(value: Any) -> Any:
    """A cursor value as stored in ``connectors.cursor`` (JSON): numbers and text as they
    are, times as ISO 8601 text (adapters compare text cursors as the column's own type)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    """A source row for the quarantine's JSON column: odd types as text."""
    text = json.dumps(dict(values), default=str, ensure_ascii=False)
    # PostgreSQL's jsonb refuses NUL; the row is kept to be read by a person, not re-parsed.
    return json.loads(text.replace("\\u0000", "\\ufffd"))


__all__ = [
    "RULES",
    "Digester",
    "RowPlan",
    "cursor_json",
    "digest_columns",
    "is_deleted",
    "jsonable",
    "key_normaliser",
    "make_plan",
    "record_of",
    "source_salt",
]
