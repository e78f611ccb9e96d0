"""The HTTP edge of authentication: an ``Authorization`` header in, a ``Principal`` out.

Invariant: no header means the anonymous caller; anything else that is not a verified bearer
token is refused, never downgraded to anonymous.
"""

from __future__ import annotations

import re

from catalog.errors import Unauthenticated
from catalog.principal import ANONYMOUS, Principal
from hub.auth.tokens import TokenVerifier

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_UNSAFE = re.compile(r"[^\x20-\x7e]")


async def principal_from_authorization(header: str | None, verifier: TokenVerifier) -> Principal:
    """Return ``ANONYMOUS`` for no header, the token's principal for ``Bearer <token>``.

    Raises ``Unauthenticated`` for another scheme, a malformed header or a bad token.
    """
    if header is None or not header.strip():
        return ANONYMOUS
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated(f"authorization scheme '{scheme[:20]}' is not accepted; use Bearer")
    token = credentials.strip()
    if not token:
        raise Unauthenticated("Authorization header has no bearer token")
    if not _B64TOKEN.fullmatch(token):
        raise Unauthenticated("bearer token has characters a token may not contain")
    return await verifier.verify(token)


def www_authenticate(error: Unauthenticated) -> str:
    """The ``WWW-Authenticate`` value (RFC 6750 §3) answering a refused token."""
    # The description must be printable ASCII without unescaped quotes or backslashes.
    description = _UNSAFE.sub("?", error.message).replace("\\", "\\\\").replace('"', '\\"')
    return f'Bearer realm="hub", error="invalid_token", error_description="{description}"'


__all__ = ["principal_from_authorization", "www_authenticate"]
