"""Text encodings of Vietnamese source files: strict decoding of the legacy font encodings
TCVN3 and VNI, and telling an unlabelled file's encoding from its bytes.

Decoding is strict everywhere: a byte that has no meaning in the encoding raises
``UnicodeDecodeError`` (the caller names the line), never a replacement character, so a file
in the wrong or a mixed encoding is refused rather than stored garbled. Every result is NFC.

TCVN3 (TCVN 5712:1993, table VN3; the ABC fonts such as .VnTime) is single-byte: the
lowercase accented letters sit in 0xB5–0xFE, the uppercase base letters Ă Â Ê Ô Ơ Ư Đ in
0xA1–0xA7, and 0xB0–0xB4 hold the five tone marks. It has no uppercase accented letters: the
uppercase fonts (.VnTimeH) draw the lowercase byte values as capitals, so such text decodes
to lowercase. Table from the standard's VN3 chart, cross-checked against the corpus-derived
table of viparse 0.1.31 (MIT).

VNI (VNI-Windows; fonts such as VNI-Times) writes a toned vowel as its base letter followed
by one mark byte (``a`` + 0xF8 ``ø`` is ``à``); đ ơ ư and the i-family letters have bytes of
their own. Layout from the VNI-Windows chart of VNI Software, cross-checked against viparse's
corpus-derived table; the letter table below is built from Unicode's own decompositions so
no combination is typed by hand.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable, Iterator

LEGACY_ENCODINGS = ("tcvn3", "vni")
# Codec names accepted for files, with the Python codec used for each non-legacy one.
ENCODINGS: dict[str, str] = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf-16": "utf-16",
    "windows-1258": "cp1258",
    "cp1258": "cp1258",
    "tcvn3": "tcvn3",
    "vni": "vni",
}

_UNDEFINED = "\ufffe"  # codecs.charmap_decode's marker for a byte with no character

# Windows-1252 punctuation in 0x80-0x9F: legacy-font text was typed on Windows, where these
# bytes are the ANSI code page's quotes and dashes whatever the font.
_CP1252_HIGH = (
    bytes(range(0x80, 0xA0)).decode("cp1252", errors="replace").replace("\ufffd", _UNDEFINED)
)

_TCVN3_LETTERS = {
    0xA1: "Ă", 0xA2: "Â", 0xA3: "Ê", 0xA4: "Ô", 0xA5: "Ơ", 0xA6: "Ư", 0xA7: "Đ",
    0xA8: "ă", 0xA9: "â", 0xAA: "ê", 0xAB: "ô", 0xAC: "ơ", 0xAD: "ư", 0xAE: "đ",
    0xB0: "\u0300", 0xB1: "\u0309", 0xB2: "\u0303", 0xB3: "\u0301", 0xB4: "\u0323",
    0xB5: "à", 0xB6: "ả", 0xB7: "ã", 0xB8: "á", 0xB9: "ạ",
    0xBB: "ằ", 0xBC: "ẳ", 0xBD: "ẵ", 0xBE: "ắ", 0xC6: "ặ",
    0xC7: "ầ", 0xC8: "ẩ", 0xC9: "ẫ", 0xCA: "ấ", 0xCB: "ậ",
    0xCC: "è", 0xCE: "ẻ", 0xCF: "ẽ", 0xD0: "é", 0xD1: "ẹ",
    0xD2: "ề", 0xD3: "ể", 0xD4: "ễ", 0xD5: "ế", 0xD6: "ệ",
    0xD7: "ì", 0xD8: "ỉ", 0xDC: "ĩ", 0xDD: "í", 0xDE: "ị",
    0xDF: "ò", 0xE1: "ỏ", 0xE2: "õ", 0xE3: "ó", 0xE4: "ọ",
    0xE5: "ồ", 0xE6: "ổ", 0xE7: "ỗ", 0xE8: "ố", 0xE9: "ộ",
    0xEA: "ờ", 0xEB: "ở", 0xEC: "ỡ", 0xED: "ớ", 0xEE: "ợ",
    0xEF: "ù", 0xF1: "ủ", 0xF2: "ũ", 0xF3: "ú", 0xF4: "ụ",
    0xF5: "ừ", 0xF6: "ử", 0xF7: "ữ", 0xF8: "ứ", 0xF9: "ự",
    0xFA: "ỳ", 0xFB: "ỷ", 0xFC: "ỹ", 0xFD: "ý", 0xFE: "ỵ",
}  # fmt: skip


def _tcvn3_table() -> str:
    table = [chr(b) for b in range(0x80)] + list(_CP1252_HIGH) + [_UNDEFINED] * 0x60
    table[0xA0] = "\u00a0"
    for byte, char in _TCVN3_LETTERS.items():
        table[byte] = char
    return "".join(table)


TCVN3_TABLE = _tcvn3_table()

# VNI: the mark bytes, as the Latin-1 characters they appear as, each with the combining
# sequence it adds to the base letter (lowercase and uppercase marks mean the same).
_GRAVE, _ACUTE, _HOOK, _TILDE, _DOT = "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"
_CIRCUMFLEX, _BREVE, _HORN = "\u0302", "\u0306", "\u031b"
_TONES = {"ø": _GRAVE, "ù": _ACUTE, "û": _HOOK, "õ": _TILDE, "ï": _DOT}
_CIRCUMFLEX_MARKS = {
    "â": "", "à": _GRAVE, "á": _ACUTE, "å": _HOOK, "ã": _TILDE, "ä": _DOT,
}  # fmt: skip
_BREVE_MARKS = {"ê": "", "è": _GRAVE, "é": _ACUTE, "ú": _HOOK, "ü": _TILDE, "ë": _DOT}
# Letters with a byte of their own; ì and í are the letters they look like.
_VNI_SINGLE = {
    "ñ": "đ", "ô": "ơ", "ö": "ư", "ò": "ị", "ó": "ĩ", "æ": "ỉ", "î": "ỵ", "ì": "ì", "í": "í",
}  # fmt: skip
_VNI_SYMBOLS = "×÷"  # Latin-1 symbols that VNI leaves as they are


def _vni_table() -> dict[str, str]:
    """Every VNI letter sequence (base + mark, or a single byte) mapped to its NFC letter."""
    table: dict[str, str] = {}

    def add(sequence: str, letter_nfd: str) -> None:
        letter = unicodedata.normalize("NFC", letter_nfd)
        for seq, out in ((sequence, letter), (sequence.upper(), letter.upper())):
            table[seq] = out
        # An uppercase base keeps its case under a lowercase mark ("Aø" is "À").
        table[sequence[0].upper() + sequence[1:]] = letter.upper()

    for single, letter in _VNI_SINGLE.items():
        add(single, unicodedata.normalize("NFD", letter))
    bases = {"a": "a", "e": "e", "o": "o", "u": "u", "y": "y", "i": "i", "ô": "o" + _HORN}
    bases["ö"] = "u" + _HORN
    for base, base_nfd in bases.items():
        for mark, tone in _TONES.items():
            add(base + mark, base_nfd + tone)
    for base in "aeo":
        for mark, tone in _CIRCUMFLEX_MARKS.items():
            add(base + mark, base + _CIRCUMFLEX + tone)
    for mark, tone in _BREVE_MARKS.items():
        add("a" + mark, "a" + _BREVE + tone)
    return table


VNI_TABLE = _vni_table()
_VNI_BASES = "aeiouyôöAEIOUYÔÖ"
_VNI_MARKS = "".join(sorted({seq[1] for seq in VNI_TABLE if len(seq) == 2}))
_VNI_SEQUENCE = re.compile(f"[{_VNI_BASES}][{_VNI_MARKS}]|[^\\x00-\\x7f]")
_VNI_SURFACE = "".join([chr(b) for b in range(0x80)] + list(_CP1252_HIGH)) + "".join(
    chr(b) for b in range(0xA0, 0x100)
)
_VNI_PASS_THROUGH = (
    frozenset(_CP1252_HIGH.replace(_UNDEFINED, ""))
    | frozenset(chr(b) for b in range(0xA0, 0xC0))
    | frozenset(_VNI_SYMBOLS)
)


def decode_tcvn3(data: bytes) -> str:
    """TCVN3 bytes as NFC text; raises ``UnicodeDecodeError`` at a byte with no meaning."""
    text, _ = codecs.charmap_decode(data, "strict", TCVN3_TABLE)
    return unicodedata.normalize("NFC", text)


def decode_vni(data: bytes) -> str:
    """VNI bytes as NFC text; raises ``UnicodeDecodeError`` at a mark byte with no letter
    before it or a byte with no meaning."""
    surface, _ = codecs.charmap_decode(data, "strict", _VNI_SURFACE)

    def letter(match: re.Match[str]) -> str:
        sequence = match.group()
        found = VNI_TABLE.get(sequence)
        if found is not None:
            return found
        if sequence in _VNI_PASS_THROUGH:
            return sequence
        # A mark byte after nothing it can take, or a byte VNI gives no meaning.
        start = match.start() + len(sequence) - 1
        raise UnicodeDecodeError("vni", data, start, start + 1, "not a VNI letter or symbol")

    return unicodedata.normalize("NFC", _VNI_SEQUENCE.sub(letter, surface))


def _surface_encoding() -> dict[int, int]:
    table = {ord(char): byte for byte, char in enumerate(_VNI_SURFACE) if char != _UNDEFINED}
    for byte in range(0x80, 0xA0):  # a C1 control stands for its own byte
        table.setdefault(byte, byte)
    return table


_SURFACE_ENCODING = _surface_encoding()


def decode_font_text(text: str, encoding: str) -> str:
    """Text typed in a legacy-font as a spreadsheet stores it (each font byte shown as its
    Windows-1252 or Latin-1 character, "Qu¶ng Ng·i") decoded as ``encoding``. Raises
    ``UnicodeError`` for a character no font byte shows (the text was not in that font)."""
    if text.isascii():
        return text
    data, _ = codecs.charmap_encode(text, "strict", _SURFACE_ENCODING)
    return decoder(encoding)(data)


def decoder(encoding: str) -> Callable[[bytes], str]:
    """A strict bytes-to-NFC-text function for one of ``ENCODINGS`` (not utf-16, which
    needs a stateful reader)."""
    codec = ENCODINGS[encoding]
    if codec == "tcvn3":
        return decode_tcvn3
    if codec == "vni":
        return decode_vni

    def decode(data: bytes) -> str:
        return unicodedata.normalize("NFC", data.decode(codec))

    return decode


# Vietnamese syllables: onset, vowel nucleus (with its glides), final consonant. Used to
# score how Vietnamese a decoding reads; ASCII-only words are left out of the score as
# they read the same in every candidate.
# Spelling rules that tell real syllables from misdecoded ones: gh, ngh and k only before
# e ê i (y), c never before them.
_ONSET = (
    "(?:ngh(?=[eêi])|gh(?=[eêi])|k(?=[eêiy])|c(?![eêiy])|"
    "ng|nh|ch|gi|kh|ph|qu|th|tr|b|d|đ|g|h|l|m|n|p|r|s|t|v|x)?"
)
# Nuclei that may take a final consonant, and those ending in a glide or written without one
# (mía, múa, mưa) that may not.
_OPEN = "uyê|iê|yê|uô|ươ|oa|oă|oe|uâ|uê|uy|uơ|a|ă|â|e|ê|i|o|ô|ơ|u|ư|y"
_CLOSED = (
    "iêu|yêu|oai|oay|oeo|uây|uôi|ươi|ươu|uya|uyu|"
    "ai|ao|au|ay|âu|ây|eo|êu|ia|iu|oi|ôi|ơi|ua|ui|ưa|ưi|ưu"
)
_SYLLABLE = re.compile(f"{_ONSET}(?:(?:{_OPEN})(?:ng|nh|ch|c|m|n|p|t)?|(?:{_CLOSED}))")
_TONE_MARKS = frozenset((_GRAVE, _ACUTE, _HOOK, _TILDE, _DOT))
_WORD = re.compile(r"[^\W\d_]+")


def is_vietnamese_syllable(word: str) -> bool:
    """Whether ``word`` is spelt as one Vietnamese syllable (at most one tone mark)."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    tones = sum(1 for char in decomposed if char in _TONE_MARKS)
    if tones > 1:
        return False
    bare = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_MARKS))
    return _SYLLABLE.fullmatch(bare) is not None


