"""Every text of a submitted dataset definition, checked and NFC-normalised before any rule
reads it (``catalog.text``): a control character is refused naming its place, so no later
message echoes it and no query sends it to PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from catalog.specs import DatasetSpec, FieldSpec
from catalog.text import clean_line, clean_optional_line, clean_optional_text, clean_text


def clean_spec(spec: DatasetSpec) -> DatasetSpec:
    """``spec`` with its text in NFC; ``InvalidInput`` naming the first control character."""
    code = clean_line(spec.code, "dataset code")
    place = f"dataset '{code}'"
    return replace(
        spec,
        code=code,
        title=clean_line(spec.title, f"{place}: title"),
        sector=clean_line(spec.sector, f"{place}: sector"),
        key_field=clean_line(spec.key_field, f"{place}: keyField"),
        description=clean_optional_text(spec.description, f"{place}: description"),
        sensitivity=clean_line(spec.sensitivity, f"{place}: sensitivity"),
        entity_kind=clean_line(spec.entity_kind, f"{place}: entityKind"),
        update_frequency=clean_optional_line(spec.update_frequency, f"{place}: updateFrequency"),
        licence=clean_optional_line(spec.licence, f"{place}: licence"),
        legal_basis=clean_optional_text(spec.legal_basis, f"{place}: legalBasis"),
        reference_of=clean_optional_line(spec.reference_of, f"{place}: referenceOf"),
        steward=clean_optional_line(spec.steward, f"{place}: steward"),
        graphql_single=clean_optional_line(spec.graphql_single, f"{place}: graphqlSingle"),
        graphql_list=clean_optional_line(spec.graphql_list, f"{place}: graphqlList"),
        fields=tuple(_clean_field(f, i, code) for i, f in enumerate(spec.fields)),
    )


def _clean_field(spec: FieldSpec, index: int, code: str) -> FieldSpec:
    name = clean_line(spec.name, f"field #{index + 1} of dataset '{code}': name")
    place = f"field '{name}' of dataset '{code}'"
    values = spec.enum_values
    return replace(
        spec,
        name=name,
        type=clean_line(spec.type, f"{place}: type"),
        description=clean_optional_text(spec.description, f"{place}: description"),
        sensitivity=clean_line(spec.sensitivity, f"{place}: sensitivity"),
        pii_kind=clean_optional_line(spec.pii_kind, f"{place}: piiKind"),
        references=clean_optional_line(spec.references, f"{place}: references"),
        enum_values=None
        if values is None
        else tuple(clean_line(v, f"{place}: enumValues[{i}]") for i, v in enumerate(values)),
    )


def clean_reason(reason: str, action: str) -> str:
    """A free-text reason (deprecation, correction), checked and in NFC."""
    return clean_text(reason, f"{action}: reason")


__all__ = ["clean_reason", "clean_spec"]
