"""Authentication: access tokens to principals, and the embedded token issuer.

Invariant: a request's ``Principal`` comes only from ``principal_from_authorization``, which
returns ``ANONYMOUS`` for no credentials and refuses anything it cannot verify; a token of the
embedded issuer then passes ``admit`` against the registered clients on every request.
"""

from __future__ import annotations

from hub.auth.clients import (
    add_client,
    authenticate_client,
    list_clients,
    remove_client,
    update_client,
)
from hub.auth.issuer import issue_token, issuer_routes, rotate_signing_key
from hub.auth.registry import admit
from hub.auth.request import principal_from_authorization, www_authenticate
from hub.auth.tokens import TokenVerifier

__all__ = [
    "TokenVerifier",
    "add_client",
    "admit",
    "authenticate_client",
    "issue_token",
    "issuer_routes",
    "list_clients",
    "principal_from_authorization",
    "remove_client",
    "rotate_signing_key",
    "update_client",
    "www_authenticate",
]
