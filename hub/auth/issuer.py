"""The embedded token issuer: OAuth2 client credentials (RFC 6749 §4.4) for provinces without
an identity provider, with its JWKS and discovery documents.

Invariant: tokens are ES256 JWTs (``typ: at+jwt``, RFC 9068) signed with the active signing
key of the keys file; the JWKS lists every signing key in that file, so tokens signed before
a rotation stay verifiable. With ``HUB_OIDC_ISSUER`` set these routes answer 404.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from catalog.errors import InvalidInput, RateLimited
from catalog.models import ApiClient
from catalog.principal import ROLES
from hub.auth.clients import authenticate_client
from hub.keys import KeyStore
from hub.rate_limit_http import client_address, retry_headers
from hub.rate_limits import RateLimiter
from hub.runtime import Hub
from hub.settings import Settings

TOKEN_PATH = "/oauth/token"  # noqa: S105 (a URL path, not a secret)
JWKS_PATH = "/.well-known/jwks.json"
_PUBLIC_MEMBERS = ("kty", "crv", "x", "y", "kid", "alg", "use")
#: Largest token request body, in bytes (a form of a few short parameters).
MAX_TOKEN_BODY = 8192
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 6749 Appendix A: parameters are printable; a NUL cannot even reach PostgreSQL text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class _OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def issue_token(
    settings: Settings, keys: KeyStore, client: ApiClient, roles: Sequence[str] | None = None
) -> tuple[str, int]:
    """Sign an access token for ``client``; return it and its lifetime in seconds.

    ``roles`` narrows the token to some of the client's roles (all of them by default).
    Raises ``InvalidInput`` when the embedded issuer is off.
    """
    if not settings.uses_embedded_issuer:
        raise InvalidInput("the embedded issuer is off (HUB_OIDC_ISSUER is set); ask that IdP")
    granted = sorted(set(client.roles if roles is None else roles))
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.public_url,
        "sub": client.client_id,
        "aud": settings.oidc_audience,
        "iat": now,
        "nbf": now,
        "exp": now + settings.token_ttl,
        "jti": secrets.token_urlsafe(16),
        "client_id": client.client_id,
        "agency": client.agency_code,
        "roles": granted,
        "scope": " ".join(granted),
    }
    kid = keys.active_signing_kid
    header = {"alg": "ES256", "kid": kid, "typ": "at+jwt"}
    token = jwt.encode(header, claims, _signing_key(keys, kid), algorithms=["ES256"])
    return token, settings.token_ttl


def rotate_signing_key(keys: KeyStore) -> str:
    """Add a signing key, make it active and save the keys file; return its kid."""
    kid = keys.add_signing_key()
    keys.save()
    return kid


def public_jwks(keys: KeyStore) -> dict[str, list[dict[str, Any]]]:
    """The JWK set of every signing key's public part."""
    return {"keys": [{m: jwk[m] for m in _PUBLIC_MEMBERS if m in jwk} for jwk in keys.signing_keys]}


def metadata(settings: Settings) -> dict[str, Any]:
    """The discovery document (OpenID Connect Discovery and RFC 8414 share these fields)."""
    base = settings.public_url
    return {
        "issuer": base,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": sorted(ROLES),
        "response_types_supported": [],
    }


