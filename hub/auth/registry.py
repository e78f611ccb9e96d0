"""The registered clients as every hub process sees them, and the admission of a token's client.

Invariant: a token of the embedded issuer speaks for a client only while that client is
registered with the same agency and at least the roles the token carries. Every change to
``api_clients`` goes through ``mark_clients_changed`` in the same transaction, which bumps the
``hub_state`` policy counter every request already checks and NOTIFYs the other processes, so
a removal or a role change bites on the next request in every process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.errors import Unauthenticated
from catalog.models import ApiClient
from catalog.principal import Principal


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """What admission needs of a client: its agency and roles (never its secret)."""

    agency: str
    roles: frozenset[str]


async def load_clients(session: AsyncSession) -> dict[str, RegisteredClient]:
    """Every registered client, by id."""
    rows = await session.execute(
        select(ApiClient.client_id, ApiClient.agency_code, ApiClient.roles)
    )
    return {
        client_id: RegisteredClient(agency, frozenset(roles or ()))
        for client_id, agency, roles in rows
    }


async def mark_clients_changed(session: AsyncSession) -> None:
    """Bump the policy counter and tell the other hub processes, in the caller's transaction
    (so they see the change exactly when it commits)."""
    await session.execute(
        text("UPDATE hub_state SET policy_version = policy_version + 1 WHERE id = 1")
    )
    await session.execute(text("SELECT pg_notify('hub_changes', 'clients')"))


def admit(principal: Principal, clients: Mapping[str, RegisteredClient]) -> Principal:
    """``principal`` unchanged when its client is registered with the token's agency and
    every role the token carries; else ``Unauthenticated`` saying what changed.

    A token may carry fewer roles than its client (``scope`` narrows it), so adding a role
    keeps old tokens valid while removing one the token carries refuses them.
    """
    if principal.is_anonymous:
        return principal
    client_id = principal.client_id or principal.subject
    registered = clients.get(client_id) if client_id else None
    if registered is None:
        raise Unauthenticated(
            "the token's client is not registered (removed?); ask the hub operator"
        )
    if principal.agency != registered.agency:
        raise Unauthenticated(
            "the token's client changed agency since it was issued; get a new token"
        )
    if not principal.roles <= registered.roles:
        raise Unauthenticated("the token's client lost roles since it was issued; get a new token")
    return principal


__all__ = ["RegisteredClient", "admit", "load_clients", "mark_clients_changed"]
