import pytest

from edgesieve.cli.main import build_parser, main


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "drip", "--help"])
    out = capsys.readouterr().out
    for option in ("--dataset", "--runs", "--pool", "--dpw", "--dpw-sweep", "--noise-sweep", "--selector", "--epochs",
                   "--seed", "--root", "--out", "--no-figures"):
        assert option in out


@pytest.mark.parametrize("argv", [["reproduce", "drip", "--dataset", "mnist", "--out", "x", "--dpw", "1.5"],
                                  ["reproduce", "drip", "--dataset", "mnist", "--out", "x", "--runs", "0"],
                                  ["reproduce", "drip", "--dataset", "cifar", "--out", "x"],
                                  ["reproduce", "drip", "--dataset", "mnist", "--out", "x", "--noise-sweep", "0,1.5"]])
def test_bad_options_are_rejected(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "must be" in err or "invalid choice" in err


def test_list_selectors(capsys):
    assert main(["selectors"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["camel", "ce", "drip", "hl", "infobatch", "is", "ll", "ocs", "random",
                                                  "rank-loss", "rho-loss", "rs", "titan", "trust_balanced"]
    assert any(line.startswith("titan") and "Titan: the coarse filter" in line for line in lines)


def test_unknown_dataset(capsys):
    assert main(["data", "fetch", "cifar"]) == 2
    assert "unknown data set 'cifar'; available: fashion, fashion-effnet, fsdd, har, mnist" in capsys.readouterr().err


def test_missing_data_is_a_clean_error(tmp_path, capsys):
    assert main(["reproduce", "drip", "--dataset", "mnist", "--root", str(tmp_path), "--no-progress", "--out", str(tmp_path / "o")]) == 2
    assert "edgesieve data fetch mnist" in capsys.readouterr().err


def test_random_in_the_selectors_place_is_a_clean_error(tmp_path, capsys):
    assert main(["reproduce", "drip", "--dataset", "mnist", "--selector", "random", "--out", str(tmp_path / "o")]) == 2
    assert "--selector random: the protocol's random arm" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_unknown_selector_is_a_clean_error(tmp_path, capsys):
    argv = ["reproduce", "drip", "--dataset", "mnist", "--selector", "oracle", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "unknown selector 'oracle'" in capsys.readouterr().err


def test_parser_builds():
    assert build_parser().prog == "edgesieve"
