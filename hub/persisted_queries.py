"""Automatic persisted queries (the Apollo protocol): a client sends
``extensions.persistedQuery = {version: 1, sha256Hash}`` with or without the document; the hub
keeps documents it has seen by their hash, so later requests (GET links among them) carry the
hash alone. An unknown hash is ``NOT_FOUND`` with the message ``PersistedQueryNotFound``
(what Apollo's clients look for), and the client resends the document. Kept per process,
bounded by count and by bytes; a forgotten document costs the client one round trip, never a
wrong answer (the hash is checked before a document is kept). Documents are kept per caller:
a store shared by all would let anyone confirm, by sending a hash alone, that someone asked
for a given document (a citizen's id in a literal, say)."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import Any

from catalog.errors import InvalidInput, PersistedQueryNotFound

_SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedQueries:
    def __init__(self, max_documents: int = 5_000, max_bytes: int = 32 * 2**20) -> None:
        self._documents: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self.max_documents = max_documents
        self.max_bytes = max_bytes

    def resolve(
        self, caller: str, query: Any, extensions: dict[str, Any] | None
    ) -> tuple[str, str | None]:
        """The document to run, and the key to keep it under (for ``caller``) once it passed
        the size limits (None: nothing to keep — no hash sent, or it came from the store)."""
        wanted = (extensions or {}).get("persistedQuery")
        digest = None if wanted is None else _hash_of(wanted)
        if digest is not None and query is None:
            known = self._documents.get(_key(caller, digest))
            if known is None:
                raise PersistedQueryNotFound("PersistedQueryNotFound")
            self._documents.move_to_end(_key(caller, digest))
            return known, None
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("'query' must be a non-empty string")
        if digest is not None and hashlib.sha256(query.encode()).hexdigest() != digest:
            raise InvalidInput("extensions.persistedQuery.sha256Hash is not the query's SHA-256")
        return query, None if digest is None else _key(caller, digest)

    def remember(self, query: str, key: str | None) -> None:
        """Keep a document sent with its (checked) hash, under the key ``resolve`` gave."""
        if key is None:
            return
        if key in self._documents:
            self._documents.move_to_end(key)
            return
        self._documents[key] = query
        self._bytes += len(query)
        while len(self._documents) > self.max_documents or self._bytes > self.max_bytes:
            _, dropped = self._documents.popitem(last=False)
            self._bytes -= len(dropped)


def _key(caller: str, digest: str) -> str:
    return f"{caller}\x00{digest}"


def _hash_of(wanted: Any) -> str:
    if not isinstance(wanted, dict) or wanted.get("version") != 1:
        raise InvalidInput("extensions.persistedQuery must be {version: 1, sha256Hash: …}")
    digest = wanted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest.lower()):
        raise InvalidInput("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")
    return digest.lower()


__all__ = ["PersistedQueries"]
