"""SQL expressions that assemble the response JSON and the reads list for any number of parts.

PostgreSQL refuses a function call with more than 100 arguments (``json_build_object``,
``concat_ws``): 100 root aliases of a list field once answered HTTP 500. Every variadic call the
compiler builds goes through here, which keeps each call under the limit and, for objects,
keeps the response keys in selection order (GraphQL's order; ``jsonb`` would reorder them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

MAX_ARGS = 100  # PostgreSQL's FUNC_MAX_ARGS
MAX_PAIRS = 50  # json_build_object: a key and a value per pair
RS = "chr(30)"  # separates records in a reads list


def lit(text: str) -> str:
    """A constant of our own making (field paths, markers) as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def text_lit(text: str) -> str:
    """A constant used as a JSON value (``__typename``): typed, so ``to_json`` accepts it."""
    return lit(text) + "::text"


def build_object(pairs: Sequence[tuple[str, str]], deny: Sequence[str] = ()) -> str:
    """A ``json`` object of (response key, SQL expression) pairs, in their order; ``deny``
    (SQL text expressions, NULL when allowed) becomes the ``__deny`` marker list."""
    items = list(pairs)
    if deny:
        # ARRAY[...] is a constructor, not a function call: no argument limit.
        items.append(("__deny", f"array_remove(ARRAY[{', '.join(deny)}]::text[], NULL)"))
    if len(items) <= MAX_PAIRS:
        return "json_build_object(" + ", ".join(f"{lit(k)}, {v}" for k, v in items) + ")"
    # Many pairs: JSON text joined with ||, an operator, so no argument limit applies.
    parts = [
        f"{lit(json.dumps(k) + ':')} || COALESCE(to_json({v})::text, 'null')" for k, v in items
    ]
    return "('{' || " + " || ',' || ".join(parts) + " || '}')::json"


def concat_reads(exprs: Sequence[str]) -> str:
    """The non-NULL reads texts of ``exprs`` joined by the record separator (``''`` when all
    are NULL), in calls of at most ``MAX_ARGS`` arguments."""
    if not exprs:
        return "NULL::text"
    width = MAX_ARGS - 1  # the separator is the first argument
    if len(exprs) <= width:
        return f"concat_ws({RS}, {', '.join(exprs)})"
    # An inner call over only NULLs gives '', which must not add an empty record.
    chunks = [
        f"NULLIF({concat_reads(exprs[i : i + width])}, '')" for i in range(0, len(exprs), width)
    ]
    return concat_reads(chunks)


__all__ = ["MAX_PAIRS", "RS", "build_object", "concat_reads", "lit", "text_lit"]
