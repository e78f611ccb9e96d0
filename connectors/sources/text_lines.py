"""The lines of a text file as NFC text with their physical line numbers, decoded strictly in
the configured or detected encoding (connectors.text_encodings): a byte the encoding gives no
meaning, or a line in another encoding than the rest, stops the read naming the line.
Synchronous (callers run it in a thread); reads one line at a time."""

from __future__ import annotations

import codecs
import io
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from connectors.sources.base import SourceError
from connectors.text_encodings import ENCODINGS, decoder, detect_encoding

MAX_LINE_BYTES = 16 * 1024 * 1024
DETECT_BYTES = 1024 * 1024
FILE_ENCODINGS = (*ENCODINGS, "auto")


def open_binary(kind: str, path: Path) -> BinaryIO:
    """The file opened for reading, or a SourceError saying why not."""
    try:
        if path.is_dir():
            raise SourceError(f"{kind} source: {path} is a folder, not a file")
        return path.open("rb")
    except FileNotFoundError:
        raise SourceError(f"{kind} source: file {path} does not exist") from None
    except OSError as exc:
        raise SourceError(f"{kind} source: cannot open {path}: {exc.strerror}") from None


def resolve_encoding(kind: str, path: Path, stream: BinaryIO, encoding: str) -> str:
    """``encoding`` itself, or for ``auto`` the one detected from the file's first MiB."""
    if encoding != "auto":
        return encoding
    sample = stream.read(DETECT_BYTES + 1)
    stream.seek(0)
    found = detect_encoding(sample[:DETECT_BYTES], complete=len(sample) <= DETECT_BYTES)
    if found is None:
        raise SourceError(
            f"{kind} source: cannot tell the encoding of {path}: it is not UTF-8 or UTF-16 "
            "and reads as Vietnamese in none of tcvn3, vni, windows-1258; set 'encoding'"
        )
    return found


def numbered_lines(kind: str, path: Path, stream: BinaryIO, encoding: str) -> Iterator[str]:
    """Each line of ``stream`` (line ending kept) decoded as ``encoding``, one per physical
    line, so the caller's count of lines taken is the line number."""
    if ENCODINGS[encoding] == "utf-16":
        yield from _utf16_lines(kind, path, stream)
        return
    decode = decoder(encoding)
    legacy = ENCODINGS[encoding] not in ("utf-8", "utf-8-sig")
    readline = stream.readline
    number = 0
    # Excel writes a BOM before UTF-8 text: with utf-8 declared it is not part of a name.
    if not legacy and stream.read(3) != codecs.BOM_UTF8:
        stream.seek(0)
    while raw := readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise SourceError(f"{kind} source: {path} line {number} is longer than 16 MiB")
        if legacy and not raw.isascii() and _is_utf8(raw):
            raise SourceError(
                f"{kind} source: {path} line {number} is UTF-8 while the file is {encoding}: "
                "mixed encodings"
            )
        try:
            line = decode(raw)
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{kind} source: {path} line {number}, byte {exc.start + 1} "
                f"(0x{raw[exc.start]:02X}) is not valid {encoding}: wrong or mixed encoding"
            ) from None
        yield line


def _is_utf8(raw: bytes) -> bool:
    """Whether a non-ASCII line is valid UTF-8: legacy-encoded Vietnamese almost never forms
    valid UTF-8 sequences, so such a line was written in another encoding."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf16_lines(kind: str, path: Path, stream: BinaryIO) -> Iterator[str]:
    text = io.TextIOWrapper(stream, encoding="utf-16", errors="strict", newline="")
    number = 0
    while True:
        try:
            line = text.readline(MAX_LINE_BYTES)
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{kind} source: {path} line {number + 1} is not valid UTF-16 ({exc.reason})"
            ) from None
        if not line:
            return
        number += 1
        yield unicodedata.normalize("NFC", line)


__all__ = ["FILE_ENCODINGS", "numbered_lines", "open_binary", "resolve_encoding"]
