"""DATABASE_URL, as operators write it, becomes Django's database settings (dj-database-url)."""

from __future__ import annotations

import pytest

from huzhu.core.config import database_from_url


def test_a_postgres_url_uses_huzhus_backend_with_its_options():
    db = database_from_url("postgresql://app:p%40ss@db.example:6432/huzhu?sslmode=require")
    assert db["ENGINE"] == "huzhu.core.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], int(db["PORT"]), db["NAME"]) == (
        "app",
        "p@ss",
        "db.example",
        6432,
        "huzhu",
    )
    assert db["OPTIONS"] == {"sslmode": "require"} and db["CONN_HEALTH_CHECKS"]


def test_a_database_name_defaults_to_huzhu():
    assert database_from_url("postgres://postgres@127.0.0.1")["NAME"] == "huzhu"


@pytest.mark.parametrize(
    ("url", "name"),
    [("sqlite:///var/x.sqlite3", "var/x.sqlite3"), ("sqlite:////srv/x.sqlite3", "/srv/x.sqlite3")],
)
def test_an_sqlite_url_keeps_the_write_queue_and_pragmas(url, name):
    db = database_from_url(url)
    assert db["NAME"] == name and db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_an_unknown_scheme_is_refused_by_name():
    with pytest.raises(ValueError, match="mysql"):
        database_from_url("mysql://root@localhost/huzhu")
