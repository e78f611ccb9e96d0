"""What the hub sends to the search index: index settings, mappings and documents, as pure
functions of the catalogue and stored rows (no I/O). The query side (``hub.search.query``)
reads these names; change them together.

Record documents (one index per dataset, ``_id`` = the stored key)::

    {"_key": <stored key>, "_record_version": <record version>, "_dataset": <code>,
     "_sector": <sector>, "v": {<field>: <stored canonical value>, ...}}

The record version is ``_record_version``, not ``_version``: OpenSearch refuses a source
field named like its metadata field (``mapper_parsing_exception``). The hit's own
``_version`` (asked with ``"version": true``) is the same number: documents are written with
the record version as their external version.

Invariant: ``v`` holds only ``indexable_fields``: never an encrypted field (its stored value
is ciphertext, and its plaintext must not leave PostgreSQL), never a RESTRICTED field (002
Điều 12: restricted data is read only through the typed API, audited), never a ``json``
field (free-form structure has no mapping). A deleted record has no document.

Catalogue documents (``_id`` = dataset code): every dataset whatever its status — DRAFT and
SUBMITTED ones included — carrying ``_status`` and ``_owner`` so that the query side applies
the catalogue's visibility rule (``catalog.policy.can_see_dataset``: published and deprecated
datasets for everyone, drafts for their owner and stewards) as a filter, exactly as the
catalogue API does. Indexing every dataset keeps one rule in one place (the policy) instead
of a second copy in the indexer, and a status change is one document update.

Outbox convention (``search_outbox``): a record version is ``(dataset_code, key, version)``;
a catalogue change is ``(dataset_code, key='', version=<dataset version>)`` — no stored key is
empty (a key field is required and non-empty), so ``''`` cannot collide with a record.

Text is NFC-normalised here before it is sent: the analyzers have no ICU normaliser, so a
decomposed ``ầ`` would otherwise index as ``a`` + combining marks and match nothing.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.models import Dataset, DatasetField

# The outbox key of a catalogue entry (see the module docstring).
CATALOGUE_KEY = ""
# The source member holding the record version (see the module docstring).
RECORD_VERSION = "_record_version"

FOLDED_ANALYZER = "hub_vi_folded"
EXACT_ANALYZER = "hub_vi_exact"
# Keyword subfields of long text would exceed Lucene's 32 KB term limit; exact equality on
# values this long is not a use case (the full text stays searchable through ``text``).
KEYWORD_IGNORE_ABOVE = 2048

_TEXT_TYPES = frozenset({"string", "enum", "reference"})
_NOT_INDEXED_TYPES = frozenset({"json"})
_SHOWN_STATUSES = ("PUBLISHED", "DEPRECATED")


def index_settings() -> dict[str, Any]:
    """Settings of every hub index: the two Vietnamese analyzers.

    ``hub_vi_folded`` folds diacritics and đ/Đ (``asciifolding`` maps U+0111 to ``d``, measured
    on osmem-server and OpenSearch), so ``dat dai`` finds ``đất đai``; ``hub_vi_exact`` keeps
    them, so a query typed with diacritics can rank exact matches first."""
    return {
        "analysis": {
            "analyzer": {
                FOLDED_ANALYZER: {
                    "type": "custom",
                    "tokenizer": "standard",
                    "filter": ["lowercase", "asciifolding"],
                },
                EXACT_ANALYZER: {
                    "type": "custom",
                    "tokenizer": "standard",
                    "filter": ["lowercase"],
                },
            }
        }
    }


def is_indexable(field: DatasetField) -> bool:
    """Whether values of ``field`` may be sent to the search index (module invariant)."""
    return (
        not field.encrypted
        and field.sensitivity != "RESTRICTED"
        and field.type not in _NOT_INDEXED_TYPES
    )


def indexable_fields(dataset: Dataset) -> list[DatasetField]:
    """The fields of ``dataset`` whose values appear under ``v``, in catalogue order."""
    return [f for f in dataset.fields if is_indexable(f)]


def analysed_text() -> dict[str, Any]:
    """Mapping of searchable text: folded, with an ``exact`` (diacritics kept) subfield."""
    return {
        "type": "text",
        "analyzer": FOLDED_ANALYZER,
        "fields": {"exact": {"type": "text", "analyzer": EXACT_ANALYZER}},
    }


def field_mapping(field: DatasetField) -> dict[str, Any]:
    """Mapping of ``v.<field>``.

    searchable string/enum/reference: folded text + ``exact`` text + ``kw`` keyword;
    other string/enum/reference: keyword; int: long; decimal: double + ``kw`` keyword holding
    the canonical digit string (exact equality without float rounding); date, datetime: date;
    bool: boolean.

    A field neither searchable nor filterable is never matched, filtered (row filters name
    filterable fields only), sorted or counted by a search: it keeps its type but is not
    indexed (``index: false``, no doc values, no ``kw``), only carried in ``_source``.
    Measured on osmem-server: an indexed long costs ~10x a stored-only one."""
    mapping = _typed_mapping(field)
    if field.searchable or field.filterable:
        return mapping
    mapping.pop("fields", None)
    mapping.pop("ignore_above", None)
    return {**mapping, "index": False, "doc_values": False}


def is_queryable(field: DatasetField) -> bool:
    """Whether ``v.<field>`` is indexed (a search may match, filter or sort on it)."""
    return is_indexable(field) and (field.searchable or field.filterable)


def _typed_mapping(field: DatasetField) -> dict[str, Any]:
    kind = field.type
    if kind in _TEXT_TYPES:
        if field.searchable:
            mapping = analysed_text()
            mapping["fields"]["kw"] = {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
            return mapping
        return {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    if kind == "int":
        return {"type": "long"}
    if kind == "decimal":
        return {
            "type": "double",
            "fields": {"kw": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}},
        }
    if kind == "date":
        return {"type": "date", "format": "strict_date"}
    if kind == "datetime":
        return {"type": "date", "format": "strict_date_optional_time"}
    if kind == "bool":
        return {"type": "boolean"}
    raise ValueError(f"field '{field.name}' of dataset '{field.dataset_code}': type {kind!r}")


def record_mapping(dataset: Dataset) -> dict[str, Any]:
    """The mapping of ``dataset``'s record index. Undeclared members are kept out of the
    index (``dynamic: false``) rather than guessed."""
    return {
        "dynamic": False,
        "properties": {
            "_key": {"type": "keyword"},
            # Read from _source only: stored, not indexed (see field_mapping).
            RECORD_VERSION: {"type": "long", "index": False, "doc_values": False},
            "_dataset": {"type": "keyword"},
            "_sector": {"type": "keyword"},
            "v": {
                "dynamic": False,
                "properties": {f.name: field_mapping(f) for f in indexable_fields(dataset)},
            },
        },
    }


def record_document(dataset: Dataset, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The document of one stored record (a ``records`` row: ``key``, ``version``, ``data``,
    ``deleted``), or None when the record is deleted (its document is removed)."""
    if row["deleted"]:
        return None
    data: Mapping[str, Any] = row["data"] or {}
    values: dict[str, Any] = {}
    for field in indexable_fields(dataset):
        value = data.get(field.name)
        if value is None:
            continue
        shown = _index_value(field, value)
        if shown is not None:
            values[field.name] = shown
    return {
        "_key": row["key"],
        RECORD_VERSION: int(row["version"]),
        "_dataset": dataset.code,
        "_sector": dataset.sector,
        "v": values,
    }


