"""The sealed backup file: a pg_dump archive under streaming authenticated encryption.

Layout (integers big-endian)::

    offset  size  field
    0       8     magic            b"\\x89HUBBKP\\n" (high bit and newline catch text-mode mangling)
    8       1     format version   1
    9       8     key id           HMAC-SHA256(backup key, "hub backup key id")[:8]
    17      4     chunk size       plaintext bytes per chunk (4 KiB .. 16 MiB)
    21      16    salt             random per file
    37      7     nonce prefix     random per file
    44      ...   chunks           AES-256-GCM ciphertext + 16-byte tag each

Each file has its own key, HKDF-SHA256(backup key, salt, "hub backup v1"). Chunk ``i`` is
sealed under the nonce ``prefix ‖ i (4 bytes) ‖ last (1 byte: 1 on the final chunk, else 0)``
with the 44-byte header as associated data: this is the STREAM construction (Hoang, Reyhanitabar,
Rogaway, Vizár 2015; as in Tink's streaming AEAD and age). Every chunk but the last holds exactly
``chunk size`` plaintext bytes; the last holds 0 to ``chunk size`` bytes and is always present.
So a changed byte anywhere (header included), a reordered, dropped or added chunk, and a file
cut short at any offset all fail authentication; the reader names the chunk.

Nothing here touches the database or spawns processes: ``SealingWriter`` and ``open_sealed``
turn plaintext into sealed bytes and back, one chunk in memory at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"\x89HUBBKP\n"
FORMAT_VERSION = 1
HEADER = struct.Struct(">8sB8sI16s7s")
HEADER_SIZE = HEADER.size  # 44
TAG_SIZE = 16
CHUNK_SIZE = 1024 * 1024
MIN_CHUNK_SIZE = 4096
MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_CHUNKS = 2**32  # the counter's width; 4 PiB at the default chunk size
_KEY_ID_LABEL = b"hub backup key id"
_HKDF_INFO = b"hub backup v1"


class BackupFileError(Exception):
    """The file is not a backup this hub can open: not one at all, another format version,
    another backup key, or altered or cut short. The message names the file and the place."""


def key_id(backup_key: bytes) -> bytes:
    """Eight bytes that name a backup key without revealing it."""
    return hmac.new(backup_key, _KEY_ID_LABEL, hashlib.sha256).digest()[:8]


@dataclass(frozen=True, slots=True)
class Header:
    key_id: bytes
    chunk_size: int
    salt: bytes
    nonce_prefix: bytes

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC, FORMAT_VERSION, self.key_id, self.chunk_size, self.salt, self.nonce_prefix
        )

    @classmethod
    def fresh(cls, backup_key: bytes, chunk_size: int = CHUNK_SIZE) -> Header:
        return cls(key_id(backup_key), chunk_size, os.urandom(16), os.urandom(7))


def parse_header(raw: bytes, backup_key: bytes, where: str) -> Header:
    """The header of ``raw`` (the file's first bytes); BackupFileError says why it is none."""
    if len(raw) < len(MAGIC) or raw[: len(MAGIC)] != MAGIC:
        raise BackupFileError(f"{where}: not a hub backup file (no backup header)")
    if len(raw) < HEADER_SIZE:
        raise BackupFileError(f"{where}: cut short inside the backup header")
    _, version, kid, chunk_size, salt, prefix = HEADER.unpack(raw[:HEADER_SIZE])
    if version != FORMAT_VERSION:
        raise BackupFileError(
            f"{where}: backup format version {version}; this hub reads version {FORMAT_VERSION}"
        )
    if kid != key_id(backup_key):
        raise BackupFileError(
            f"{where}: made with another backup key (key id {kid.hex()}; the keys file's "
            f"backup key has id {key_id(backup_key).hex()}); use the keys file of the hub "
            "that took it"
        )
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise BackupFileError(f"{where}: chunk size {chunk_size} in the header is out of range")
    return Header(kid, chunk_size, salt, prefix)


class _Cipher:
    def __init__(self, backup_key: bytes, header: Header) -> None:
        file_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=header.salt, info=_HKDF_INFO
        ).derive(backup_key)
        self._aead = AESGCM(file_key)
        self._prefix = header.nonce_prefix
        self._aad = header.pack()

    def _nonce(self, index: int, last: bool) -> bytes:
        if index >= MAX_CHUNKS:
            raise BackupFileError(f"more than {MAX_CHUNKS} chunks: the chunk counter would wrap")
        return self._prefix + struct.pack(">IB", index, 1 if last else 0)

    def seal(self, index: int, plaintext: bytes, last: bool) -> bytes:
        return self._aead.encrypt(self._nonce(index, last), plaintext, self._aad)

    def open(self, index: int, sealed: bytes, last: bool) -> bytes | None:
        try:
            return self._aead.decrypt(self._nonce(index, last), sealed, self._aad)
        except InvalidTag:
            return None


