"""The PostgreSQL backend health-checks a persistent connection only after it sat idle."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connections

pytestmark = pytest.mark.postgres


def test_a_connection_used_a_moment_ago_is_not_checked_again(db: Any, monkeypatch: Any) -> None:
    conn = connections["default"]
    checks: list[bool] = []
    real = type(conn).is_usable

    def counted(self: Any) -> bool:
        checks.append(True)
        return real(self)

    monkeypatch.setattr(type(conn), "is_usable", counted)
    monkeypatch.setattr(conn, "health_check_enabled", True)
    conn.ensure_connection()
    for _ in range(3):  # a new request each time, right after the last
        conn.health_check_done = False
        conn.cursor().close()
    assert checks == []
    conn._used_at -= 60  # idle for a minute: the next request checks first
    conn.health_check_done = False
    conn.cursor().close()
    assert checks == [True]
