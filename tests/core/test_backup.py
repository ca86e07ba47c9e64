"""`huzhu backup` and `huzhu restore`: a round trip into a new database compares table by table."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from huzhu.core.backup import _models, backup_restore, backup_write
from huzhu.core.errors import DomainError
from huzhu.demo import demo_load
from tests.conftest import huzhu_command


def _tables(path: Path) -> dict[str, set[str]]:
    with zipfile.ZipFile(path) as archive:
        return {
            name: set(archive.read(name).decode().splitlines())
            for name in archive.namelist()
            if name.startswith("tables/")
        }


def _huzhu(home: Path, *args: str, database_url: str | None = None) -> Any:
    # The new home restores under the same PII key (under another key a restore is refused).
    return huzhu_command(home, *args, database_url=database_url)


@pytest.mark.django_db
def test_round_trip_through_a_new_database_keeps_every_row(tmp_path):
    demo_load()
    first = tmp_path / "first.zip"
    counts = backup_write(first).tables
    from huzhu.members.models import Member

    assert counts["members_member"] == Member.objects.count() > 0
    assert counts["audit_auditevent"] > 0
    targets = [None]
    if connection.vendor == "postgresql":
        targets.append("postgres://postgres@127.0.0.1:5432/huzhu_restore_test")
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS huzhu_restore_test WITH (FORCE)")
            c.execute("CREATE DATABASE huzhu_restore_test")
    for n, url in enumerate(targets):
        home = tmp_path / f"home{n}"
        restored = _huzhu(home, "restore", str(first), database_url=url)
        assert restored.returncode == 0, restored.stderr
        second = tmp_path / f"second{n}.zip"
        again = _huzhu(home, "backup", "--out", str(second), database_url=url)
        assert again.returncode == 0, again.stderr
        assert _tables(second) == _tables(first)


@pytest.mark.django_db
def test_restore_refuses_a_database_that_holds_data(tmp_path, tree):
    path = tmp_path / "b.zip"
    backup_write(path)
    with pytest.raises(DomainError) as exc:
        backup_restore(path)
    assert exc.value.code == "target_not_empty"


@pytest.mark.django_db
def test_a_damaged_archive_is_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "b.zip"
    backup_write(path)
    damaged = tmp_path / "d.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "tables/auth_permission.csv":
                data += b"999,bad,1,bad\n"
            dst.writestr(name, data)
    with pytest.raises(DomainError) as exc:
        backup_restore(damaged)
    assert "damaged" in exc.value.message
    with pytest.raises(DomainError):
        backup_restore(tmp_path / "missing.zip")


@pytest.mark.django_db
def test_a_restore_counts_the_bookings_of_members_restored_after_them(tmp_path, tree, make_member):
    """The archive holds benefits_booking before members_member, and the booking figures'
    triggers read the member's unit: the restore counts the bookings again once every table is
    in, and `huzhu stats check` in the new home finds every summary equal to its recount."""
    from huzhu.benefits.models import Booking, BookingStatus
    from tests.benefits.conftest import make_activity

    ski = make_activity(tree.city)
    for unit in (tree.u1, tree.u3):
        Booking.objects.create(activity=ski, member=make_member(unit), status=BookingStatus.BOOKED)
    path = tmp_path / "b.zip"
    backup_write(path)
    home = tmp_path / "home"
    restored = _huzhu(home, "restore", str(path))
    assert restored.returncode == 0, restored.stderr
    checked = _huzhu(home, "stats", "check")
    assert (checked.returncode, checked.stdout) == (
        0,
        "every summary equals a recount of its rows\n",
    )


@pytest.mark.parametrize(
    ("rows", "figures"),
    [
        ("protection.Enrollment", "protection.EnrollmentFigures"),
        ("benefits.Booking", "benefits.BookingFigures"),
        ("stations.StationVisit", "stations.StationVisitFigures"),
        ("care.CareLedgerEntry", "care.CareFundFigures"),
    ],
)
def test_a_backup_holds_the_rows_and_leaves_the_figures_derived_from_them_out(rows, figures):
    """Figures kept by triggers are rebuilt as their rows are restored: not in the archive."""
    from django.apps import apps

    tables = {m._meta.db_table for m in _models()}
    assert apps.get_model(rows)._meta.db_table in tables
    assert apps.get_model(figures)._meta.db_table not in tables
