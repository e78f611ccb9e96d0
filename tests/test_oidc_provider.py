"""Token verification against a real OpenID provider (panva/oidc-provider under node).

Discovery, the JWKS and the tokens all travel over real HTTP on 127.0.0.1. The provider runs
once per session from ``tests/oidc/server.mjs``; ``npm ci --prefix tests/oidc`` installs it,
and the fixture does so itself when ``tests/oidc/node_modules`` is missing.
"""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from catalog.errors import Unauthenticated
from hub.auth.tokens import REFETCH_INTERVAL, TokenVerifier
from hub.keys import KeyStore
from hub.settings import Settings
from tests.node_packages import node_with

OIDC_DIR = Path(__file__).parent / "oidc"
READY = re.compile(r"^OIDC-PROVIDER READY (\S+)$", re.MULTILINE)
START_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def oidc_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Issuer URL of a running oidc-provider; the process is stopped after the session."""
    node = node_with(OIDC_DIR, "oidc-provider")
    logs = tmp_path_factory.mktemp("oidc-provider")
    with (logs / "stdout").open("w") as out, (logs / "stderr").open("w") as err:
        # stdin stays open as a pipe: the server exits when it closes, even if pytest dies.
        process = subprocess.Popen(
            [node, "server.mjs", "0"], cwd=OIDC_DIR, stdin=subprocess.PIPE, stdout=out, stderr=err
        )
    try:
        yield _wait_until_ready(process, logs)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdin is not None:
            process.stdin.close()


def _wait_until_ready(process: subprocess.Popen[bytes], logs: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = READY.search((logs / "stdout").read_text())
        if found:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    stderr = (logs / "stderr").read_text()[-4000:]
    pytest.fail(
        f"oidc-provider did not get ready in {START_TIMEOUT:.0f} s "
        f"(exit code {process.poll()}):\n{stderr}"
    )


class Clock:
    """A monotonic clock the test moves by hand, to step past cache and refetch intervals."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fetched() -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    """An HTTP client for the verifier that records each path it fetches."""
    paths: list[str] = []

    async def record(request: httpx.Request) -> None:
        paths.append(request.url.path)

    async with httpx.AsyncClient(timeout=5.0, event_hooks={"request": [record]}) as client:
        yield client, paths


def _settings(tmp_path: Path, issuer: str, **extra: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "hub", keys_file=tmp_path / "keys.json", oidc_issuer=issuer, **extra
    )


async def _provider_token(issuer: str, resource: str | None = None) -> str:
    form = {"grant_type": "client_credentials"}
    if resource is not None:
        form["resource"] = resource
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.post(
            f"{issuer}/token", data=form, auth=("hub-test", "hub-test-secret")
        )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_provider_token_verifies_to_principal_with_agency_and_roles(
    oidc_issuer: str, tmp_path: Path, fetched: tuple[httpx.AsyncClient, list[str]]
) -> None:
    http, paths = fetched
    verifier = TokenVerifier(_settings(tmp_path, oidc_issuer), KeyStore(tmp_path / "k"), http)

    principal = await verifier.verify(await _provider_token(oidc_issuer))

    assert principal.subject == "hub-test"
    assert principal.client_id == "hub-test"
    assert principal.agency == "so-tnmt"
    assert principal.roles == frozenset({"reader", "owner"})
    assert paths == ["/.well-known/openid-configuration", "/jwks"]


async def test_token_for_another_resource_is_refused_for_its_audience(
    oidc_issuer: str, tmp_path: Path
) -> None:
    verifier = TokenVerifier(_settings(tmp_path, oidc_issuer), KeyStore(tmp_path / "k"))
    token = await _provider_token(oidc_issuer, resource="urn:other:api")

    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    await verifier.aclose()

    assert caught.value.message == "token audience does not include 'hub'"


async def test_keycloak_style_realm_access_roles_claim_path(
    oidc_issuer: str, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, oidc_issuer, oidc_roles_claim="realm_access.roles")
    verifier = TokenVerifier(settings, KeyStore(tmp_path / "k"))

    principal = await verifier.verify(await _provider_token(oidc_issuer))
    await verifier.aclose()

    assert principal.roles == frozenset({"steward"})


async def test_jwks_is_cached_for_its_ttl_then_fetched_again(
    oidc_issuer: str, tmp_path: Path, fetched: tuple[httpx.AsyncClient, list[str]]
) -> None:
    http, paths = fetched
    clock = Clock()
    settings = _settings(tmp_path, oidc_issuer)
    verifier = TokenVerifier(settings, KeyStore(tmp_path / "k"), http, clock=clock)
    token = await _provider_token(oidc_issuer)

    await verifier.verify(token)
    await verifier.verify(await _provider_token(oidc_issuer))
    clock.now += settings.oidc_jwks_ttl
    # A token not seen before (a seen one is remembered until its exp, without any fetch).
    await verifier.verify(await _provider_token(oidc_issuer))

    assert paths == ["/.well-known/openid-configuration", "/jwks", "/jwks"]


async def test_verifier_refetches_jwks_once_when_the_provider_rotates_keys(
    oidc_issuer: str, tmp_path: Path, fetched: tuple[httpx.AsyncClient, list[str]]
) -> None:
    http, paths = fetched
    clock = Clock()
    verifier = TokenVerifier(
        _settings(tmp_path, oidc_issuer), KeyStore(tmp_path / "k"), http, clock=clock
    )
    old_token = await _provider_token(oidc_issuer)
    await verifier.verify(old_token)
    async with httpx.AsyncClient(timeout=5.0) as client:
        new_kid = (await client.post(f"{oidc_issuer}/test/rotate")).json()["kid"]
    new_token = await _provider_token(oidc_issuer)
    clock.now += REFETCH_INTERVAL

    principal = await verifier.verify(new_token)
    old_principal = await verifier.verify(old_token)

    assert f'"kid":"{new_kid}"' in _header_json(new_token)
    assert principal.agency == old_principal.agency == "so-tnmt"
    assert paths == ["/.well-known/openid-configuration", "/jwks", "/jwks"]


async def test_unknown_kid_refetches_jwks_at_most_once_per_interval(
    oidc_issuer: str, tmp_path: Path, fetched: tuple[httpx.AsyncClient, list[str]]
) -> None:
    http, paths = fetched
    clock = Clock()
    verifier = TokenVerifier(
        _settings(tmp_path, oidc_issuer), KeyStore(tmp_path / "k"), http, clock=clock
    )
    await verifier.verify(await _provider_token(oidc_issuer))
    forged = _forged_token(oidc_issuer, kid="not-published")
    clock.now += REFETCH_INTERVAL

    messages = []
    for _ in range(3):
        with pytest.raises(Unauthenticated) as caught:
            await verifier.verify(forged)
        messages.append(caught.value.message)

    assert messages == ["unknown signing key 'not-published'"] * 3
    assert paths == ["/.well-known/openid-configuration", "/jwks", "/jwks"]


async def test_unreachable_identity_provider_is_unauthenticated(
    oidc_issuer: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    issuer = f"http://127.0.0.1:{closed_port}"
    verifier = TokenVerifier(_settings(tmp_path, issuer), KeyStore(tmp_path / "k"))
    token = await _provider_token(oidc_issuer)

    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    await verifier.aclose()

    assert caught.value.message == (
        "cannot reach the identity provider: "
        f"ConnectError for {issuer}/.well-known/openid-configuration"
    )


async def test_discovery_naming_another_issuer_is_refused(oidc_issuer: str, tmp_path: Path) -> None:
    configured = oidc_issuer.replace("127.0.0.1", "localhost")
    verifier = TokenVerifier(_settings(tmp_path, configured), KeyStore(tmp_path / "k"))
    token = await _provider_token(oidc_issuer)

    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    await verifier.aclose()

    assert caught.value.message == (
        "cannot reach the identity provider: its discovery document names issuer "
        f"'{oidc_issuer}', not '{configured}'"
    )


def _forged_token(issuer: str, kid: str) -> str:
    key = RSAKey.generate_key(2048)
    now = int(time.time())
    claims = {"iss": issuer, "sub": "hub-test", "aud": "hub", "iat": now, "exp": now + 300}
    header = {"alg": "RS256", "kid": kid, "typ": "at+jwt"}
    return jwt.encode(header, claims, key, algorithms=["RS256"])


def _header_json(token: str) -> str:
    segment = token.split(".")[0]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
