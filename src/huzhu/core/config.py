"""Configuration read from the environment: database URL, home folder, generated secrets.

Kept free of Django imports so that settings.py and the command line can both use it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse


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


def database_from_url(url: str | None) -> dict[str, Any]:
    """Django's DATABASES['default'] from a URL (postgres://, postgresql://, sqlite:///path)."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(huzhu_home() / "huzhu.sqlite3"),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                # A large page cache keeps bulk imports from thrashing the indexes.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                    "PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY; "
                    "PRAGMA mmap_size=1073741824;"
                ),
            },
        }
    parts = urlparse(url)
    if parts.scheme in ("postgres", "postgresql"):
        options: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return {
            "ENGINE": "huzhu.core.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "huzhu",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            path = path.lstrip("/")
        db = database_from_url(None)
        db["NAME"] = path or ":memory:"
        return db
    raise ValueError(
        f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use postgres:// or sqlite:///)"
    )


def money_setting(env_name: str, default: str) -> str:
    """An amount of yuan from the environment, checked as any amount is (core.bounds)."""
    from django.core.exceptions import ImproperlyConfigured

    from huzhu.core.bounds import money_problem

    value = os.environ.get(env_name, default).strip()
    problem = money_problem(value, allow_zero=True)
    if problem is not None:
        raise ImproperlyConfigured(f"{env_name}: {problem}")
    return value


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
