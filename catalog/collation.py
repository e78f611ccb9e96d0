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
2. secondary, the tone of each letter: none < huyền (grave) < hỏi (hook) < ngã (tilde) <
   sắc (acute) < nặng (dot below); then other combining marks by code point. A tone weighs
   more than any character, so "a" then anything sorts before "à".
3. tertiary, case: small before capital, letter by letter from the left.

Levels 2 and 3 are compared only between texts with equal earlier levels, which differ only
in tones (level 2) or case (level 3) at aligned places; characters that cannot differ there
keep any fixed weight. Trailing lowest weights are trimmed (order kept, key shorter).

Each level is one ``translate`` in SQL (a table lookup per character, no regular expression):
the function stays IMMUTABLE and inlinable. Known differences from ICU, outside Vietnamese
words: non-ASCII punctuation not listed sorts after the letters; letters of other alphabets
keep code point order and their case is primary; breve, circumflex or horn on letters
Vietnamese does not use (ĭ, ŝ, ǔ) make a letter of their own as in ă, where ICU ranks the mark
at the secondary level; private-use code points U+10FF00 and above are not ordered.
"""

from __future__ import annotations

import unicodedata

from catalog.models import DatasetField

# Breve (ă) < circumflex (â ê ô) < horn (ơ ư): each makes a letter of its own.
MODIFIER_MARKS = "\u0306\u0302\u031b"
MODIFIER_WEIGHTS = "\U0010fffb\U0010fffc\U0010fffd"
# Tone marks in Vietnamese order (ICU vi: & ̀ << ̉ << ̃ << ́ << ̣): huyền, hỏi, ngã, sắc, nặng.
TONE_MARKS = "\u0300\u0309\u0303\u0301\u0323"
# Combining Diacritical Marks other than the above: dropped at the primary level, ranked after
# the tones at the secondary one.
OTHER_MARKS = "".join(
    chr(c) for c in range(0x0300, 0x0370) if chr(c) not in MODIFIER_MARKS + TONE_MARKS
)
SECONDARY_WEIGHTS = "".join(chr(0x10FF00 + i) for i in range(len(TONE_MARKS + OTHER_MARKS)))
# Punctuation, symbols and digits in ICU's order (measured with vi-x-icu, ICU 72), renumbered
# below the letters. U+005C is skipped: the SQL key goes through decode(…, 'escape').
ICU_LOW_ORDER = (
    " \u00a0_-\u2013\u2014,;:!?.\u2026\u00b7'\u2018\u2019\"\u201c\u201d\u00ab\u00bb()[]{}\u00a7"
    "@*/\\&#%\u2022\u2032\u2033`^\u00b0+\u00b1\u00d7<=>|~$\u20ab\u20ac0123456789"
)
LOW_WEIGHTS = "".join(chr(c) for c in range(0x20, 0x60) if c != 0x5C)
CAPITALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SMALLS = "abcdefghijklmnopqrstuvwxyz"
LETTER_WEIGHTS = "".join(chr(0x60 + i) for i in range(26))
D_STROKES = "\u0111\u0110"  # đ Đ: no decomposition
LEVEL_SEPARATOR = b"\x00"
LOWEST = "\x01"  # no tone; small letter or no case
CAPITAL = "\x02"


def _pairs(*groups: tuple[str, str]) -> list[tuple[str, str]]:
    """(source, weight) pairs; an empty weight deletes the character."""
    pairs: list[tuple[str, str]] = []
    for sources, weights in groups:
        assert not weights or len(weights) == len(sources)
        pairs += [(s, weights[i] if weights else "") for i, s in enumerate(sources)]
    return pairs


# The SQL twin scans each table from the start: frequent characters first, deletions last.
PRIMARY_TABLE = _pairs(
    (SMALLS, LETTER_WEIGHTS),
    (CAPITALS, LETTER_WEIGHTS),
    (MODIFIER_MARKS, MODIFIER_WEIGHTS),
    (ICU_LOW_ORDER, LOW_WEIGHTS),
    (OTHER_MARKS, ""),
)
SECONDARY_TABLE = _pairs(
    (SMALLS + " " + CAPITALS + D_STROKES, LOWEST * 55),
    (TONE_MARKS + OTHER_MARKS, SECONDARY_WEIGHTS),
    (ICU_LOW_ORDER[1:], LOWEST * (len(ICU_LOW_ORDER) - 1)),
)
TERTIARY_TABLE = _pairs(
    (SMALLS + " " + TONE_MARKS + MODIFIER_MARKS + "\u0111", LOWEST * 36),
    (CAPITALS + "\u0110", CAPITAL * 27),
    (ICU_LOW_ORDER[1:], LOWEST * (len(ICU_LOW_ORDER) - 1)),
)
_PRIMARY = str.maketrans(dict(PRIMARY_TABLE))
_SECONDARY = str.maketrans(dict(SECONDARY_TABLE))
_TERTIARY = str.maketrans(dict(TERTIARY_TABLE))
_NO_TONES = str.maketrans(dict.fromkeys(TONE_MARKS))
_NO_MODIFIERS = str.maketrans(dict.fromkeys(MODIFIER_MARKS))
_STROKE_AS_D = str.maketrans(dict.fromkeys(D_STROKES, "d" + MODIFIER_WEIGHTS[0]))


def vietnamese_sort_key(value: str) -> bytes:
    """The bytes ``hub_vi_sort_key(value)`` returns: compared bytewise, Vietnamese order."""
    decomposed = unicodedata.normalize("NFD", value)
    primary = decomposed.translate(_STROKE_AS_D).translate(_NO_TONES).translate(_PRIMARY)
    secondary = decomposed.translate(_NO_MODIFIERS).translate(_SECONDARY).rstrip(LOWEST)
    tertiary = decomposed.translate(_TERTIARY).rstrip(LOWEST)
    return LEVEL_SEPARATOR.join(level.encode("utf-8") for level in (primary, secondary, tertiary))


# Text shown as text; dates and datetimes are ISO text whose code-point order is time order.
VIETNAMESE_ORDERED_TYPES = frozenset({"string", "enum", "reference"})


def orders_vietnamese(field: DatasetField) -> bool:
    """Does ``orderBy`` on ``field`` sort in Vietnamese order? (An encrypted field sorts by its
    blind index, which has no language.)"""
    return field.type in VIETNAMESE_ORDERED_TYPES and not field.encrypted


def sort_key_sql(expression: str) -> str:
    """The SQL sort key of a text expression; queries and indexes spell it the same way."""
    return f"hub_vi_sort_key({expression})"


__all__ = ["VIETNAMESE_ORDERED_TYPES", "orders_vietnamese", "sort_key_sql", "vietnamese_sort_key"]
