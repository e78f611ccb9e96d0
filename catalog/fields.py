"""Validation of field definitions. Rules are plain functions over specs; messages name the
dataset, the field and the bad value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from catalog.errors import InvalidInput, SecretDataRefused
from catalog.naming import GENERATED_OBJECT_FIELDS, SNAKE_CASE, camel, reference_name
from catalog.specs import FIELD_TYPES, PII_KINDS, SENSITIVITIES, FieldSpec

SECRET_MARKS = frozenset({"SECRET", "MAT", "TOI_MAT", "TUYET_MAT"})
_FILTERABLE_TYPES = frozenset(
    {"string", "int", "decimal", "bool", "date", "datetime", "enum", "reference"}
)


def refuse_secret(sensitivity: str, place: str) -> None:
    """002 Điều 12.7: secret data (mật, tối mật, tuyệt mật) is never exchanged electronically."""
    if sensitivity.upper() in SECRET_MARKS:
        raise SecretDataRefused(
            f"{place} is marked {sensitivity}: secret data is never exchanged electronically "
            "(Quyết định 002, Điều 12.7); remove it from the dataset"
        )


def validate_field(spec: FieldSpec, dataset_code: str) -> None:
    place = f"field '{spec.name}' of dataset '{dataset_code}'"
    if not SNAKE_CASE.fullmatch(spec.name) or len(spec.name) > 63:
        raise InvalidInput(f"{place}: name must be snake_case (a-z, 0-9, _), got {spec.name!r}")
    refuse_secret(spec.sensitivity, place)
    if spec.sensitivity not in SENSITIVITIES:
        raise InvalidInput(
            f"{place}: sensitivity must be one of {', '.join(SENSITIVITIES)}, "
            f"got {spec.sensitivity!r}"
        )
    if spec.type not in FIELD_TYPES:
        raise InvalidInput(
            f"{place}: type must be one of {', '.join(FIELD_TYPES)}, got {spec.type!r}"
        )
    if spec.pii_kind is not None and spec.pii_kind not in PII_KINDS:
        raise InvalidInput(
            f"{place}: piiKind must be one of {', '.join(PII_KINDS)}, got {spec.pii_kind!r}"
        )
    if spec.type == "enum":
        values = spec.enum_values or ()
        if not values:
            raise InvalidInput(f"{place}: an enum field needs enumValues")
        if len(set(values)) != len(values) or any(not v.strip() for v in values):
            raise InvalidInput(f"{place}: enumValues must be distinct and non-empty")
    elif spec.enum_values:
        raise InvalidInput(f"{place}: enumValues is only for fields of type enum")
    if spec.type == "reference" and not spec.references:
        raise InvalidInput(f"{place}: a reference field must name the dataset it references")
    if spec.references and spec.type != "reference":
        raise InvalidInput(f"{place}: references is only for fields of type reference")
    if spec.filterable and spec.type not in _FILTERABLE_TYPES:
        raise InvalidInput(f"{place}: a {spec.type} field cannot be filterable")
    if spec.encrypted and spec.type not in ("string", "reference"):
        raise InvalidInput(f"{place}: only string and reference fields can be encrypted")
    if spec.encrypted and spec.searchable:
        raise InvalidInput(
            f"{place}: an encrypted field cannot be searchable (its plaintext never reaches "
            "the search index)"
        )


def validate_field_list(fields: Sequence[FieldSpec], dataset_code: str) -> None:
    if not fields:
        raise InvalidInput(f"dataset '{dataset_code}': at least one field is required")
    if len(fields) > 200:
        raise InvalidInput(f"dataset '{dataset_code}': at most 200 fields, got {len(fields)}")
    seen: set[str] = set()
    for spec in fields:
        validate_field(spec, dataset_code)
        if spec.name in seen:
            raise InvalidInput(f"dataset '{dataset_code}': field '{spec.name}' is defined twice")
        seen.add(spec.name)


class NamedField(Protocol):
    """A field as a spec or a stored row: what its GraphQL names depend on."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def references(self) -> str | None: ...


def check_exposed_names(
    fields: Sequence[NamedField],
    dataset_code: str,
    target_keys: Mapping[str, str],
    reverse_lists: Mapping[str, str] | None = None,
) -> None:
    """Every field of the dataset's generated type keeps a GraphQL name of its own.

    Value fields are exposed in camelCase (``x_1`` and ``x1`` both as ``x1``), reference fields
    also under their reference name (``holder_tax_code`` → ``holder``; ``target_keys`` maps a
    referenced dataset to its key field), and the hub adds ``history`` and ``__typename``, and
    the reverse lists of datasets that reference this one (``reverse_lists``: GraphQL name →
    referencing dataset). A name taken twice would silently hide one of them, so it is refused
    with both names.
    """
    place = f"dataset '{dataset_code}'"
    taken: dict[str, str] = {}
    for f in fields:
        exposed = camel(f.name)
        _claim(taken, exposed, f"field '{f.name}'", place)
    for f in fields:
        target = (f.references or "").partition(".")[0]
        if f.type != "reference" or target not in target_keys:
            continue
        exposed = reference_name(f.name, target_keys[target])
        _claim(taken, exposed, f"reference field '{f.name}'", place)
    for exposed, child in (reverse_lists or {}).items():
        if exposed in taken:
            raise InvalidInput(
                f"{place}: {taken[exposed]} would be exposed in GraphQL as '{exposed}', the "
                f"list of dataset '{child}' records that reference this one; rename the field"
            )


def _claim(taken: dict[str, str], exposed: str, what: str, place: str) -> None:
    if exposed in GENERATED_OBJECT_FIELDS:
        raise InvalidInput(
            f"{place}: {what} would be exposed in GraphQL as '{exposed}', a field the hub "
            "generates on every record type; rename the field"
        )
    if exposed in taken:
        raise InvalidInput(
            f"{place}: {taken[exposed]} and {what} would both be exposed in GraphQL as "
            f"'{exposed}'; rename one of them"
        )
    taken[exposed] = what


__all__ = [
    "SECRET_MARKS",
    "NamedField",
    "check_exposed_names",
    "refuse_secret",
    "validate_field",
    "validate_field_list",
]
