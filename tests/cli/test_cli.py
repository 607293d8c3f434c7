import pytest

from edgesieve.cli.main import build_parser, main


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    for option in ("--runs", "--pool", "--dpw", "--epochs", "--seed", "--root", "--out"):
        assert option in out


@pytest.mark.parametrize("argv", [["demo", "--dpw", "1.5"], ["demo", "--runs", "0"]])
def test_bad_options_are_rejected(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "must be" in capsys.readouterr().err


def test_list_selectors(capsys):
    assert main(["selectors"]) == 0
    assert capsys.readouterr().out.split() == ["drip", "random"]


def test_unknown_dataset(capsys):
    assert main(["data", "fetch", "cifar"]) == 2
    assert "unknown data set 'cifar'; available: mnist" in capsys.readouterr().err


def test_missing_data_is_a_clean_error(tmp_path, capsys):
    assert main(["demo", "--root", str(tmp_path), "--no-progress", "--out", str(tmp_path / "o")]) == 2
    assert "edgesieve data fetch mnist" in capsys.readouterr().err


def test_parser_builds():
    assert build_parser().prog == "edgesieve"
