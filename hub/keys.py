"""The keys file: field-encryption keys, the blind-index key, the embedded issuer's signing
keys and the backup key. Kept apart from backups; created on first start with mode 0600.

Layout (JSON)::

    {"field_keys": [{"kid": "f-…", "key": "<b64 32 bytes>", "created": "…"}],
     "active_field_kid": "f-…",
     "blind_key": "<b64 32 bytes>",
     "signing_keys": [<private JWK with "kid", "alg", "use": "sig", "created">],
     "active_signing_kid": "s-…",
     "backup_key": "<b64 32 bytes>"}

Rotation adds a key and makes it active; old keys stay until nothing uses them, so values
encrypted and tokens signed before the rotation stay readable.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from catalog.crypto import FieldKeys


class KeysFileError(Exception):
    """The keys file is unreadable or malformed; the message names the file and the problem."""


@dataclass
class KeyStore:
    path: Path
    field_keys: dict[str, bytes] = field(default_factory=dict)
    active_field_kid: str = ""
    blind_key: bytes = b""
    signing_keys: list[dict[str, Any]] = field(default_factory=list)
    active_signing_kid: str = ""
    backup_key: bytes = b""

    @classmethod
    def load_or_create(cls, path: Path) -> KeyStore:
        if path.exists():
            return cls._load(path)
        store = cls(path=path)
        store.add_field_key()
        store.blind_key = secrets.token_bytes(32)
        store.add_signing_key()
        store.backup_key = secrets.token_bytes(32)
        store.save()
        return store

    @classmethod
    def _load(cls, path: Path) -> KeyStore:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            store = cls(
                path=path,
                field_keys={k["kid"]: _b64d(k["key"]) for k in raw["field_keys"]},
                active_field_kid=raw["active_field_kid"],
                blind_key=_b64d(raw["blind_key"]),
                signing_keys=list(raw["signing_keys"]),
                active_signing_kid=raw["active_signing_kid"],
                backup_key=_b64d(raw["backup_key"]) if "backup_key" in raw else b"",
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeysFileError(f"keys file {path}: cannot read it ({exc})") from None
        if len(store.backup_key) != 32:
            if store.backup_key:
                raise KeysFileError(f"keys file {path}: backup_key is not 32 bytes")
            # A keys file written without a backup key gets one; nothing was sealed with it yet.
            store.backup_key = secrets.token_bytes(32)
            store.save()
        return store

    def sealing_keys(self) -> FieldKeys:
        """The field-encryption view the record store needs (active key, all old ones, the
        blind-index key)."""
        return FieldKeys(dict(self.field_keys), self.active_field_kid, self.blind_key)

    def add_field_key(self) -> str:
        kid = "f-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(3)
        self.field_keys[kid] = secrets.token_bytes(32)
        self.active_field_kid = kid
        return kid

    def add_signing_key(self) -> str:
        kid = "s-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(3)
        key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})
        jwk = key.as_dict(private=True)
        jwk["created"] = datetime.now(UTC).isoformat()
        self.signing_keys.append(jwk)
        self.active_signing_kid = kid
        return kid

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "field_keys": [{"kid": k, "key": _b64e(v)} for k, v in self.field_keys.items()],
            "active_field_kid": self.active_field_kid,
            "blind_key": _b64e(self.blind_key),
            "signing_keys": self.signing_keys,
            "active_signing_kid": self.active_signing_kid,
            "backup_key": _b64e(self.backup_key),
        }
        tmp = self.path.with_suffix(".tmp")
        # Written then renamed so a crash never leaves a half-written keys file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, self.path)


def _b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


__all__ = ["KeyStore", "KeysFileError"]
