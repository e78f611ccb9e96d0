"""Index management and bulk writes against OpenSearch (or osmem-server).

Every write goes through ``send_bulk``: record documents carry their record version as an
external version, so an older version arriving late (another process's batch, a reindex's
copy) is refused by the server (409) instead of overwriting a newer one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError, RequestError

from hub.search.documents import index_settings
from hub.search.names import FIRST_GENERATION, concrete_index, generation_of, template_name

log = logging.getLogger(__name__)

# Largest bulk request body: OpenSearch refuses bodies over http.max_content_length (100 MB by
# default); a batch of long texts is split well below it.
MAX_BULK_BYTES = 16 * 1024 * 1024
#: ``item_outcome`` of an item the server could not take now (overload, server error, an
#: index gone missing): the batch is delivered again.
RETRY = "retry"
# Field values the server quotes in its reasons: cut before a reason is stored or logged.
_VALUE_IN_REASON = re.compile(r"[.;,]?\s*(Preview of field's value|The prefix of the first)", re.I)


class BulkRetry(Exception):
    """Some items of a bulk request failed in a way worth retrying (overload, server error,
    an index that went missing); the batch is delivered again."""


@dataclass(slots=True)
class Bulk:
    """Lines of one ``_bulk`` request, built cheaply (orjson) and sent at once."""

    lines: list[bytes] = field(default_factory=list)
    count: int = 0

    def index(
        self,
        index: str,
        doc_id: str,
        doc: Mapping[str, Any],
        version: int | None,
        *,
        is_alias: bool = True,
    ) -> None:
        """Index ``doc``. Writes to an alias require it (``require_alias``): an alias gone
        missing must fail the item (retried after the alias is made again), not auto-create
        a concrete index under its name that no reindex could replace."""
        meta: dict[str, Any] = {"_index": index, "_id": doc_id}
        if is_alias:
            meta["require_alias"] = True
        if version is not None:
            meta["version"] = version
            meta["version_type"] = "external"
        self.lines.append(orjson.dumps({"index": meta}))
        self.lines.append(orjson.dumps(doc))
        self.count += 1

    def delete(self, index: str, doc_id: str, version: int | None) -> None:
        meta: dict[str, Any] = {"_index": index, "_id": doc_id}
        if version is not None:
            meta["version"] = version
            meta["version_type"] = "external"
        self.lines.append(orjson.dumps({"delete": meta}))
        self.count += 1

    def bodies(self, max_bytes: int = MAX_BULK_BYTES) -> list[bytes]:
        """The request bodies: one unless the lines exceed ``max_bytes`` (an action and its
        document always travel together)."""
        return [body for body, _actions in self.requests(max_bytes)]

    def requests(self, max_bytes: int = MAX_BULK_BYTES) -> list[tuple[bytes, int]]:
        """The request bodies with the number of actions each carries, in order (a bulk
        response has one item per action)."""
        out: list[tuple[bytes, int]] = []
        current: list[bytes] = []
        size = actions = 0
        i = 0
        while i < len(self.lines):
            # An index action is followed by its document; a delete stands alone.
            step = 2 if self.lines[i].startswith(b'{"index"') else 1
            item = self.lines[i : i + step]
            item_size = sum(len(line) + 1 for line in item)
            if current and size + item_size > max_bytes:
                out.append((b"\n".join(current) + b"\n", actions))
                current, size, actions = [], 0, 0
            current.extend(item)
            size += item_size
            actions += 1
            i += step
        if current:
            out.append((b"\n".join(current) + b"\n", actions))
        return out


def item_outcome(item: Mapping[str, Any]) -> str | None:
    """One item of a bulk response: None when it is done (indexed, deleted, a newer version
    already there, a delete of an absent document), ``RETRY`` when the server could not take
    it now, else the reason the item itself was refused (without the field value the server
    may quote)."""
    op, result = next(iter(item.items()))
    status = int(result.get("status", 500))
    if status < 300 or status == 409 or (op == "delete" and status == 404):
        return None
    error = result.get("error")
    kind = str(error.get("type")) if isinstance(error, dict) else str(error)
    if status == 429 or status >= 500 or kind == "index_not_found_exception":
        return RETRY
    detail = error.get("reason") if isinstance(error, dict) else None
    reason = f"{status} {kind}"
    if detail:
        reason += f": {_VALUE_IN_REASON.split(str(detail), maxsplit=1)[0]}"
    return reason


async def send_bulk(client: AsyncOpenSearch, bulk: Bulk, *, refresh: bool = False) -> int:
    """Send ``bulk``; the number of items the index refused for good (logged, by id only:
    a bad document must not stall the outbox). Version conflicts (a newer version is there)
    and deletes of absent documents are successes. Raises BulkRetry for retryable item
    failures, and the client's errors when the request itself fails."""
    if not bulk.count:
        return 0
    items: list[dict[str, Any]] = []
    for body in bulk.bodies():
        response = await client.bulk(body=body, params={"refresh": "true"} if refresh else {})
        if response.get("errors"):
            items.extend(response.get("items", []))
    refused = 0
    retry = 0
    for item in items:
        outcome = item_outcome(item)
        if outcome is None:
            continue
        if outcome == RETRY:
            retry += 1
            continue
        refused += 1
        op, result = next(iter(item.items()))
        log.warning(
            "search index refused %s of %s/%s (%s)",
            op,
            result.get("_index"),
            result.get("_id"),
            outcome.split(":")[0],  # status and kind, not the server's message
        )
    if retry:
        raise BulkRetry(f"{retry} bulk item(s) failed; the batch is sent again")
    return refused


