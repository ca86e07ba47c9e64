"""INTERFACES "Bounds" on the command line: a number given to an option is a whole number in ASCII
digits within the option's range, else exit 2 with a message naming the option (argparse's
`int` took any script's digits and any size: `--members 99999999999999999999` ran for ever)."""

from __future__ import annotations

import pytest

from huzhu import cli

ABSURD = ["99999999999999999999", "-5", "0", "١٠", "１０", "1e3", "10.5", ""]


def _exit_code(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    code = exc.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


@pytest.mark.parametrize("members", [*ABSURD, str(cli.MAX_GENERATED_MEMBERS + 1)])
def test_generate_refuses_an_absurd_number_of_members_naming_the_option(capsys, tmp_path, members):
    code, err = _exit_code(capsys, ["generate", "--members", members, "--out", str(tmp_path)])
    assert code == 2 and "argument --members" in err, err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--settlements", "99999999999999999999"),
        ("--settlements", str(cli.MAX_GENERATED_SETTLEMENTS + 1)),
        ("--settlements", "-1"),
        ("--seed", "99999999999999999999"),
        ("--seed", "١"),
    ],
)
def test_generate_refuses_an_absurd_count_or_seed_naming_the_option(
    capsys, tmp_path, option, value
):
    argv = ["generate", "--members", "10", option, value, "--out", str(tmp_path)]
    code, err = _exit_code(capsys, argv)
    assert code == 2 and f"argument {option}" in err, err


def test_generate_takes_the_bounds_themselves(tmp_path, db):
    args = cli.build_parser().parse_args(
        [
            "generate",
            "--members",
            str(cli.MAX_GENERATED_MEMBERS),
            "--settlements",
            str(cli.MAX_GENERATED_SETTLEMENTS),
            "--out",
            str(tmp_path),
        ]
    )
    assert (args.members, args.settlements) == (
        cli.MAX_GENERATED_MEMBERS,
        cli.MAX_GENERATED_SETTLEMENTS,
    )
    assert cli.main(["generate", "--members", "1", "--out", str(tmp_path)]) == 0
    assert len((tmp_path / "members.csv").read_text(encoding="utf-8").splitlines()) == 2


@pytest.mark.parametrize("action", ["stats", "draw"])
@pytest.mark.parametrize("activity", ["99999999999999999999", "١٠", "-1", "0"])
def test_benefits_commands_refuse_an_activity_that_is_no_id_naming_it(capsys, db, action, activity):
    argv = ["benefits", action, activity] + (["--seed", "s"] if action == "draw" else [])
    code, err = _exit_code(capsys, argv)
    assert code == 2 and "argument activity" in err, err


@pytest.mark.parametrize(
    ("option", "value"), [("--port", "70000"), ("--port", "٨٠٠٠"), ("--workers", "0")]
)
def test_serve_refuses_a_port_or_worker_count_out_of_range_naming_the_option(capsys, option, value):
    code, err = _exit_code(capsys, ["serve", option, value])
    assert code == 2 and f"argument {option}" in err, err
