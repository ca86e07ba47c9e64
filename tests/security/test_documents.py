"""Medical documents (issue 16): accepted only as PDF, JPEG or PNG by their content, encrypted at
rest with a key sealed by the PII vault, read back whole (or refused when tampered with), still
readable when stored by an earlier version, through a key rotation and through a backup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from huzhu.core.errors import DomainError
from huzhu.protection.models import ClaimDocument
from tests.security.samples import EXE, HTML, JPEG, PDF, PNG, mode_of, upload_document


def test_documents_are_encrypted_at_rest_and_read_back_whole(
    media, insured, file_claim, api_as, unit_admin, reviewer
):
    claim = file_claim(insured)
    big = PDF + os.urandom(300_000)  # several chunks
    r = upload_document(api_as(unit_admin), claim, "小结.pdf", big)
    assert r.status_code == 201, r.content
    doc = ClaimDocument.objects.get(pk=r.json()["id"])
    raw = Path(doc.file.path).read_bytes()
    assert b"%PDF" not in raw and "张三".encode() not in raw
    assert big[1000:1100] not in raw
    got = api_as(reviewer).get(f"/claims/{claim.pk}/documents/{doc.pk}")
    assert got.status_code == 200
    assert b"".join(got.streaming_content) == big
    assert got["Content-Type"] == "application/pdf"


def test_a_tampered_document_is_refused_not_served(
    media, insured, file_claim, api_as, unit_admin, reviewer
):
    claim = file_claim(insured)
    doc_id = upload_document(api_as(unit_admin), claim, "a.pdf", PDF).json()["id"]
    path = Path(ClaimDocument.objects.get(pk=doc_id).file.path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 1
    path.write_bytes(bytes(raw))
    from huzhu.protection.documents import document_read

    with pytest.raises(DomainError) as exc:
        b"".join(document_read(ClaimDocument.objects.get(pk=doc_id)))
    assert exc.value.code == "document_damaged"


@pytest.mark.parametrize(
    ("name", "data", "accepted"),
    [
        ("发票.pdf", PDF, True),
        ("scan.jpg", JPEG, True),
        ("scan.png", PNG, True),
        ("小结.JPG", PNG, True),  # by content: a PNG named .JPG is a PNG
        ("bill.pdf", EXE, False),  # by content: an executable named .pdf is not a document
        ("bill.pdf", HTML, False),
        ("report.txt", b"plain text", False),
        ("empty.pdf", b"", False),
        ("short.jpg", b"\xff\xd8", False),
    ],
)
def test_a_document_is_accepted_by_its_content_not_its_name(
    media, insured, file_claim, api_as, unit_admin, name, data, accepted
):
    claim = file_claim(insured)
    r = upload_document(api_as(unit_admin), claim, name, data)
    if accepted:
        assert r.status_code == 201, r.content
    else:
        assert r.status_code == 400, r.content
        error = r.json()["error"]
        assert error["code"] == "invalid_document"
        assert error["details"]["field"] == "file"
        assert not ClaimDocument.objects.filter(claim=claim).exists()
        assert not any(p.is_file() for p in Path(media).rglob("*"))


def test_a_claim_filed_with_a_disguised_executable_is_refused_whole(
    media, insured, zy, api_as, unit_admin
):
    data = {
        "member_id": insured.pk,
        "plan_code": "ZY",
        "admitted_on": "2026-05-10",
        "requested": "3000.00",
        "documents": [
            SimpleUploadedFile("发票.pdf", PDF),
            SimpleUploadedFile("小结.pdf", EXE),
        ],
    }
    api = api_as(unit_admin)
    r = api.client.post("/api/v1/claims", data, **api.headers)
    assert r.status_code == 400, r.content
    assert r.json()["error"]["code"] == "invalid_document"
    assert not ClaimDocument.objects.exists()


def test_a_document_stored_before_encryption_is_still_read(
    media, insured, file_claim, api_as, reviewer
):
    """Documents uploaded by earlier versions are plain files with no key: read as they are."""
    claim = file_claim(insured)
    legacy = ClaimDocument.objects.create(claim=claim, file=ContentFile(PDF, "old.pdf"))
    assert legacy.key_cipher == ""
    got = api_as(reviewer).get(f"/claims/{claim.pk}/documents/{legacy.pk}")
    assert got.status_code == 200
    assert b"".join(got.streaming_content) == PDF


def test_legacy_documents_are_encrypted_in_place_by_the_command(
    media, insured, file_claim, api_as, reviewer, django_capture_on_commit_callbacks
):
    from huzhu.protection.documents import documents_encrypt_legacy

    claim = file_claim(insured)
    legacy = ClaimDocument.objects.create(claim=claim, file=ContentFile(PDF, "old.pdf"))
    plain_path = Path(legacy.file.path)
    with django_capture_on_commit_callbacks(execute=True):
        assert documents_encrypt_legacy() == 1
    legacy.refresh_from_db()
    assert legacy.key_cipher != ""
    assert not plain_path.exists()
    assert b"%PDF" not in Path(legacy.file.path).read_bytes()
    assert mode_of(Path(legacy.file.path)) == 0o600
    got = api_as(reviewer).get(f"/claims/{claim.pk}/documents/{legacy.pk}")
    assert b"".join(got.streaming_content) == PDF
    assert documents_encrypt_legacy() == 0


def test_rotating_the_pii_key_keeps_documents_readable(
    media, insured, file_claim, api_as, unit_admin, reviewer, settings
):
    from huzhu.audit.pii_rotate import pii_rotate
    from huzhu.core.pii import _vault_for

    claim = file_claim(insured)
    doc_id = upload_document(api_as(unit_admin), claim, "发票.pdf", PDF).json()["id"]
    old_key = settings.HUZHU_PII_KEY
    before = ClaimDocument.objects.get(pk=doc_id).key_cipher
    try:
        counts = pii_rotate("a-new-key-for-this-test-only-0123456789")
        assert counts["protection_claimdocument.key_cipher"] == 1
        assert ClaimDocument.objects.get(pk=doc_id).key_cipher != before
        got = api_as(reviewer).get(f"/claims/{claim.pk}/documents/{doc_id}")
        assert b"".join(got.streaming_content) == PDF
    finally:
        settings.HUZHU_PII_KEY = old_key
        _vault_for.cache_clear()


def test_a_backup_restored_elsewhere_reads_its_encrypted_documents(
    media, insured, file_claim, api_as, unit_admin, settings, tmp_path
):
    """`huzhu backup` carries each document as stored (sealed) and its sealed key with its row;
    restored into a new home (database and file storage), under the same HUZHU_PII_KEY, they
    read there."""
    import hashlib

    from huzhu.core.backup import backup_write

    claim = file_claim(insured)
    doc_id = upload_document(api_as(unit_admin), claim, "发票.pdf", PDF).json()["id"]
    archive = tmp_path / "backup.zip"
    backup_write(archive)
    home = tmp_path / "restored"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(HUZHU_HOME=str(home), HUZHU_PII_KEY=settings.HUZHU_PII_KEY)
    restored = subprocess.run(
        [sys.executable, "-m", "huzhu", "restore", str(archive)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert restored.returncode == 0, restored.stderr
    script = (
        "import hashlib, os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'huzhu.settings'; "
        "django.setup(); from huzhu.protection.models import ClaimDocument; "
        "from huzhu.protection.documents import document_read; "
        f"d = ClaimDocument.objects.get(pk={doc_id}); "
        "print(hashlib.sha256(b''.join(document_read(d))).hexdigest())"
    )
    read = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == hashlib.sha256(PDF).hexdigest()


def test_huzhu_documents_encrypt_says_how_many_it_encrypted(
    media, insured, file_claim, capsys, django_capture_on_commit_callbacks
):
    from huzhu import cli

    claim = file_claim(insured)
    ClaimDocument.objects.create(claim=claim, file=ContentFile(PDF, "old.pdf"))
    umask = os.umask(0o022)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert cli.main(["documents", "encrypt"]) == 0
    finally:
        os.umask(umask)
    assert "encrypted 1 document(s)" in capsys.readouterr().out
    assert ClaimDocument.objects.get(claim=claim).key_cipher