async def ensure_template(client: AsyncOpenSearch, prefix: str) -> None:
    """The index template giving every index of ``prefix`` the hub's analyzers, so even an
    index made by accident (a write to a missing alias) analyses Vietnamese text."""
    await client.indices.put_index_template(
        name=template_name(prefix),
        body={"index_patterns": [f"{prefix}*"], "template": {"settings": index_settings()}},
    )


async def create_index(
    client: AsyncOpenSearch, index: str, mapping: Mapping[str, Any], alias: str | None = None
) -> bool:
    """Create ``index`` (with ``alias`` pointing at it, when given); False if it exists."""
    body: dict[str, Any] = {"settings": index_settings(), "mappings": dict(mapping)}
    if alias is not None:
        body["aliases"] = {alias: {}}
    try:
        await client.indices.create(index=index, body=body)
    except RequestError as error:
        if error.error == "resource_already_exists_exception":
            return False
        raise
    return True


async def ensure_alias(client: AsyncOpenSearch, alias: str, mapping: Mapping[str, Any]) -> None:
    """Make ``alias`` exist, creating its first concrete index if there is none; two
    processes racing here collide on the fixed first name and both end with one index."""
    if await client.indices.exists_alias(name=alias):
        return
    first = concrete_index(alias, FIRST_GENERATION)
    # When it exists (another process made it a moment ago, or a reindex has not swapped
    # yet), the alias is pointed at it unless something points it elsewhere meanwhile.
    created = await create_index(client, first, mapping, alias)
    if not created and not await client.indices.exists_alias(name=alias):
        await client.indices.put_alias(index=first, name=alias)


async def generations(client: AsyncOpenSearch, alias: str) -> dict[str, bool]:
    """Concrete indices of ``alias``: name → whether the alias points at it."""
    try:
        found = await client.indices.get(index=f"{alias}-*")
    except NotFoundError:
        return {}
    return {
        name: alias in (info.get("aliases") or {})
        for name, info in found.items()
        if generation_of(alias, name) is not None
    }


async def current_mapping(client: AsyncOpenSearch, alias: str) -> dict[str, Any] | None:
    """The mapping of the index ``alias`` points at, or None when there is no alias."""
    try:
        found = await client.indices.get_mapping(index=alias)
    except NotFoundError:
        return None
    for info in found.values():
        mappings = info.get("mappings")
        return dict(mappings) if isinstance(mappings, Mapping) else {}
    return None


async def swap_alias(
    client: AsyncOpenSearch, alias: str, new_index: str, old_indices: Iterable[str]
) -> None:
    """Point ``alias`` at ``new_index`` only, in one atomic ``_aliases`` call."""
    actions: list[dict[str, Any]] = [
        {"remove": {"index": old, "alias": alias}} for old in old_indices
    ]
    actions.append({"add": {"index": new_index, "alias": alias}})
    await client.indices.update_aliases(body={"actions": actions})


__all__ = [
    "RETRY",
    "Bulk",
    "BulkRetry",
    "create_index",
    "current_mapping",
    "ensure_alias",
    "ensure_template",
    "generations",
    "item_outcome",
    "send_bulk",
    "swap_alias",
]
