"""Documents in object storage (operations): with HUZHU_S3_BUCKET the claim documents and the
bureau's settlement files live in an S3-compatible store that every app server and worker
shares (here a real S3 server, moto, over HTTP). What leaves the process is sealed: the store
never holds a readable document, and a backup restores into another bucket."""

from __future__ import annotations

import sqlite3

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from huzhu.accounts.models import Role
from huzhu.core.backup import backup_write
from huzhu.protection.documents import document_read
from huzhu.protection.models import ClaimDocument
from huzhu.web.services import settlement_job_create, settlement_job_file
from tests.conftest import huzhu_command
from tests.s3 import s3_client, s3_env, s3_objects

pytestmark = pytest.mark.django_db

BILL = b"%PDF-1.4 hospital bill of 110102196001011234"


def test_a_document_is_stored_sealed_in_the_bucket_and_reads_back(insured, file_claim, s3_storage):
    claim = file_claim(insured, "3000.50", documents=[("发票.pdf", ContentFile(BILL, "i.pdf"))])
    doc = claim.documents.get()
    stored = s3_objects(s3_storage)
    assert list(stored) == [f"huzhu/{doc.file.name}"]
    (at_rest,) = stored.values()
    assert at_rest.startswith(b"HZSEAL1\n") and b"hospital bill" not in at_rest
    assert b"".join(document_read(doc)) == BILL


def test_staff_download_a_document_from_the_bucket(insured, file_claim, s3_storage, unit_admin):
    claim = file_claim(insured, "3000.50", documents=[("发票.pdf", ContentFile(BILL, "i.pdf"))])
    doc = claim.documents.get()
    client = Client()
    client.force_login(unit_admin)
    got = client.get(f"/console/claims/{claim.pk}/documents/{doc.pk}/")
    assert got.status_code == 200 and b"".join(got.streaming_content) == BILL


def test_the_settlement_upload_waits_in_the_bucket_sealed(tree, make_staff, s3_storage):
    data = b"settlement_id,id_number\nS1,110102196001011234\n"
    job = settlement_job_create(
        data=data, file_name="bureau.csv", actor=make_staff(Role.CITY_ADMIN, tree.city)
    )
    (at_rest,) = s3_objects(s3_storage).values()
    assert b"110102196001011234" not in at_rest
    assert settlement_job_file(job) == data


def test_readyz_writes_and_reads_a_probe_in_the_bucket(s3_storage):
    ready = Client().get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["storage"] == "ok"
    assert s3_objects(s3_storage) == {}  # the probe is deleted


def test_a_bucket_that_is_not_there_makes_the_server_not_ready(s3_storage, settings):
    options = {**settings.STORAGES["default"]["OPTIONS"], "bucket_name": "no-such-bucket"}
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": options},
    }
    ready = Client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["storage"].startswith("unavailable (")


def test_a_backup_restores_every_row_and_document_into_an_empty_database_and_bucket(
    insured, file_claim, s3_storage, s3_endpoint, tmp_path
):
    file_claim(
        insured,
        "3000.50",
        documents=[
            ("发票.pdf", ContentFile(BILL, "i.pdf")),
            ("小结.jpg", ContentFile(b"\xff\xd8\xff\xe0 JFIF summary", "s.jpg")),
        ],
    )
    path = tmp_path / "backup.zip"
    assert backup_write(path).documents == 2
    target = "huzhu-restored"
    s3_client(s3_endpoint).create_bucket(
        Bucket=target, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"}
    )
    home = tmp_path / "new-home"
    done = huzhu_command(home, "restore", str(path), env=s3_env(s3_endpoint, target))
    assert done.returncode == 0, done.stderr
    assert s3_objects(s3_env(s3_endpoint, target)) == s3_objects(s3_storage)
    with sqlite3.connect(home / "huzhu.sqlite3") as db:
        (n,) = db.execute("SELECT count(*) FROM protection_claimdocument").fetchone()
    assert n == ClaimDocument.objects.count() == 2
