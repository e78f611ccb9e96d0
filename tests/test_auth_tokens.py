"""Access-token verification against the embedded issuer's keys, attacks included."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from catalog.errors import Unauthenticated
from catalog.principal import ANONYMOUS
from hub.auth.issuer import rotate_signing_key
from hub.auth.request import principal_from_authorization, www_authenticate
from hub.auth.tokens import TokenVerifier
from hub.keys import KeyStore
from hub.settings import Settings

ISSUER = "http://hub.test"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-issuer settings; token checks need no database."""
    return Settings(data_dir=tmp_path / "hub", keys_file=tmp_path / "keys.json", public_url=ISSUER)


@pytest.fixture
async def verifier(settings: Settings, keys: KeyStore) -> AsyncIterator[TokenVerifier]:
    verifier = TokenVerifier(settings, keys)
    yield verifier
    await verifier.aclose()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "hub-0123456789abcdef",
        "aud": "hub",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "client_id": "hub-0123456789abcdef",
        "agency": "so-tnmt",
        "roles": ["reader", "owner"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(keys: KeyStore, claims: dict[str, Any], **header: Any) -> str:
    jwk = next(k for k in keys.signing_keys if k["kid"] == keys.active_signing_kid)
    key = ECKey.import_key({k: v for k, v in jwk.items() if k != "created"})
    head = {"alg": "ES256", "kid": jwk["kid"], "typ": "at+jwt", **header}
    return jwt.encode(head, claims, key, algorithms=["ES256"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj).encode())


async def _refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    assert caught.value.code == "UNAUTHENTICATED"
    return caught.value.message


async def test_valid_token_gives_principal_with_agency_roles_and_client(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    principal = await verifier.verify(_sign(keys, _claims()))

    assert principal.subject == "hub-0123456789abcdef"
    assert principal.agency == "so-tnmt"
    assert principal.roles == frozenset({"reader", "owner"})
    assert principal.client_id == "hub-0123456789abcdef"


async def test_plain_jwt_type_and_absent_type_are_accepted(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    plain = await verifier.verify(_sign(keys, _claims(), typ="JWT"))
    media = await verifier.verify(_sign(keys, _claims(), typ="application/at+jwt"))

    assert plain.agency == media.agency == "so-tnmt"


async def test_other_token_type_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    message = await _refusal(verifier, _sign(keys, _claims(), typ="dpop+jwt"))

    assert message == "token type 'dpop+jwt' is not accepted (expected at+jwt or JWT)"


async def test_expired_token_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    past = int(time.time()) - 3600
    token = _sign(keys, _claims(iat=past - 300, nbf=past - 300, exp=past))

    assert await _refusal(verifier, token) == "token expired"


async def test_token_expired_within_clock_skew_is_accepted(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    now = int(time.time())
    token = _sign(keys, _claims(iat=now - 600, nbf=now - 600, exp=now - 30))

    assert (await verifier.verify(token)).agency == "so-tnmt"


async def test_token_not_yet_valid_beyond_clock_skew_is_refused(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    future = int(time.time()) + 600
    token = _sign(keys, _claims(iat=None, nbf=future, exp=future + 300))

    assert await _refusal(verifier, token) == "token is not yet valid"


async def test_token_issued_in_the_future_is_refused(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    future = int(time.time()) + 600
    token = _sign(keys, _claims(nbf=None, iat=future, exp=future + 300))

    assert await _refusal(verifier, token) == "token was issued in the future"


async def test_token_without_exp_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    message = await _refusal(verifier, _sign(keys, _claims(exp=None)))

    assert message == "token lacks the 'exp' claim"


async def test_wrong_audience_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    message = await _refusal(verifier, _sign(keys, _claims(aud="billing")))

    assert message == "token audience does not include 'hub'"


async def test_audience_list_including_hub_is_accepted(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    principal = await verifier.verify(_sign(keys, _claims(aud=["billing", "hub"])))

    assert principal.subject == "hub-0123456789abcdef"


async def test_wrong_issuer_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    message = await _refusal(verifier, _sign(keys, _claims(iss="http://evil.test")))

    assert message == "token issuer 'http://evil.test' is not 'http://hub.test'"


async def test_unknown_kid_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    message = await _refusal(verifier, _sign(keys, _claims(), kid="s-unknown"))

    assert message == "unknown signing key 's-unknown'"


async def test_tampered_payload_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    header, _, signature = _sign(keys, _claims()).split(".")
    forged = _segment(_claims(roles=["admin"]))

    message = await _refusal(verifier, f"{header}.{forged}.{signature}")

    assert message == "signature does not verify"


async def test_tampered_signature_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    header, payload, signature = _sign(keys, _claims()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[5] ^= 0x01

    message = await _refusal(verifier, f"{header}.{payload}.{_b64(bytes(raw))}")

    assert message == "signature does not verify"


async def test_alg_none_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    header = _segment({"alg": "none", "typ": "JWT", "kid": keys.active_signing_kid})
    token = f"{header}.{_segment(_claims())}."

    message = await _refusal(verifier, token)

    assert message.startswith("algorithm 'none' is not accepted")


@pytest.mark.parametrize("encoding", ["pem", "jwk-json"])
async def test_hs256_signed_with_the_public_key_is_refused(
    verifier: TokenVerifier, keys: KeyStore, encoding: str
) -> None:
    # The key-confusion attack: an HMAC whose secret is the issuer's published public key.
    public = {k: v for k, v in keys.signing_keys[0].items() if k not in ("d", "created")}
    secret = (
        ECKey.import_key(public).as_pem(private=False)
        if encoding == "pem"
        else json.dumps(public).encode()
    )
    head = _segment({"alg": "HS256", "typ": "JWT", "kid": keys.active_signing_kid})
    body = _segment(_claims(roles=["admin"]))
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()

    message = await _refusal(verifier, f"{head}.{body}.{_b64(mac)}")

    assert message.startswith("algorithm 'HS256' is not accepted")


async def test_token_signed_before_rotation_verifies_after_rotation(
    settings: Settings, keys: KeyStore
) -> None:
    old_token = _sign(keys, _claims())
    new_kid = rotate_signing_key(keys)
    reloaded = KeyStore.load_or_create(settings.resolved_keys_file)
    verifier = TokenVerifier(settings, reloaded)

    principal = await verifier.verify(old_token)
    new_principal = await verifier.verify(_sign(reloaded, _claims()))

    assert reloaded.active_signing_kid == new_kid
    assert principal.agency == new_principal.agency == "so-tnmt"


async def test_key_rotated_in_this_process_is_picked_up_without_reading_the_file(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    keys.add_signing_key()  # not saved: the verifier must use the in-memory store

    principal = await verifier.verify(_sign(keys, _claims()))

    assert principal.roles == frozenset({"reader", "owner"})


async def test_keycloak_realm_access_roles_path(tmp_path: Path, keys: KeyStore) -> None:
    settings = Settings(
        data_dir=tmp_path / "hub",
        keys_file=tmp_path / "keys.json",
        public_url=ISSUER,
        oidc_roles_claim="realm_access.roles",
    )
    verifier = TokenVerifier(settings, keys)
    claims = _claims(roles=None, realm_access={"roles": ["steward", "offline_access"]})

    principal = await verifier.verify(_sign(keys, claims))

    assert principal.roles == frozenset({"steward"})


async def test_roles_as_space_or_comma_separated_string(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    principal = await verifier.verify(_sign(keys, _claims(roles="reader owner,admin superuser")))

    assert principal.roles == frozenset({"reader", "owner", "admin"})


async def test_token_without_agency_claim_is_valid_with_no_agency(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    principal = await verifier.verify(_sign(keys, _claims(agency=None)))

    assert principal.agency is None
    assert not principal.is_anonymous


async def test_client_id_falls_back_to_azp(verifier: TokenVerifier, keys: KeyStore) -> None:
    principal = await verifier.verify(_sign(keys, _claims(client_id=None, azp="portal")))

    assert principal.client_id == "portal"


async def test_token_without_subject_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    message = await _refusal(verifier, _sign(keys, _claims(sub=None)))

    assert message == "token lacks the 'sub' claim"


async def test_keycloak_id_token_is_refused(verifier: TokenVerifier, keys: KeyStore) -> None:
    message = await _refusal(verifier, _sign(keys, _claims(typ="ID"), typ="JWT"))

    assert message == "token is a 'ID' token, not an access token"


async def test_garbage_is_refused_as_not_a_jwt(verifier: TokenVerifier) -> None:
    message = await _refusal(verifier, "not-a-token")

    assert message == "token is not a JWT (expected three dot-separated parts)"


async def test_no_authorization_header_is_anonymous(verifier: TokenVerifier) -> None:
    assert await principal_from_authorization(None, verifier) is ANONYMOUS
    assert await principal_from_authorization("  ", verifier) is ANONYMOUS


async def test_bearer_header_gives_the_token_principal(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    header = "Bearer " + _sign(keys, _claims())

    principal = await principal_from_authorization(header, verifier)

    assert principal.agency == "so-tnmt"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Basic dXNlcjpwYXNz", "authorization scheme 'Basic' is not accepted; use Bearer"),
        ("Bearer", "Authorization header has no bearer token"),
        ("Bearer a b", "bearer token has characters a token may not contain"),
    ],
)
async def test_other_scheme_or_malformed_header_is_refused(
    verifier: TokenVerifier, header: str, message: str
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await principal_from_authorization(header, verifier)

    assert caught.value.message == message


def test_www_authenticate_escapes_quotes_and_backslashes() -> None:
    value = www_authenticate(Unauthenticated('token issuer "x\\y" is not "hub"'))

    assert value == (
        'Bearer realm="hub", error="invalid_token", '
        'error_description="token issuer \\"x\\\\y\\" is not \\"hub\\""'
    )


async def test_verified_token_is_remembered_until_its_expiry(
    verifier: TokenVerifier, keys: KeyStore
) -> None:
    token = _sign(keys, _claims())
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first  # served from memory, no signature check
    principal, _ = verifier._verified[token]
    verifier._verified[token] = (principal, time.time() - 1)  # as if its exp had passed
    again = await verifier.verify(token)
    assert again == first and again is not first  # checked afresh


async def test_a_refused_token_is_never_remembered(verifier: TokenVerifier, keys: KeyStore) -> None:
    expired = _sign(keys, _claims(exp=int(time.time()) - 600))
    await _refusal(verifier, expired)
    assert expired not in verifier._verified
    await _refusal(verifier, expired)
