"""Per-request context: who is calling, why, and the handles resolvers may use.

Resolvers open short sessions from ``sessions``; an AsyncSession is unsafe across the
concurrent tasks in which sibling fields resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.principal import Principal


@dataclass
class Context:
    principal: Principal
    sessions: async_sessionmaker[AsyncSession]
    request_id: str
    purpose: str | None = None
    max_page_size: int = 100
    services: Any = None
    loaders: dict[str, Any] = field(default_factory=dict)
    # Errors found outside graphql-core's execution (e.g. fields cut by policy in compiled
    # results), appended to the response's errors.
    extra_errors: list[dict[str, Any]] = field(default_factory=list)

    def loader(self, name: str, factory: Any) -> Any:
        """One dataloader of each kind per request, made on first use."""
        if name not in self.loaders:
            self.loaders[name] = factory(self)
        return self.loaders[name]


__all__ = ["Context"]
