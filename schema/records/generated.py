"""Types generated from the published catalogue (DESIGN.md §10)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.models import Dataset


@dataclass
class GeneratedSchema:
    queries: list[type[Any]] = field(default_factory=list)
    mutations: list[type[Any]] = field(default_factory=list)
    planner: Any = None

    @classmethod
    def from_snapshot(cls, datasets: Sequence[Dataset]) -> GeneratedSchema:
        return cls()

    def fast_path(self, services: Any) -> Any:
        return None
