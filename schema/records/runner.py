"""Running compiled record queries for one request: bind, pick or compile the SQL for the
caller's access, execute as one prepared statement, and return response bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLSchema
from graphql.execution.values import get_variable_values
from prometheus_client import Counter

from catalog.access import Access
from catalog.errors import HubError
from catalog.reads import ReadItem, read_events
from schema.context import CatalogView, Context, Services
from schema.errors import format_error
from schema.records.bind import Bound, bind_site, shape_dict
from schema.records.compiler import (
    PART_SEPARATOR,
    READ_SEPARATOR,
    CompileContext,
    CompiledQuery,
    Compiler,
)
from schema.records.plan import DocumentPlan, OperationPlan
from schema.records.postprocess import postprocess

MAX_STALE_RETRIES = 3

RECORD_STATEMENTS = Counter(
    "hub_record_statements_total", "SQL statements run to answer typed record queries"
)
COMPILED_PLANS = Counter("hub_compiled_plans_total", "Record query plans compiled (cache misses)")


@dataclass
class Outcome:
    data: str | None  # JSON text of the data object
    errors: list[dict[str, Any]]


class Runner:
    def __init__(self, schema: GraphQLSchema, services: Services, max_page: int) -> None:
        self.schema = schema
        self.services = services
        self.max_page = max_page

    async def run_document(
        self,
        plan: DocumentPlan,
        operation_name: str | None,
        variables: dict[str, Any],
        ctx: Context,
    ) -> bytes | None:
        op = plan.for_operation(operation_name)
        if op is None:
            return None
        definitions = op.operation.variable_definitions or ()
        coerced = get_variable_values(self.schema, definitions, variables)
        if isinstance(coerced, list):
            return orjson.dumps({"errors": [format_error(e, ctx.request_id) for e in coerced]})
        try:
            outcome = await self.run(op, coerced, ctx)
        except HubError as exc:
            return orjson.dumps(
                {
                    "errors": [{"message": exc.message, "extensions": {"code": exc.code}}],
                    "data": None,
                }
            )
        if outcome is None:
            return None
        errors = outcome.errors + ctx.extra_errors
        head = b'{"errors":' + orjson.dumps(errors) + b"," if errors else b"{"
        return head + b'"data":' + (outcome.data or "null").encode() + b"}"

    async def run(
        self,
        op: OperationPlan,
        variables: Any,
        ctx: Context,
        has_history: bool = False,
    ) -> Outcome | None:
        bound_args = []
        shapes = []
        for site in op.sites:
            try:
                args, shape = bind_site(site, variables, self.max_page)
            except GraphQLError as error:
                raise _as_hub_error(error) from None
            bound_args.append(args)
            shapes.append(shape)
        for _attempt in range(MAX_STALE_RETRIES):
            snapshot = self.services.snapshot
            access: dict[str, Access] = {}
            for code in op.datasets:
                decided = snapshot.access(ctx.principal, code)
                if decided is None:
                    return None  # schema and snapshot disagree; normal execution decides
                access[code] = decided
            cache_key = (
                tuple(shapes),
                tuple(sorted((c, a.fingerprint) for c, a in access.items())),
                ctx.purpose is not None,
                has_history,
            )
            compiled = op.compiled.get(cache_key)
            if compiled is None:
                compiled = self._compile(op, snapshot, access, shapes, ctx, has_history)
                COMPILED_PLANS.inc()
                op.remember(cache_key, compiled)
            bound = Bound(
                bound_args, ctx.principal, ctx.purpose, ctx.request_id, snapshot.policy_version
            )
            pool = self.services.pool
            assert pool is not None
            RECORD_STATEMENTS.inc()
            row = await pool.fetchrow(compiled.sql, *compiled.params.values(bound))
            if row is None:
                return Outcome(None, [])
            if row["fresh"]:
                await self._audit(compiled, row["reads"], ctx)
                return self._finish(compiled, row["data"])
            await self.services.refresh()
        raise HubError("the access rules kept changing during the request; try again")

    def _compile(
        self,
        op: OperationPlan,
        snapshot: CatalogView,
        access: dict[str, Access],
        shapes: list[tuple[Any, ...]],
        ctx: Context,
        has_history: bool,
    ) -> CompiledQuery:
        cc = CompileContext(
            schema=self.schema,
            datasets=snapshot.datasets,
            access=access,
            fragments=op.fragments,
            keys=self.services.field_keys,
            has_purpose=ctx.purpose is not None,
            arg_index=op.arg_index,
            shapes=[shape_dict(s) for s in shapes],
            with_refs=has_history,
        )
        assert self.schema.query_type is not None
        return Compiler(cc).compile_root(op.roots, self.schema.query_type)

    async def _audit(self, compiled: CompiledQuery, reads: str | None, ctx: Context) -> None:
        """Before the response leaves: the reads are committed to the audit (group commit)."""
        items = [_read_item(r) for r in reads.split(READ_SEPARATOR)] if reads else []
        refused = {c: u["refused"] for c, u in compiled.datasets.items() if u["refused"]}
        fields = {c: u["fields"] for c, u in compiled.datasets.items()}
        events, ledger = read_events(
            ctx.principal, items, fields, ctx.purpose, ctx.request_id, refused
        )
        await self.services.read_audit.write(events, ctx.principal.agency, ledger)

    def _finish(self, compiled: CompiledQuery, data: str) -> Outcome:
        if not compiled.needs_post:
            return Outcome(data, [])
        cleaned, errors = postprocess(orjson.loads(data), self.services.field_keys)
        return Outcome(orjson.dumps(cleaned).decode(), errors)


def _read_item(text: str) -> ReadItem:
    code, key, version = text.split(PART_SEPARATOR)
    return code, key, int(version)


def _as_hub_error(error: GraphQLError) -> HubError:
    from catalog.errors import InvalidInput

    return InvalidInput(error.message)


__all__ = ["Outcome", "Runner"]
