"""One caller's view of record data, and the ledger of what one request served.

``View.shape`` is the only way the generic resolvers turn stored data into values: decrypt,
drop the record when no access rule sees it (no existence oracle), keep the fields its
matching rules name, and withhold RESTRICTED fields when a non-owner states no purpose.
``ReadLedger`` collects every record served by the resolvers of one request and, when the
last of them finishes, writes one audit event per dataset (``catalog.reads``) and adds the
purpose errors; every resolver involved waits for that write, so no data leaves unaudited.
"""

from __future__ import annotations

import asyncio
import contextlib
import unicodedata
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from catalog.access import Access
from catalog.models import Dataset
from catalog.reads import (
    Asked,
    ReadItem,
    asked_key,
    filter_shape,
    is_dataset_code,
    record_reads,
)
from catalog.records import stored_key, unseal
from catalog.values import VIETNAM
from schema.context import Context


@dataclass(frozen=True, slots=True)
class Shaped:
    """A record as the caller may see it."""

    key: str  # plaintext key where readable, else its blind index (``View.opaque_key``)
    values: dict[str, Any]
    served: frozenset[str]
    withheld: frozenset[str]  # readable with a purpose, none given


@dataclass(frozen=True, slots=True)
class View:
    """The caller's access to one dataset in one request."""

    ctx: Context
    dataset: Dataset
    access: Access

    @property
    def code(self) -> str:
        return self.dataset.code

    @property
    def needs_purpose(self) -> bool:
        return self.access.purpose_required and self.ctx.purpose is None

    def withheld_of(self, fields: frozenset[str]) -> frozenset[str]:
        """Those of ``fields`` a missing purpose withholds."""
        return fields & self.access.restricted if self.needs_purpose else frozenset()

    def shape(self, stored_key: str, data: Any) -> Shaped | None:
        """None when no rule of the caller sees this record."""
        values = self._values(data)
        if not self.access.sees(values):
            return None
        allowed = self.access.fields_for(values)
        withheld = self.withheld_of(allowed)
        served = allowed - withheld
        shown = {name: value for name, value in values.items() if name in served}
        key_field = self.dataset.key_field
        key = str(shown[key_field]) if key_field in shown else self.opaque_key(stored_key)
        return Shaped(key, shown, frozenset(served), withheld)

    def readable(self, data: Any) -> dict[str, Any] | None:
        """Values the caller's rules let it read on this record, whether or not it stated a
        purpose; None when no rule sees the record."""
        values = self._values(data)
        if not self.access.sees(values):
            return None
        allowed = self.access.fields_for(values)
        return {name: value for name, value in values.items() if name in allowed}

    def _values(self, data: Any) -> dict[str, Any]:
        raw = orjson.loads(data) if isinstance(data, str | bytes) else data
        return unseal(self.dataset, raw, self.ctx.services.field_keys)

    def opaque_key(self, stored_key: str) -> str:
        """What stands for a key the caller may not read: its blind index (the stored key
        when the key field is encrypted), never the value itself."""
        key_field = next(f for f in self.dataset.fields if f.name == self.dataset.key_field)
        return stored_key if key_field.encrypted else self.ctx.services.field_keys.blind(stored_key)


