"""Voucher codes (the QR content): a compact payload signed with the activity's Ed25519 key.

`HZ1.<payload>.<signature>`, both parts base64url without padding; the payload is JSON with the
activity (`a`), booking (`b`), member hash (`m`), validity (`f`, `t`) and booked day (`d`).
A gate holding the activity's public key verifies a code offline; nothing here touches the
database.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

import segno
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "HZ1"

# A short code a person can read out (INTERFACES "Vouchers a person can read out"): 10 characters
# of Crockford's base32 (no I, L, O, U), 50 random bits, shown in groups of 4, 4 and 2.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SHORT_CODE_LENGTH = 10
# Crockford's decoding rules: letters a reader may take for a digit are read as that digit.
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})


class InvalidVoucher(ValueError):
    """The code is malformed, or its signature does not verify."""


@dataclass(frozen=True)
class VoucherData:
    activity: int
    booking: int
    member: str  # a short keyed hash of the member, never the ID number
    valid_from: date
    valid_to: date
    day: date | None = None

    def as_payload(self) -> dict[str, Any]:
        return {
            "a": self.activity,
            "b": self.booking,
            "m": self.member,
            "f": self.valid_from.isoformat(),
            "t": self.valid_to.isoformat(),
            "d": self.day.isoformat() if self.day else None,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keypair_new() -> tuple[bytes, bytes]:
    """(private, public) raw 32-byte Ed25519 keys."""
    private = Ed25519PrivateKey.generate()
    return (
        private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        ),
        private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        ),
    )


def public_key_pem(public_raw: bytes) -> str:
    key = Ed25519PublicKey.from_public_bytes(public_raw)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def encode(data: VoucherData, private_raw: bytes) -> str:
    """The signed code. Ed25519 signatures are deterministic: the same voucher, the same code."""
    payload = json.dumps(data.as_payload(), separators=(",", ":"), sort_keys=True).encode()
    signature = Ed25519PrivateKey.from_private_bytes(private_raw).sign(payload)
    return f"{PREFIX}.{_b64(payload)}.{_b64(signature)}"


def peek_activity(code: str) -> int:
    """The activity a code claims to be for (unverified), to choose the key that verifies it."""
    return _parse(code)[0].activity


def decode(code: str, public_raw: bytes) -> VoucherData:
    """The voucher's data if the signature verifies under `public_raw`, else InvalidVoucher."""
    data, payload, signature = _parse(code)
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, payload)
    except (InvalidSignature, ValueError):
        raise InvalidVoucher("the signature does not verify") from None
    return data


def _parse(code: str) -> tuple[VoucherData, bytes, bytes]:
    parts = code.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidVoucher("not a huzhu voucher")
    try:
        payload, signature = _unb64(parts[1]), _unb64(parts[2])
        raw = json.loads(payload)
        data = VoucherData(
            activity=int(raw["a"]),
            booking=int(raw["b"]),
            member=str(raw["m"]),
            valid_from=date.fromisoformat(raw["f"]),
            valid_to=date.fromisoformat(raw["t"]),
            day=date.fromisoformat(raw["d"]) if raw.get("d") else None,
        )
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidVoucher(f"malformed voucher: {exc}") from None
    return data, payload, signature


def qr_image(code: str, kind: str) -> bytes:
    """The QR code of a voucher as `svg` or `png`."""
    out = io.BytesIO()
    segno.make(code, error="m").save(out, kind=kind, scale=6 if kind == "png" else 4)
    return out.getvalue()


def short_code_new() -> str:
    """A fresh random short code (50 bits: guessing a live one is about one in 10^9 per try
    with a million vouchers out)."""
    return "".join(secrets.choice(CROCKFORD) for _ in range(SHORT_CODE_LENGTH))


def short_code_read(text: str) -> str | None:
    """The short code a gate typed, as stored: dashes, spaces and case ignored, I and L read
    as 1 and O as 0; None when the text is not a short code (a QR's full code, or a typo of
    the wrong length or alphabet)."""
    if len(text) > 40:
        return None
    code = "".join(text.split()).replace("-", "").upper().translate(_READ_AS)
    if len(code) != SHORT_CODE_LENGTH or any(c not in CROCKFORD for c in code):
        return None
    return code


def short_code_shown(code: str) -> str:
    """`7K3M9QX2HD` as a person reads it out: `7K3M-9QX2-HD`."""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"
