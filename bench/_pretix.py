"""pretix as a baseline for the flash crowd: installed from PyPI into its own virtual environment,
on the same PostgreSQL in its own database, one event with one free item and one quota, orders
placed through its REST API. Only what bench/flash_crowd.py needs; nothing of pretix is kept in
this repository.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


class PretixUnavailable(Exception):
    """pretix could not be installed or set up here; the message says why."""


@dataclass
class PretixEvent:
    python: Path
    config: Path
    organizer: str
    event: str
    item: int
    token: str
    version: str

    @property
    def orders_path(self) -> str:
        return f"/api/v1/organizers/{self.organizer}/events/{self.event}/orders/"


def _run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if out.returncode != 0:
        tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-15:])
        raise PretixUnavailable(f"{' '.join(cmd[:4])} … exited {out.returncode}:\n{tail}")
    return out.stdout


def install(venv: Path) -> tuple[Path, str]:
    """pretix and gunicorn in `venv` (created if needed, reused if pretix is already there)."""
    python = venv / "bin" / "python"
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    try:
        version = _run([str(python), "-c", "import pretix; print(pretix.__version__)"]).strip()
    except PretixUnavailable:
        print(f"  pip install pretix gunicorn into {venv} (a few minutes) …", flush=True)
        # pip's own words on failure (no index reachable, no such package) end up in the report.
        _run([str(python), "-m", "pip", "install", "-q", "pretix", "gunicorn"], timeout=3600)
        version = _run([str(python), "-c", "import pretix; print(pretix.__version__)"]).strip()
    return python, version


def configure(
    *, python: Path, pg_url: str, database: str, home: Path, port: int, fresh: bool
) -> Path:
    """pretix's config file, its own database on the same server (created, or recreated when
    `fresh`), migrated. Returns the config file."""
    import psycopg

    parts = urlparse(pg_url)
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if fresh and exists:
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    (home / "data").mkdir(parents=True, exist_ok=True)
    config = home / "pretix.cfg"
    config.write_text(
        textwrap.dedent(f"""\
            [pretix]
            instance_name=flash crowd baseline
            url=http://127.0.0.1:{port}
            datadir={home / "data"}
            currency=CNY
            ecb_rates=false
            registration=off

            [database]
            backend=postgresql
            name={database}
            user={parts.username or "postgres"}
            password={parts.password or ""}
            host={parts.hostname or "127.0.0.1"}
            port={parts.port or 5432}

            [django]
            secret={secrets.token_urlsafe(40)}
            debug=false

            [mail]
            from=bench@localhost
            """)
    )
    print("  pretix migrate (minutes on a fresh database) …", flush=True)
    _run([str(python), "-m", "pretix", "migrate", "--noinput"], env=env_for(config, home))
    return config


def env_for(config: Path, home: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "PRETIX_CONFIG_FILE": str(config),
        "DJANGO_SETTINGS_MODULE": "pretix.settings",
    }


_SETUP = """
import json, secrets
from datetime import timedelta
from django.utils.timezone import now
from django_scopes import scopes_disabled
from pretix.base.models import Event, Item, Organizer, Quota, Team, TeamAPIToken

with scopes_disabled():
    org, _ = Organizer.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    slug = "crowd" + secrets.token_hex(4)
    event = Event.objects.create(
        organizer=org, name="Flash crowd", slug=slug, currency="CNY", live=True,
        date_from=now() + timedelta(days=30), presale_start=now() - timedelta(days=1),
    )
    item = Item.objects.create(event=event, name="Free ticket", default_price=0, admission=True)
    quota = Quota.objects.create(event=event, name="Tickets", size=QUOTA)
    quota.items.add(item)
    team, _ = Team.objects.get_or_create(
        organizer=org, name="bench",
        defaults={"all_events": True, "all_event_permissions": True,
                  "all_organizer_permissions": True},
    )
    token = TeamAPIToken.objects.create(team=team, name=slug)
    print("PRETIX_BENCH " + json.dumps(
        {"organizer": org.slug, "event": slug, "item": item.pk, "token": token.token}))
"""


def create_event(
    *, python: Path, config: Path, home: Path, quota: int, version: str
) -> PretixEvent:
    """A new event (one free item, one quota of `quota`) and an API token with all rights."""
    out = _run(
        [str(python), "-m", "pretix", "shell", "-c", _SETUP.replace("QUOTA", str(quota))],
        env=env_for(config, home),
    )
    line = next((li for li in out.splitlines() if li.startswith("PRETIX_BENCH ")), None)
    if line is None:
        raise PretixUnavailable(f"event set-up printed no result:\n{out[-2000:]}")
    data = json.loads(line.removeprefix("PRETIX_BENCH "))
    return PretixEvent(python=python, config=config, version=version, **data)


def serve(event: PretixEvent, home: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """gunicorn with pretix's WSGI app: as many sync workers as huzhu gets."""
    return subprocess.Popen(
        [
            str(event.python.parent / "gunicorn"),
            "pretix.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
            "--access-logfile",
            "/dev/null",
        ],
        cwd=home,
        env=env_for(event.config, home),
        stdout=subprocess.DEVNULL,
        stderr=(home / "gunicorn.log").open("ab"),
        start_new_session=True,
    )
