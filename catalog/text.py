"""Catalogue text: what a title, a description, an enum value or a code may hold.

Invariant: catalogue text the hub stores is NFC (002 Điều 5.2, TCVN 6909:2001) and holds no
control character — no NUL (PostgreSQL text cannot hold one; it surfaced as INTERNAL), no
terminal escape, no bidirectional override that would make a title read differently from what
it says. Multi-line text (descriptions, legal bases, reasons) keeps tab and line breaks. A
refusal names the place and the character's code point, never echoing the raw text.
"""

from __future__ import annotations

import unicodedata

from catalog.errors import InvalidInput

# Bidirectional embeddings, overrides and isolates (Unicode TR 9): text that displays in
# another order than it is stored ("Trojan source").
_BIDI_CONTROLS = frozenset(
    chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
)
# Cc: C0 and C1 controls and DEL; Cs: lone surrogates (not encodable as UTF-8);
# Zl/Zp: line and paragraph separators, which break a line as \n does.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_LINE_WHITESPACE = frozenset("\t\n\r")


def refuse_controls(value: str, place: str, *, multiline: bool = False) -> None:
    """``InvalidInput`` naming ``place`` if ``value`` holds a control character."""
    for position, char in enumerate(value):
        if multiline and char in _LINE_WHITESPACE:
            continue
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InvalidInput(
                f"{place} contains the control character U+{ord(char):04X} at position "
                f"{position}; catalogue text must be printable"
                + ("" if multiline else " on one line")
            )


def clean_line(value: str, place: str) -> str:
    """One-line catalogue text (a title, a code, an enum value), checked and in NFC."""
    refuse_controls(value, place)
    return unicodedata.normalize("NFC", value)


def clean_text(value: str, place: str) -> str:
    """Multi-line catalogue text (a description, a legal basis), checked and in NFC."""
    refuse_controls(value, place, multiline=True)
    return unicodedata.normalize("NFC", value)


def clean_optional_line(value: str | None, place: str) -> str | None:
    return None if value is None else clean_line(value, place)


def clean_optional_text(value: str | None, place: str) -> str | None:
    return None if value is None else clean_text(value, place)


def is_clean_line(value: str) -> bool:
    """Could ``value`` be stored catalogue text? (Lookups answer "no such thing" otherwise.)"""
    try:
        refuse_controls(value, "")
    except InvalidInput:
        return False
    return True


__all__ = [
    "clean_line",
    "clean_optional_line",
    "clean_optional_text",
    "clean_text",
    "is_clean_line",
    "refuse_controls",
]