class ReadLedger:
    """What the record resolvers of one request served; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.reads: list[ReadItem] = []
        self.fields: dict[str, set[str]] = defaultdict(set)
        self.refused: dict[str, set[str]] = defaultdict(set)
        self.asked: dict[str, list[str]] = defaultdict(list)  # dataset → keys as asked
        self.listed: dict[str, list[dict[str, Any]]] = defaultdict(list)  # dataset → lists
        self._active = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._errors_sent: set[str] = set()

    def served(
        self,
        view: View,
        stored_key: str,
        version: int,
        shaped: Shaped,
        fields: frozenset[str] | None = None,
    ) -> None:
        """Note one record served; ``fields``: those it showed, when fewer than it may read."""
        self.reads.append((view.code, stored_key, int(version)))
        self.fields[view.code] |= shaped.served if fields is None else fields
        self.withheld(view, shaped.withheld)

    def withheld(self, view: View, fields: frozenset[str]) -> None:
        if fields:
            self.refused[view.code] |= fields

    @contextlib.asynccontextmanager
    async def open(
        self, ask: tuple[str, str] | None = None, listed: tuple[str, object] | None = None
    ) -> AsyncIterator[ReadLedger]:
        """Around one resolver: the last to leave writes the audit, the others wait for it.

        ``ask``: (dataset, key) of a single lookup; ``listed``: (dataset, filter) of a list.
        If they serve nothing, the audit still shows what was asked (a read of zero records:
        the key, or the filter's shape)."""
        self._active += 1
        if ask is not None:
            self.asked[ask[0]].append(ask[1])
        if listed is not None:
            self.listed[listed[0]].append({"filter": filter_shape(listed[1])})
        try:
            yield self
        finally:
            self._active -= 1
            await self._settle()

    async def _settle(self) -> None:
        if self._active:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
            return
        waiters, self._waiters = self._waiters, []
        try:
            await self._flush()
        except BaseException as exc:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            raise
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _flush(self) -> None:
        reads, fields, refused = self.reads, dict(self.fields), dict(self.refused)
        asked = self._asked(reads)
        self.reads, self.fields, self.refused = [], defaultdict(set), defaultdict(set)
        self.asked, self.listed = defaultdict(list), defaultdict(list)
        if not reads and not refused and not asked.keys and not asked.lists:
            return
        ctx = self.ctx
        async with ctx.sessions.begin() as session:
            await record_reads(
                session,
                ctx.principal,
                reads,
                {code: sorted(names) for code, names in fields.items()},
                ctx.purpose,
                ctx.request_id,
                {code: sorted(names) for code, names in refused.items()},
                asked,
            )
        for code, names in sorted(refused.items()):
            if code not in self._errors_sent:
                self._errors_sent.add(code)
                ctx.extra_errors.append(purpose_error(code, names))

    def _asked(self, reads: list[ReadItem]) -> Asked:
        """The keys asked, in audit form: as served where a record was served for them (by
        value, or by the blind index shown in place of an unreadable key), else as
        ``asked_key`` keeps a key asked in vain."""
        services = self.ctx.services
        served = {(code, key) for code, key, _version in reads}
        keys: dict[str, list[str]] = {}
        for code, given in self.asked.items():
            if not is_dataset_code(code):
                continue  # no dataset could have this name: nothing to tell its owner
            dataset = services.snapshot.datasets.get(code)
            keys[code] = []
            for key in given:
                plain = unicodedata.normalize("NFC", key).strip()  # as the lookup took it
                forms = [plain]
                if dataset is not None:
                    forms.append(stored_key(dataset, plain, services.field_keys))
                hit = next((form for form in forms if (code, form) in served), None)
                keys[code].append(
                    hit or asked_key(self.ctx.principal, dataset, key, services.field_keys)
                )
        lists = {code: shapes for code, shapes in self.listed.items() if is_dataset_code(code)}
        return Asked(keys=keys, lists=lists)


def aware(moment: datetime) -> datetime:
    """A moment without an offset is Vietnam time, as the province's systems write it."""
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM)


def purpose_error(dataset: str, fields: set[str] | frozenset[str]) -> dict[str, Any]:
    return {
        "message": f"reading RESTRICTED fields ({', '.join(sorted(fields))}) of dataset "
        f"'{dataset}' needs a purpose: send the X-Purpose header",
        "extensions": {"code": "BAD_USER_INPUT"},
    }


def ledger(ctx: Context) -> ReadLedger:
    found: ReadLedger = ctx.loader("record_read_ledger", ReadLedger)
    return found


async def view_of(ctx: Context, code: str, *, refresh: bool = True) -> View | None:
    """The caller's view of dataset ``code``; None when it is unknown, hidden from the caller
    or holds nothing the caller may read (one answer for all three: no existence oracle).

    ``refresh`` first checks the policy counters, so a revocation, even one made by another
    hub process, bites on the very next request."""
    services = ctx.services
    if refresh:
        await services.ensure_fresh()
    access: Access | None = await services.access_for(ctx, code)
    dataset = services.snapshot.datasets.get(code)
    if access is None or dataset is None or not access.allowed:
        return None
    return View(ctx, dataset, access)


__all__ = [
    "ReadLedger",
    "Shaped",
    "View",
    "aware",
    "ledger",
    "purpose_error",
    "view_of",
]
