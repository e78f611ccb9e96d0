"""The embedded issuer over HTTP: client credentials, JWKS and discovery, on a real database."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette

from catalog.models import Agency
from hub.auth.clients import add_client
from hub.auth.issuer import issuer_routes, rotate_signing_key
from hub.auth.tokens import TokenVerifier
from hub.db import Database
from hub.keys import KeyStore
from hub.runtime import Hub
from hub.settings import Settings

FORM = "application/x-www-form-urlencoded"


@dataclass
class Registered:
    client_id: str
    secret: str


@pytest.fixture
async def registered(database: Database) -> Registered:
    async with database.sessions() as session, session.begin():
        session.add(Agency(code="so-tnmt", name="Sở Tài nguyên và Môi trường", level="province"))
        await session.flush()
        client, secret = await add_client(session, "land portal", "so-tnmt", ["reader", "owner"])
    return Registered(client.client_id, secret)


def _app(settings: Settings, database: Database, keys: KeyStore) -> Starlette:
    app = Starlette(routes=issuer_routes())
    app.state.hub = Hub(settings, database, keys)
    return app


@pytest.fixture
async def http(
    settings: Settings, database: Database, keys: KeyStore
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(settings, database, keys))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield client


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def test_token_with_basic_client_authentication(
    http: httpx.AsyncClient, registered: Registered
) -> None:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": _basic(registered.client_id, registered.secret)},
    )

    body = response.json()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"].count(".") == 2


async def test_token_with_client_secret_in_post_body(
    http: httpx.AsyncClient, registered: Registered
) -> None:
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": registered.client_id,
            "client_secret": registered.secret,
        },
    )

    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


async def test_issued_token_verifies_to_the_clients_principal(
    http: httpx.AsyncClient, registered: Registered, settings: Settings, keys: KeyStore
) -> None:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(registered.client_id, registered.secret),
    )
    verifier = TokenVerifier(settings, keys)

    principal = await verifier.verify(response.json()["access_token"])

    assert principal.subject == registered.client_id
    assert principal.client_id == registered.client_id
    assert principal.agency == "so-tnmt"
    assert principal.roles == frozenset({"reader", "owner"})


async def test_scope_narrows_the_tokens_roles(
    http: httpx.AsyncClient, registered: Registered, settings: Settings, keys: KeyStore
) -> None:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "reader"},
        auth=(registered.client_id, registered.secret),
    )

    principal = await TokenVerifier(settings, keys).verify(response.json()["access_token"])

    assert response.json()["scope"] == "reader"
    assert principal.roles == frozenset({"reader"})


async def test_scope_beyond_the_clients_roles_is_invalid_scope(
    http: httpx.AsyncClient, registered: Registered
) -> None:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "reader admin"},
        auth=(registered.client_id, registered.secret),
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_scope",
        "error_description": "scope 'admin' is not one of the client's roles",
    }


async def test_wrong_secret_is_invalid_client_401(
    http: httpx.AsyncClient, registered: Registered
) -> None:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": _basic(registered.client_id, "wrong")},
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="hub"'
    assert response.headers["cache-control"] == "no-store"


async def test_missing_client_credentials_is_invalid_client_401(
    http: httpx.AsyncClient, registered: Registered
) -> None:
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials"})

    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "client authentication required",
    }


async def test_other_grant_type_is_unsupported_grant_type_400(
    http: httpx.AsyncClient, registered: Registered
) -> None:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "a", "password": "b"},
        auth=(registered.client_id, registered.secret),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert response.headers["cache-control"] == "no-store"


async def test_missing_grant_type_is_invalid_request_400(
    http: httpx.AsyncClient, registered: Registered
) -> None:
    response = await http.post(
        "/oauth/token", data={"scope": "reader"}, auth=(registered.client_id, registered.secret)
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "missing 'grant_type'",
    }


async def test_json_body_is_invalid_request_400(
    http: httpx.AsyncClient, registered: Registered
) -> None:
    response = await http.post(
        "/oauth/token",
        json={"grant_type": "client_credentials"},
        auth=(registered.client_id, registered.secret),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_two_authentication_methods_is_invalid_request_400(
    http: httpx.AsyncClient, registered: Registered
) -> None:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_secret": registered.secret},
        auth=(registered.client_id, registered.secret),
    )

    assert response.status_code == 400
    assert response.json()["error_description"] == "use one client authentication method, not two"


async def test_jwks_lists_every_signing_key_public_part_only(
    http: httpx.AsyncClient, keys: KeyStore
) -> None:
    first = keys.active_signing_kid
    second = rotate_signing_key(keys)

    response = await http.get("/.well-known/jwks.json")

    published = response.json()["keys"]
    assert [k["kid"] for k in published] == [first, second]
    assert all(k["kty"] == "EC" and k["alg"] == "ES256" and "d" not in k for k in published)


async def test_token_after_rotation_is_signed_with_the_new_key(
    http: httpx.AsyncClient, registered: Registered, keys: KeyStore
) -> None:
    new_kid = rotate_signing_key(keys)

    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(registered.client_id, registered.secret),
    )

    header = response.json()["access_token"].split(".")[0]
    decoded = base64.urlsafe_b64decode(header + "==").decode()
    assert f'"kid":"{new_kid}"' in decoded.replace(" ", "")
    assert '"typ":"at+jwt"' in decoded.replace(" ", "")


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
async def test_discovery_document_names_the_endpoints(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)

    doc = response.json()
    assert response.status_code == 200
    assert doc["issuer"] == "http://hub.test"
    assert doc["token_endpoint"] == "http://hub.test/oauth/token"
    assert doc["jwks_uri"] == "http://hub.test/.well-known/jwks.json"
    assert doc["grant_types_supported"] == ["client_credentials"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]


async def test_issuer_routes_are_404_when_an_external_idp_is_configured(
    settings: Settings, database: Database, keys: KeyStore, registered: Registered
) -> None:
    external = settings.model_copy(update={"oidc_issuer": "https://idp.example"})
    transport = httpx.ASGITransport(app=_app(external, database, keys))

    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        token = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(registered.client_id, registered.secret),
        )
        jwks = await client.get("/.well-known/jwks.json")

    assert (token.status_code, jwks.status_code) == (404, 404)
