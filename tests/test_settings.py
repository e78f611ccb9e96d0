"""Settings: defaults give the embedded setup; bad values stop start-up naming the variable; a
TOML file is read and the environment overrides it; secrets never print."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from hub.auth.tokens import TokenVerifier
from hub.keys import KeyStore
from hub.settings import Settings, SettingsError, load_settings

SECRET_URL = "postgresql://hub:s3cr3t-pa55@db.internal:5432/hub"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the HUB_ variables it sets itself."""
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)


def test_defaults_give_the_embedded_setup() -> None:
    settings = load_settings()
    assert settings.data_dir == Path(".hub")
    assert settings.database_url is None
    assert settings.opensearch_url is None
    assert settings.uses_embedded_issuer
    assert settings.resolved_keys_file == Path(".hub") / "keys.json"
    assert settings.oidc_agency_claim == "agency"
    assert settings.oidc_roles_claim == "roles"
    assert settings.max_page_size == 100
    assert settings.max_query_depth == 8
    assert settings.token_issuer == settings.public_url == "http://127.0.0.1:8000"


def test_environment_variables_set_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", SECRET_URL)
    monkeypatch.setenv("HUB_OIDC_ISSUER", "https://sso.bacninh.gov.vn/realms/tinh/")
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == SECRET_URL
    assert not settings.uses_embedded_issuer
    assert settings.token_issuer == "https://sso.bacninh.gov.vn/realms/tinh"


def test_non_integer_page_size_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_MAX_PAGE_SIZE", "abc")
    with pytest.raises(SettingsError, match=r"^HUB_MAX_PAGE_SIZE: .*integer"):
        load_settings()


def test_out_of_range_depth_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_MAX_QUERY_DEPTH", "1")
    with pytest.raises(SettingsError, match=r"^HUB_MAX_QUERY_DEPTH: "):
        load_settings()


def test_non_http_public_url_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^HUB_PUBLIC_URL: .*'ftp://x'"):
        load_settings(public_url="ftp://x")


def test_non_postgres_database_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError, match=r"^HUB_DATABASE_URL: ") as caught:
        load_settings(database_url="mysql://hub:s3cr3t-pa55@db/hub")
    assert "s3cr3t-pa55" not in str(caught.value)


def test_unknown_log_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError, match=r"^HUB_LOG_LEVEL: .*'LOUD'"):
        load_settings()


def test_settings_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('max_page_size = 50\npublic_url = "https://hub.bacninh.gov.vn"\n')
    settings = load_settings(path)
    assert settings.max_page_size == 50
    assert settings.public_url == "https://hub.bacninh.gov.vn"


def test_environment_overrides_the_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("max_page_size = 50\nmax_query_depth = 6\n")
    monkeypatch.setenv("HUB_MAX_PAGE_SIZE", "25")
    settings = load_settings(path)
    assert settings.max_page_size == 25
    assert settings.max_query_depth == 6


def test_missing_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(SettingsError, match=f"settings file {missing} does not exist"):
        load_settings(missing)


def test_malformed_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("max_page_size = \n")
    with pytest.raises(SettingsError, match=f"settings file {path}: not valid TOML"):
        load_settings(path)


def test_unknown_key_in_settings_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("max_pagesize = 50\n")
    with pytest.raises(SettingsError, match="HUB_MAX_PAGESIZE: unknown setting"):
        load_settings(path)


def test_secret_database_url_never_appears_in_repr() -> None:
    settings = Settings(database_url=SECRET_URL)
    assert "s3cr3t-pa55" not in repr(settings)
    assert "s3cr3t-pa55" not in str(settings)
    assert "**********" in repr(settings)


async def test_keycloak_realm_access_roles_are_accepted(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        public_url="http://hub.test",
        oidc_roles_claim="realm_access.roles",
    )
    keys = KeyStore.load_or_create(settings.resolved_keys_file)
    now = int(time.time())
    claims = {
        "iss": "http://hub.test",
        "aud": "hub",
        "sub": "officer-1",
        "iat": now,
        "exp": now + 300,
        "agency": "STNMT",
        "realm_access": {"roles": ["owner", "offline_access", "reader"]},
    }
    jwk = next(k for k in keys.signing_keys if k["kid"] == keys.active_signing_kid)
    key = ECKey.import_key({k: v for k, v in jwk.items() if k != "created"})
    header = {"alg": "ES256", "kid": keys.active_signing_kid, "typ": "JWT"}
    token = jwt.encode(header, claims, key, algorithms=["ES256"])
    verifier = TokenVerifier(settings, keys)
    try:
        principal = await verifier.verify(token)
    finally:
        await verifier.aclose()
    assert principal.agency == "STNMT"
    assert principal.roles == frozenset({"owner", "reader"})
