"""The ``/graphql`` endpoint: token check, request parsing, execution, response bytes.

POST carries JSON; GET carries queries only (never mutations, so links cannot change data).
A bad token is a 401 with ``WWW-Authenticate``, never an anonymous request.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import Response

from catalog.errors import (
    HubError,
    InvalidInput,
    PersistedQueryNotFound,
    QueryTooComplex,
    RateLimited,
    Unauthenticated,
)
from hub.access_log import request_id_for
from hub.auth.request import principal_from_authorization, www_authenticate
from hub.graphiql import graphiql_page, wants_graphiql
from hub.graphql_media import GRAPHQL_RESPONSE, JSON, response_media_type
from hub.rate_limit_http import client_address, rate_limited_response
from hub.replicas import writer_key
from hub.services import Services
from schema.context import Context
from schema.document_limits import check_document_size
from schema.errors import error_response
from schema.executor import parse_variables
from schema.inputs import header_text, normalise_variables, variable_uses
from schema.records.bind import MAX_PURPOSE
from schema.unavailable import (
    RETRY_AFTER_SECONDS,
    UNAVAILABLE_MESSAGE,
    database_unavailable,
)

log = logging.getLogger(__name__)


def _json(
    body: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
    media_type: str = JSON,
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type, headers=headers)


async def graphql_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    if services.settings.serves_graphiql and wants_graphiql(request):
        return graphiql_page()
    request_id = request_id_for(request)
    try:
        response = await _answer(request, services, request_id)
    except Exception as exc:  # the token check, the catalogue refresh, execution
        media = response_media_type(request.headers.get("accept")) or JSON
        if database_unavailable(exc):
            log.warning("request %s: database unavailable (%s)", request_id, type(exc).__name__)
            response = _unavailable(request_id, media)
        else:
            log.exception("request %s failed", request_id)
            message = f"internal error; quote request id {request_id}"
            response = _json(error_response("INTERNAL", message, request_id), 500, None, media)
    return _with_request_id(response, request_id)


def _with_request_id(response: Response, request_id: str) -> Response:
    """``extensions.requestId`` in every GraphQL answer; the id is a safe token (checked or
    made by ``hub.access_log``), so it is spliced in without re-encoding the body."""
    body = bytes(response.body)
    if body.startswith(b"{") and body.endswith(b"}"):
        stamp = b'"extensions":{"requestId":"' + request_id.encode() + b'"}}'
        response.body = body[:-1] + (b"," if len(body) > 2 else b"") + stamp
        response.headers["content-length"] = str(len(response.body))
    return response  # hub.access_log adds the X-Request-Id header


async def _answer(request: Request, services: Services, request_id: str) -> Response:
    media = response_media_type(request.headers.get("accept"))
    if media is None:
        message = f"send Accept: {GRAPHQL_RESPONSE} or {JSON}; the hub answers in no other type"
        return _json(error_response("BAD_USER_INPUT", message), 406)
    # Request errors: 400 to graphql-response+json, 200 to legacy JSON clients (the spec's rule).
    refused = 400 if media == GRAPHQL_RESPONSE else 200
    try:
        principal = await principal_from_authorization(
            request.headers.get("authorization"), services.verifier
        )
        principal = await services.admit(principal)  # a removed client's token stops here
    except Unauthenticated as exc:
        return _unauthenticated(exc)
    request.state.client = principal.client_id
    request.state.agency = principal.agency
    try:
        await services.rate_limiter.admit_request(principal, client_address(request))
    except RateLimited as exc:
        return rate_limited_response(exc, request_id)
    settings = services.settings
    try:
        raw_query, raw_variables, operation_name, extensions = await _read_request(request)
        caller = writer_key(principal) or f"address:{client_address(request)}"
        query, kept_as = services.persisted_queries.resolve(caller, raw_query, extensions)
        check_document_size(query, settings.max_document_bytes)
        services.persisted_queries.remember(query, kept_as)
    except PersistedQueryNotFound as exc:  # the client resends the document with its hash
        return _json(error_response(exc.code, exc.message), refused, media_type=media)
    except InvalidInput as exc:
        return _json(error_response(exc.code, exc.message), 400, media_type=media)
    except QueryTooComplex as exc:  # a document too large to parse: refused by its size
        return _json(error_response(exc.code, exc.message), 413, media_type=media)
    try:
        purpose = header_text("X-Purpose", request.headers.get("x-purpose"), MAX_PURPOSE)
    except InvalidInput as exc:
        return _json(error_response(exc.code, exc.message), 400, media_type=media)
    executor = services.executor_for(principal)  # anonymous callers: the public schema
    prepared = executor.prepare(query)
    operation = executor.operation_type(prepared, operation_name)
    request.state.operation_type = operation.value if operation is not None else None
    request.state.operation_name = operation_name[:100] if operation_name else None
    if prepared.document is not None:
        if operation is None:
            return _json(
                error_response(
                    "BAD_USER_INPUT",
                    f"no operation named {operation_name and operation_name[:100]!r}",
                ),
                400,
                media_type=media,
            )
        if request.method == "GET" and operation is not OperationType.QUERY:
            return _json(
                error_response("BAD_USER_INPUT", "only queries may be sent with GET; use POST"),
                405,
                {"Allow": "POST"},
                media,
            )
    try:
        # Every text input is checked and NFC-normalised once, here (literals: on parsing).
        document = prepared.document
        variables = normalise_variables(
            raw_variables,
            settings.max_variable_values,
            (lambda name: variable_uses(document, name)) if document is not None else None,
        )
    except HubError as exc:  # answered as a variable that fails coercion is
        return _json(error_response(exc.code, exc.message), refused, media_type=media)
    context = Context(
        principal=principal,
        sessions=services.sessions,
        request_id=request_id,
        purpose=purpose,
        max_page_size=services.settings.max_page_size,
        services=services,
        pool=services.read_pool_for(principal),
    )
    try:
        body = await executor.run(prepared, operation_name, variables, context)
    except Unauthenticated as exc:  # the client was removed while this request began
        return _unauthenticated(exc)
    except HubError as exc:
        return _json(error_response(exc.code, exc.message), media_type=media)
    # Anything else raised here is answered by graphql_endpoint (503 or INTERNAL).
    if context.database_unavailable:
        return _unavailable(request_id, media)
    if operation is OperationType.MUTATION:
        await services.note_write(principal)  # its next reads see what it wrote
    status = refused if context.request_error else 200
    if body.startswith(b'{"errors":'):
        request.state.outcome = "refused" if context.request_error else "error"
    return Response(body, status_code=status, media_type=media)


def _unavailable(request_id: str, media: str) -> Response:
    message = UNAVAILABLE_MESSAGE.format(request_id=request_id)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return _json(error_response("INTERNAL", message, request_id), 503, headers, media)


def _unauthenticated(exc: Unauthenticated) -> Response:
    return _json(
        error_response(exc.code, exc.message), 401, {"WWW-Authenticate": www_authenticate(exc)}
    )


async def _read_request(
    request: Request,
) -> tuple[Any, dict[str, Any], str | None, dict[str, Any] | None]:
    """Query (checked by ``PersistedQueries.resolve``), variables, operation name and
    extensions; the body's size was capped by ``hub.http_limits`` before it was read."""
    if request.method == "GET":
        params = request.query_params
        payload: dict[str, Any] = {
            "query": params.get("query"),
            "variables": params.get("variables"),
            "operationName": params.get("operationName"),
            "extensions": params.get("extensions"),
        }
    else:
        # Media types are case-insensitive (RFC 9110 §8.3.1): APPLICATION/JSON is JSON.
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (JSON, "application/graphql+json", GRAPHQL_RESPONSE, ""):
            raise InvalidInput(f"send the request as {JSON}, not {content_type[:100]!r}")
        raw = await request.body()
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"request body is not valid JSON: {exc}") from None
        if isinstance(decoded, list):
            raise InvalidInput(
                "batched requests (a JSON array) are not accepted: send one operation per request"
            )
        if not isinstance(decoded, dict):
            raise InvalidInput("request body must be a JSON object with a 'query'")
        payload = decoded
    query = payload.get("query")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise InvalidInput("'operationName' must be a string")
    extensions = payload.get("extensions")
    if isinstance(extensions, str) and request.method == "GET":  # JSON in a query parameter
        try:
            extensions = orjson.loads(extensions)
        except orjson.JSONDecodeError:
            raise InvalidInput("'extensions' is not valid JSON") from None
    if extensions is not None and not isinstance(extensions, dict):
        raise InvalidInput("'extensions' must be a JSON object")
    return query, parse_variables(payload.get("variables")), operation_name, extensions


__all__ = ["graphql_endpoint"]
