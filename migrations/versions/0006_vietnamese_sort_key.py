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

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:00:00.000000
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copies of catalog.collation's tables: a migration must not change when the code does.
_MODIFIER_MARKS = "\u0306\u0302\u031b"  # breve (ă), circumflex (â ê ô), horn (ơ ư)
_MODIFIER_WEIGHTS = "\U0010fffb\U0010fffc\U0010fffd"
_TONE_MARKS = "\u0300\u0309\u0303\u0301\u0323"  # huyền, hỏi, ngã, sắc, nặng
_OTHER_MARKS = "".join(
    chr(c) for c in range(0x0300, 0x0370) if chr(c) not in _MODIFIER_MARKS + _TONE_MARKS
)
_ICU_LOW_ORDER = (
    " \u00a0_-\u2013\u2014,;:!?.\u2026\u00b7'\u2018\u2019\"\u201c\u201d\u00ab\u00bb()[]{}\u00a7"
    "@*/\\&#%\u2022\u2032\u2033`^\u00b0+\u00b1\u00d7<=>|~$\u20ab\u20ac0123456789"
)
_LOW_WEIGHTS = "".join(chr(0x20 + i) for i in range(len(_ICU_LOW_ORDER)))
_CAPITALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SMALLS = "abcdefghijklmnopqrstuvwxyz"
_COMMON = "\x01"
_SECONDARY_WEIGHTS = "".join(chr(2 + i) for i in range(len(_TONE_MARKS + _OTHER_MARKS)))


def _literal(value: str) -> str:
    """``value`` as a U&'' literal with every character escaped (no quoting or colon hazards)."""
    return (
        "U&'"
        + "".join(f"\\{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\+{ord(c):06X}" for c in value)
        + "'"
    )


def _function_sql() -> str:
    decomposed = "normalize(value, NFD)"
    stroke = _literal("d" + _MODIFIER_WEIGHTS[0])
    primary = (
        f"translate(replace(replace({decomposed}, {_literal(chr(0x111))}, {stroke}),"
        f" {_literal(chr(0x110))}, {stroke}),"
        f" {_literal(_CAPITALS + _ICU_LOW_ORDER + _MODIFIER_MARKS + _TONE_MARKS + _OTHER_MARKS)},"
        f" {_literal(_SMALLS + _LOW_WEIGHTS + _MODIFIER_WEIGHTS)})"
    )
    # Every character that is not a combining mark weighs "no tone"; marks weigh their rank.
    secondary = (
        f"rtrim(translate(regexp_replace(translate({decomposed}, {_literal(_MODIFIER_MARKS)}, ''),"
        f" {_literal('[^' + chr(0x300) + '-' + chr(0x36F) + ']')}, {_literal(_COMMON)}, 'g'),"
        f" {_literal(_TONE_MARKS + _OTHER_MARKS)}, {_literal(_SECONDARY_WEIGHTS)}),"
        f" {_literal(_COMMON)})"
    )
    all_marks = _MODIFIER_MARKS + _TONE_MARKS + _OTHER_MARKS
    capitals = _CAPITALS + chr(0x110)
    tertiary = (
        f"rtrim(translate(regexp_replace(translate({decomposed}, {_literal(all_marks)}, ''),"
        f" {_literal('[^' + capitals + ']')}, {_literal(_COMMON)}, 'g'),"
        f" {_literal(capitals)}, {_literal(chr(2) * len(capitals))}),"
        f" {_literal(_COMMON)})"
    )
    zero = "decode('00', 'hex')"
    return (
        "CREATE FUNCTION hub_vi_sort_key(value text) RETURNS bytea"
        " LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $body$ SELECT"
        f" convert_to({primary}, 'UTF8') || {zero}"
        f" || convert_to({secondary}, 'UTF8') || {zero}"
        f" || convert_to({tertiary}, 'UTF8') $body$"
    )


def upgrade() -> None:
    op.execute(_function_sql())
    op.execute(
        "COMMENT ON FUNCTION hub_vi_sort_key(text) IS"
        " 'Vietnamese sort key (ICU vi order: alphabet, then tones, then case);"
        " twin of catalog.collation.vietnamese_sort_key'"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION hub_vi_sort_key(text)")