def vietnamese_score(text: str) -> tuple[float, int]:
    """The share of words with non-ASCII letters that are Vietnamese syllables, and how many
    such words there were."""
    words = [w for w in _WORD.findall(text) if not w.isascii()]
    if not words:
        return 0.0, 0
    good = sum(1 for w in words if is_vietnamese_syllable(w))
    return good / len(words), len(words)


# A legacy candidate wins when this share of its non-ASCII words are syllables.
MIN_SCORE = 0.8


def detect_encoding(sample: bytes, *, complete: bool) -> str | None:
    """The encoding of a file starting with ``sample`` (the whole file when ``complete``):
    ``utf-16`` on its BOM, ``utf-8-sig``/``utf-8`` when the bytes are UTF-8, else the legacy
    encoding (tcvn3, vni, windows-1258) whose decoding reads most like Vietnamese. ``None``
    when none does."""
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8-sig" if sample.startswith(codecs.BOM_UTF8) else "utf-8"
    if not complete:  # score whole lines only: a cut VNI pair would count against it
        sample = sample[: sample.rfind(b"\n") + 1] or sample
    best: tuple[float, int, str] | None = None
    lines = sample.splitlines()
    for name in ("tcvn3", "vni", "windows-1258"):
        # Line by line: a line in another encoding must not hide the file's own, so that
        # the read that follows can name that line.
        text = "\n".join(_decodable(decoder(name), lines))
        share, words = vietnamese_score(text)
        if words and share >= MIN_SCORE and (best is None or (share, words) > best[:2]):
            best = (share, words, name)
    return best[2] if best else None


def _decodable(decode: Callable[[bytes], str], lines: list[bytes]) -> Iterator[str]:
    for line in lines:
        try:
            yield decode(line)
        except UnicodeDecodeError:
            continue


__all__ = [
    "ENCODINGS",
    "LEGACY_ENCODINGS",
    "TCVN3_TABLE",
    "VNI_TABLE",
    "decode_font_text",
    "decode_tcvn3",
    "decode_vni",
    "decoder",
    "detect_encoding",
    "is_vietnamese_syllable",
    "vietnamese_score",
]
