"""Field encryption at rest (AES-256-GCM) and blind indexes (HMAC-SHA256) (000 Điều 25).

An encrypted value is stored as ``{"$enc": kid, "n": nonce, "c": ciphertext}`` (base64); the
key id travels with the value so keys can rotate. The associated data binds a ciphertext to
its dataset and field, so a value cannot be moved to another column unnoticed. The blind index
is a keyed hash of the normalised plaintext: exact lookups without the plaintext in the
database, the search index or the logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from catalog.errors import HubError

ENVELOPE_MARK = "$enc"


class DecryptionFailed(HubError):
    """A stored ciphertext does not open with the key its id names (wrong or lost key)."""


@dataclass(frozen=True, slots=True)
class FieldKeys:
    keys: Mapping[str, bytes]
    active_kid: str
    blind_key: bytes

    def blind(self, value: str) -> str:
        normal = unicodedata.normalize("NFC", value).strip()
        return hmac.new(self.blind_key, normal.encode("utf-8"), hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: str, aad: str) -> dict[str, str]:
        nonce = os.urandom(12)
        cipher = AESGCM(self.keys[self.active_kid]).encrypt(
            nonce, plaintext.encode("utf-8"), aad.encode("utf-8")
        )
        return {ENVELOPE_MARK: self.active_kid, "n": _b64(nonce), "c": _b64(cipher)}

    def decrypt(self, envelope: Mapping[str, Any], aad: str) -> str:
        kid = envelope.get(ENVELOPE_MARK)
        key = self.keys.get(str(kid))
        if key is None:
            raise DecryptionFailed(f"no key '{kid}' in the keys file for {aad}")
        try:
            plain = AESGCM(key).decrypt(
                _unb64(envelope["n"]), _unb64(envelope["c"]), aad.encode("utf-8")
            )
        except (InvalidTag, KeyError, ValueError):
            raise DecryptionFailed(f"stored value of {aad} does not decrypt") from None
        return plain.decode("utf-8")


def is_envelope(value: object) -> bool:
    return isinstance(value, Mapping) and ENVELOPE_MARK in value


def aad_for(dataset: str, field: str) -> str:
    return f"{dataset}.{field}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


__all__ = ["DecryptionFailed", "FieldKeys", "aad_for", "is_envelope"]
