"""Vietnamese order of text: a sort key whose bytes sort as ICU's ``vi`` collation sorts words.

Invariant: ``vietnamese_sort_key(s)`` is byte for byte what the SQL function
``hub_vi_sort_key(s)`` (migration 0006) returns, so an order computed in Python, in a query or
from an expression index is one order. PostgreSQL with ICU has ``vi-x-icu``; the embedded
server has no ICU, so the hub orders by this key on every server.

From the NFD text, three levels separated by a zero byte, compared in turn as ICU does:

1. primary, the letters in the Vietnamese alphabet a ă â b c d đ e ê … o ô ơ … u ư … y, case
   and tones ignored: a letter carrying a breve, circumflex or horn (ă â ê ô ơ ư) is its base
   letter followed by one of three code points above every other, so it sorts after every
   word of its base letter and before the next letter (đ is d followed by the lowest of
   them); ASCII punctuation, digits and common typographic marks (non-breaking space, dashes,
   curly quotes, ellipsis, ₫) are renumbered below the letters in ICU's order; other
   combining marks are dropped.
2. secondary, the tones: the small-letter text with each tone mark replaced by a weight above
   every character, in the order none < huyền (grave) < hỏi (hook) < ngã (tilde) < sắc
   (acute) < nặng (dot below), so "a" then anything sorts before "à".
3. tertiary, case: small letters, spaces and Vietnamese marks weigh least, capitals keep
   their code point, so small sorts before capital, letter by letter from the left; trailing
   least weights are trimmed.

Levels 2 and 3 are compared only between texts whose earlier levels are equal: they differ
only in tones (level 2) or case (level 3), at aligned places, so characters that cannot differ
there keep any fixed weight (themselves, mostly). Each level is a few ``translate`` calls in
SQL (a table scan per character: frequent characters come first in each table), so the
function stays IMMUTABLE and inlinable.

Known differences from ICU, outside Vietnamese words: non-ASCII punctuation not listed sorts
after the letters; letters of other alphabets keep code point order and their case is
primary; breve, circumflex or horn on letters Vietnamese does not use (ĭ, ŝ, ǔ) make a letter
of their own as ă does, where ICU ranks the mark at the secondary level; other combining
marks rank below a following letter of another script (ICU: above); private-use code points
U+10FF00 and above are not ordered; keys are cut at KEY_BYTES bytes (about 350 characters of
Vietnamese text keep all three levels, about 1,000 their letters).
"""

from __future__ import annotations

import unicodedata

from catalog.models import DatasetField

# Breve (ă) < circumflex (â ê ô) < horn (ơ ư): each makes a letter of its own.
MODIFIER_MARKS = "\u0306\u0302\u031b"
MODIFIER_WEIGHTS = "\U0010fffb\U0010fffc\U0010fffd"
# Tone marks in Vietnamese order (ICU vi: & ̀ << ̉ << ̃ << ́ << ̣): huyền, hỏi, ngã, sắc, nặng.
TONE_MARKS = "\u0300\u0309\u0303\u0301\u0323"
TONE_WEIGHTS = "\U0010ff01\U0010ff02\U0010ff03\U0010ff04\U0010ff05"
# Combining Diacritical Marks other than the above: dropped at the primary level.
OTHER_MARKS = "".join(
    chr(c) for c in range(0x0300, 0x0370) if chr(c) not in MODIFIER_MARKS + TONE_MARKS
)
# Punctuation, symbols and digits in ICU's order (measured with vi-x-icu, ICU 72), renumbered
# below the small letters (U+0061..U+007A, kept). U+005C is skipped: the SQL key goes through
# decode(…, 'escape'), so no level may hold a backslash.
ICU_LOW_ORDER = (
    " \u00a0_-\u2013\u2014,;:!?.\u2026\u00b7'\u2018\u2019\"\u201c\u201d\u00ab\u00bb()[]{}\u00a7"
    "@*/\\&#%\u2022\u2032\u2033`^\u00b0+\u00b1\u00d7<=>|~$\u20ab\u20ac0123456789"
)
LOW_WEIGHTS = "".join(chr(c) for c in range(0x20, 0x61) if c != 0x5C)[: len(ICU_LOW_ORDER)]
CAPITALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SMALLS = "abcdefghijklmnopqrstuvwxyz"
# Small letters by frequency in Vietnamese text, space first: translate() finds them sooner.
FREQUENT = " nhtiacgoumlvdyeskrbpxqfjwz"
D_STROKE, CAPITAL_D_STROKE = "\u0111", "\u0110"  # đ Đ: no decomposition
LEVEL_SEPARATOR = b"\x00"
LEAST = "\x01"
# An index entry must fit a third of a page (2,704 bytes, with the record key): longer keys are
# cut, so values whose first KEY_BYTES bytes of key agree tie and order by record key.
KEY_BYTES = 1024


