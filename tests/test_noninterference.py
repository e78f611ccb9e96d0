"""Noninterference: change only what a caller may not read, and none of its answers change.

DESIGN.md §5, "the caller's view": every answer is computed on the caller's view of each
record. So for generated callers (anonymous, readers with zero to three grants mixing field
sets and row filters, with and without a purpose, owners) and generated queries over every
read path (typed single and list with filters, orderBy, cursors and ``after``, references and
reverse lists, history, ``asOf``, generic ``records``/``record``/``recordHistory``,
``holders``, ``recordCount``, ``totalCount``, introspection), the owner corrects values the
caller may not read (fields hidden to it on rows it sees, any non-key field of rows outside
its row filters) and the caller's answer must be identical byte for byte. Nothing the suite
asks for is metadata (versions and times are not selected), so nothing is excused.

What the caller may read is computed here from the catalogue's definitions and the grants,
independently of the hub's policy code. Cases come from hypothesis with a fixed seed
(``derandomize``), so CI runs the same few hundred cases every time; raise
``HUB_NONINTERFERENCE_EXAMPLES`` for a longer hunt.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from catalog.baseline import BUSINESS, CITIZEN, HEALTH_INSURANCE, LAND_PARCEL, LEGAL_DOCUMENT
from catalog.errors import HubError
from catalog.models import Dataset
from catalog.principal import Principal
from catalog.records import correct_record
from catalog.specs import DatasetSpec, FieldSpec
from hub.runtime import Hub
from tests.record_support import Gql, approved_grant
from tests.records_fixtures import load_demo_records

EXAMPLES = int(os.environ.get("HUB_NONINTERFERENCE_EXAMPLES", "80"))
SPECS: dict[str, DatasetSpec] = {
    d.code: d for d in (BUSINESS, LAND_PARCEL, CITIZEN, HEALTH_INSURANCE, LEGAL_DOCUMENT)
}
OWNERS = {
    "business": "SKHDT",
    "land_parcel": "STNMT",
    "citizen": "SYT",
    "health_insurance": "SYT",
    "legal_document": "STP",
}
READERS = ("STP", "STC", "BHXH", "CA-TINH", "UBND-TX-TUSON", "UBND-TP-BACNINH")
GRANTABLE = ("business", "land_parcel", "citizen", "health_insurance")
ROW_FILTER_FIELD = "district"  # every generated row filter is on it; perturbations keep it
TYPED = {
    "business": ("business", "businessList", "Business"),
    "land_parcel": ("landParcel", "landParcelList", "LandParcel"),
    "citizen": ("citizen", "citizenList", "Citizen"),
    "health_insurance": ("healthInsurance", "healthInsuranceList", "HealthInsurance"),
    "legal_document": ("legalDocument", "legalDocumentList", "LegalDocument"),
}
REFERENCES = {"land_parcel": ("holder", "business"), "health_insurance": ("citizen", "citizen")}
REVERSE = {
    "business": ("landParcelList", "land_parcel"),
    "citizen": ("healthInsuranceList", "health_insurance"),
}


# -- the caller's view, computed from definitions ----------------------------------------------


@dataclass(frozen=True)
class GrantSpec:
    dataset: str
    fields: tuple[str, ...]
    districts: tuple[str, ...] | None  # None: every row


@dataclass
class Caller:
    name: str
    agency: str | None
    roles: tuple[str, ...] = ("reader",)
    grants: tuple[GrantSpec, ...] = ()
    token: str | None = None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _fields(code: str) -> dict[str, FieldSpec]:
    return {f.name: f for f in SPECS[code].fields}


def _rules(caller: Caller, code: str) -> list[tuple[frozenset[str], tuple[str, ...] | None]]:
    spec = SPECS[code]
    everything = frozenset(_fields(code))
    if caller.agency == OWNERS[code]:
        return [(everything, None)]
    by_level = {
        level: frozenset(f.name for f in spec.fields if f.sensitivity == level)
        for level in ("PUBLIC", "INTERNAL", "RESTRICTED")
    }
    if caller.agency is None:
        return [(by_level["PUBLIC"], None)] if spec.sensitivity == "PUBLIC" else []
    rules: list[tuple[frozenset[str], tuple[str, ...] | None]] = []
    if spec.sensitivity != "RESTRICTED":
        rules.append((by_level["PUBLIC"] | by_level["INTERNAL"], None))
    for grant in caller.grants:
        if grant.dataset != code:
            continue
        named = set(grant.fields) & everything
        if "*" in grant.fields:
            named |= everything - by_level["RESTRICTED"]
        named.add(spec.key_field)
        rules.append((frozenset(named), grant.districts))
    return rules


def _matching(
    caller: Caller, code: str, row: dict[str, Any]
) -> list[tuple[frozenset[str], tuple[str, ...] | None]]:
    return [r for r in _rules(caller, code) if r[1] is None or row.get(ROW_FILTER_FIELD) in r[1]]


def is_visible(caller: Caller, code: str, row: dict[str, Any]) -> bool:
    return bool(_matching(caller, code, row))


def readable(caller: Caller, code: str, row: dict[str, Any], purpose: bool) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for fields, _filter in _matching(caller, code, row):
        out |= fields
    if not purpose and caller.agency != OWNERS[code]:
        out -= {f.name for f in SPECS[code].fields if f.sensitivity == "RESTRICTED"}
    return out


# -- the world: records, callers, tokens ---------------------------------------------------------


@dataclass
class World:
    rows: dict[str, dict[str, dict[str, Any]]]  # code → key → current values
    callers: list[Caller]
    owner_tokens: dict[str, str]
    as_of: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def keys(self, code: str) -> list[str]:
        return sorted(self.rows[code])

    def districts(self) -> list[str]:
        found = {r[ROW_FILTER_FIELD] for r in self.rows["citizen"].values()}
        found |= {r[ROW_FILTER_FIELD] for r in self.rows["business"].values()}
        return sorted(found)


def _grant_sets(districts: list[str]) -> st.SearchStrategy[tuple[GrantSpec, ...]]:
    def one(code: str) -> st.SearchStrategy[GrantSpec]:
        spec = SPECS[code]
        names = sorted(f.name for f in spec.fields if f.name != spec.key_field)
        chosen = st.one_of(
            st.just(("*",)),
            st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True).map(tuple),
        )
        rows = st.one_of(
            st.none(),
            st.lists(st.sampled_from(districts), min_size=1, max_size=2, unique=True).map(tuple),
        )
        return st.builds(GrantSpec, st.just(code), chosen, rows)

    return st.lists(st.sampled_from(GRANTABLE).flatmap(one), max_size=3).map(tuple)


async def _world(hub: Hub, gql: Gql, token: Callable[..., str]) -> World:
    data = await load_demo_records(hub, businesses=24, parcels=30, citizens=36)
    keyed = {
        code: {str(row[SPECS[code].key_field]): dict(row) for row in rows}
        for code, rows in data.items()
    }
    owner_tokens = {code: token(agency, "owner", "reader") for code, agency in OWNERS.items()}
    districts = sorted({str(r["district"]) for r in data["citizen"]})[:4]
    grant_sets = _draw(_grant_sets(districts), len(READERS))
    callers = [Caller("anonymous", None, ())]
    callers += [Caller(f"owner {a}", a, ("owner", "reader")) for a in ("SKHDT", "SYT")]
    for agency, grants in zip(READERS, grant_sets, strict=True):
        caller = Caller(f"reader {agency}", agency, ("reader",), grants)
        caller.token = token(agency, "reader")
        for grant in grants:
            await approved_grant(
                gql,
                caller.token,
                owner_tokens[grant.dataset],
                grant.dataset,
                list(grant.fields),
                {ROW_FILTER_FIELD: list(grant.districts)} if grant.districts else None,
            )
        callers.append(caller)
    for caller in callers:
        if caller.agency and caller.token is None:
            caller.token = token(caller.agency, *caller.roles)
    return World(keyed, callers, owner_tokens, datetime.now(UTC).isoformat())


def _draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` values from ``strategy``, the same on every run (fixed seed)."""
    drawn: list[Any] = []
    wanted = max(count * 3, 30)  # hypothesis starts from the simplest values: take later ones

    @settings(
        max_examples=wanted,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    assert drawn, "hypothesis drew nothing"
    tail = drawn[-count:]
    while len(tail) < count:  # hypothesis may stop early on a small space
        tail.append(drawn[len(tail) % len(drawn)])
    return tail


# -- queries --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    describe: str
    document: str
    variables: dict[str, Any]
    paged: bool = False  # a typed list whose second page is asked too
    dataset: str | None = None  # what the query reads first: perturbations aim there
    key: str | None = None


def _selection(code: str, picks: list[str]) -> str:
    return " ".join(_camel(p) for p in picks) or _camel(SPECS[code].key_field)


def _filter_value(world: World, code: str, name: str, op: str, pick: int) -> Any:
    values = sorted(
        {str(r[name]) for r in world.rows[code].values() if r.get(name) is not None}
    ) or ["0"]
    value = values[pick % len(values)]
    if op == "in":
        return [value, values[(pick + 1) % len(values)]]
    if op == "contains":
        return value[: max(1, len(value) // 2)]
    return value


def _literal(value: Any, kind: str) -> str:
    """A filter value written into the document (its input type varies by field type)."""
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v, kind) for v in value) + "]"
    if kind == "int":
        return str(int(value))
    return orjson.dumps(str(value)).decode()


@st.composite
def typed_list(draw: st.DrawFn, world: World) -> Query:
    code = draw(st.sampled_from(sorted(TYPED)))
    _single, list_name, type_name = TYPED[code]
    spec_fields = _fields(code)
    picks = draw(st.lists(st.sampled_from(sorted(spec_fields)), max_size=5, unique=True))
    extra = ""
    if code in REFERENCES and draw(st.booleans()):
        ref_name, target = REFERENCES[code]
        target_picks = draw(
            st.lists(st.sampled_from(sorted(_fields(target))), min_size=1, max_size=3, unique=True)
        )
        extra += f" {ref_name} {{ {_selection(target, target_picks)} }}"
    if code in REVERSE and draw(st.booleans()):
        reverse_name, child = REVERSE[code]
        extra += (
            f" {reverse_name}(first: 3) {{ totalCount edges {{ cursor node "
            f"{{ {_camel(SPECS[child].key_field)} district }} }} }}"
        )
    args = [f"first: {draw(st.sampled_from([2, 3, 5]))}"]
    variables: dict[str, Any] = {}
    filterable = sorted(f.name for f in spec_fields.values() if f.filterable)
    if draw(st.booleans()):
        name = draw(st.sampled_from(filterable))
        kind = spec_fields[name].type
        ops = ["eq", "in"] + (["contains"] if kind == "string" else [])
        ops += ["gte"] if kind in ("int", "decimal", "date", "datetime") else []
        op = draw(st.sampled_from(ops))
        value = _filter_value(world, code, name, op, draw(st.integers(0, 50)))
        literal = _literal(value, kind)
        args.append(f"filter: {{ {_camel(name)}: {{ {op}: {literal} }} }}")
    orderable = sorted(
        f.name
        for f in spec_fields.values()
        if f.name == SPECS[code].key_field or (f.filterable and f.required and not f.encrypted)
    )
    if draw(st.booleans()):
        name = draw(st.sampled_from(orderable))
        args.append(f"orderBy: {name.upper()}_{draw(st.sampled_from(['ASC', 'DESC']))}")
    head = "query($after: String)"
    body = (
        f"{list_name}({', '.join(args)}, after: $after) {{ totalCount "
        f"edges {{ cursor node {{ {_selection(code, picks)}{extra} }} }} "
        "pageInfo { hasNextPage endCursor } }"
    )
    return Query(f"{type_name} list", f"{head} {{ {body} }}", variables, True, code)


@st.composite
def typed_single(draw: st.DrawFn, world: World) -> Query:
    code = draw(st.sampled_from(sorted(TYPED)))
    single, _list, type_name = TYPED[code]
    key = draw(st.sampled_from(world.keys(code)))
    picks = draw(st.lists(st.sampled_from(sorted(_fields(code))), max_size=5, unique=True))
    extra = ""
    if code in REFERENCES and draw(st.booleans()):
        ref_name, target = REFERENCES[code]
        extra += f" {ref_name} {{ {_selection(target, ['district', 'name', 'full_name'][:1])} }}"
    if code in REVERSE and draw(st.booleans()):
        reverse_name, child = REVERSE[code]
        extra += (
            f" {reverse_name}(first: 5) {{ totalCount edges {{ node "
            f"{{ {_camel(SPECS[child].key_field)} }} }} }}"
        )
    if draw(st.booleans()):
        extra += " history { hash values }"
    as_of = draw(st.booleans())
    args = "key: $key" + (", asOf: $asOf" if as_of else "")
    variables: dict[str, Any] = {"key": key}
    if as_of:
        variables["asOf"] = world.as_of
    head = "query($key: String!" + (", $asOf: DateTime" if as_of else "") + ")"
    return Query(
        f"{type_name} single",
        f"{head} {{ {single}({args}) {{ {_selection(code, picks)}{extra} }} }}",
        variables,
        dataset=code,
        key=key,
    )


@st.composite
def generic(draw: st.DrawFn, world: World) -> Query:
    code = draw(st.sampled_from(sorted(SPECS)))
    shape = draw(st.sampled_from(["records", "record", "recordAsOf", "history"]))
    if shape == "records":
        filterable = sorted(f.name for f in SPECS[code].fields if f.filterable)
        row_filter: dict[str, Any] | None = None
        if draw(st.booleans()):
            name = draw(st.sampled_from(filterable))
            row_filter = {name: _filter_value(world, code, name, "eq", draw(st.integers(0, 50)))}
        return Query(
            f"records {code}",
            "query($d: String!, $f: JSON, $after: String) { records(dataset: $d, filter: $f, "
            "first: 4, after: $after) { totalCount edges { cursor node { key values } } "
            "pageInfo { hasNextPage endCursor } } }",
            {"d": code, "f": row_filter},
            dataset=code,
        )
    key = draw(st.sampled_from(world.keys(code)))
    if shape == "history":
        return Query(
            f"recordHistory {code}",
            "query($d: String!, $k: String!) { recordHistory(dataset: $d, key: $k) "
            "{ hash values } }",
            {"d": code, "k": key},
            dataset=code,
            key=key,
        )
    as_of = {"asOf": world.as_of} if shape == "recordAsOf" else {}
    return Query(
        f"record {code}",
        "query($d: String!, $k: String!, $asOf: DateTime) { record(dataset: $d, key: $k, "
        "asOf: $asOf) { key values } }",
        {"d": code, "k": key, **as_of},
        dataset=code,
        key=key,
    )


@st.composite
def counts_and_more(draw: st.DrawFn, world: World) -> Query:
    shape = draw(st.sampled_from(["holders", "recordCount", "introspection", "count-only"]))
    if shape == "holders":
        code = draw(st.sampled_from(["business", "citizen", "land_parcel"]))
        key = draw(st.sampled_from(world.keys(code)))
        return Query(
            "holders",
            "query($i: String!) { holders(identifier: $i) { dataset { code } key canRead } }",
            {"i": key},
            dataset=code,
            key=key,
        )
    if shape == "recordCount":
        return Query(
            "recordCount",
            "{ datasets(first: 20) { edges { node { code recordCount } } } }",
            {},
        )
    if shape == "count-only":
        code = draw(st.sampled_from(sorted(TYPED)))
        return Query(f"{code} count", f"{{ {TYPED[code][1]} {{ totalCount }} }}", {}, dataset=code)
    return Query(
        "introspection",
        "{ __schema { types { name fields { name } inputFields { name } } } }",
        {},
    )


# -- perturbation ---------------------------------------------------------------------------------


def _other_value(world: World, code: str, spec: FieldSpec, current: Any) -> Any:
    rng = world.rng
    if spec.type == "enum":
        choices = [v for v in spec.enum_values or () if v != current]
        return rng.choice(choices) if choices else None
    if spec.type == "reference":
        target = world.keys(spec.references or "")
        choices = [k for k in target if k != current]
        return rng.choice(choices) if choices else None
    if spec.type == "int":
        return int(current or 0) + rng.randint(1, 999)
    if spec.type == "decimal":
        return str(rng.randint(1, 10**9))
    if spec.type == "date":
        return f"{rng.randint(1950, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if spec.type == "datetime":
        return f"{rng.randint(2000, 2024)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T08:00:00+07:00"
    if spec.type == "bool":
        return not current
    if spec.pii_kind == "phone":
        return "09" + "".join(str(rng.randint(0, 9)) for _ in range(8))
    return f"{current or 'Giá trị'} đổi {rng.randint(1, 10**6)}"


def _hidden_changes(
    world: World, caller: Caller, purpose: bool, focus: Query
) -> list[tuple[str, str, dict[str, Any]]]:
    """(dataset, key, values) the caller may not read: mostly on the records the query
    touches (its dataset and key first), some elsewhere."""
    rng = world.rng
    out: list[tuple[str, str, dict[str, Any]]] = []
    codes = [c for c in SPECS if caller.agency != OWNERS[c]]
    rng.shuffle(codes)
    if focus.dataset in codes:
        codes.remove(focus.dataset)
        codes.insert(0, focus.dataset)
    for position, code in enumerate(codes[:3]):
        keys = world.keys(code)
        picked = rng.sample(keys, k=min(8 if position == 0 else 3, len(keys)))
        if focus.key is not None and code == focus.dataset and focus.key in keys:
            picked = [focus.key, *(k for k in picked if k != focus.key)]
        for key in picked:
            row = world.rows[code][key]
            allowed = readable(caller, code, row, purpose)
            candidates = [
                f
                for f in SPECS[code].fields
                if f.name not in allowed and f.name not in (SPECS[code].key_field, ROW_FILTER_FIELD)
            ]
            if not is_visible(caller, code, row):
                candidates = [
                    f
                    for f in SPECS[code].fields
                    if f.name not in (SPECS[code].key_field, ROW_FILTER_FIELD)
                ]
            if not candidates:
                continue
            changes: dict[str, Any] = {}
            for spec in rng.sample(candidates, k=min(2, len(candidates))):
                value = _other_value(world, code, spec, row.get(spec.name))
                if value is not None:
                    changes[spec.name] = value
            if changes:
                out.append((code, key, changes))
    return out


async def _perturb(hub: Hub, world: World, caller: Caller, purpose: bool, focus: Query) -> int:
    """The owners' corrections (``catalog.records.correct_record``, what ``correctRecord``
    runs), in one transaction per case to keep the suite fast."""
    done = 0
    keys = hub.keys.sealing_keys()
    async with hub.db.sessions.begin() as session:
        for code, key, changes in _hidden_changes(world, caller, purpose, focus):
            dataset = await session.get(Dataset, code)
            assert dataset is not None
            owner = Principal(subject="owner", agency=OWNERS[code], roles=frozenset({"owner"}))
            try:
                async with session.begin_nested():
                    await correct_record(
                        session, owner, dataset, key, changes, "Kiểm thử", keys, "ni"
                    )
            except HubError:
                continue  # a generated value the dataset refuses: nothing changed
            world.rows[code][key].update(changes)
            done += 1
    return done


# -- the property ---------------------------------------------------------------------------------


async def _answers(
    gql: Gql, caller: Caller, purpose: bool, query: Query, after: str | None
) -> bytes:
    variables = dict(query.variables)
    if query.paged or "after" in query.document:
        variables["after"] = after
    body = await gql(
        query.document,
        token=caller.token,
        purpose="Kiểm tra noninterference" if purpose else None,
        **variables,
    )
    for error in body.get("errors", []):
        assert error.get("extensions", {}).get("code") != "INTERNAL", (query.describe, body)
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _end_cursor(answer: bytes) -> str | None:
    data = orjson.loads(answer).get("data") or {}
    for value in data.values():
        if isinstance(value, dict) and isinstance(value.get("pageInfo"), dict):
            cursor = value["pageInfo"].get("endCursor")
            return cursor if isinstance(cursor, str) else None
    return None


async def _check(
    hub: Hub,
    gql: Gql,
    world: World,
    family: Callable[[World], st.SearchStrategy[Query]],
) -> None:
    cases = _draw(st.tuples(st.sampled_from(world.callers), st.booleans(), family(world)), EXAMPLES)
    failures: list[str] = []
    perturbed = 0
    for caller, purpose, query in cases:
        before = await _answers(gql, caller, purpose, query, None)
        cursor = _end_cursor(before)
        before_next = await _answers(gql, caller, purpose, query, cursor) if cursor else b""
        perturbed += await _perturb(hub, world, caller, purpose, query)
        after = await _answers(gql, caller, purpose, query, None)
        after_next = await _answers(gql, caller, purpose, query, cursor) if cursor else b""
        if before != after or before_next != after_next:
            failures.append(
                f"{caller.name} (purpose={purpose}) {query.describe}\n  query: {query.document}"
                f"\n  vars: {query.variables}\n  before: {(before + before_next)[:600]!r}"
                f"\n  after:  {(after + after_next)[:600]!r}"
            )
    assert perturbed > EXAMPLES // 2, "too few hidden values changed to prove anything"
    assert not failures, f"{len(failures)} of {len(cases)} answers changed:\n" + "\n".join(
        failures[:4]
    )


async def test_typed_lists_filters_orders_cursors_references_are_noninterfering(
    hub: Hub, seeded: None, gql: Gql, token: Callable[..., str]
) -> None:
    world = await _world(hub, gql, token)
    await _check(hub, gql, world, typed_list)


async def test_typed_lookups_history_as_of_reverse_lists_are_noninterfering(
    hub: Hub, seeded: None, gql: Gql, token: Callable[..., str]
) -> None:
    world = await _world(hub, gql, token)
    await _check(hub, gql, world, typed_single)


async def test_generic_records_record_and_history_are_noninterfering(
    hub: Hub, seeded: None, gql: Gql, token: Callable[..., str]
) -> None:
    world = await _world(hub, gql, token)
    await _check(hub, gql, world, generic)


async def test_counts_holders_and_introspection_are_noninterfering(
    hub: Hub, seeded: None, gql: Gql, token: Callable[..., str]
) -> None:
    world = await _world(hub, gql, token)
    await _check(hub, gql, world, counts_and_more)
