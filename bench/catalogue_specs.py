"""A synthetic wide dataset, as the catalogue-change measurements use it (issue: 150 datasets
of 21 fields): bench/schema_publish.py times publishes with it, tests/test_schema_memory.py
checks memory after many of them."""

from __future__ import annotations

from catalog.specs import DatasetSpec, FieldSpec

TYPES = ("string", "int", "decimal", "date", "datetime", "bool", "enum")


def wide_dataset(i: int, prefix: str, sector: str, description: str) -> DatasetSpec:
    """21 fields: a key, 19 of assorted types (every other one filterable, every third
    INTERNAL), a reference to business; odd datasets PUBLIC (both schema variants rebuild),
    even ones INTERNAL."""
    fields = [FieldSpec("code", "string", True, "key", "PUBLIC", filterable=True)]
    for n in range(19):
        kind = TYPES[n % len(TYPES)]
        fields.append(
            FieldSpec(
                f"field_{n}",
                kind,
                False,
                f"field {n}",
                "PUBLIC" if n % 3 else "INTERNAL",
                filterable=n % 2 == 0,
                enum_values=("A", "B", "C") if kind == "enum" else None,
            )
        )
    fields.append(
        FieldSpec("holder_tax_code", "reference", False, "holder", "PUBLIC", references="business")
    )
    return DatasetSpec(
        code=f"{prefix}_{i:04d}",
        title=f"{prefix} {i}",
        sector=sector,
        key_field="code",
        fields=tuple(fields),
        description=description,
        sensitivity="PUBLIC" if i % 2 else "INTERNAL",
    )
