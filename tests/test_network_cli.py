"""`bayesmeta network` (in-process, through add_network_parser/cmd_network)."""

import argparse

import pytest

from bayesmeta import datasets
from bayesmeta.network.cli import add_network_parser

DATA = str(datasets.path("parkinsons_tsd2"))


def run(argv):
    p = argparse.ArgumentParser(prog="bayesmeta")
    add_network_parser(p.add_subparsers())
    args = p.parse_args(argv)
    return args.func(args)


def test_csv_to_out(tmp_path, capsys):
    out = tmp_path / "res"
    rc = run(
        [
            "network",
            DATA,
            "--reference",
            "placebo",
            "--tau-prior",
            "uniform(0, 5)",
            "--mcid=-0.5",
            "--direction",
            "less",
            "--lower-better",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert "Relative effects against the reference" in capsys.readouterr().out
    for name in ("report.md", "relative_effects.csv", "mcid.csv", "network.png", "sucra.csv"):
        assert (out / name).is_file(), name
    assert "below each threshold" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--reference", "nobody", "--model", "fixed"], "unknown reference treatment 'nobody'"),
        (["--model", "fixed", "--tau-prior", "halfnormal(1)"], "--tau-prior is given"),
        (["--model", "fixed"], "--reference must name a treatment"),
    ],
)
def test_errors_exit_1_without_traceback(argv, message, capsys, tmp_path):
    out = tmp_path / "o"
    if argv == ["--model", "fixed"]:
        rc = run(["network", DATA, *argv, "--out", str(out)])
    else:
        ref = [] if "--reference" in argv else ["--reference", "placebo"]
        rc = run(["network", DATA, *ref, *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and message in err and "Traceback" not in err
    assert not out.exists()


def test_toml_analysis_file(tmp_path, capsys):
    f = tmp_path / "nma.toml"
    f.write_text(
        f'[network]\ndata = "{DATA}"\nmeasure = "MD"\nreference = "placebo"\nmodel = "fixed"\n'
    )
    assert run(["network", str(f)]) == 0
    assert "fixed effect" in capsys.readouterr().out


def test_toml_unknown_key(tmp_path, capsys):
    f = tmp_path / "nma.toml"
    f.write_text('[network]\nreference = "placebo"\nwarp = 1\n')
    assert run(["network", str(f)]) == 1
    assert "network.warp is not a known key" in capsys.readouterr().err


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert (
        run(["network", DATA, "--reference", "placebo", "--model", "fixed", "--out", str(f)]) == 1
    )
    assert "is a file" in capsys.readouterr().err


def test_draws_zero_is_usage_error(capsys):
    assert run(["network", DATA, "--reference", "placebo", "--draws", "0"]) == 2
