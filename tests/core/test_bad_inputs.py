"""Malformed uploads are refused with a clear 400 and a report, never a crash or a 500."""

from __future__ import annotations

import io

import openpyxl
import pytest

from huzhu.members.models import Member


def _xlsx(rows):
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


BAD_FILES = {
    "empty.csv": (b"", "空的"),
    "header_only.csv": (b"id_number,name,unit_code\n", None),
    "binary.csv": (bytes(range(256)) * 40, "既不是 UTF-8 也不是 GB18030"),
    "broken.xlsx": (b"PK\x03\x04\x14\x00garbage", "不是可读取的 .xlsx"),
    "not_a_zip.xlsx": (b"id_number,name\n1,2\n", "不是可读取的 .xlsx"),
    "wide.csv": (("," * 1_000_000 + "\n").encode(), "列数过多"),
    "formula.xlsx": (
        _xlsx([["id_number", "name", "unit_code"], ["=1+1", "x", "U1"]]),
        "不接受公式",
    ),
    "ragged.csv": (b'id_number,name,unit_code\n"unterminated,x\n', None),
    "photo.png": (b"\x89PNG\r\n\x1a\n", "不支持的文件类型"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_upload_is_a_clear_400(tree, xicheng_admin, api_as, name):
    data, words = BAD_FILES[name]
    r = api_as(xicheng_admin).upload("/imports/members", name, data)
    if name == "header_only.csv":
        assert r.status_code == 200 and r.json()["rows"] == 0
        return
    assert r.status_code == 400, r.content
    body = r.json()["error"]
    assert body["code"] in {"invalid_file", "invalid_request"}
    if words:
        assert any(words in e["reason"] for e in body["details"]["errors"]), body
    assert Member.objects.count() == 0


def test_too_many_rows_is_refused(tree, xicheng_admin, api_as, monkeypatch):
    monkeypatch.setenv("HUZHU_MAX_ROWS", "3")
    lines = ["id_number,name,unit_code"] + ["x,y,U1"] * 4
    r = api_as(xicheng_admin).upload(
        "/imports/members", "r.csv", ("\n".join(lines) + "\n").encode()
    )
    assert r.status_code == 400
    assert "超过 3 行" in r.json()["error"]["details"]["errors"][0]["reason"]
