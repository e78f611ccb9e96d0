"""Automatic persisted queries (the Apollo protocol): a client sends
``extensions.persistedQuery = {version: 1, sha256Hash}`` with or without the document; the hub
keeps documents it has seen by their hash, so later requests (GET links among them) carry the
hash alone. An unknown hash is ``NOT_FOUND`` with the message ``PersistedQueryNotFound``
(what Apollo's clients look for), and the client resends the document. Kept per process,
bounded by count and by bytes; a forgotten document costs the client one round trip, never a
wrong answer (the hash is checked before a document is kept)."""

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

    def resolve(self, query: Any, extensions: dict[str, Any] | None) -> tuple[str, str | None]:
        """The document to run, and the hash to keep it under once it passed the size
        limits (None: nothing to keep — no hash sent, or the document came from the store)."""
        wanted = (extensions or {}).get("persistedQuery")
        digest = None if wanted is None else _hash_of(wanted)
        if digest is not None and query is None:
            known = self._documents.get(digest)
            if known is None:
                raise PersistedQueryNotFound("PersistedQueryNotFound")
            self._documents.move_to_end(digest)
            return known, None
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("'query' must be a non-empty string")
        if digest is not None and hashlib.sha256(query.encode()).hexdigest() != digest:
            raise InvalidInput("extensions.persistedQuery.sha256Hash is not the query's SHA-256")
        return query, digest

    def remember(self, query: str, digest: str | None) -> None:
        """Keep a document sent with its (checked) hash."""
        if digest is None:
            return
        if digest in self._documents:
            self._documents.move_to_end(digest)
            return
        self._documents[digest] = query
        self._bytes += len(query)
        while len(self._documents) > self.max_documents or self._bytes > self.max_bytes:
            _, dropped = self._documents.popitem(last=False)
            self._bytes -= len(dropped)


def _hash_of(wanted: Any) -> str:
    if not isinstance(wanted, dict) or wanted.get("version") != 1:
        raise InvalidInput("extensions.persistedQuery must be {version: 1, sha256Hash: …}")
    digest = wanted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest.lower()):
        raise InvalidInput("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")
    return digest.lower()


__all__ = ["PersistedQueries"]
