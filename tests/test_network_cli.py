"""`bayesmeta network` and network analysis files (in-process, through bayesmeta.cli.main).

Networks go through the same spec, pipeline and error handling as pairwise analyses:
exit 1 for data and analysis-file errors, 2 for usage errors, no traceback.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from bayesmeta import datasets
from bayesmeta.cli import main

DATA = str(datasets.path("parkinsons_tsd2"))
ROOT = Path(__file__).resolve().parents[1]
FIXED = ["network", DATA, "--reference", "placebo", "--model", "fixed"]


def test_csv_to_out(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(
        [
            "network",
            DATA,
            "--reference",
            "placebo",
            "--tau-prior",
            "uniform(0, 5)",
            "--mcid",
            "-0.5",
            "--direction",
            "less",
            "--lower-better",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert "Relative effects against the reference" in capsys.readouterr().out
    for name in (
        "report.md",
        "report.txt",
        "relative_effects.csv",
        "mcid.csv",
        "network.png",
        "sucra.csv",
        "provenance.json",
    ):
        assert (out / name).is_file(), name
    assert "below each threshold" in (out / "report.md").read_text()
    from bayesmeta.network import load_network

    loaded = load_network(out / "result.nc")
    pd.testing.assert_frame_equal(  # the CSV holds 10 significant digits
        loaded.relative_effects(all_pairs=True, scale="natural"),
        pd.read_csv(out / "relative_effects.csv", index_col=[0, 1]),
        rtol=1e-9,
    )
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["spec"]["reference"] == "placebo" and prov["seed"] == 3
    assert len(prov["data_sha256"]) == 64 and "numpy" in prov["versions"]
    assert prov["command"].startswith("bayesmeta network")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--reference", "nobody", "--model", "fixed"], 1, "unknown reference treatment 'nobody'"),
        (["--reference", "placebo", "--model", "fixed", "--tau-prior", "halfnormal(1)"], 2, ""),
        (["--model", "fixed"], 2, "--reference is required for a CSV"),
        (["--reference", "placebo", "--draws", "0"], 2, "--draws"),
        (["--reference", "placebo", "--likelihood", "binomial"], 1, "binomial likelihood needs"),
        (["--reference", "placebo", "--measure", "RD"], 2, "--measure RD is not available"),
    ],
    ids=["unknown-reference", "fixed-with-tau", "no-reference", "draws-0", "binomial-md", "rd"],
)
def test_errors_without_traceback(argv, code, message, capsys, tmp_path):
    out = tmp_path / "o"
    rc = main(["network", DATA, *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == code and message in err and "Traceback" not in err
    assert not out.exists()


def test_fixed_with_tau_prior_names_both_flags(capsys):
    assert main([*FIXED, "--tau-prior", "halfnormal(1)"]) == 2
    assert "--tau-prior is given but the model is a fixed" in capsys.readouterr().err


def test_toml_analysis_file(tmp_path, capsys):
    f = tmp_path / "nma.toml"
    f.write_text(
        f'[data]\npath = "{DATA}"\nmeasure = "MD"\n[model]\neffects = "fixed"\n'
        '[network]\nreference = "placebo"\n'
    )
    assert main(["network", str(f)]) == 0
    assert "fixed effect" in capsys.readouterr().out
    # `bayesmeta fit` runs the same file through the same pipeline
    assert main(["fit", str(f), "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["model"]["reference"] == "placebo" and got["model"]["model"] == "fixed"


def test_report_md_has_the_title_and_the_figures(tmp_path):
    out = tmp_path / "o"
    assert main(["fit", str(ROOT / "models" / "miller1992_network.toml"), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert md.startswith("# Plasma exchange vs leukapheresis vs sham: improvement (Miller 1992")
    for name in ("network.png", "forest.png", "ranks.png"):
        assert f"]({name})" in md and (out / name).is_file()
    html = (out / "report.html").read_text()
    assert "<h1>Plasma exchange vs leukapheresis vs sham" in html
    assert html.count('src="data:image/png;base64,') == 3  # self-contained: no file links
    assert "<h2>League table (row vs column: median, interval)</h2>" in html
    assert "http" not in html.split("<body>")[1].split("<footer>")[0]


def test_toml_unknown_key(tmp_path, capsys):
    f = tmp_path / "nma.toml"
    f.write_text(f'[data]\npath = "{DATA}"\n[network]\nreference = "placebo"\nwarp = 1\n')
    assert main(["network", str(f)]) == 1
    assert "network.warp is not a known key" in capsys.readouterr().err


def test_toml_pairwise_option_in_a_network(tmp_path, capsys):
    f = tmp_path / "nma.toml"
    f.write_text(
        f'[data]\npath = "{DATA}"\n[network]\nreference = "placebo"\n'
        '[priors]\nmu = "normal(0, 1)"\n'
    )
    assert main(["network", str(f)]) == 1
    assert "priors.mu is for pairwise analyses: a network's treatment effects take d_prior" in (
        capsys.readouterr().err
    )


def test_network_command_needs_a_network_file(tmp_path, capsys):
    f = tmp_path / "pairwise.toml"
    f.write_text(f'[data]\npath = "{DATA}"\nmeasure = "MD"\n')
    assert main(["network", str(f)]) == 2
    assert "has no [network] table" in capsys.readouterr().err


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main([*FIXED, "--out", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_docs_analysis_file_runs(tmp_path, capsys):
    """The analysis file shown in docs/network.md is valid and runs as documented."""
    import re
    import shutil
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "network.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    shutil.copy(DATA, tmp_path / "parkinsons_tsd2.csv")
    f = tmp_path / "nma.toml"
    f.write_text(block)
    assert main(["network", str(f)]) == 0
    out = capsys.readouterr().out
    assert "Node-splitting" in out and "MCID probabilities (effect below" in out


def test_strict_exits_3_when_nuts_diagnostics_fail(tmp_path, capsys):
    """A deliberately short NUTS run of a binomial network fails its diagnostics."""
    data = str(datasets.path("ruperto2016_network"))
    argv = ["network", data, "--reference", "prednisone", "--likelihood", "binomial"]
    short = ["--model", "fixed", "--draws", "15", "--tune", "15", "--chains", "2", "--seed", "1"]
    assert main([*argv, *short, "--strict", "--out", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err
    assert "MCMC diagnostics failed (--strict)" in err and "Traceback" not in err
    assert (tmp_path / "o" / "diagnostics.json").is_file()  # the run is kept for inspection
