"""Static files collected for a production server: hashed names, gzip copies, and collected
again only when a file changed (a server start does not redo the work)."""

from __future__ import annotations

import json
import os

from huzhu.core.static import static_collect


def test_collecting_writes_hashed_compressed_files_and_redoes_it_only_after_a_change(
    tmp_path, settings
):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "notice.txt").write_text("停电通知 " * 200)
    settings.STATICFILES_DIRS = [extra]
    root = tmp_path / "static"
    root.mkdir()

    assert static_collect(root) is True
    manifest = json.loads((root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["web/site.css"]
    assert hashed.startswith("web/site.") and hashed != "web/site.css"
    assert (root / hashed).is_file() and (root / f"{hashed}.gz").is_file()
    assert (root / manifest["notice.txt"]).is_file()

    assert static_collect(root) is False  # nothing changed: nothing to do

    (extra / "notice.txt").write_text("恢复供电 " * 200)
    stat = (extra / "notice.txt").stat()
    os.utime(extra / "notice.txt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert static_collect(root) is True
    again = json.loads((root / "staticfiles.json").read_text())["paths"]
    assert again["notice.txt"] != manifest["notice.txt"]
