"""A read cut short by PostgreSQL's ``statement_timeout`` (set on the hub's read pool, see
``hub.db``) is the caller's query being too heavy, not a fault of the hub: it answers
QUERY_TOO_COMPLEX naming the timeout, never INTERNAL."""

from __future__ import annotations

import asyncpg
from graphql import ExecutionResult, GraphQLError

from catalog.errors import QueryTooComplex


def is_statement_timeout(error: BaseException | None) -> bool:
    """True for PostgreSQL's "canceling statement due to statement timeout" (57014); a
    cancel for another reason (an operator's ``pg_cancel_backend``) stays an internal error."""
    return isinstance(error, asyncpg.QueryCanceledError) and "statement timeout" in str(error)


def timeout_error(timeout_ms: int) -> QueryTooComplex:
    return QueryTooComplex(
        f"query ran longer than the hub's statement timeout of {timeout_ms} ms and was "
        "stopped; ask for smaller pages, narrower filters or fewer aliases"
    )


def rebase_timeouts(result: ExecutionResult, timeout_ms: int) -> int:
    """Replace, in place, each error caused by a statement timeout with QUERY_TOO_COMPLEX at
    the same path; returns how many were replaced."""
    replaced = 0
    for index, error in enumerate(result.errors or ()):
        if not is_statement_timeout(_root_cause(error)):
            continue
        assert result.errors is not None
        result.errors[index] = GraphQLError(
            error.message,
            nodes=error.nodes,
            path=error.path,
            original_error=timeout_error(timeout_ms),
        )
        replaced += 1
    return replaced


def _root_cause(error: GraphQLError) -> BaseException | None:
    original: BaseException | None = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


__all__ = ["is_statement_timeout", "rebase_timeouts", "timeout_error"]
