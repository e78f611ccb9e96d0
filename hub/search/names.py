"""Names of the hub's search indices and aliases (DESIGN.md §8).

Readers and writers only ever name an alias: ``{prefix}records-{dataset}`` per dataset and
``{prefix}catalogue``. Behind each alias stands one concrete index ``{alias}-{n}``; a reindex
builds ``{alias}-{n+1}`` and moves the alias in one ``_aliases`` call (remove + add), so a
search never finds the alias missing or pointing at a half-built index.
"""

from __future__ import annotations

import re

# The first concrete index of an alias; made by whichever indexer or reindex gets there first
# (a fixed name, so two processes racing to create it collide instead of making two).
FIRST_GENERATION = 1


def record_alias(prefix: str, dataset_code: str) -> str:
    """The alias searched and written for the records of ``dataset_code``."""
    return f"{prefix}records-{dataset_code}"


def catalogue_alias(prefix: str) -> str:
    """The alias of the catalogue entries (one document per dataset)."""
    return f"{prefix}catalogue"


def records_pattern(prefix: str) -> str:
    """Wildcard matching every record alias and concrete record index of ``prefix``."""
    return f"{prefix}records-*"


def template_name(prefix: str) -> str:
    """The index template that gives every index of ``prefix`` the hub's analyzers."""
    return f"{prefix}analysis"


def concrete_index(alias: str, generation: int) -> str:
    """The concrete index of ``alias`` built by reindex number ``generation``."""
    return f"{alias}-{generation}"


def generation_of(alias: str, index: str) -> int | None:
    """The generation of ``index`` if it is a concrete index of ``alias``, else None.

    A dataset code may itself end in ``-<digits>``, so only the one suffix after the exact
    alias counts: ``hub-records-a-1`` is generation 1 of ``hub-records-a``, not of
    ``hub-records-a-1``'s own alias."""
    match = re.fullmatch(re.escape(alias) + r"-(\d{1,18})", index)
    return int(match.group(1)) if match else None


__all__ = [
    "FIRST_GENERATION",
    "catalogue_alias",
    "concrete_index",
    "generation_of",
    "record_alias",
    "records_pattern",
    "template_name",
]
