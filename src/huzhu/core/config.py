"""Configuration read from the environment: database URL, home folder, generated secrets,
allowed host names.

Kept free of Django imports so that settings.py and the command line can both use it.

Everything huzhu keeps under $HUZHU_HOME (the SQLite database with its WAL and shared-memory
files, the generated keys, uploaded documents and settlement files) holds personal data or the
keys to it: a new home folder is made 0700, the files 0600 and huzhu's folders in it 0700
whatever the process's umask, and a database left readable by an earlier version is made
private again at start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700

# What `make run` and a reverse proxy on the same machine need; anything else is named in
# HUZHU_ALLOWED_HOSTS. Django's test client adds its own "testserver" in tests.
DEFAULT_ALLOWED_HOSTS = "127.0.0.1,localhost,[::1]"


def make_private(path: Path, mode: int) -> None:
    """chmod `path` to `mode` when it exists and is ours to change (a folder another user owns
    and shares with us stays as it is; the files we create in it are private anyway)."""
    try:
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except (FileNotFoundError, PermissionError):
        pass


def private_folder(path: Path) -> Path:
    """`path` and any missing parents created 0700 (Path.mkdir gives parents the umask's mode);
    `path` itself made 0700 if it already existed."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            folder.mkdir(mode=PRIVATE_FOLDER)
    make_private(path, PRIVATE_FOLDER)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write a new file readable by its owner only: created 0600, never briefly wider."""
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # an existing file keeps its mode through O_TRUNC
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
    finally:
        os.close(fd)


def huzhu_home() -> Path:
    """The folder for the SQLite database, keys and uploads (`$HUZHU_HOME`, default ./var),
    created private to its owner. An existing folder keeps its mode (it may be one an operator
    shares, even /tmp); what huzhu keeps in it is private anyway."""
    home = Path(os.environ.get("HUZHU_HOME", "var")).resolve()
    if not home.exists():
        private_folder(home)
    return home


def allowed_hosts() -> list[str]:
    """Host names the site answers to: `HUZHU_ALLOWED_HOSTS` (comma-separated; `ALLOWED_HOSTS`,
    its earlier name, is still read), else the local names `make run` serves on."""
    raw = os.environ.get("HUZHU_ALLOWED_HOSTS")
    if raw is None:
        raw = os.environ.get("ALLOWED_HOSTS", DEFAULT_ALLOWED_HOSTS)
    return [host.strip() for host in raw.split(",") if host.strip()]


def persistent_secret(env_name: str, file_name: str, *, nbytes: int = 32) -> str:
    """The secret from the environment, else from a file under $HUZHU_HOME, created on first use.

    Generated once and kept, so that restarts (and several app servers sharing one home) agree.
    """
    value = os.environ.get(env_name)
    if value:
        return value
    path = huzhu_home() / file_name
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        pass
    else:
        make_private(path, PRIVATE_FILE)
        return value
    value = secrets.token_urlsafe(nbytes)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    write_private(tmp, (value + "\n").encode())
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
        name = huzhu_home() / "huzhu.sqlite3"
        _private_sqlite(name)
        return _sqlite(str(name))
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
        path = str(dj_database_url.parse(url).get("NAME") or ":memory:")
        if path != ":memory:" and not path.startswith("file:"):
            _private_sqlite(Path(path))
        return _sqlite(path)
    raise ValueError(f"DATABASE_URL: unsupported scheme {scheme!r} (use postgres:// or sqlite:///)")


def _private_sqlite(path: Path) -> None:
    """Create the database file 0600 before SQLite first opens it: SQLite gives the -wal,
    -shm and -journal files it makes beside it the database file's mode. A database (and its
    sidecar files) made world-readable by an earlier version is made private."""
    if path.parent.is_dir() and not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
        except OSError:
            return  # a read-only folder: SQLite will say so when it connects
    for sibling in ("", "-wal", "-shm", "-journal"):
        make_private(path.with_name(path.name + sibling), PRIVATE_FILE)


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


def default_storage_setting() -> dict[str, Any]:
    """Where uploads (claim documents, settlement files) are kept: the local disk under
    MEDIA_ROOT, or with HUZHU_S3_BUCKET an S3-compatible object store (MinIO, or a Chinese
    cloud's object storage through its S3 endpoint) shared by every app server and worker.

    HUZHU_S3_ENDPOINT is the store's address (unset: AWS), HUZHU_S3_REGION its region,
    HUZHU_S3_ACCESS_KEY and HUZHU_S3_SECRET_KEY the credentials (unset: boto3's own chain,
    such as an instance role), HUZHU_S3_PREFIX a folder within the bucket. Every file is
    encrypted before it leaves the process (huzhu.core.sealed), so the store never holds a
    readable document."""
    bucket = os.environ.get("HUZHU_S3_BUCKET", "").strip()
    if not bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "location": os.environ.get("HUZHU_S3_PREFIX", "").strip("/"),
        "default_acl": None,  # private, as the bucket is
        "file_overwrite": False,  # a name taken gets a suffix, never replaces a document
        "querystring_auth": True,
        "signature_version": "s3v4",
        "addressing_style": "path",  # MinIO and most S3-compatible stores
    }
    for option, env_name in (
        ("endpoint_url", "HUZHU_S3_ENDPOINT"),
        ("region_name", "HUZHU_S3_REGION"),
        ("access_key", "HUZHU_S3_ACCESS_KEY"),
        ("secret_key", "HUZHU_S3_SECRET_KEY"),
    ):
        if value := os.environ.get(env_name, "").strip():
            options[option] = value
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
