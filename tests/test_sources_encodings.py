"""Legacy Vietnamese encodings: TCVN3 and VNI decode known words from hand-made bytes, every
Vietnamese letter round-trips through an encoder written here from the published layouts,
broken bytes are refused, and detection tells the encodings apart."""

from __future__ import annotations

import unicodedata

import pytest

from connectors.text_encodings import (
    decode_font_text,
    decode_tcvn3,
    decode_vni,
    detect_encoding,
    is_vietnamese_syllable,
)

# Hand-made from the TCVN3 (TCVN 5712:1993 VN3) and VNI-Windows charts.
TCVN3_WORDS = {
    "Quảng Ngãi": b"Qu\xb6ng Ng\xb7i",
    "Tư Nghĩa": b"T\xad Ngh\xdca",
    "Nguyễn Văn Đức": b"Nguy\xd4n V\xa8n \xa7\xf8c",
    "đất đai": b"\xae\xcat \xaeai",
}
VNI_WORDS = {
    "Quảng Ngãi": b"Qua\xfbng Nga\xf5i",
    "Tư Nghĩa": b"T\xf6 Ngh\xf3a",
    "Nguyễn Văn Đức": b"Nguye\xe3n Va\xean \xd1\xf6\xf9c",
    "đất đai": b"\xf1a\xe1t \xf1ai",
}

VOWELS = "aăâeêioôơuưy"
TONES = {
    "": "",
    "\u0300": "huyền",
    "\u0301": "sắc",
    "\u0309": "hỏi",
    "\u0303": "ngã",
    "\u0323": "nặng",
}
ALL_LETTERS = sorted(
    {unicodedata.normalize("NFC", v + t) for v in VOWELS for t in TONES} | {"đ"},
)

