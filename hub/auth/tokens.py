"""Access-token verification: a bearer JWT in, a ``Principal`` out, or ``Unauthenticated``
saying why.

Invariant: a ``Principal`` is only built from a JWS whose algorithm is asymmetric, whose
signature verifies with a key published by the configured issuer (the embedded issuer's keys
file, or the IdP's JWKS found by OIDC discovery), and whose ``iss``, ``aud``, ``exp``,
``nbf`` and ``iat`` pass. ``alg: none`` and HMAC algorithms are refused before any key is
touched, so a public key can never be used as an HMAC secret.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import errors as jose
from joserfc import jwt
from joserfc.jwk import JWKRegistry, Key
from joserfc.jws import JWSRegistry

from catalog.errors import Unauthenticated
from catalog.principal import ROLES, Principal
from hub.keys import KeyStore
from hub.settings import DEFAULT_PUBLIC_URL, Settings

log = logging.getLogger(__name__)

#: Signature algorithms accepted, each with the key type it needs.
ACCEPTED_ALGORITHMS: dict[str, str] = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "RSA"),
    **dict.fromkeys(("ES256", "ES384", "ES512"), "EC"),
    **dict.fromkeys(("EdDSA", "Ed25519"), "OKP"),
}
#: Shortest pause between two JWKS fetches triggered by unknown key ids (seconds).
REFETCH_INTERVAL = 10.0
_MAX_TOKEN_LENGTH = 16_384
_ACCEPTED_TYPES = frozenset({"jwt", "at+jwt"})
_PUBLIC_MEMBERS = frozenset({"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"})
# Keycloak marks its other tokens in a "typ" claim; only its access tokens say "Bearer".
_NOT_ACCESS_TOKENS = frozenset({"ID", "Refresh", "Logout", "Offline"})


# Verified tokens remembered per process (LRU), each until its own expiry.
_REMEMBERED_TOKENS = 10_000


class _FetchError(Exception):
    """Discovery or the JWKS could not be fetched or understood."""


class TokenVerifier:
    """Verifies access tokens for one hub process; keeps the issuer's public keys in memory."""

    def __init__(
        self,
        settings: Settings,
        keys: KeyStore,
        http: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._store = keys
        self._http = http
        self._owns_http = http is None
        self._clock = clock
        self._lock = asyncio.Lock()
        self._registry = JWSRegistry(
            algorithms=list(ACCEPTED_ALGORITHMS), strict_check_header=False
        )
        self._issuer = settings.token_issuer
        self._jwks_uri: str | None = None
        self._keys: list[Key] = []
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._loaded_count = 0
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_error = ""
        if settings.uses_embedded_issuer:
            self._load_embedded_keys()

    async def verify(self, token: str) -> Principal:
        """Return the principal the token speaks for; raise ``Unauthenticated`` with the reason.

        A token that verified is remembered until its ``exp``: an application sends the same
        token with every request, and the signature check is most of the auth cost. What is
        remembered is only what the token says; whether its client is still registered with
        those roles is checked on every request after this (``Services.admit``)."""
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires = remembered
            if time.time() < expires:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, expires = await self._verify(token)
        self._verified[token] = (principal, expires)
        if len(self._verified) > _REMEMBERED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        header = _read_header(token)
        alg = _check_algorithm(header)
        _check_type(header)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("token header 'kid' must be a string")
        candidates = await self._candidates(kid, alg)
        claims = self._verified_claims(token, candidates, alg)
        self._check_claims(claims)
        return self._principal(claims), float(claims["exp"])

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier made it."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- keys -------------------------------------------------------------------------------

    async def _candidates(self, kid: str | None, alg: str) -> list[Key]:
        if self._settings.uses_embedded_issuer:
            if (
                not _matching(self._keys, kid)
                and len(self._store.signing_keys) != self._loaded_count
            ):
                self._load_embedded_keys()  # a rotation in this process added a key
        else:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self._settings.oidc_jwks_ttl:
                await self._refresh()
            if not _matching(self._keys, kid):
                await self._refresh()  # the IdP may have rotated; rate-limited inside
            if not self._keys:
                raise Unauthenticated(f"cannot reach the identity provider: {self._last_error}")
        found = _matching(self._keys, kid)
        if not found:
            if kid is None:
                raise Unauthenticated("token has no 'kid' and the issuer publishes no usable key")
            raise Unauthenticated(f"unknown signing key '{kid}'")
        fitting = [k for k in found if _fits(k, alg)]
        if not fitting:
            name = f"signing key '{kid}'" if kid else "no signing key of the issuer"
            raise Unauthenticated(f"{name} does not fit algorithm '{alg}'")
        return fitting

    def _load_embedded_keys(self) -> None:
        signing = list(self._store.signing_keys)
        self._keys = [
            JWKRegistry.import_key({k: v for k, v in jwk.items() if k in _PUBLIC_MEMBERS})
            for jwk in signing
        ]
        self._loaded_count = len(signing)

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < REFETCH_INTERVAL:
                return  # fetched moments ago (maybe by a concurrent request)
            self._attempted_at = now
            try:
                if self._jwks_uri is None:
                    self._jwks_uri = await self._discover()
                self._keys = await self._fetch_jwks(self._jwks_uri)
                self._fetched_at = now
            except _FetchError as exc:
                self._last_error = str(exc)
                if self._keys:
                    log.warning("keeping the cached JWKS: %s", exc)

    async def _discover(self) -> str:
        configured = self._settings.token_issuer
        doc = await self._get_json(f"{configured}/.well-known/openid-configuration")
        issuer = doc.get("issuer")
        # Settings drop a trailing slash; some IdPs (Auth0) keep one in their issuer name.
        if not isinstance(issuer, str) or issuer.rstrip("/") != configured.rstrip("/"):
            raise _FetchError(f"its discovery document names issuer {issuer!r}, not {configured!r}")
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise _FetchError("its discovery document has no http(s) 'jwks_uri'")
        self._issuer = issuer
        return jwks_uri

    async def _fetch_jwks(self, url: str) -> list[Key]:
        doc = await self._get_json(url)
        entries = doc.get("keys")
        if not isinstance(entries, list):
            raise _FetchError(f"{url} is not a JWK set")
        keys: list[Key] = []
        for entry in entries:
            # Symmetric and encryption keys never verify an access token.
            if (
                not isinstance(entry, dict)
                or entry.get("kty") == "oct"
                or entry.get("use") == "enc"
            ):
                continue
            try:
                keys.append(JWKRegistry.import_key(entry))
            except (jose.JoseError, ValueError, TypeError) as exc:
                log.warning("ignoring a key of %s: %s", url, exc)
        if not keys:
            raise _FetchError(f"{url} lists no usable signing key")
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise _FetchError(f"{type(exc).__name__} for {url}") from None
        if response.status_code != 200:
            raise _FetchError(f"{url} answered HTTP {response.status_code}")
        try:
            doc = response.json()
        except ValueError:
            raise _FetchError(f"{url} did not answer JSON") from None
        if not isinstance(doc, dict):
            raise _FetchError(f"{url} did not answer a JSON object")
        return doc

    # -- signature and claims ---------------------------------------------------------------

    def _verified_claims(self, token: str, candidates: list[Key], alg: str) -> dict[str, Any]:
        for key in candidates:
            try:
                return jwt.decode(token, key, algorithms=[alg], registry=self._registry).claims
            except jose.BadSignatureError:
                continue
            except jose.InvalidPayloadError:
                raise Unauthenticated("token payload is not a JSON object") from None
            except (jose.JoseError, ValueError) as exc:
                raise Unauthenticated(f"token is malformed ({exc})") from None
        raise Unauthenticated("signature does not verify")

    def _issuers(self) -> list[str]:
        """The issuer names accepted. The embedded issuer also accepts its default name:
        ``hub token`` run beside ``hub serve --port P`` (no HUB_PUBLIC_URL) names the default
        address, and only this hub's signing keys can have signed either."""
        if self._settings.uses_embedded_issuer and self._issuer != DEFAULT_PUBLIC_URL:
            return [self._issuer, DEFAULT_PUBLIC_URL]
        return [self._issuer]

    def _check_claims(self, claims: dict[str, Any]) -> None:
        audience = self._settings.oidc_audience
        registry = jwt.JWTClaimsRegistry(
            leeway=self._settings.oidc_clock_skew,
            iss={"essential": True, "values": self._issuers()},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except jose.ExpiredTokenError:
            raise Unauthenticated("token expired") from None
        except jose.MissingClaimError as exc:
            names = ", ".join(f"'{n}'" for n in exc.claim.split(","))
            raise Unauthenticated(f"token lacks the {names} claim") from None
        except jose.ClaimError as exc:
            raise Unauthenticated(
                _claim_message(exc.claim, claims, self._issuer, audience)
            ) from None
        if claims.get("typ") in _NOT_ACCESS_TOKENS:
            raise Unauthenticated(f"token is a {claims['typ']!r} token, not an access token")

    def _principal(self, claims: dict[str, Any]) -> Principal:
        settings = self._settings
        agency = _claim(claims, settings.oidc_agency_claim)
        if isinstance(agency, list) and len(agency) == 1:
            agency = agency[0]  # IdPs often emit single-valued attributes as lists
        if agency is not None and not isinstance(agency, str):
            raise Unauthenticated(f"token claim '{settings.oidc_agency_claim}' is not a string")
        client_id = next(
            (
                value
                for name in (settings.oidc_client_id_claim, "azp", "client_id")
                if isinstance(value := claims.get(name), str) and value
            ),
            None,
        )
        return Principal(
            subject=claims["sub"],
            agency=agency or None,
            roles=_roles(_claim(claims, settings.oidc_roles_claim)),
            client_id=client_id,
        )


def _read_header(token: str) -> dict[str, Any]:
    if len(token) > _MAX_TOKEN_LENGTH:
        raise Unauthenticated("token is too large")
    parts = token.split(".")
    if len(parts) == 5:
        raise Unauthenticated("encrypted tokens (JWE) are not accepted")
    if len(parts) != 3:
        raise Unauthenticated("token is not a JWT (expected three dot-separated parts)")
    try:
        segment = parts[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        raise Unauthenticated("token header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise Unauthenticated("token header is not a JSON object")
    return header


def _check_algorithm(header: dict[str, Any]) -> str:
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise Unauthenticated("token header has no 'alg'")
    if alg not in ACCEPTED_ALGORITHMS:
        raise Unauthenticated(
            f"algorithm '{alg}' is not accepted (only {', '.join(ACCEPTED_ALGORITHMS)})"
        )
    return alg


def _check_type(header: dict[str, Any]) -> None:
    typ = header.get("typ")
    if typ is None:
        return
    if not isinstance(typ, str):
        raise Unauthenticated("token header 'typ' must be a string")
    # RFC 7515 §4.1.9: "application/" may be left out, and media types ignore case.
    short = typ.lower().removeprefix("application/")
    if short not in _ACCEPTED_TYPES:
        raise Unauthenticated(f"token type '{typ}' is not accepted (expected at+jwt or JWT)")


def _matching(keys: list[Key], kid: str | None) -> list[Key]:
    return list(keys) if kid is None else [k for k in keys if k.kid == kid]


def _fits(key: Key, alg: str) -> bool:
    declared = key.get("alg")
    return key.key_type == ACCEPTED_ALGORITHMS[alg] and (declared is None or declared == alg)


def _claim_message(name: str, claims: dict[str, Any], issuer: str, audience: str) -> str:
    if name == "aud":
        return f"token audience does not include '{audience}'"
    if name == "iss":
        return f"token issuer {claims.get('iss')!r} is not '{issuer}'"
    if name == "nbf":
        return "token is not yet valid"
    if name == "iat":
        return "token was issued in the future"
    return f"token claim '{name}' is invalid"


def _claim(claims: dict[str, Any], path: str) -> Any:
    """The claim at ``path``: a literal name first (URL-like claim names hold dots), then a
    dotted walk such as ``realm_access.roles``."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _roles(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        names = re.split(r"[\s,]+", value)
    elif isinstance(value, list):
        names = [v for v in value if isinstance(v, str)]
    else:
        names = []
    return frozenset(n for n in names if n in ROLES)


__all__ = ["ACCEPTED_ALGORITHMS", "REFETCH_INTERVAL", "TokenVerifier"]
