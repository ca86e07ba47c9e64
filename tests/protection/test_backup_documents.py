"""Backups that restore (operations): the claim documents travel in the archive as stored
(sealed), with the fingerprint of the PII key they were sealed under. A restore into a new home
under the same key brings them back readable; under another key it exits 2 and writes nothing,
since no ID number or document could be decrypted afterwards. `huzhu backup --verify` makes
the same checks and writes nothing."""

from __future__ import annotations

import sqlite3
import subprocess
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings

from huzhu.core import sealed
from huzhu.core.backup import backup_verify, backup_write
from huzhu.core.errors import DomainError
from huzhu.protection.documents import document_read
from tests.conftest import huzhu_command

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0 JFIF discharge summary"


def huzhu(home: Path, *args: str, key: str) -> subprocess.CompletedProcess[str]:
    """The command line on a new home (SQLite) with the given PII key."""
    result: subprocess.CompletedProcess[str] = huzhu_command(home, *args, key=key)
    return result


def members_in(home: Path) -> int:
    with sqlite3.connect(home / "huzhu.sqlite3") as db:
        (n,) = db.execute("SELECT count(*) FROM members_member").fetchone()
    return int(n)


def stored_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "media").rglob("*") if p.is_file())


@pytest.fixture
def backed_up(insured, file_claim, settings, tmp_path):
    """A claim with two documents, and a backup of everything."""
    settings.MEDIA_ROOT = tmp_path / "media"
    claim = file_claim(
        insured,
        "3000.50",
        documents=[
            ("发票.pdf", ContentFile(b"%PDF-1.4 hospital bill", "i.pdf")),
            ("小结.jpg", ContentFile(JPEG, "s.jpg")),
        ],
    )
    path = tmp_path / "backup.zip"
    summary = backup_write(path)
    return claim, path, summary


def test_a_backup_carries_every_document_as_stored_and_the_keys_fingerprint(backed_up, settings):
    claim, path, summary = backed_up
    assert summary.documents == 2 and summary.missing == []
    with zipfile.ZipFile(path) as archive:
        for doc in claim.documents.all():
            inside = archive.read(f"files/{doc.file.name}")
            assert inside == (Path(settings.MEDIA_ROOT) / doc.file.name).read_bytes()
            assert inside.startswith(sealed.MAGIC) and b"hospital bill" not in inside
    assert len(summary.pii_key) == 16 and summary.pii_key not in settings.HUZHU_PII_KEY
    assert backup_verify(path).documents == 2


def test_restored_into_a_new_home_the_documents_read_as_they_were_filed(
    backed_up, settings, tmp_path
):
    claim, path, _summary = backed_up
    home = tmp_path / "new-home"
    done = huzhu(home, "restore", str(path), key=settings.HUZHU_PII_KEY)
    assert done.returncode == 0, done.stderr
    assert "2 documents" in done.stdout
    assert members_in(home) > 0
    with override_settings(MEDIA_ROOT=home / "media"):
        for doc, expected in zip(
            claim.documents.order_by("title"), (b"%PDF-1.4 hospital bill", JPEG), strict=True
        ):
            assert b"".join(document_read(doc)) == expected


def test_a_restore_under_another_key_exits_2_names_both_fingerprints_and_writes_nothing(
    backed_up, tmp_path
):
    _claim, path, summary = backed_up
    home = tmp_path / "new-home"
    done = huzhu(home, "restore", str(path), key="another-key-" + "x" * 40)
    assert done.returncode == 2
    assert summary.pii_key in done.stderr and "HUZHU_PII_KEY" in done.stderr
    assert members_in(home) == 0 and stored_files(home) == []
    verified = huzhu(home, "backup", "--verify", str(path), key="another-key-" + "x" * 40)
    assert verified.returncode == 2 and summary.pii_key in verified.stderr


def test_verify_says_a_backup_is_whole_or_names_the_damaged_document(backed_up, settings, tmp_path):
    claim, path, _summary = backed_up
    home = tmp_path / "check"
    good = huzhu(home, "backup", "--verify", str(path), key=settings.HUZHU_PII_KEY)
    assert good.returncode == 0, good.stderr
    assert "whole" in good.stdout and "2 documents" in good.stdout
    assert members_in(home) == 0  # verifying wrote nothing

    name = claim.documents.order_by("title").first().file.name
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as dst:
        for member in src.namelist():
            data = src.read(member)
            dst.writestr(member, data[:-1] + b"!" if member == f"files/{name}" else data)
    bad = huzhu(home, "backup", "--verify", str(damaged), key=settings.HUZHU_PII_KEY)
    assert bad.returncode == 2 and f"files/{name}" in bad.stderr
    target = tmp_path / "target"
    refused = huzhu(target, "restore", str(damaged), key=settings.HUZHU_PII_KEY)
    assert refused.returncode == 2 and f"files/{name}" in refused.stderr
    assert members_in(target) == 0 and stored_files(target) == []


def test_a_document_name_that_leaves_the_storage_is_refused(backed_up, tmp_path):
    _claim, path, _summary = backed_up
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(hostile, "w") as dst:
        for member in src.namelist():
            data = src.read(member)
            if member == "manifest.json":
                data = data.replace(b'"claims/', b'"../../claims/', 1)
            dst.writestr(member, data)
    with pytest.raises(DomainError) as refused:
        backup_verify(hostile)
    assert "../../claims/" in refused.value.message