def catalogue_mapping() -> dict[str, Any]:
    """The mapping of the catalogue index."""
    return {
        "dynamic": False,
        "properties": {
            "_dataset": {"type": "keyword"},
            "_sector": {"type": "keyword"},
            "_owner": {"type": "keyword"},
            "_status": {"type": "keyword"},
            "title": analysed_text(),
            "description": analysed_text(),
            "fields": analysed_text(),
        },
    }


def catalogue_document(dataset: Dataset) -> dict[str, Any]:
    """The catalogue entry of ``dataset`` (any status; see the module docstring)."""
    fields = [nfc(f"{f.name} {f.description}" if f.description else f.name) for f in dataset.fields]
    return {
        "_dataset": dataset.code,
        "_sector": dataset.sector,
        "_owner": dataset.owner_code,
        "_status": dataset.status,
        "title": nfc(dataset.title),
        "description": nfc(dataset.description or ""),
        "fields": fields,
    }


def has_record_index(dataset: Dataset) -> bool:
    """Whether ``dataset``'s records are indexed: once it is published (and while deprecated);
    a draft of a new version keeps the index of its published records."""
    return dataset.status in _SHOWN_STATUSES or dataset.version > 1


def nfc(text: str) -> str:
    """``text`` in Unicode NFC (what the analyzers expect; see the module docstring)."""
    return unicodedata.normalize("NFC", text)


def mapped_fields(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The ``v`` member mappings of a record index mapping (as built or as read back)."""
    properties = mapping.get("properties", {})
    values = properties.get("v", {}) if isinstance(properties, Mapping) else {}
    members = values.get("properties", {}) if isinstance(values, Mapping) else {}
    return dict(members) if isinstance(members, Mapping) else {}


def _index_value(field: DatasetField, value: Any) -> Any:
    kind = field.type
    if kind in _TEXT_TYPES:
        return nfc(str(value))
    if kind == "decimal":
        # Canonical digit strings; one OpenSearch cannot hold as a double (over ~1e308)
        # would fail the whole document, so it is left out of ``v`` instead.
        try:
            number = float(Decimal(str(value)))
        except (InvalidOperation, ValueError, OverflowError):
            return None
        return str(value) if math.isfinite(number) else None
    if kind == "bool":
        return bool(value)
    return value


__all__ = [
    "CATALOGUE_KEY",
    "EXACT_ANALYZER",
    "FOLDED_ANALYZER",
    "RECORD_VERSION",
    "analysed_text",
    "catalogue_document",
    "catalogue_mapping",
    "field_mapping",
    "has_record_index",
    "index_settings",
    "indexable_fields",
    "is_indexable",
    "is_queryable",
    "mapped_fields",
    "nfc",
    "record_document",
    "record_mapping",
]
