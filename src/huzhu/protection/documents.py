"""Claim documents: what is accepted, how it is stored, who read it.

A document is accepted only when its content is a PDF, a JPEG or a PNG (its first bytes; the
name and the declared type say nothing: an executable or a web page named `bill.pdf` is
refused). It is stored encrypted (huzhu.core.sealed) under a key of its own, sealed by the PII
vault in the row. Documents stored by earlier versions have no key: they are read as they are,
and `huzhu documents encrypt` (documents_encrypt_legacy) encrypts them in place.

Reading verifies the whole file before the first byte is served, so a changed or cut file is
refused (409 `document_damaged`, and logged), never half served. Every download by a person is
in the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from django.core.files.base import File
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huzhu.audit.actions import Action
from huzhu.audit.services import audit_record
from huzhu.core import sealed
from huzhu.core.errors import Conflict, DomainError, NotFound
from huzhu.protection.models import Claim, ClaimDocument

logger = logging.getLogger("huzhu.protection")

# What a document's content starts with, and the type it is served as.
KINDS: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
_HEAD = max(len(magic) for magic, _ in KINDS)


def document_kind(head: bytes) -> str | None:
    """The type of a document that starts with `head`, or None when it is none we accept."""
    for magic, kind in KINDS:
        if head.startswith(magic):
            return kind
    return None


def _head(content: File[bytes]) -> bytes:
    content.seek(0)
    head = content.read(_HEAD)
    content.seek(0)
    return bytes(head or b"")


def document_check(content: File[bytes], *, field: str) -> str:
    """The document's type by its content; 400 `invalid_document` naming `field` otherwise."""
    kind = document_kind(_head(content))
    if kind is None:
        raise DomainError(
            "invalid_document",
            _("%(name)s：只接受 PDF、JPEG 或 PNG 文件（按文件内容判断，不看文件名）")
            % {"name": Path(content.name or "").name or _("文件")},
            field=field,
        )
    return kind


class _Sealing(File):
    """An upload as the storage writes it: its chunks sealed on the way (never a plain copy on
    the disk, not even a temporary one: the storage sees no temporary_file_path to move)."""

    def __init__(self, source: File[bytes], key: bytes):
        super().__init__(None, name=source.name)
        self._source = source
        self._key = key
        self._stream: Iterator[bytes] | None = None
        self._pending = b""

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        self._source.seek(0)
        return sealed.seal(self._source.chunks(sealed.CHUNK), self._key)

    # An object store's client reads the file instead (django-storages' S3 backend): the same
    # sealed stream, a piece at a time, forward only.
    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        if self._stream is None:
            self._stream = self.chunks()
        while size < 0 or len(self._pending) < size:
            piece = next(self._stream, None)
            if piece is None:
                break
            self._pending += piece
        cut = len(self._pending) if size < 0 else size
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out


def document_store(*, claim: Claim, title: str, content: File[bytes], kind: str) -> ClaimDocument:
    """Store a checked document (document_check gave `kind`) encrypted, in the caller's
    transaction."""
    key = sealed.new_key()
    document = ClaimDocument(
        claim=claim, title=title[:200], key_cipher=sealed.seal_key(key), content_type=kind
    )
    name = Path(content.name or "document").name
    document.file.save(name, _Sealing(content, key), save=False)
    document.save()
    return document


def _open(document: ClaimDocument) -> File[bytes]:
    return document.file.storage.open(document.file.name or "", "rb")


def _plain_chunks(document: ClaimDocument) -> Iterator[bytes]:
    with _open(document) as fh:
        while piece := fh.read(sealed.CHUNK):
            yield piece


def _sealed_chunks(document: ClaimDocument, key: bytes) -> Iterator[bytes]:
    with _open(document) as fh:
        yield from sealed.unseal(fh, key)


def document_read(document: ClaimDocument) -> Iterator[bytes]:
    """The document's content as a stream, checked whole first: 409 `document_damaged` when
    it was changed since it was stored, 404 when its file is gone."""
    try:
        if not document.key_cipher:
            _open(document).close()  # there, or 404 now rather than mid-download
            return _plain_chunks(document)
        key = sealed.unseal_key(document.key_cipher)
        for _chunk in _sealed_chunks(document, key):
            pass
    except FileNotFoundError:
        logger.error("claim document %s: its file %s is missing", document.pk, document.file.name)
        raise NotFound(pgettext("未找到", "材料")) from None
    except sealed.SealBroken as exc:
        logger.error("claim document %s (%s) is damaged: %s", document.pk, document.file.name, exc)
        raise Conflict(
            "document_damaged", _("文件已损坏或被改动，请重新上传"), document=document.pk
        ) from None
    return _sealed_chunks(document, key)


def document_download(*, actor: Any, document: ClaimDocument) -> tuple[Iterator[bytes], str, str]:
    """(content, type, file name) of a document for a person allowed to read its claim (the
    caller checked), with the download in the audit log."""
    content = document_read(document)
    claim = document.claim
    audit_record(
        actor=actor,
        action=Action.CLAIM_DOCUMENT_DOWNLOAD,
        obj=claim,
        org_path=claim.member.unit.path if claim.member else "",
        document=document.pk,
    )
    name = Path(document.file.name or "document").name
    return content, document.content_type or "application/octet-stream", name


def documents_encrypt_legacy() -> int:
    """Encrypt, in place, the documents stored before encryption; returns how many. Each is
    written sealed beside its plain file, its row switched to the sealed one in a transaction,
    and the plain file removed after the commit: stopped at any point, every row names a
    readable file (only a stop between a commit and its removal leaves a plain file that no
    row names)."""
    done = 0
    for pk in ClaimDocument.objects.filter(key_cipher="").values_list("pk", flat=True):
        with transaction.atomic():
            document = ClaimDocument.objects.select_for_update().filter(pk=pk).first()
            if document is None or document.key_cipher:
                continue  # gone, or another run did it
            storage = document.file.storage
            plain_name = document.file.name or ""
            key = sealed.new_key()
            with storage.open(plain_name, "rb") as fh:
                head = fh.read(_HEAD)
                document.file.save(Path(plain_name).name, _Sealing(File(fh), key), save=False)
            document.key_cipher = sealed.seal_key(key)
            document.content_type = document_kind(head) or ""
            document.save(update_fields=["file", "key_cipher", "content_type"])
            transaction.on_commit(partial(storage.delete, plain_name))
        done += 1
    if done:
        audit_record(actor=None, action=Action.CLAIM_DOCUMENTS_ENCRYPT, documents=done)
    return done