# Written here independently of the module, from the charts: TCVN3 bytes of each lowercase
# letter, in the chart's order (base letter, then huyền hỏi ngã sắc nặng).
_TCVN3_ROWS = {
    "a": [0x61, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9],
    "ă": [0xA8, 0xBB, 0xBC, 0xBD, 0xBE, 0xC6],
    "â": [0xA9, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB],
    "e": [0x65, 0xCC, 0xCE, 0xCF, 0xD0, 0xD1],
    "ê": [0xAA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6],
    "i": [0x69, 0xD7, 0xD8, 0xDC, 0xDD, 0xDE],
    "o": [0x6F, 0xDF, 0xE1, 0xE2, 0xE3, 0xE4],
    "ô": [0xAB, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9],
    "ơ": [0xAC, 0xEA, 0xEB, 0xEC, 0xED, 0xEE],
    "u": [0x75, 0xEF, 0xF1, 0xF2, 0xF3, 0xF4],
    "ư": [0xAD, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9],
    "y": [0x79, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE],
}
_CHART_TONES = ["", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323"]
# VNI: base byte(s) of each vowel, and the mark bytes for its tones in chart order.
_VNI_BASE = {
    "a": b"a", "ă": b"a", "â": b"a", "e": b"e", "ê": b"e", "i": b"i", "o": b"o",
    "ô": b"o", "ơ": b"\xf4", "u": b"u", "ư": b"\xf6", "y": b"y",
}  # fmt: skip
_VNI_MARKS = {
    "plain": [b"", b"\xf8", b"\xfb", b"\xf5", b"\xf9", b"\xef"],
    "circumflex": [b"\xe2", b"\xe0", b"\xe5", b"\xe3", b"\xe1", b"\xe4"],
    "breve": [b"\xea", b"\xe8", b"\xfa", b"\xfc", b"\xe9", b"\xeb"],
}
_VNI_I = {"": b"i", "\u0300": b"\xec", "\u0309": b"\xe6", "\u0303": b"\xf3", "\u0301": b"\xed"}
_VNI_I["\u0323"] = b"\xf2"


def tcvn3_encode(text: str) -> bytes:
    table = {"đ": 0xAE, "Đ": 0xA7, "Ă": 0xA1, "Â": 0xA2, "Ê": 0xA3, "Ô": 0xA4, "Ơ": 0xA5}
    table["Ư"] = 0xA6
    for base, row in _TCVN3_ROWS.items():
        for tone, byte in zip(_CHART_TONES, row, strict=True):
            table[unicodedata.normalize("NFC", base + tone)] = byte
    return bytes(table[c] if c in table else ord(c) for c in unicodedata.normalize("NFC", text))


def vni_encode(text: str) -> bytes:
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        upper = char.isupper()
        lower = char.lower()
        if lower == "đ":
            out += b"\xd1" if upper else b"\xf1"
            continue
        decomposed = unicodedata.normalize("NFD", lower)
        tone = next((c for c in decomposed if c in _CHART_TONES[1:]), "")
        base = unicodedata.normalize("NFC", decomposed.replace(tone, "")) if tone else lower
        if base not in _VNI_BASE:
            out += char.encode("latin-1")
            continue
        index = _CHART_TONES.index(tone)
        if base == "i":
            piece = _VNI_I[tone]
        elif base in "âêô":
            piece = _VNI_BASE[base] + _VNI_MARKS["circumflex"][index]
        elif base == "ă":
            piece = _VNI_BASE[base] + _VNI_MARKS["breve"][index]
        elif base == "y" and tone == "\u0323":
            piece = b"\xee"
        else:
            piece = _VNI_BASE[base] + _VNI_MARKS["plain"][index]
        out += piece.decode("latin-1").upper().encode("latin-1") if upper else piece
    return bytes(out)


def cp1258_encode(text: str) -> bytes:
    """Windows-1258 keeps ă â ê ô ơ ư đ precomposed and writes tones as combining marks."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        decomposed = unicodedata.normalize("NFD", char)
        tones = "".join(c for c in decomposed if c in _CHART_TONES[1:])
        base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in tones))
        out.append(base + tones)
    return "".join(out).encode("cp1258")


@pytest.mark.parametrize("word", TCVN3_WORDS)
def test_tcvn3_decodes_known_words(word: str) -> None:
    assert decode_tcvn3(TCVN3_WORDS[word]) == word


@pytest.mark.parametrize("word", VNI_WORDS)
def test_vni_decodes_known_words(word: str) -> None:
    assert decode_vni(VNI_WORDS[word]) == word


def test_test_encoders_agree_with_the_hand_made_bytes() -> None:
    for word, data in TCVN3_WORDS.items():
        assert tcvn3_encode(word) == data
    for word, data in VNI_WORDS.items():
        assert vni_encode(word) == data


@pytest.mark.parametrize("letter", ALL_LETTERS)
def test_every_lowercase_letter_round_trips(letter: str) -> None:
    assert decode_tcvn3(tcvn3_encode(letter)) == letter
    assert decode_vni(vni_encode(letter)) == letter


@pytest.mark.parametrize("letter", ALL_LETTERS)
def test_every_uppercase_letter_round_trips_through_vni(letter: str) -> None:
    assert decode_vni(vni_encode(letter.upper())) == letter.upper()


def test_tcvn3_uppercase_accented_letters_decode_to_lowercase() -> None:
    # .VnTimeH draws the lowercase bytes as capitals: "QUẢNG NGÃI" is stored as "QU¶NG NG·I".
    assert decode_tcvn3(b"QU\xb6NG NG\xb7I") == "QUảNG NGãI"


def test_results_are_nfc() -> None:
    text = decode_vni(VNI_WORDS["Nguyễn Văn Đức"])
    assert unicodedata.is_normalized("NFC", text)


def test_tcvn3_refuses_a_byte_with_no_meaning() -> None:
    with pytest.raises(UnicodeDecodeError) as caught:
        decode_tcvn3(b"Qu\xb6ng \xc0")
    assert caught.value.start == 6


def test_vni_refuses_a_mark_after_a_consonant() -> None:
    with pytest.raises(UnicodeDecodeError) as caught:
        decode_vni(b"ab\xf9c")
    assert caught.value.start == 2


def test_font_text_from_a_spreadsheet_cell_decodes() -> None:
    assert decode_font_text("Qu¶ng Ng·i", "tcvn3") == "Quảng Ngãi"
    assert decode_font_text("Quaûng Ngaõi", "vni") == "Quảng Ngãi"
    with pytest.raises(UnicodeError):
        decode_font_text("Quảng", "tcvn3")  # already Unicode: not in the font


SENTENCE = "Uỷ ban nhân dân tỉnh Quảng Ngãi, huyện Tư Nghĩa: Nguyễn Văn Đức, đất đai\n"


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (SENTENCE.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + SENTENCE.encode("utf-8"), "utf-8-sig"),
        (SENTENCE.encode("utf-16"), "utf-16"),
        (tcvn3_encode(SENTENCE), "tcvn3"),
        (vni_encode(SENTENCE), "vni"),
        (cp1258_encode(SENTENCE), "windows-1258"),
    ],
)
def test_detection_tells_the_encodings_apart(encoded: bytes, expected: str) -> None:
    assert detect_encoding(encoded, complete=True) == expected


@pytest.mark.parametrize("word", TCVN3_WORDS)
def test_detection_on_single_names(word: str) -> None:
    assert detect_encoding(TCVN3_WORDS[word], complete=True) == "tcvn3"
    assert detect_encoding(VNI_WORDS[word], complete=True) == "vni"
    assert detect_encoding(cp1258_encode(word), complete=True) == "windows-1258"


def test_detection_gives_up_on_text_that_reads_as_no_vietnamese() -> None:
    assert detect_encoding("Größe über Straße\n".encode("latin-1"), complete=True) is None


def test_spelling_rules_used_by_detection() -> None:
    assert is_vietnamese_syllable("nghĩa")
    assert is_vietnamese_syllable("Nguyễn")
    assert not is_vietnamese_syllable("nghúa")  # ngh only before e ê i
    assert not is_vietnamese_syllable("Quaỷng")
