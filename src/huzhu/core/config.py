"""Configuration read from the environment: database URL, home folder, generated secrets.

Kept free of Django imports so that settings.py and the command line can both use it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url


def huzhu_home() -> Path:
    """The folder for the SQLite database, keys and uploads (`$HUZHU_HOME`, default ./var)."""
    home = Path(os.environ.get("HUZHU_HOME", "var")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def persistent_secret(env_name: str, file_name: str, *, nbytes: int = 32) -> str:
    """The secret from the environment, else from a file under $HUZHU_HOME, created on first use.

    Generated once and kept, so that restarts (and several app servers sharing one home) agree.
    """
    value = os.environ.get(env_name)
    if value:
        return value
    path = huzhu_home() / file_name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(nbytes)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(value + "\n")
    os.chmod(tmp, 0o600)
    try:
        # link() fails if another process won the race; then its value is the one to use.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _sqlite(name: str) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        "OPTIONS": {
            "timeout": 30,
            # Writers queue on the file at BEGIN, so a write never meets a stale read lock.
            "transaction_mode": "IMMEDIATE",
            # A large page cache keeps bulk imports from thrashing the indexes.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                "PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY; "
                "PRAGMA mmap_size=1073741824;"
            ),
        },
    }


def database_from_url(url: str | None) -> dict[str, Any]:
    """Django's DATABASES['default'] from a URL (postgres://, postgresql://, sqlite:///path),
    parsed by dj-database-url; without one, an SQLite file under HUZHU_HOME."""
    if not url:
        return _sqlite(str(huzhu_home() / "huzhu.sqlite3"))
    scheme = urlparse(url).scheme
    if scheme in ("postgres", "postgresql"):
        db: dict[str, Any] = dict(
            dj_database_url.parse(
                url, engine="huzhu.core.postgresql", conn_max_age=60, conn_health_checks=True
            )
        )
        db["NAME"] = db.get("NAME") or "huzhu"
        db.setdefault("OPTIONS", {})
        return db
    if scheme == "sqlite":
        return _sqlite(str(dj_database_url.parse(url).get("NAME") or ":memory:"))
    raise ValueError(f"DATABASE_URL: unsupported scheme {scheme!r} (use postgres:// or sqlite:///)")


def money_setting(env_name: str, default: str) -> str:
    """An amount of yuan from the environment, checked as any amount is (core.bounds)."""
    from django.core.exceptions import ImproperlyConfigured

    from huzhu.core.bounds import money_problem

    value = os.environ.get(env_name, default).strip()
    problem = money_problem(value, allow_zero=True)
    if problem is not None:
        raise ImproperlyConfigured(f"{env_name}: {problem}")
    return value


# The password of every login `huzhu demo` makes (README "Quick start"); demo data only.
DEMO_PASSWORD = "huzhu-demo-2026"


def int_setting(env_name: str, default: int, *, minimum: int = 0, maximum: int = 10**9) -> int:
    """A whole number from the environment, within [minimum, maximum]."""
    from django.core.exceptions import ImproperlyConfigured

    raw = os.environ.get(env_name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or not minimum <= int(raw) <= maximum:
        raise ImproperlyConfigured(
            f"{env_name}: {raw!r} is not a whole number from {minimum} to {maximum}"
        )
    return int(raw)


def networks_setting(env_name: str) -> list[str]:
    """Comma-separated IP addresses or networks (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`) from the
    environment, each normalised (`10.0.0.0/8`); empty when unset."""
    import ipaddress

    from django.core.exceptions import ImproperlyConfigured

    networks = []
    for part in os.environ.get(env_name, "").split(","):
        if not part.strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(part.strip(), strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"{env_name}: {part.strip()!r} is no IP address or network"
            ) from None
    return networks
