"""Vietnamese sort key: ``hub_vi_sort_key(text) RETURNS bytea`` for ordering text fields

Text ``orderBy`` sorted by code point (``Đ`` after ``Z``). PostgreSQL built with ICU has the
collation ``vi-x-icu``, but the embedded server has no ICU, so the hub orders by a key computed
from the text on every server: bytes that sort as ICU ``vi`` sorts Vietnamese words.

Three levels, separated by a zero byte: primary, the letters in the Vietnamese alphabet
(a ă â b c d đ e ê … o ô ơ … u ư … y; ă â ê ô ơ ư and đ are the base letter followed by one of
three code points above all others, so they sort after every word of their base letter),
ASCII punctuation, digits and common typographic marks renumbered below the letters in ICU's
order; secondary, the tone of each letter (none, huyền, hỏi, ngã, sắc, nặng); tertiary, case
(small before capital). ``catalog.collation.vietnamese_sort_key`` is its Python twin and must
return the same bytes; a test checks both against each other and against ``vi-x-icu``.

The function is IMMUTABLE (it depends on nothing but its argument: the server encoding is
UTF-8 and Unicode normalisation is fixed per server version), so expression indexes can use
it. Changing it means a new migration that reindexes every index built on it.

Datasets already published get the sort key index of each text field a list can be ordered by
(string, enum or reference; filterable, required, not encrypted, not the key field), named as
``catalog.indexes`` names it, so publishing again finds it in place; new datasets get theirs
when published. On a large dataset this step takes about 10-20 µs a record and field.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:00:00.000000
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copies of catalog.collation's tables: a migration must not change when the code does.
_MODIFIER_MARKS = "\u0306\u0302\u031b"  # breve (ă), circumflex (â ê ô), horn (ơ ư)
_MODIFIER_WEIGHTS = "\U0010fffb\U0010fffc\U0010fffd"
_TONE_MARKS = "\u0300\u0309\u0303\u0301\u0323"  # huyền, hỏi, ngã, sắc, nặng
_TONE_WEIGHTS = "\U0010ff01\U0010ff02\U0010ff03\U0010ff04\U0010ff05"
_OTHER_MARKS = "".join(
    chr(c) for c in range(0x0300, 0x0370) if chr(c) not in _MODIFIER_MARKS + _TONE_MARKS
)
_ICU_LOW_ORDER = (
    " \u00a0_-\u2013\u2014,;:!?.\u2026\u00b7'\u2018\u2019\"\u201c\u201d\u00ab\u00bb()[]{}\u00a7"
    "@*/\\&#%\u2022\u2032\u2033`^\u00b0+\u00b1\u00d7<=>|~$\u20ab\u20ac0123456789"
)
_LOW_WEIGHTS = "".join(chr(c) for c in range(0x20, 0x61) if c != 0x5C)[: len(_ICU_LOW_ORDER)]
_FREQUENT = " nhtiacgoumlvdyeskrbpxqfjwz"
_D_STROKE, _CAPITAL_D_STROKE = "\u0111", "\u0110"
_LEAST = "\x01"
_KEY_BYTES = 1024
_LOW = dict(zip(_ICU_LOW_ORDER, _LOW_WEIGHTS, strict=True))
_RARE_LOW = "".join(c for c in _ICU_LOW_ORDER if c != " ")
_TERTIARY_LEAST = _FREQUENT + _D_STROKE + "\\" + _TONE_MARKS + _MODIFIER_MARKS

# (sources, weights) in scan order: translate() looks each character up from the start, so
# frequent characters come first and deletions (no weight) last.
_PRIMARY = (
    (_FREQUENT, "".join(_LOW.get(c, c) for c in _FREQUENT)),
    (_MODIFIER_MARKS, _MODIFIER_WEIGHTS),
    (_RARE_LOW, "".join(_LOW[c] for c in _RARE_LOW)),
    (_OTHER_MARKS, ""),
)
_SECONDARY = ((_TONE_MARKS, _TONE_WEIGHTS), ("\\", _LEAST), (_MODIFIER_MARKS, ""))
_TERTIARY = ((_TERTIARY_LEAST, _LEAST * len(_TERTIARY_LEAST)),)


def _literal(value: str) -> str:
    """``value`` as a U&'' literal, every character escaped (no quoting or colon hazards)."""
    escaped = "".join(f"\\{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\+{ord(c):06X}" for c in value)
    return f"U&'{escaped}'"


def _translate(expression: str, table: tuple[tuple[str, str], ...]) -> str:
    sources = "".join(s for s, _ in table)
    weights = "".join(w for _, w in table)
    return f"translate({expression}, {_literal(sources)}, {_literal(weights)})"


def _function_sql() -> str:
    decomposed = "normalize(value, NFD)"
    # lower() under collation "C" lowers ASCII only, whatever the database's collation.
    small = (
        f'replace(lower({decomposed} COLLATE "C"), {_literal(_CAPITAL_D_STROKE)},'
        f" {_literal(_D_STROKE)})"
    )
    stroke_as_d = _literal("d" + _MODIFIER_WEIGHTS[0])
    primary = _translate(
        f"translate(replace({small}, {_literal(_D_STROKE)}, {stroke_as_d}),"
        f" {_literal(_TONE_MARKS)}, '')",
        _PRIMARY,
    )
    secondary = _translate(small, _SECONDARY)
    tertiary = f"rtrim({_translate(decomposed, _TERTIARY)}, {_literal(_LEAST)})"
    # decode(…, 'escape') is the immutable way from text to its UTF-8 bytes (convert_to is only
    # STABLE and would stop the planner inlining the function); no level holds a backslash.
    separator = _literal("\\000")
    # At most _KEY_BYTES: an index entry must fit a third of a page (2,704 bytes with the record
    # key); longer keys order by their first _KEY_BYTES bytes, then by record key.
    return (
        "CREATE FUNCTION hub_vi_sort_key(value text) RETURNS bytea"
        " LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $body$ SELECT substr(decode("
        f"{primary} || {separator} || {secondary} || {separator} || {tertiary}, 'escape'),"
        f" 1, {_KEY_BYTES}) $body$"
    )


def _digest(value: str) -> str:
    return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()[:8]


def _partition(code: str) -> str:
    return f"records_{code}" if len(code) <= 50 else f"records_{code[:40]}_{_digest(code)}"


def _index_published_text_fields() -> None:
    bind = op.get_bind()
    orderable = bind.execute(
        sa.text(
            "SELECT f.dataset_code, f.name FROM dataset_fields f"
            " JOIN datasets d ON d.code = f.dataset_code"
            " WHERE d.status IN ('PUBLISHED', 'DEPRECATED') AND f.filterable AND f.required"
            " AND NOT f.encrypted AND f.type IN ('string', 'enum', 'reference')"
            " AND f.name <> d.key_field ORDER BY 1, 2"
        )
    ).all()
    for code, field in orderable:
        table = _partition(code)
        if bind.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
            continue
        # Codes and field names are catalogue-validated snake_case.
        name = f"ix_vi_{code[:20]}_{field[:20]}_{_digest(code + '.' + field + '/vi')}"
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f"((hub_vi_sort_key((data->>'{field}') COLLATE \"C\")), key)"
        )


def upgrade() -> None:
    op.execute(_function_sql())
    op.execute(
        "COMMENT ON FUNCTION hub_vi_sort_key(text) IS"
        " 'Vietnamese sort key (ICU vi order: alphabet, then tones, then case);"
        " twin of catalog.collation.vietnamese_sort_key'"
    )
    _index_published_text_fields()


def downgrade() -> None:
    # The sort key indexes go with it (lists then sort by code point again).
    op.execute("DROP FUNCTION hub_vi_sort_key(text) CASCADE")