def _table(*groups: tuple[str, str]) -> tuple[str, str]:
    """A translate() table: (sources, weights); sources past the weights are deleted."""
    sources = "".join(s for s, _ in groups)
    weights = "".join(w for _, w in groups)
    assert len(set(sources)) == len(sources), "a character twice in one table"
    return sources, weights


_LOW = dict(zip(ICU_LOW_ORDER, LOW_WEIGHTS, strict=True))
_RARE_LOW = "".join(c for c in ICU_LOW_ORDER if c != " ")
PRIMARY_TABLE = _table(
    (FREQUENT, "".join(_LOW.get(c, c) for c in FREQUENT)),
    (MODIFIER_MARKS, MODIFIER_WEIGHTS),
    (_RARE_LOW, "".join(_LOW[c] for c in _RARE_LOW)),
    (OTHER_MARKS, ""),
)
SECONDARY_TABLE = _table((TONE_MARKS, TONE_WEIGHTS), ("\\", LEAST), (MODIFIER_MARKS, ""))
_TERTIARY_LEAST = FREQUENT + D_STROKE + "\\" + TONE_MARKS + MODIFIER_MARKS
TERTIARY_TABLE = _table((_TERTIARY_LEAST, LEAST * len(_TERTIARY_LEAST)))


def _mapping(table: tuple[str, str]) -> dict[int, str | None]:
    sources, weights = table
    return {ord(s): weights[i] if i < len(weights) else None for i, s in enumerate(sources)}


_PRIMARY = _mapping(PRIMARY_TABLE)
_SECONDARY = _mapping(SECONDARY_TABLE)
_TERTIARY = _mapping(TERTIARY_TABLE)
_NO_TONES = dict.fromkeys(map(ord, TONE_MARKS))
# lower() under collation "C" lowers ASCII only; Đ is lowered by hand.
_SMALL = str.maketrans(CAPITALS + CAPITAL_D_STROKE, SMALLS + D_STROKE)


def vietnamese_sort_key(value: str) -> bytes:
    """The bytes ``hub_vi_sort_key(value)`` returns: compared bytewise, Vietnamese order."""
    decomposed = unicodedata.normalize("NFD", value)
    small = decomposed.translate(_SMALL)
    primary = (
        small.replace(D_STROKE, "d" + MODIFIER_WEIGHTS[0]).translate(_NO_TONES).translate(_PRIMARY)
    )
    secondary = small.translate(_SECONDARY)
    tertiary = decomposed.translate(_TERTIARY).rstrip(LEAST)
    key = LEVEL_SEPARATOR.join(level.encode("utf-8") for level in (primary, secondary, tertiary))
    return key[:KEY_BYTES]


# Text shown as text; dates and datetimes are ISO text whose code-point order is time order.
VIETNAMESE_ORDERED_TYPES = frozenset({"string", "enum", "reference"})


def orders_vietnamese(field: DatasetField) -> bool:
    """Does ``orderBy`` on ``field`` sort in Vietnamese order? (An encrypted field sorts by its
    blind index, which has no language.)"""
    return field.type in VIETNAMESE_ORDERED_TYPES and not field.encrypted


#: How a database orders text (``hub_state.text_order``, set by migration 0008): ``key``
#: compares ``hub_vi_sort_key`` (every server), ``icu`` the ICU collation ``vi-x-icu``, which
#: orders Vietnamese words as the key does without computing a key per returned row.
SORT_KEY, ICU = "key", "icu"
TEXT_ORDERS = (SORT_KEY, ICU)
ICU_COLLATION = "vi-x-icu"


def sort_key_sql(expression: str, text_order: str = SORT_KEY) -> str:
    """The SQL sort key of a text expression; queries and indexes spell it the same way."""
    if text_order == ICU:
        return f'(({expression}) COLLATE "{ICU_COLLATION}")'
    return f"hub_vi_sort_key({expression})"


__all__ = [
    "ICU",
    "ICU_COLLATION",
    "SORT_KEY",
    "TEXT_ORDERS",
    "VIETNAMESE_ORDERED_TYPES",
    "orders_vietnamese",
    "sort_key_sql",
    "vietnamese_sort_key",
]
