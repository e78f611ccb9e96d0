"""Running compiled record queries for one request: bind, pick or compile the SQL for the
caller's access, execute as one prepared statement, and return response bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLSchema
from graphql.execution.values import get_variable_values
from prometheus_client import Counter

from catalog.access import Access
from catalog.errors import HubError, Unauthenticated
from catalog.reads import Asked, ReadItem, asked_key, list_shape, read_events
from catalog.records import stored_key
from schema.context import CatalogView, Context, Services
from schema.errors import format_error
from schema.records.bind import Bound, SiteArgs, bind_site, shape_dict
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
        except Unauthenticated:
            raise  # the endpoint answers 401 with WWW-Authenticate
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
        variant = op.for_variables(variables)  # the selection @skip/@include leave
        if variant is None:
            return None  # no generated field left: normal execution answers
        op = variant
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
            pool = ctx.read_pool
            RECORD_STATEMENTS.inc()
            row = await pool.fetchrow(compiled.sql, *compiled.params.values(bound))
            if row is None:
                return Outcome(None, [])
            if row["fresh"]:
                audit_ctx = _with_root_purposes(ctx, bound_args)
                await self._audit(compiled, row["reads"], audit_ctx, op, bound_args, row["data"])
                return self._finish(compiled, row["data"])
            if ctx.pool is not None and ctx.pool is not self.services.pool:
                # A read replica behind the policy this process plans under: the primary.
                ctx.pool = None
                continue
            await self.services.refresh()
            # The caller was admitted on the stale snapshot: its client may be gone now.
            ctx.principal = await self.services.admit(ctx.principal)
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
            skipped=op.skipped,
            text_order=snapshot.text_order,
        )
        assert self.schema.query_type is not None
        return Compiler(cc).compile_root(op.roots, self.schema.query_type)

    async def _audit(
        self,
        compiled: CompiledQuery,
        reads: str | None,
        ctx: Context,
        op: OperationPlan | None = None,
        args: Sequence[SiteArgs] = (),
        data: str | None = None,
    ) -> None:
        """Before the response leaves: the reads are committed to the audit (group commit).

        Sites that served nothing are audited too (catalog.reads): keys asked in vain, and
        lists that served no record by filter shape and the count returned."""
        items = [_read_item(r) for r in reads.split(READ_SEPARATOR)] if reads else []
        refused = {c: u["refused"] for c, u in compiled.datasets.items() if u["refused"]}
        fields = {c: u["fields"] for c, u in compiled.datasets.items()}
        asked = _asked(op, args, items, data, ctx, self.services) if op is not None else None
        events, ledger = read_events(
            ctx.principal, items, fields, ctx.purpose, ctx.request_id, refused, asked
        )
        await self.services.read_audit.write(events, ctx.principal.agency, ledger)

    def _finish(self, compiled: CompiledQuery, data: str) -> Outcome:
        if not compiled.needs_post:
            return Outcome(data, [])
        cleaned, errors = postprocess(orjson.loads(data), self.services.field_keys)
        return Outcome(orjson.dumps(cleaned).decode(), errors)


def _asked(
    op: OperationPlan,
    args: Sequence[SiteArgs],
    items: Sequence[ReadItem],
    data: str | None,
    ctx: Context,
    services: Services,
) -> Asked:
    """What the operation's sites asked for (see ``Runner._audit``)."""
    datasets = services.snapshot.datasets
    served = {(code, key) for code, key, _version in items}
    served_codes = {code for code, _key in served}
    roots = {id(sel.node): sel.key for sel in op.roots}
    keys: dict[str, list[str]] = {}
    lists: dict[str, list[dict[str, Any]]] = {}
    answer: Any = None
    for site, site_args in zip(op.sites, args, strict=True):
        dataset = datasets.get(site.dataset)
        if site.kind == "single" and site_args.key is not None:
            stored = stored_key(dataset, site_args.key, services.field_keys) if dataset else None
            if (site.dataset, stored) not in served:
                stored = asked_key(ctx.principal, dataset, site_args.key, services.field_keys)
            keys.setdefault(site.dataset, []).append(str(stored))
        elif site.kind == "list" and site.dataset not in served_codes:
            entry: dict[str, Any] = {"filter": list_shape(site_args.filter)}
            root_key = roots.get(id(site.node))
            if root_key is not None and data:
                answer = orjson.loads(data) if answer is None else answer
                value = answer.get(root_key) if isinstance(answer, dict) else None
                count = value.get("totalCount") if isinstance(value, dict) else None
                if isinstance(count, int):
                    entry["totalCount"] = count
            lists.setdefault(site.dataset, []).append(entry)
    return Asked(keys=keys, lists=lists)


def _with_root_purposes(ctx: Context, args: Sequence[SiteArgs]) -> Context:
    """The context the audit reads: root fields' purpose arguments are the request's purpose
    (DESIGN §5); several different ones, and the X-Purpose header, are all logged, in order."""
    given = [a.purpose for a in args if a.purpose is not None]
    if not given:
        return ctx
    purposes = list(dict.fromkeys([*given, *([ctx.purpose] if ctx.purpose else [])]))
    return replace(ctx, purpose="; ".join(purposes))


def _read_item(text: str) -> ReadItem:
    code, key, version = text.split(PART_SEPARATOR)
    return code, key, int(version)


def _as_hub_error(error: GraphQLError) -> HubError:
    from catalog.errors import InvalidInput

    return InvalidInput(error.message)


__all__ = ["Outcome", "Runner"]
