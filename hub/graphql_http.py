"""The ``/graphql`` endpoint: token check, request parsing, execution, response bytes.

POST carries JSON; GET carries queries only (never mutations, so links cannot change data).
A bad token is a 401 with ``WWW-Authenticate``, never an anonymous request.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import unquote

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import Response

from catalog.errors import HubError, InvalidInput, Unauthenticated
from hub.auth.request import principal_from_authorization, www_authenticate
from hub.services import Services
from schema.context import Context
from schema.errors import error_response
from schema.executor import parse_variables

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000
JSON = "application/json"


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


async def graphql_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    try:
        principal = await principal_from_authorization(
            request.headers.get("authorization"), services.verifier
        )
    except Unauthenticated as exc:
        return _json(
            error_response(exc.code, exc.message),
            401,
            {"WWW-Authenticate": www_authenticate(exc)},
        )
    try:
        query, variables, operation_name = await _read_request(request)
    except InvalidInput as exc:
        return _json(error_response(exc.code, exc.message), 400)
    executor = services.executor
    assert executor is not None
    prepared = executor.prepare(query)
    operation = executor.operation_type(prepared, operation_name)
    if prepared.document is not None:
        if operation is None:
            return _json(
                error_response("BAD_USER_INPUT", f"no operation named {operation_name!r}"), 400
            )
        if request.method == "GET" and operation is not OperationType.QUERY:
            return _json(
                error_response("BAD_USER_INPUT", "only queries may be sent with GET; use POST"),
                405,
                {"Allow": "POST"},
            )
    # Headers are Latin-1: a Vietnamese purpose arrives percent-encoded (UTF-8).
    purpose = unquote(request.headers.get("x-purpose") or "")
    context = Context(
        principal=principal,
        sessions=services.sessions,
        request_id=request_id,
        purpose=purpose.strip() if purpose and purpose.strip() else None,
        max_page_size=services.settings.max_page_size,
        services=services,
    )
    try:
        body = await executor.run(prepared, operation_name, variables, context)
    except HubError as exc:
        return _json(error_response(exc.code, exc.message))
    except Exception:
        log.exception("request %s failed", request_id)
        return _json(
            error_response(
                "INTERNAL", f"internal error; quote request id {request_id}", request_id
            ),
            500,
        )
    return Response(body, media_type=JSON, headers={"X-Request-Id": request_id})


async def _read_request(request: Request) -> tuple[str, dict[str, Any], str | None]:
    if request.method == "GET":
        params = request.query_params
        payload: dict[str, Any] = {
            "query": params.get("query"),
            "variables": params.get("variables"),
            "operationName": params.get("operationName"),
        }
    else:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in (JSON, "application/graphql+json", ""):
            raise InvalidInput(f"send the request as {JSON}, not {content_type!r}")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise InvalidInput(f"request body is larger than {MAX_BODY} bytes")
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"request body is not valid JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise InvalidInput("request body must be a JSON object with a 'query'")
        payload = decoded
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("'query' must be a non-empty string")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise InvalidInput("'operationName' must be a string")
    return query, parse_variables(payload.get("variables")), operation_name


__all__ = ["graphql_endpoint"]
