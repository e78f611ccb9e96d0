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
    validate,
)

from catalog.errors import HubError, InvalidInput
from schema.context import Context
from schema.cost import CostLimit
from schema.document_limits import check_definitions, parse_bounded
from schema.errors import error_response, format_error
from schema.inputs import normalise_literals
from schema.limits import check_limits
from schema.statement_timeout import is_statement_timeout, rebase_timeouts, timeout_error
from schema.unavailable import database_unavailable

log = logging.getLogger(__name__)

# Cached documents keep their AST (about 170 bytes per character of text): bound the text
# held, so distinct large documents cannot fill memory through the cache.
_CACHE_CHARS = 2_000_000


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
        before_execute: Callable[[Context], Awaitable[None]] | None = None,
        max_document_bytes: int = 100_000,
        max_document_tokens: int = 5_000,
        max_cost: int | None = None,
        max_page: int = 100,
        statement_timeout_ms: int = 0,
    ) -> None:
        # Priced per document before any SQL (schema.cost); None serves any price.
        self.cost_limit = (
            CostLimit(schema, max_cost, max_page, cache_size) if max_cost is not None else None
        )
        self.statement_timeout_ms = statement_timeout_ms
        self.graphql_schema = schema
        self.max_document_bytes = max_document_bytes
        self.max_document_tokens = max_document_tokens
        self.before_execute = before_execute
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.cache_size = cache_size
        self.fast_path = fast_path
        self.planner = planner
        self._documents: OrderedDict[str, PreparedDocument] = OrderedDict()
        self._cached_chars = 0

    def prepare(self, query: str) -> PreparedDocument:
        cached = self._documents.get(query)
        if cached is not None:
            self._documents.move_to_end(query)
            return cached
        prepared = self._prepare(query)
        if self.cache_size and len(query) <= _CACHE_CHARS // 4:
            self._documents[query] = prepared
            self._cached_chars += len(query)
            while len(self._documents) > self.cache_size or self._cached_chars > _CACHE_CHARS:
                evicted, _ = self._documents.popitem(last=False)
                self._cached_chars -= len(evicted)
        return prepared

    def _prepare(self, query: str) -> PreparedDocument:
        try:
            # Bounded before the work: size and tokens (parsing is linear in tokens), then
            # every string literal NFC-normalised with NUL bytes refused, once per document.
            document = parse_bounded(query, self.max_document_bytes, self.max_document_tokens)
            document = normalise_literals(document, query)
            check_definitions(document)
            check_limits(document, self.max_depth, self.max_nodes)
            if self.cost_limit is not None:
                # Validating 83 aliases costs far more than pricing them: refuse first.
                self.cost_limit.check_document(document)
        except GraphQLError as error:
            return PreparedDocument(None, (format_error(error, ""),), {})
        except HubError as error:
            return PreparedDocument(
                None, tuple(error_response(error.code, error.message)["errors"]), {}
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
            context.request_error = True
            return orjson.dumps({"errors": list(prepared.errors)})
        if self.cost_limit is not None:
            try:  # before any SQL, on the compiled path and normal execution alike
                self.cost_limit.check(prepared.document, operation_name, variables)
            except HubError as error:
                context.request_error = True
                return orjson.dumps(error_response(error.code, error.message))
        if self.fast_path is not None and prepared.plan is not None:
            try:
                fast = await self.fast_path(prepared, operation_name, variables, context)
            except Exception as error:
                if not is_statement_timeout(error):
                    raise
                log.warning("request %s stopped by the statement timeout", context.request_id)
                raise timeout_error(self.statement_timeout_ms) from None
            if fast is not None:
                return fast
        if self.before_execute is not None:
            await self.before_execute(context)  # may refuse the caller (Unauthenticated)
        result = execute(
            self.graphql_schema,
            prepared.document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        if result.errors and rebase_timeouts(result, self.statement_timeout_ms):
            log.warning("request %s stopped by the statement timeout", context.request_id)
        # No data and no error on a field: the variables were refused before execution.
        errors = result.errors or ()
        context.request_error = result.data is None and bool(errors)
        context.request_error &= all(e.path is None for e in errors)
        return serialise(result, context)


def serialise(result: ExecutionResult, context: Context) -> bytes:
    body: dict[str, Any] = {}
    errors = [format_error(e, context.request_id) for e in result.errors or ()]
    # Nothing served because PostgreSQL was away: the endpoint answers 503, Retry-After.
    context.database_unavailable = result.data is None and any(
        database_unavailable(e.original_error) for e in result.errors or ()
    )
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
