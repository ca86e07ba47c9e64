"""Sample files for the document tests: what each format starts with, and things that are not
documents dressed up as one."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

PDF = "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% 诊断: 肺癌 C34.1 张三\n%%EOF\n".encode()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64
HTML = b"<html><script>alert(document.cookie)</script></html>"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def upload_document(api: Any, claim: Any, name: str, data: bytes) -> Any:
    """POST /claims/{id}/documents with one file."""
    return api.client.post(
        f"/api/v1/claims/{claim.pk}/documents",
        {"file": SimpleUploadedFile(name, data)},
        **api.headers,
    )
