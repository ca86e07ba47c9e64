"""A full disk while a command writes its file (`export members`, `export payouts`, the bank file
of `payments run`, `backup`): the command exits 1 with a message saying the disk is full and
which file; nothing half-written is left at the target, an earlier file there is untouched, and
running the command again once there is room finishes the work."""

from __future__ import annotations

import csv
import io
import resource
from pathlib import Path

import pytest
from openpyxl import load_workbook

from huzhu.cli import main
from huzhu.core.files import WriteFailed, atomic_write
from huzhu.members.roster import members_import
from huzhu.protection.models import PaymentItem, PaymentRun
from huzhu.protection.payments import payment_run_csv
from huzhu.settlement.exports import PAYOUT_HEADER, payout_rows
from tests.conftest import new_id_number
from tests.faults import disk_full_after, roster_csv, small_city

pytestmark = pytest.mark.django_db


def roster(n: int) -> None:
    members_import(roster_csv([new_id_number() for _ in range(n)]), file="roster.csv")


def csv_rows(path: Path, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding))))


def xlsx_rows(path: Path) -> list[list[str]]:
    sheet = load_workbook(path, read_only=True).worksheets[0]
    return [[str(c or "") for c in row] for row in sheet.iter_rows(values_only=True)]


def refused_for_a_full_disk(capsys: pytest.CaptureFixture[str], rc: int, path: Path) -> None:
    assert rc == 1
    err = capsys.readouterr().err
    assert "disk is full" in err and str(path) in err, err


def only(folder: Path) -> list[str]:
    """The folder's files, hidden temporary ones too."""
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_members_on_a_full_disk_keeps_the_earlier_file(tree, tmp_path, capsys, suffix):
    read = xlsx_rows if suffix == ".xlsx" else csv_rows
    out = tmp_path / f"roster{suffix}"
    roster(30)
    assert main(["export", "members", "--out", str(out)]) == 0
    earlier = out.read_bytes()
    roster(30)  # the next export is longer: 60 members
    with disk_full_after(2_000):
        rc = main(["export", "members", "--out", str(out)])
    refused_for_a_full_disk(capsys, rc, out)
    assert out.read_bytes() == earlier and only(tmp_path) == [out.name]
    assert main(["export", "members", "--out", str(out)]) == 0
    assert len(read(out)) == 1 + 60


def test_export_payouts_on_a_full_disk_writes_nothing(db, tmp_path, capsys):
    small_city(tmp_path, members=20, settlements=120)
    folder = tmp_path / "out"
    out = folder / "payouts.csv"
    with disk_full_after(1_000):
        rc = main(["export", "payouts", "--out", str(out)])
    refused_for_a_full_disk(capsys, rc, out)
    assert only(folder) == []
    assert main(["export", "payouts", "--out", str(out)]) == 0
    assert csv_rows(out, "utf-8") == [PAYOUT_HEADER, *payout_rows()]


def test_payment_run_on_a_full_disk_writes_its_bank_file_when_run_again(db, tmp_path, capsys):
    """The run commits before its file is written, so that no file ever names transfers the
    database does not know; a run left without a file is the next command's first work."""
    small_city(tmp_path, members=20, settlements=120)
    bank = tmp_path / "bank" / "run.csv"
    with disk_full_after(300):
        rc = main(["payments", "run", "--out", str(bank)])
    refused_for_a_full_disk(capsys, rc, bank)
    assert only(bank.parent) == []
    run = PaymentRun.objects.get()
    assert run.file_written_at is None and run.items.exists()
    assert main(["payments", "run", "--out", str(bank)]) == 0
    assert "had not been written" in capsys.readouterr().out
    run.refresh_from_db()
    assert run.file_written_at is not None
    assert bank.read_bytes() == payment_run_csv(run)
    assert PaymentRun.objects.count() == 1 and PaymentItem.objects.count() == run.items.count()
    # Everything is in that run: nothing is left to pay, and no second file appears.
    again = tmp_path / "bank" / "again.csv"
    assert main(["payments", "run", "--out", str(again)]) == 0
    assert "nothing to pay" in capsys.readouterr().err and not again.exists()


def test_backup_on_a_full_disk_leaves_no_archive(tree, tmp_path, capsys):
    roster(20)
    out = tmp_path / "huzhu-backup.zip"
    with disk_full_after(4_000):
        rc = main(["backup", "--out", str(out)])
    refused_for_a_full_disk(capsys, rc, out)
    assert only(tmp_path) == []
    assert main(["backup", "--out", str(out)]) == 0 and only(tmp_path) == [out.name]


def test_a_real_write_error_from_the_kernel_is_reported_the_same_way(tree, tmp_path, capsys):
    """Not a simulation: the process may not write files beyond 16 KiB (RLIMIT_FSIZE), so the
    kernel refuses the write (EFBIG; Python ignores SIGXFSZ) wherever the buffers meet it."""
    roster(400)  # about 40 KB of CSV
    out = tmp_path / "roster.csv"
    out.write_text("earlier\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, hard))
    try:
        rc = main(["export", "members", "--out", str(out)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert rc == 1
    err = capsys.readouterr().err
    assert str(out) in err and "File too large" in err, err
    assert out.read_text() == "earlier\n" and only(tmp_path) == [out.name]
    assert main(["export", "members", "--out", str(out)]) == 0
    assert len(csv_rows(out)) == 1 + 400


def test_atomic_write_leaves_the_target_alone_when_the_writer_fails(tmp_path):
    out = tmp_path / "a.csv"
    out.write_text("earlier")
    with pytest.raises(ZeroDivisionError), atomic_write(out) as fh:
        fh.write("half a file")
        fh.flush()
        _ = 1 / 0
    assert out.read_text() == "earlier" and only(tmp_path) == ["a.csv"]
    with disk_full_after(5), pytest.raises(WriteFailed) as exc, atomic_write(out) as fh:
        fh.write("more than five bytes")
    assert exc.value.filename == str(out) and "disk is full" in str(exc.value)
    assert out.read_text() == "earlier" and only(tmp_path) == ["a.csv"]
