"""Files encrypted at rest (claim documents: hospital bills, discharge summaries, diagnoses).

Each file has a random AES-256 key of its own; the PII vault (huzhu.core.pii) seals that key
for the database row, so `huzhu pii rotate` re-seals the keys with everything else (the
files are never rewritten) and a backup carries them with the rows.

Format: `MAGIC`, then the content in chunks of `CHUNK` bytes, each AES-GCM-encrypted with the
nonce (11-byte chunk number, 1-byte "last chunk" flag) and `MAGIC` as associated data: the
STREAM construction. A chunk changed, moved or dropped, or a file cut short at any byte, fails
to decrypt. Chunks keep memory flat for uploads of any size, read and written as a stream.
The key is used for one file only, so counter nonces never repeat under it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"HZSEAL1\n"
CHUNK = 64 * 1024
_TAG = 16


class Readable(Protocol):
    def read(self, size: int = ..., /) -> Any: ...


class SealBroken(ValueError):
    """The file is not a sealed file, or was changed or cut short since it was sealed."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal_key(key: bytes) -> str:
    """The file key, sealed by the PII vault for its database row."""
    from huzhu.core.pii import vault

    return vault().encrypt(base64.b64encode(key).decode())


def unseal_key(sealed: str) -> bytes:
    from huzhu.core.pii import vault

    return base64.b64decode(vault().decrypt(sealed))


def _nonce(number: int, last: bool) -> bytes:
    return number.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def seal(pieces: Iterable[bytes], key: bytes) -> Iterator[bytes]:
    """The sealed file, as a stream, from the content in pieces of any size."""
    aead = AESGCM(key)
    yield MAGIC
    buffer = bytearray()
    number = 0
    for piece in pieces:
        buffer += piece
        # Keep more than a chunk back before sealing one: only then is it known not to be last.
        while len(buffer) > CHUNK:
            yield aead.encrypt(_nonce(number, False), bytes(buffer[:CHUNK]), MAGIC)
            del buffer[:CHUNK]
            number += 1
    yield aead.encrypt(_nonce(number, True), bytes(buffer), MAGIC)


def unseal(stream: Readable, key: bytes) -> Iterator[bytes]:
    """The content of a sealed file, chunk by chunk; SealBroken when it does not verify (a
    consumer that must not see a byte of a broken file reads it through once first)."""
    if stream.read(len(MAGIC)) != MAGIC:
        raise SealBroken("not a sealed file")
    aead = AESGCM(key)
    number = 0
    block = stream.read(CHUNK + _TAG)
    while True:
        following = stream.read(CHUNK + _TAG)
        last = not following
        try:
            yield aead.decrypt(_nonce(number, last), block, MAGIC)
        except InvalidTag:
            raise SealBroken(f"chunk {number} does not verify") from None
        if last:
            return
        block = following
        number += 1
