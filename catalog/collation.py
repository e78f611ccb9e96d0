"""Vietnamese order of text: a sort key whose bytes sort as ICU's ``vi`` collation sorts words.

Invariant: ``vietnamese_sort_key(s)`` is byte for byte what the SQL function
``hub_vi_sort_key(s)`` (migration 0006) returns, so an order computed in Python, in a query or
from an expression index is one order. PostgreSQL with ICU has ``vi-x-icu``; the embedded
server has no ICU, so the hub orders by this key on every server.

The key has three levels separated by a zero byte, compared in turn as ICU compares them:

1. primary, the letters in the Vietnamese alphabet a ă â b c d đ e ê … o ô ơ … u ư … y, case
   and tone marks ignored. From the NFD text: a capital becomes its small letter, a letter
   carrying a breve, circumflex or horn (ă â ê ô ơ ư) becomes the base letter followed by one
   of three code points above every other, so it sorts after every word of its base letter and
   before the next letter (đ counts as d with a breve); ASCII punctuation, digits and common
   typographic marks (non-breaking space, dashes, curly quotes, ellipsis, ₫) are renumbered
   into ICU's order below the letters; other combining marks are dropped.
2. secondary, the tone of each letter: none < huyền (grave) < hỏi (hook) < ngã (tilde) <
   sắc (acute) < nặng (dot below); then other combining marks by code point.
3. tertiary, case: small before capital, letter by letter from the left.

Trailing "no tone" and "small" weights are trimmed: among keys with an equal primary level
that keeps their order and shortens the key. Known differences from ICU (outside Vietnamese
words): non-ASCII punctuation not listed above sorts after the letters, letters of other
alphabets keep code point order and their case is primary, and breve, circumflex or horn on
letters Vietnamese does not use (ĭ, ŝ, ǔ) make a new letter as in ă, where ICU ranks the
mark at the secondary level.
"""

from __future__ import annotations

import unicodedata

# The three "modifier" marks that make a Vietnamese letter of their own: ă (breve) < â ê ô
# (circumflex) < ơ ư (horn). Each becomes a code point above all others, so "a" + anything
# sorts before "ă". Đ/đ is d followed by the lowest of them.
MODIFIER_MARKS = "\u0306\u0302\u031b"
MODIFIER_WEIGHTS = "\U0010fffb\U0010fffc\U0010fffd"
# Tone marks in Vietnamese order (ICU vi: & ̀ << ̉ << ̃ << ́ << ̣): huyền, hỏi, ngã, sắc, nặng.
TONE_MARKS = "\u0300\u0309\u0303\u0301\u0323"
# Combining Diacritical Marks other than the above: dropped at the primary level, ranked after
# the tones at the secondary one.
OTHER_MARKS = "".join(
    chr(c) for c in range(0x0300, 0x0370) if chr(c) not in MODIFIER_MARKS + TONE_MARKS
)
# Punctuation, symbols and digits in ICU's order (measured with vi-x-icu, ICU 72), renumbered
# to U+0020..U+0060 so that all sort before the letters a..z (U+0061..U+007A) as in ICU.
ICU_LOW_ORDER = (
    " \u00a0_-\u2013\u2014,;:!?.\u2026\u00b7'\u2018\u2019\"\u201c\u201d\u00ab\u00bb()[]{}\u00a7"
    "@*/\\&#%\u2022\u2032\u2033`^\u00b0+\u00b1\u00d7<=>|~$\u20ab\u20ac0123456789"
)
LOW_WEIGHTS = "".join(chr(0x20 + i) for i in range(len(ICU_LOW_ORDER)))
CAPITALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SMALLS = "abcdefghijklmnopqrstuvwxyz"
LEVEL_SEPARATOR = b"\x00"
COMMON_WEIGHT = "\x01"  # no tone; small letter or no case
SECONDARY_WEIGHTS = "".join(chr(2 + i) for i in range(len(TONE_MARKS + OTHER_MARKS)))
CAPITAL_WEIGHT = "\x02"

_PRIMARY = str.maketrans(
    {
        **dict(zip(CAPITALS, SMALLS, strict=True)),
        **dict(zip(ICU_LOW_ORDER, LOW_WEIGHTS, strict=True)),
        **dict(zip(MODIFIER_MARKS, MODIFIER_WEIGHTS, strict=True)),
        **dict.fromkeys(TONE_MARKS + OTHER_MARKS),
        "\u0111": "d" + MODIFIER_WEIGHTS[0],
        "\u0110": "d" + MODIFIER_WEIGHTS[0],
    }
)
_SECONDARY = dict(zip(TONE_MARKS + OTHER_MARKS, SECONDARY_WEIGHTS, strict=True))
_CAPITALS = frozenset(CAPITALS + "\u0110")
_ALL_MARKS = frozenset(MODIFIER_MARKS + TONE_MARKS + OTHER_MARKS)


def vietnamese_sort_key(value: str) -> bytes:
    """The bytes ``hub_vi_sort_key(value)`` returns: compared bytewise, Vietnamese order."""
    decomposed = unicodedata.normalize("NFD", value)
    primary = decomposed.translate(_PRIMARY)
    secondary = "".join(
        _SECONDARY.get(char, COMMON_WEIGHT) for char in decomposed if char not in MODIFIER_MARKS
    ).rstrip(COMMON_WEIGHT)
    tertiary = "".join(
        CAPITAL_WEIGHT if char in _CAPITALS else COMMON_WEIGHT
        for char in decomposed
        if char not in _ALL_MARKS
    ).rstrip(COMMON_WEIGHT)
    return LEVEL_SEPARATOR.join(level.encode("utf-8") for level in (primary, secondary, tertiary))


__all__ = ["vietnamese_sort_key"]
