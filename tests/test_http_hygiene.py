"""HTTP hygiene: security headers on every answer, CORS for the portal's configured origins
only, GraphiQL for browsers where it is switched on, and the GraphQL-over-HTTP media types
(``application/graphql-response+json`` with 4xx on request errors, 406 for neither type)."""

from __future__ import annotations

import pytest

from hub.graphql_media import GRAPHQL_RESPONSE, JSON, response_media_type
from hub.runtime import Hub
from hub.settings import SettingsError, load_settings
from tests.app_variants import running

PORTAL = "https://portal.quangngai.gov.vn"
ME = {"query": "{ me { anonymous } }"}


async def test_every_answer_carries_the_security_headers(hub: Hub, seeded: None) -> None:
    async with running(hub) as http:
        for response in (
            await http.post("/graphql", json=ME),
            await http.post("/graphql", content=b"{not json", headers={"Content-Type": JSON}),
            await http.get("/healthz"),
        ):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["content-security-policy"].startswith("default-src 'none'")
            assert "strict-transport-security" not in response.headers
    async with running(hub, public_url="https://hub.quangngai.gov.vn") as http:
        response = await http.post("/graphql", json=ME)
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_cors_answers_the_configured_origins_only(hub: Hub, seeded: None) -> None:
    async with running(hub, cors_origins=PORTAL) as http:
        preflight = await http.options(
            "/graphql",
            headers={
                "Origin": PORTAL,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, x-purpose",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == PORTAL
        assert "x-purpose" in preflight.headers["access-control-allow-headers"].lower()
        answered = await http.post("/graphql", json=ME, headers={"Origin": PORTAL})
        assert answered.headers["access-control-allow-origin"] == PORTAL
        assert "x-request-id" in answered.headers["access-control-expose-headers"].lower()

        stranger = await http.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert stranger.status_code == 400
        assert "access-control-allow-origin" not in stranger.headers
        plain = await http.post("/graphql", json=ME, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in plain.headers
    async with running(hub) as http:  # none configured: no CORS headers at all
        answered = await http.post("/graphql", json=ME, headers={"Origin": PORTAL})
        assert "access-control-allow-origin" not in answered.headers


async def test_browsers_get_graphiql_where_it_is_on(hub: Hub, seeded: None) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    async with running(hub, graphiql=True) as http:
        page = await http.get("/graphql", headers=browser)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "graphiql" in page.text.lower()
        assert "https://unpkg.com" in page.headers["content-security-policy"]
        assert "connect-src 'self'" in page.headers["content-security-policy"]
        # A query in the URL is still a query, whatever the browser accepts.
        answered = await http.get("/graphql", params={"query": "{ me { anonymous } }"})
        assert answered.json()["data"] == {"me": {"anonymous": True}}
    async with running(hub, graphiql=False) as http:
        refused = await http.get("/graphql", headers=browser)
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith(JSON)


async def test_graphql_response_json_gets_its_type_and_4xx_on_request_errors(
    hub: Hub, seeded: None
) -> None:
    asked = {"Accept": GRAPHQL_RESPONSE}
    async with running(hub) as http:
        ok = await http.post("/graphql", json=ME, headers=asked)
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        for body in (
            {"query": "{ me { "},  # parse error
            {"query": "{ me { noSuchField } }"},  # validation error
            {"query": "query($n: Int!) { datasets(first: $n) { totalCount } }", "variables": {}},
        ):
            refused = await http.post("/graphql", json=body, headers=asked)
            assert refused.status_code == 400, refused.text
            assert refused.headers["content-type"].startswith(GRAPHQL_RESPONSE)
            assert "data" not in refused.json()
            legacy = await http.post("/graphql", json=body)  # application/json: 200 as before
            assert legacy.status_code == 200
            assert legacy.headers["content-type"].startswith(JSON)
        neither = await http.post("/graphql", json=ME, headers={"Accept": "text/plain"})
        assert neither.status_code == 406
        assert neither.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        bad_extensions = await http.post("/graphql", json={**ME, "extensions": "x"})
        assert bad_extensions.status_code == 400


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
        (f"{JSON}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        ("text/html", None),
        (f"{GRAPHQL_RESPONSE};q=0", None),
        ("application/json;q=nonsense", None),
    ],
)
def test_accept_negotiation(accept: str | None, expected: str | None) -> None:
    assert response_media_type(accept) == expected


@pytest.mark.parametrize(
    "origins", ["portal.gov.vn", "https://portal.gov.vn/path", "ftp://portal.gov.vn"]
)
def test_a_bad_origin_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, origins: str
) -> None:
    monkeypatch.setenv("HUB_CORS_ORIGINS", f"{PORTAL}, {origins}")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert f"HUB_CORS_ORIGINS: {origins!r} is not an origin" in str(raised.value)
