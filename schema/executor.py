"""Runs GraphQL documents: parse, limit-check and validate once per document text and schema
build (an LRU cache), then execute. Compiled plans, where a document has one, short-circuit
execution entirely (see ``schema.records.compiler``)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    validate,
)

from catalog.errors import HubError, InvalidInput
from schema.context import Context
from schema.errors import format_error
from schema.limits import check_limits

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    document: DocumentNode | None
    errors: tuple[dict[str, Any], ...]
    operations: dict[str | None, OperationType]
    plan: Any = None


# A compiled fast path: given the prepared document, returns response bytes or None to fall back.
FastPath = Callable[
    [PreparedDocument, str | None, dict[str, Any], Context], Awaitable[bytes | None]
]


class Executor:
    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        max_depth: int,
        max_nodes: int,
        cache_size: int = 2048,
        fast_path: FastPath | None = None,
        planner: Callable[[DocumentNode, GraphQLSchema], Any] | None = None,
        before_execute: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.graphql_schema = schema
        self.before_execute = before_execute
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.cache_size = cache_size
        self.fast_path = fast_path
        self.planner = planner
        self._documents: OrderedDict[str, PreparedDocument] = OrderedDict()

    def prepare(self, query: str) -> PreparedDocument:
        cached = self._documents.get(query)
        if cached is not None:
            self._documents.move_to_end(query)
            return cached
        prepared = self._prepare(query)
        if self.cache_size:
            self._documents[query] = prepared
            if len(self._documents) > self.cache_size:
                self._documents.popitem(last=False)
        return prepared

    def _prepare(self, query: str) -> PreparedDocument:
        try:
            document = parse(query)
        except GraphQLError as error:
            return PreparedDocument(None, (format_error(error, ""),), {})
        try:
            check_limits(document, self.max_depth, self.max_nodes)
        except HubError as error:
            return PreparedDocument(
                None, ({"message": error.message, "extensions": {"code": error.code}},), {}
            )
        errors = validate(self.graphql_schema, document)
        if errors:
            return PreparedDocument(None, tuple(format_error(e, "") for e in errors), {})
        operations = {
            (d.name.value if d.name else None): d.operation
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        }
        plan = None
        if self.planner is not None:
            try:
                plan = self.planner(document, self.graphql_schema)
            except Exception:
                # A plan only speeds execution up; without one the document still runs correctly.
                log.exception("planning failed; the document runs without a compiled plan")
        return PreparedDocument(document, (), operations, plan)

    def operation_type(
        self, prepared: PreparedDocument, operation_name: str | None
    ) -> OperationType | None:
        if operation_name is None and len(prepared.operations) == 1:
            return next(iter(prepared.operations.values()))
        return prepared.operations.get(operation_name)

    async def run(
        self,
        prepared: PreparedDocument,
        operation_name: str | None,
        variables: dict[str, Any],
        context: Context,
    ) -> bytes:
        if prepared.document is None:
            return orjson.dumps({"errors": list(prepared.errors)})
        if self.fast_path is not None and prepared.plan is not None:
            fast = await self.fast_path(prepared, operation_name, variables, context)
            if fast is not None:
                return fast
        if self.before_execute is not None:
            await self.before_execute()
        result = execute(
            self.graphql_schema,
            prepared.document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return serialise(result, context)


def serialise(result: ExecutionResult, context: Context) -> bytes:
    body: dict[str, Any] = {}
    errors = [format_error(e, context.request_id) for e in result.errors or ()]
    errors.extend(context.extra_errors)
    if errors:
        body["errors"] = errors
    if result.data is not None or not errors:
        body["data"] = result.data
    return orjson.dumps(body, default=_default)


def _default(value: object) -> object:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def parse_variables(raw: object) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidInput("'variables' is not valid JSON") from None
    if not isinstance(raw, dict):
        raise InvalidInput("'variables' must be a JSON object")
    return raw


__all__ = ["Executor", "FastPath", "PreparedDocument", "parse_variables", "serialise"]
