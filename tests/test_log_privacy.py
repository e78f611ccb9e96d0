"""Logs carry identifiers and error classes, never record values or secrets (issue: an
INTERNAL error inside correctRecord once logged a whole record with a RESTRICTED phone)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from hub.auth.clients import add_client
from hub.demo.load import load_demo
from hub.logs import QueryStringFilter, RedactingFormatter
from hub.runtime import Hub
from tests.record_support import Gql, codes
from tests.records_fixtures import load_demo_records

CORRECT = """
mutation($dataset: String!, $key: String!, $values: JSON!) {
  correctRecord(dataset: $dataset, key: $key, values: $values, reason: "Sửa") { version }
}"""
CITIZEN_LIST = """
query($phone: String) { citizenList(first: 5, filter: {phone: {eq: $phone}}) { totalCount } }"""
BUSINESS_LIST = """
query($capital: String) { businessList(filter: {charterCapital: {gte: $capital}}) { totalCount } }
"""


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything any logger writes during the test, formatted as `hub serve` formats it."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield sink
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_formatter_keeps_frames_and_classes_but_no_messages() -> None:
    secret_phone = "0912345678"
    try:
        try:
            raise ValueError(f"bad value {secret_phone}")
        except ValueError as inner:
            raise RuntimeError(f"while storing {secret_phone}") from inner
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        record.exc_info = sys.exc_info()
    text = RedactingFormatter("%(message)s").format(record)
    assert secret_phone not in text
    assert "builtins.ValueError" in text and "builtins.RuntimeError" in text
    assert "test_formatter_keeps_frames_and_classes_but_no_messages" in text


def test_access_log_filter_drops_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", '/graphql?query={citizen(key:"001099012345")}', "1.1", 200),
        None,
    )
    QueryStringFilter().filter(record)
    assert "001099012345" not in record.getMessage()
    assert "/graphql" in record.getMessage()


async def test_hostile_requests_leave_no_personal_data_or_secrets_in_logs(
    hub: Hub,
    seeded: None,
    gql: Gql,
    client: httpx.AsyncClient,
    token: Callable[..., str],
    captured: io.StringIO,
) -> None:
    data = await load_demo_records(hub, businesses=20, parcels=10, citizens=40)
    async with hub.db.sessions.begin() as session:
        _client, secret = await add_client(session, "log probe", "SYT", ["reader"])
    owner = token("SYT", "owner")
    citizen = next(c for c in data["citizen"] if c.get("phone"))
    phone, citizen_id = citizen["phone"], citizen["citizen_id"]
    business = data["business"][0]

    answers: list[dict[str, Any]] = [
        await gql(
            CORRECT,
            token=owner,
            dataset="citizen",
            key=citizen_id,
            values={"phone": phone + "\x00"},
        ),
        await gql(
            CORRECT,
            token=token("SKHDT", "owner"),
            dataset="business",
            key=business["tax_code"],
            values={"charter_capital": "1e999999", "representative_phone": phone},
        ),
        await gql(CITIZEN_LIST, token=owner, purpose="Kiểm tra", phone=phone + "\x00"),
        await gql(BUSINESS_LIST, capital="1e999999"),
        await gql(f'{{ citizen(key: "{citizen_id}") {{ phone }}'),  # a syntax error
    ]
    for body in answers:
        assert body.get("errors"), body
        assert "INTERNAL" not in codes(body), body
    refused = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": secret},
    )
    assert refused.status_code == 401
    bad_token = await client.post(
        "/graphql",
        json={"query": "{ me { roles } }"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert bad_token.status_code == 401

    logged = captured.getvalue()
    for citizen_row in data["citizen"]:
        assert citizen_row["citizen_id"] not in logged
        if citizen_row.get("phone"):
            assert citizen_row["phone"] not in logged
    assert secret not in logged


async def test_demo_loader_keeps_client_secrets_out_of_its_output(
    hub: Hub, captured: io.StringIO
) -> None:
    lines = await load_demo(hub)
    stored = json.loads((hub.settings.data_dir / "demo-clients.json").read_text())
    secrets = [c["client_secret"] for c in stored.values()]
    assert secrets and all(secrets)
    printed = "\n".join(lines) + captured.getvalue()
    for secret in secrets:
        assert secret not in printed
    assert "make token AS=demo-tuson-app" in printed
