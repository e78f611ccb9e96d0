"""Who is asking: the principal taken from a verified token, or the anonymous caller."""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = frozenset({"reader", "owner", "steward", "admin"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request. Built by the token check; never from client input."""

    subject: str | None = None
    agency: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    client_id: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.subject is None

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_steward(self) -> bool:
        return "steward" in self.roles or "admin" in self.roles


ANONYMOUS = Principal()

__all__ = ["ANONYMOUS", "ROLES", "Principal"]
