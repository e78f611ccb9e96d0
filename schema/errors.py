"""GraphQL error shaping: HubErrors keep their code and message; anything else is masked as
INTERNAL with the request id (the logs carry the traceback under the same id)."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from catalog.errors import HubError
from schema.unavailable import UNAVAILABLE_MESSAGE, database_unavailable

log = logging.getLogger("hub.errors")


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    shaped: dict[str, Any] = {"message": error.message}
    if error.locations:
        shaped["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        shaped["path"] = list(error.path)
    if isinstance(original, HubError):
        shaped["message"] = original.message
        shaped["extensions"] = {"code": original.code}
    elif database_unavailable(original):
        log.warning(
            "request %s at %s: database unavailable (%s)",
            request_id,
            error.path,
            type(original).__name__,
        )
        shaped["message"] = UNAVAILABLE_MESSAGE.format(request_id=request_id)
        shaped["extensions"] = {"code": "INTERNAL", "requestId": request_id}
    elif original is None or _is_input_error(error, original):
        # Syntax, validation and variable-coercion errors: the client's document is at fault.
        code = (error.extensions or {}).get("code") or "BAD_USER_INPUT"
        shaped["extensions"] = {"code": code}
    else:
        log.error(
            "internal error in request %s at %s",
            request_id,
            error.path,
            exc_info=(type(original), original, original.__traceback__),
        )
        shaped["message"] = f"internal error; quote request id {request_id}"
        shaped["extensions"] = {"code": "INTERNAL", "requestId": request_id}
    return shaped


def _is_input_error(error: GraphQLError, original: BaseException) -> bool:
    # Without a path the error arose coercing a variable, before any resolver ran: a scalar
    # refusing the value (strawberry's DateTime raises StrawberryInputCoercionError for
    # "yesterday"; others raise ValueError or TypeError).
    return error.path is None and isinstance(original, GraphQLError | ValueError | TypeError)


def error_response(code: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": code}
    if request_id and code == "INTERNAL":
        extensions["requestId"] = request_id
    return {"errors": [{"message": message, "extensions": extensions}]}


def forbidden_error(path: list[str | int], message: str) -> dict[str, Any]:
    return {"message": message, "path": path, "extensions": {"code": "FORBIDDEN"}}


__all__ = ["error_response", "forbidden_error", "format_error"]
