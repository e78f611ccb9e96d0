"""The one error hierarchy of the hub. Every error a client may see is one of these.

```
HubError                      INTERNAL
├─ Unauthenticated            UNAUTHENTICATED
├─ NotFound                   NOT_FOUND
│  └─ PersistedQueryNotFound  NOT_FOUND
├─ Forbidden                  FORBIDDEN
├─ InvalidInput               BAD_USER_INPUT
│  └─ SecretDataRefused       BAD_USER_INPUT
├─ QueryTooComplex            QUERY_TOO_COMPLEX
├─ RateLimited                RATE_LIMITED
├─ Conflict                   CONFLICT
└─ SearchUnavailable          SEARCH_UNAVAILABLE
```

Messages name the place and the bad value, e.g.
``field 'tax_code' of dataset 'business': expected 10 or 13 digits, got 9``.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every expected error; ``code`` becomes GraphQL ``extensions.code``."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(HubError):
    """The caller presented a token that could not be verified, or none where one is needed."""

    code = "UNAUTHENTICATED"


class NotFound(HubError):
    """The thing named does not exist, or the caller may not know that it exists."""

    code = "NOT_FOUND"


class Forbidden(HubError):
    """The caller is known but its roles, agency or grants do not allow the action."""

    code = "FORBIDDEN"


class InvalidInput(HubError):
    """A value supplied by the caller is malformed or breaks a catalogue rule."""

    code = "BAD_USER_INPUT"


class SecretDataRefused(InvalidInput):
    """A field or document marked SECRET (mật, tối mật, tuyệt mật) was offered.

    002 Điều 12.7: secret documents are never exchanged electronically.
    """


class QueryTooComplex(HubError):
    """A query is deeper, wider or asks for larger pages than the hub serves."""

    code = "QUERY_TOO_COMPLEX"


class RateLimited(HubError):
    """The caller sent more requests than its allowance; ``retry_after`` in seconds."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PersistedQueryNotFound(NotFound):
    """A request named a persisted query by its hash that this process does not hold. Its
    message is exactly ``PersistedQueryNotFound``: Apollo's clients resend on that."""


class Conflict(HubError):
    """The action clashes with the current state: a duplicate code, a wrong lifecycle step."""

    code = "CONFLICT"


class SearchUnavailable(HubError):
    """The search index cannot be reached; PostgreSQL-backed reads still work."""

    code = "SEARCH_UNAVAILABLE"


__all__ = [
    "Conflict",
    "Forbidden",
    "HubError",
    "InvalidInput",
    "NotFound",
    "QueryTooComplex",
    "RateLimited",
    "SearchUnavailable",
    "SecretDataRefused",
    "Unauthenticated",
]
