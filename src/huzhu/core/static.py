"""Static files for a production server: collected at start with content-hashed names and gzip
copies, so that a phone on a weak network downloads each file once, compressed, and keeps it for
a year (the hashed name changes when the file does)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

MANIFEST_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
ENV = "HUZHU_STATIC_MANIFEST"
FINGERPRINT = "huzhu-static.fingerprint"


def static_sources_fingerprint() -> str:
    """A digest of every app's static files (name, size, modification time): it changes when a
    file is added, removed or edited."""
    from django.contrib.staticfiles.finders import get_finders

    digest = hashlib.sha256()
    for finder in get_finders():
        for path, storage in sorted(finder.list([]), key=lambda item: item[0]):
            stat = os.stat(storage.path(path))
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def static_collect(root: Path) -> bool:
    """Collect every app's static files into `root` with hashed names, a manifest and gzip
    copies, unless `root` already holds this very set; True when it collected. The server's
    workers are then started with HUZHU_STATIC_MANIFEST=1 (settings.py): pages link the hashed
    names and WhiteNoise serves them compressed, cached for a year."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import override_settings

    stamp = Path(root) / FINGERPRINT
    fingerprint = static_sources_fingerprint()
    manifest = Path(root) / "staticfiles.json"
    if manifest.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return False
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST_STORAGE}}
    with override_settings(STORAGES=storages, STATIC_ROOT=root):
        call_command("collectstatic", interactive=False, verbosity=0, stdout=io.StringIO())
    stamp.write_text(fingerprint)
    return True