class SealingWriter:
    """Seals plaintext written to it into ``out``; ``close`` seals the final chunk.

    Holds at most one chunk of plaintext: a full chunk is sealed only when more data arrives,
    because the final chunk is sealed differently and is known only at ``close``."""

    def __init__(self, out: BinaryIO, backup_key: bytes, chunk_size: int = CHUNK_SIZE) -> None:
        header = Header.fresh(backup_key, chunk_size)
        self._out = out
        self._cipher = _Cipher(backup_key, header)
        self._chunk_size = chunk_size
        self._pending = bytearray()
        self._index = 0
        self.plaintext_bytes = 0
        out.write(header.pack())

    def write(self, data: bytes) -> None:
        self._pending += data
        self.plaintext_bytes += len(data)
        # Strictly more than a chunk: the chunk sealed now is certainly not the last.
        while len(self._pending) > self._chunk_size:
            chunk = bytes(self._pending[: self._chunk_size])
            del self._pending[: self._chunk_size]
            self._out.write(self._cipher.seal(self._index, chunk, last=False))
            self._index += 1

    def close(self) -> None:
        self._out.write(self._cipher.seal(self._index, bytes(self._pending), last=True))
        self._pending.clear()


def open_sealed(source: BinaryIO, backup_key: bytes, where: str) -> Iterator[bytes]:
    """The plaintext of a sealed file, chunk by chunk, each authenticated before it is
    yielded; BackupFileError at the first chunk that is not authentic, or when the file ends
    before its final chunk. A caller that must not act on a partial file reads it all first."""
    header = parse_header(source.read(HEADER_SIZE), backup_key, where)
    cipher = _Cipher(backup_key, header)
    segment = header.chunk_size + TAG_SIZE
    current = source.read(segment)
    if not current:
        raise BackupFileError(f"{where}: cut short: nothing after the backup header")
    index = 0
    while True:
        following = source.read(segment) if len(current) == segment else b""
        last = not following
        plaintext = cipher.open(index, current, last) if len(current) >= TAG_SIZE else None
        if plaintext is None:
            raise BackupFileError(_why(cipher, index, current, last, header, where))
        yield plaintext
        if last:
            return
        current = following
        index += 1


def _why(cipher: _Cipher, index: int, sealed: bytes, last: bool, header: Header, where: str) -> str:
    start = HEADER_SIZE + index * (header.chunk_size + TAG_SIZE)
    place = f"chunk {index + 1} (bytes {start}-{start + len(sealed) - 1})"
    # An authentic chunk that is not the final one, at the end of the file: the file was cut
    # at a chunk boundary.
    if last and len(sealed) >= TAG_SIZE and cipher.open(index, sealed, False) is not None:
        return f"{where}: cut short after {place}: the final chunk is missing"
    return (
        f"{where}: {place} fails authentication: the file was altered or cut short "
        "(or the header was edited)"
    )


__all__ = [
    "CHUNK_SIZE",
    "HEADER_SIZE",
    "BackupFileError",
    "Header",
    "SealingWriter",
    "key_id",
    "open_sealed",
    "parse_header",
]
