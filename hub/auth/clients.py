"""The embedded issuer's client registry: OAuth2 clients with a secret, an agency and roles.

Invariant: a client secret is shown once, at creation, and stored only as a salted scrypt
hash; checking one takes the same work whether or not the client exists. Functions take an
``AsyncSession`` and never commit or close it; the caller owns the transaction.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.models import Agency, ApiClient
from catalog.principal import ROLES
from hub.auth.registry import mark_clients_changed

#: Most clients ``list_clients`` returns.
MAX_LISTED = 1000
#: Longest client name, in characters.
MAX_NAME_LENGTH = 200
# scrypt cost: 16 MiB and ~50 ms per check, OWASP's minimum for interactive logins.
_N, _R, _P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024
# Serialises client adds so that a name is checked and taken in one step.
_CLIENT_NAMES_LOCK = 7_305_011
# Hash checked when the client id is unknown, so timing does not reveal which ids exist.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "="


async def add_client(
    session: AsyncSession, name: str, agency: str, roles: Sequence[str]
) -> tuple[ApiClient, str]:
    """Register a client; return it and its plain secret, which is never available again.

    Raises ``InvalidInput`` for an empty or unprintable name or an unknown role,
    ``NotFound`` for an unknown agency and ``Conflict`` for a name another client has (in any
    letter case); nothing is added then.
    """
    name = clean_name(name)
    _check_roles(name, roles)
    if await session.get(Agency, agency) is None:
        raise NotFound(f"agency '{agency}' does not exist")
    # Two adds of one name at once: the second waits for the first and then sees it.
    await session.execute(select(func.pg_advisory_xact_lock(_CLIENT_NAMES_LOCK)))
    taken = await session.scalar(
        select(ApiClient.client_id).where(func.lower(ApiClient.name) == name.lower()).limit(1)
    )
    if taken is not None:
        raise Conflict(f"a client named '{name}' exists already ({taken}); choose another name")
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        client_id="hub-" + secrets.token_hex(8),
        name=name,
        agency_code=agency,
        roles=sorted(set(roles)),
        secret_hash=await asyncio.to_thread(hash_secret, secret),
    )
    session.add(client)
    await session.flush()
    await mark_clients_changed(session)
    return client, secret


async def update_client(
    session: AsyncSession,
    client_id: str,
    *,
    roles: Sequence[str] | None = None,
    agency: str | None = None,
) -> ApiClient:
    """Change a client's roles and/or agency; its tokens that carry a removed role or the old
    agency are refused from the next request on (in every hub process).

    Raises ``NotFound`` for an unknown client or agency and ``InvalidInput`` for an unknown
    role; nothing changes then.
    """
    client = await session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"client {client_id!r} does not exist")
    if roles is not None:
        _check_roles(client.name, roles)
        client.roles = sorted(set(roles))
    if agency is not None:
        if await session.get(Agency, agency) is None:
            raise NotFound(f"agency '{agency}' does not exist")
        client.agency_code = agency
    await session.flush()
    await mark_clients_changed(session)
    return client


async def list_clients(session: AsyncSession) -> list[ApiClient]:
    """Clients in order of creation, at most ``MAX_LISTED``."""
    result = await session.scalars(
        select(ApiClient).order_by(ApiClient.created_at, ApiClient.client_id).limit(MAX_LISTED)
    )
    return list(result)


async def remove_client(session: AsyncSession, client_id: str) -> None:
    """Delete a client; its tokens are refused from the next request on, in every hub
    process. Raises ``NotFound``."""
    client = await session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"client {client_id!r} does not exist")
    await session.delete(client)
    await session.flush()
    await mark_clients_changed(session)


async def authenticate_client(
    session: AsyncSession, client_id: str, secret: str
) -> ApiClient | None:
    """The client when ``secret`` is its secret, else ``None`` (unknown id or wrong secret)."""
    client = await session.get(ApiClient, client_id) if client_id else None
    stored = client.secret_hash if client is not None else _DUMMY_HASH
    matches = await asyncio.to_thread(verify_secret, secret, stored)
    return client if matches and client is not None else None


def hash_secret(secret: str) -> str:
    """``scrypt$n$r$p$salt$hash`` of a secret: a fresh 16-byte salt and a 32-byte hash, base64."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored``; compares in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest, validate=True)
        cost = (int(n), int(r), int(p))
        salt_bytes = base64.b64decode(salt, validate=True)
    except ValueError:
        return False
    # A tampered row must not make the hub burn memory or time: accept only sane costs.
    if scheme != "scrypt" or 128 * cost[0] * cost[1] > _MAXMEM // 2 or cost[2] > 4:
        return False
    try:
        actual = hashlib.scrypt(
            secret.encode(),
            salt=salt_bytes,
            n=cost[0],
            r=cost[1],
            p=cost[2],
            maxmem=_MAXMEM,
            dklen=len(expected) or 32,
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def clean_name(name: str) -> str:
    """The name NFC-normalised and stripped; ``InvalidInput`` when empty, too long, or holding
    control or format characters (a terminal would run them as escape codes in listings)."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidInput("client name: must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"client name: at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    for position, char in enumerate(name):
        if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            raise InvalidInput(
                f"client name: control character U+{ord(char):04X} at position {position} "
                "is not allowed"
            )
    return name


def _check_roles(name: str, roles: Sequence[str]) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        known = ", ".join(sorted(ROLES))
        raise InvalidInput(f"client {name!r}: unknown role {unknown[0]!r} (known: {known})")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


__all__ = [
    "MAX_LISTED",
    "MAX_NAME_LENGTH",
    "add_client",
    "authenticate_client",
    "clean_name",
    "hash_secret",
    "list_clients",
    "remove_client",
    "update_client",
    "verify_secret",
]
