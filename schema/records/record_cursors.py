"""Cursors of the generic ``records`` list: the stored key of a record, in key order.

Invariant: a cursor never carries a key value the caller may not read. Where the key is
readable, or is stored as its blind index (an encrypted key field), the cursor holds the
stored key as the ``key`` shown; otherwise the key is sealed (AES-GCM, bound to the dataset),
so decoding the base64 of a cursor reveals nothing.
"""

from __future__ import annotations

from typing import Any

from catalog.crypto import DecryptionFailed, is_envelope
from catalog.errors import InvalidInput
from schema.pagination import decode_cursor, encode_cursor
from schema.records.reading import Shaped, View

_NOT_OURS = "argument 'after': not a cursor this hub issued"


def cursor_for(view: View, stored_key: str, shaped: Shaped) -> str:
    if view.dataset.key_field in shaped.served or shaped.key == stored_key:
        return encode_cursor(stored_key)
    keys = view.ctx.services.field_keys
    return encode_cursor(keys.encrypt(stored_key, _aad(view)))


def decode_after(after: str | None) -> str | dict[str, Any] | None:
    """The ``after`` argument's content, checked for form before any work is done."""
    if after is None:
        return None
    decoded = decode_cursor(after)
    if isinstance(decoded, str) or (isinstance(decoded, dict) and is_envelope(decoded)):
        return decoded
    raise InvalidInput(_NOT_OURS)


def open_after(view: View, decoded: str | dict[str, Any] | None) -> str | None:
    """The stored key to continue after; InvalidInput for a sealed key this hub did not seal
    for this dataset."""
    if decoded is None or isinstance(decoded, str):
        return decoded
    try:
        return view.ctx.services.field_keys.decrypt(decoded, _aad(view))
    except (DecryptionFailed, TypeError, AttributeError):
        raise InvalidInput(_NOT_OURS) from None


def _aad(view: View) -> str:
    return f"cursor:{view.code}"


__all__ = ["cursor_for", "decode_after", "open_after"]
