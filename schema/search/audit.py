"""The audit of one search: every record hit served is a read (DESIGN.md §6).

Hits are noted as they are shaped; ``commit`` writes one ``record.read`` event per dataset
(``catalog.reads.read_events``, ``detail.via = "search"``) and the ledger rows behind
``corrections``, through the process's group-commit writer, and returns only once they are
committed: the answer leaves after its audit, never before.
"""

from __future__ import annotations

from collections import defaultdict

from catalog.reads import ReadItem, read_events
from schema.context import Context
from schema.records.reading import Shaped, View, purpose_error

VIA = "search"


class SearchReads:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.items: list[ReadItem] = []
        self.fields: dict[str, set[str]] = defaultdict(set)
        self.refused: dict[str, set[str]] = defaultdict(set)

    def served(self, view: View, stored_key: str, version: int, shaped: Shaped) -> None:
        self.items.append((view.code, stored_key, int(version)))
        self.fields[view.code] |= shaped.served
        if shaped.withheld:
            self.refused[view.code] |= shaped.withheld

    async def commit(self) -> None:
        if not self.items and not self.refused:
            return
        ctx = self.ctx
        events, ledger = read_events(
            ctx.principal,
            self.items,
            {code: sorted(names) for code, names in self.fields.items()},
            ctx.purpose,
            ctx.request_id,
            {code: sorted(names) for code, names in self.refused.items()},
        )
        for event in events:
            event["detail"] = {**(event["detail"] or {}), "via": VIA}
        await ctx.services.read_audit.write(events, ctx.principal.agency, ledger)
        for code, names in sorted(self.refused.items()):
            ctx.extra_errors.append(purpose_error(code, names))


__all__ = ["SearchReads"]
