"""Personal data protection: keyed hashes to find ID numbers, AES-GCM to store them, masks to show.

Keys come from `HUZHU_PII_KEY` through HKDF, one sub-key per purpose. A plain hash of an ID
number would be reversible by enumerating the ~10^10 valid numbers, so lookups use HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_CIPHER_PREFIX = "v1:"


def _derive(master: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"huzhu-pii", info=purpose).derive(
        master.encode()
    )


class PiiVault:
    """Hashing and encryption of personal data with one master key."""

    def __init__(self, master_key: str):
        self._hmac_key = _derive(master_key, b"lookup-hmac")
        self._aead = AESGCM(_derive(master_key, b"storage-aes-gcm"))
        self._fingerprint = _derive(master_key, b"key-fingerprint")[:8].hex()
        # Nonces: a random per-process prefix and a counter, unique without a syscall per value.
        self._nonce_prefix = os.urandom(4)
        # next() on itertools.count is atomic under the GIL, so threads never share a nonce.
        self._counter = itertools.count(int.from_bytes(os.urandom(4), "big") << 16)

    def fingerprint(self) -> str:
        """Which key this is, without revealing it: a backup records it, and a restore under
        another key (whose ciphertexts it could not read) is refused."""
        return self._fingerprint

    def lookup_hash(self, value: str) -> str:
        """The keyed hash (HMAC-SHA256, hex) by which a value is found without decrypting."""
        return hmac.digest(self._hmac_key, value.encode(), hashlib.sha256).hex()

    def _nonce(self) -> bytes:
        n = next(self._counter)
        return self._nonce_prefix + (n & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")

    def encrypt(self, value: str) -> str:
        nonce = self._nonce()
        sealed = self._aead.encrypt(nonce, value.encode(), None)
        return _CIPHER_PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        if not token.startswith(_CIPHER_PREFIX):
            raise ValueError("not a huzhu ciphertext")
        raw = base64.b64decode(token[len(_CIPHER_PREFIX) :])
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()


@lru_cache(maxsize=4)
def _vault_for(key: str) -> PiiVault:
    return PiiVault(key)


def vault() -> PiiVault:
    """The vault for the configured key."""
    from django.conf import settings

    return _vault_for(settings.HUZHU_PII_KEY)


def mask_id_number(id_number: str) -> str:
    """`110105199001011234` → `110105********1234`."""
    if len(id_number) < 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_phone(phone: str) -> str:
    """`13812345678` → `138****5678`."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
