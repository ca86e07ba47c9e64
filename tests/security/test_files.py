"""Files (issue 16): the SQLite database, its WAL and shared-memory files, the generated keys,
the home folder and every upload are readable by their owner only, whatever the umask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from huzhu.protection.models import ClaimDocument
from tests.security.samples import PDF, mode_of, upload_document


def test_the_database_its_wal_and_shm_and_the_generated_keys_are_private(tmp_path):
    """A fresh HUZHU_HOME under the usual umask 022: everything huzhu creates there is 0600,
    the folder itself 0700."""
    home = tmp_path / "home"
    script = textwrap.dedent(
        """
        import json, os, stat
        os.umask(0o022)
        os.environ["DJANGO_SETTINGS_MODULE"] = "huzhu.settings"
        import django
        django.setup()
        from huzhu.cli import ensure_migrated
        ensure_migrated()
        from django.conf import settings
        from django.db import connection
        with connection.cursor() as cur:  # the connection stays open: WAL and SHM exist
            cur.execute("INSERT INTO django_content_type (app_label, model) VALUES ('x', 'y')")
            home = settings.HUZHU_HOME
            names = ["huzhu.sqlite3", "huzhu.sqlite3-wal", "huzhu.sqlite3-shm", "secret_key",
                     "pii_key", "media"]
            print(json.dumps({
                **{n: stat.S_IMODE(os.stat(home / n).st_mode) for n in names
                   if (home / n).exists()},
                ".": stat.S_IMODE(os.stat(home).st_mode),
            }))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HUZHU_PII_KEY")}
    env.pop("SECRET_KEY", None)
    env["HUZHU_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modes = json.loads(done.stdout.strip().splitlines()[-1])
    for name in (
        "huzhu.sqlite3",
        "huzhu.sqlite3-wal",
        "huzhu.sqlite3-shm",
        "secret_key",
        "pii_key",
    ):
        assert name in modes, f"{name} was not created"
    assert {name: oct(mode) for name, mode in modes.items()} == {
        "huzhu.sqlite3": oct(0o600),
        "huzhu.sqlite3-wal": oct(0o600),
        "huzhu.sqlite3-shm": oct(0o600),
        "secret_key": oct(0o600),
        "pii_key": oct(0o600),
        "media": oct(0o700),
        ".": oct(0o700),
    }


def test_an_existing_database_left_world_readable_is_made_private(tmp_path, settings):
    from huzhu.core.config import database_from_url

    db = tmp_path / "old.sqlite3"
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.write_bytes(b"")
        path.chmod(0o644)
    database_from_url(f"sqlite:///{db}")
    assert [mode_of(p) for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"))] == [0o600] * 3


def test_uploaded_documents_and_their_folders_are_private(
    media, insured, file_claim, api_as, unit_admin
):
    old = os.umask(0o022)
    try:
        claim = file_claim(insured)
        r = upload_document(api_as(unit_admin), claim, "发票.pdf", PDF)
    finally:
        os.umask(old)
    assert r.status_code == 201, r.content
    stored = Path(ClaimDocument.objects.get(pk=r.json()["id"]).file.path)
    assert mode_of(stored) == 0o600
    for folder in (stored.parent, stored.parent.parent, media):
        assert mode_of(folder) == 0o700, folder


def test_an_uploaded_settlement_file_is_private(media, tree, make_staff):
    from huzhu.accounts.models import Role
    from huzhu.web.services import settlement_job_create

    city = make_staff(Role.CITY_ADMIN, tree.city)
    old = os.umask(0o022)
    try:
        job = settlement_job_create(
            data=b"settlement_id,id_number\n", file_name="bureau.csv", actor=city
        )
    finally:
        os.umask(old)
    path = Path(media) / job.file_path
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700


def test_a_new_home_is_private_and_an_existing_shared_one_keeps_its_mode(tmp_path, monkeypatch):
    from huzhu.core.config import huzhu_home

    fresh = tmp_path / "a" / "b" / "home"
    monkeypatch.setenv("HUZHU_HOME", str(fresh))
    old = os.umask(0o022)
    try:
        assert huzhu_home() == fresh
    finally:
        os.umask(old)
    assert [mode_of(p) for p in (fresh, fresh.parent, fresh.parent.parent)] == [0o700] * 3
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp: chmod-ing it would break everyone else's use of it
    monkeypatch.setenv("HUZHU_HOME", str(shared))
    assert huzhu_home() == shared
    assert mode_of(shared) == 0o1777