def issuer_routes() -> list[Route]:
    """The issuer's routes; handlers find the ``Hub`` at ``request.app.state.hub``."""
    return [
        Route(TOKEN_PATH, _token, methods=["POST"]),
        Route(JWKS_PATH, _jwks, methods=["GET"]),
        Route("/.well-known/openid-configuration", _metadata, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", _metadata, methods=["GET"]),
    ]


async def _token(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    if not hub.settings.uses_embedded_issuer:
        return _not_found()
    try:
        form = await _form(request)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise _OAuthError("invalid_request", "missing 'grant_type'")
        if grant_type != "client_credentials":
            raise _OAuthError(
                "unsupported_grant_type", f"grant type '{grant_type}' is not supported"
            )
        client_id, secret = _client_credentials(request, form)
        # Spent before the secret is hashed: wrong secrets cost the caller, not the hub.
        await _limiter(request, hub).admit_token_request(client_id, client_address(request))
        async with hub.db.sessions() as session:
            client = await authenticate_client(session, client_id, secret)
        if client is None:
            raise _OAuthError("invalid_client", "client authentication failed", 401)
        roles = _requested_roles(form.get("scope"), client)
        token, ttl = issue_token(hub.settings, hub.keys, client, roles)
    except RateLimited as exc:
        headers = {**_NO_STORE, **retry_headers(exc)}
        error = {"error": "rate_limited", "error_description": exc.message}
        return JSONResponse(error, status_code=429, headers=headers)
    except _OAuthError as exc:
        headers = dict(_NO_STORE)
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="hub"'
        error = {"error": exc.error, "error_description": exc.description}
        return JSONResponse(error, status_code=exc.status, headers=headers)
    body: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": " ".join(roles),
    }
    return JSONResponse(body, headers=_NO_STORE)


def _limiter(request: Request, hub: Hub) -> RateLimiter:
    """The app's limiter; an app serving only the issuer's routes gets one of its own."""
    state = request.app.state
    services = getattr(state, "services", None)
    if services is not None:
        limiter: RateLimiter = services.rate_limiter
        return limiter
    if getattr(state, "rate_limiter", None) is None:
        state.rate_limiter = RateLimiter.from_settings(hub.settings)
    own: RateLimiter = state.rate_limiter
    return own


async def _jwks(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    if not hub.settings.uses_embedded_issuer:
        return _not_found()
    return JSONResponse(public_jwks(hub.keys), headers={"Cache-Control": "public, max-age=300"})


async def _metadata(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    if not hub.settings.uses_embedded_issuer:
        return _not_found()
    return JSONResponse(metadata(hub.settings), headers={"Cache-Control": "public, max-age=300"})


async def _form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise _OAuthError(
            "invalid_request", "send the request as application/x-www-form-urlencoded"
        )
    body = await request.body()
    if len(body) > MAX_TOKEN_BODY:
        raise _OAuthError("invalid_request", "request body is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise _OAuthError("invalid_request", "request body is not valid form data") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if _CONTROL.search(name):
            raise _OAuthError("invalid_request", "a parameter name contains a control character")
        if _CONTROL.search(value):
            raise _OAuthError(
                "invalid_request", f"parameter '{name[:40]}' contains a control character"
            )
        if name in form:  # RFC 6749 §3.2: parameters must not be repeated
            raise _OAuthError("invalid_request", f"parameter '{name}' is repeated")
        if value:  # §3.1: a parameter without a value counts as omitted
            form[name] = value
    return form


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        if "client_secret" in form:
            raise _OAuthError("invalid_request", "use one client authentication method, not two")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _OAuthError("invalid_client", "malformed Basic credentials", 401) from None
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            raise _OAuthError("invalid_client", "malformed Basic credentials", 401)
        # RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if _CONTROL.search(client_id) or _CONTROL.search(secret):
            raise _OAuthError(
                "invalid_client", "malformed Basic credentials: a control character", 401
            )
        if form.get("client_id", client_id) != client_id:
            raise _OAuthError("invalid_request", "'client_id' differs from the Basic credentials")
        return client_id, secret
    posted_id, posted_secret = form.get("client_id"), form.get("client_secret")
    if not posted_id or not posted_secret:
        raise _OAuthError("invalid_client", "client authentication required", 401)
    return posted_id, posted_secret


def _requested_roles(scope: str | None, client: ApiClient) -> list[str]:
    if scope is None:
        return sorted(client.roles)
    requested = sorted(set(scope.split()))
    for role in requested:
        if role not in client.roles:
            raise _OAuthError("invalid_scope", f"scope '{role}' is not one of the client's roles")
    return requested


def _signing_key(keys: KeyStore, kid: str) -> ECKey:
    for jwk in keys.signing_keys:
        if jwk.get("kid") == kid:
            return ECKey.import_key({k: v for k, v in jwk.items() if k != "created"})
    raise InvalidInput(f"keys file {keys.path}: no signing key '{kid}'")


def _not_found() -> Response:
    return JSONResponse({"error": "not_found"}, status_code=404)


__all__ = [
    "MAX_TOKEN_BODY",
    "TOKEN_PATH",
    "issue_token",
    "issuer_routes",
    "metadata",
    "public_jwks",
    "rotate_signing_key",
]
