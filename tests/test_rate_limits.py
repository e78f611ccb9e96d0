"""Allowances per client, per agency, per anonymous address and on the token endpoint: a
spent allowance is a 429 with ``Retry-After`` and ``RATE_LIMITED``, other callers are served
on, and with ``HUB_REDIS_URL`` every hub process spends one budget (the machine's Redis)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from hub.auth.clients import add_client
from hub.runtime import Hub
from hub.settings import SettingsError, load_settings
from tests.app_variants import running

ME = "{ me { anonymous agency { code } } }"
REDIS = "redis://127.0.0.1:6379/0"


async def ask(http: httpx.AsyncClient, bearer: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return await http.post("/graphql", json={"query": ME}, headers=headers)


def assert_limited(response: httpx.Response, who: str) -> None:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert f"too many requests for this {who}" in error["message"]
    assert "retry after" in error["message"]


async def test_a_client_over_its_allowance_is_refused_and_others_are_served(
    hub: Hub, seeded: None, token: Callable[..., str]
) -> None:
    busy = token("STNMT", "reader", subject=f"busy-{uuid.uuid4().hex[:8]}")
    calm = token("STNMT", "reader", subject=f"calm-{uuid.uuid4().hex[:8]}")
    async with running(hub, rate_limit_client="3/minute") as http:
        for _ in range(3):
            assert (await ask(http, busy)).status_code == 200
        assert_limited(await ask(http, busy), "client")
        answered = await ask(http, calm)
        assert answered.status_code == 200
        assert answered.json()["data"]["me"]["agency"]["code"] == "STNMT"


async def test_an_agency_spends_one_allowance_over_all_its_clients(
    hub: Hub, seeded: None, token: Callable[..., str]
) -> None:
    first = token("SYT", "reader", subject=f"a-{uuid.uuid4().hex[:8]}")
    second = token("SYT", "reader", subject=f"b-{uuid.uuid4().hex[:8]}")
    elsewhere = token("STNMT", "reader", subject=f"c-{uuid.uuid4().hex[:8]}")
    async with running(hub, rate_limit_agency="4/minute") as http:
        for bearer in (first, second, first, second):
            assert (await ask(http, bearer)).status_code == 200
        assert_limited(await ask(http, first), "agency")
        assert (await ask(http, elsewhere)).status_code == 200


async def test_anonymous_callers_are_limited_per_address(hub: Hub, seeded: None) -> None:
    async with running(hub, rate_limit_anonymous="2/minute") as http:
        assert (await ask(http)).status_code == 200
        assert (await ask(http)).status_code == 200
        assert_limited(await ask(http), "address")


async def test_ingest_spends_the_same_allowance(
    hub: Hub, seeded: None, token: Callable[..., str]
) -> None:
    owner = token("SKHDT", "owner", subject=f"o-{uuid.uuid4().hex[:8]}")
    async with running(hub, rate_limit_client="1/minute") as http:
        assert (await ask(http, owner)).status_code == 200
        response = await http.post(
            "/ingest/business",
            content=b"{}\n",
            headers={"Authorization": f"Bearer {owner}", "Content-Type": "application/x-ndjson"},
        )
        assert_limited(response, "client")


async def test_token_requests_are_limited_before_the_secret_is_checked(
    hub: Hub, seeded: None
) -> None:
    async with hub.db.sessions.begin() as session:
        client, secret = await add_client(session, "portal", "STNMT", ["reader"])
    form = {"grant_type": "client_credentials", "client_id": client.client_id}
    async with running(hub, rate_limit_token="3/minute") as http:
        for _ in range(3):
            wrong = await http.post("/oauth/token", data={**form, "client_secret": "wrong"})
            assert wrong.status_code == 401
        # The right secret waits too: the allowance is spent before any secret is hashed.
        right = await http.post("/oauth/token", data={**form, "client_secret": secret})
        assert right.status_code == 429
        assert right.json()["error"] == "rate_limited"
        assert int(right.headers["retry-after"]) >= 1
        assert right.headers["cache-control"] == "no-store"


async def test_hub_processes_share_one_budget_through_redis(
    hub: Hub, seeded: None, token: Callable[..., str]
) -> None:
    bearer = token("STNMT", "reader", subject=f"shared-{uuid.uuid4().hex}")
    async with (
        running(hub, rate_limit_client="3/minute", redis_url=SecretStr(REDIS)) as one,
        running(hub, rate_limit_client="3/minute", redis_url=SecretStr(REDIS)) as two,
    ):
        assert (await ask(one, bearer)).status_code == 200
        assert (await ask(two, bearer)).status_code == 200
        assert (await ask(one, bearer)).status_code == 200
        assert_limited(await ask(two, bearer), "client")
        assert_limited(await ask(one, bearer), "client")


async def test_an_unreachable_counter_store_serves_and_warns(
    hub: Hub, seeded: None, token: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    bearer = token("STNMT", "reader", subject=f"down-{uuid.uuid4().hex[:8]}")
    caplog.set_level(logging.WARNING, logger="hub.rate_limits")
    async with running(
        hub, rate_limit_client="1/minute", redis_url=SecretStr("redis://127.0.0.1:1/0")
    ) as h:
        assert (await ask(h, bearer)).status_code == 200
        assert (await ask(h, bearer)).status_code == 200
    warnings = [r for r in caplog.records if "rate limit counters unreachable" in r.message]
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HUB_RATE_LIMIT_CLIENT", "lots", "HUB_RATE_LIMIT_CLIENT: 'lots' is not a rate"),
        ("HUB_RATE_LIMIT_TOKEN", "5 per fortnight", "HUB_RATE_LIMIT_TOKEN: '5 per fortnight'"),
        ("HUB_REDIS_URL", "http://user:hunter2@cache:6379", "HUB_REDIS_URL: expected redis://"),
    ],
)
def test_bad_limit_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert expected in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_limits_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_RATE_LIMIT_CLIENT", "off")
    assert load_settings().rate_limit_client == "off"
