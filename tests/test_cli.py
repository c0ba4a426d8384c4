"""The bayesmeta command: in-process via main(argv), and once through the entry point."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bayesmeta.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def csv(tmp_path, crins):
    p = tmp_path / "crins.csv"
    crins.to_csv(p, index=False)
    return p


def test_fit_csv_prints_summary_and_mcid(csv, capsys):
    code = main(
        [
            "fit",
            str(csv),
            "--measure",
            "OR",
            "--mcid",
            "0.25,0.5",
            "--direction",
            "less",
            "--seed",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "95% equal-tailed" in out and "P(mu < threshold)" in out
    assert "Mantel-Haenszel" in out and "Heffron 2003" in out


def test_fit_json(csv, capsys):
    assert (
        main(
            [
                "fit",
                str(csv),
                "--measure",
                "OR",
                "--format",
                "json",
                "--mcid",
                "0.5",
                "--tau-prior",
                "halfnormal(1)",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["priors"]["tau"] == "HalfNormal(sigma=1)"
    assert payload["mcid"]["rows"][0]["threshold"] == 0.5
    assert payload["mcid"]["direction"] == "greater"
    assert payload["provenance"]["data_sha256"]


def test_fit_out_directory(tmp_path, csv):
    out = tmp_path / "res"
    assert (
        main(
            ["fit", str(csv), "--measure", "OR", "--mcid", "0.5", "--out", str(out), "--seed", "4"]
        )
        == 0
    )
    names = {p.name for p in out.iterdir()}
    assert {
        "summary.csv",
        "mcid.csv",
        "posterior.nc",
        "diagnostics.json",
        "provenance.json",
        "forest.png",
        "mcid.png",
        "report.md",
    } <= names
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["spec"]["seed"] == 4 and len(prov["data_sha256"]) == 64
    assert prov["command"].startswith("bayesmeta fit ") and "--seed 4" in prov["command"]
    assert prov["spec"]["tau_prior"]["dist"] == "HalfNormal"
    assert "numpy" in prov["versions"]
    report = (out / "report.md").read_text()
    assert "![forest.png](forest.png)" in report
    assert "## MCID probabilities (effect above each threshold)" in report
    s = pd.read_csv(out / "summary.csv", index_col=0)
    assert list(s.index[:3]) == ["mu", "tau", "theta_new"]
    # an existing directory is not overwritten without --force
    assert main(["fit", str(csv), "--measure", "OR", "--out", str(out)]) == 2
    assert main(["fit", str(csv), "--measure", "OR", "--out", str(out), "--force"]) == 0


def test_data_error_exit_1_no_partial_output(tmp_path, crins, capsys):
    bad = crins.copy()
    bad.loc[1, "events_t"] = 40  # > n_t = 28
    p = tmp_path / "bad.csv"
    bad.to_csv(p, index=False)
    out = tmp_path / "res"
    code = main(["fit", str(p), "--measure", "OR", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("bayesmeta: error: ")
    assert "bad.csv: study 'Gibelli 2004': events_t (40) > n_t (28)" in err
    assert not out.exists()
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".res")]


def test_failure_while_writing_leaves_nothing(tmp_path, csv, monkeypatch):
    from bayesmeta import plots

    def boom(*a, **k):
        raise ValueError("plotting failed")

    monkeypatch.setattr(plots, "mcid_curve", boom)
    out = tmp_path / "res"
    assert main(["fit", str(csv), "--measure", "OR", "--mcid", "0.5", "--out", str(out)]) == 1
    assert not out.exists() and not list(tmp_path.glob(".res*"))


def test_usage_errors_exit_2(csv, capsys):
    assert main(["fit", str(csv)]) == 2
    assert "--measure is required" in capsys.readouterr().err
    assert main(["fit", str(csv), "--measure", "OR", "--model", "mixed"]) == 2
    assert main(["nonsense"]) == 2
    assert main([]) == 2
    assert main(["fit", str(csv), "--measure", "OR", "--mcid", "a,b"]) == 2


def test_strict_convergence_failure_exit_3(tmp_path, capsys):
    p = tmp_path / "est.csv"
    pd.DataFrame(
        {"study": list("abcd"), "estimate": [0.1, 0.9, -0.4, 0.6], "se": [0.3, 0.25, 0.4, 0.5]}
    ).to_csv(p, index=False)
    code = main(
        [
            "fit",
            str(p),
            "--measure",
            "SMD",
            "--engine",
            "nuts",
            "--draws",
            "20",
            "--tune",
            "0",
            "--chains",
            "2",
            "--seed",
            "1",
            "--strict",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "bayesmeta: warning: MCMC diagnostics failed" in err
    assert "bayesmeta: error: MCMC diagnostics failed (--strict)" in err


def test_unknown_measure_and_bad_prior(csv, capsys):
    # a bad value given by a flag is a usage error (2, as --draws 0; issue 9); the same
    # value in a data or analysis file is a data/spec error (1): see test_cli_errors.py
    assert main(["fit", str(csv), "--measure", "XYZ"]) == 2
    assert "--measure must be one of MD, SMD" in capsys.readouterr().err
    assert main(["fit", str(csv), "--measure", "OR", "--tau-prior", "halfnormal(-1)"]) == 2
    assert "sigma must be > 0" in capsys.readouterr().err
    assert main(["fit", str(csv) + ".missing", "--measure", "OR"]) == 1
    assert "crins.csv.missing: no such file" in capsys.readouterr().err


def test_effects_validate_priors_datasets_mcid(csv, capsys):
    assert main(["effects", str(csv), "--measure", "OR", "--format", "csv"]) == 0
    eff = capsys.readouterr().out
    assert eff.startswith("study,yi,vi,sei") and "Gras 2008" in eff
    assert main(["validate", str(csv), "--measure", "OR"]) == 0
    assert "OK (k = 6" in capsys.readouterr().out
    assert main(["validate", str(ROOT / "models" / "ivig_response_tis20.toml")]) == 0
    assert main(["priors", "list"]) == 0
    assert "turner2015" in capsys.readouterr().out
    assert main(["priors", "show", "turner2015"]) == 0
    assert "adverse events" in capsys.readouterr().out
    assert main(["priors", "show", "halfnormal(0.5)"]) == 0
    assert main(["datasets", "list"]) == 0
    assert "ivig_tis20" in capsys.readouterr().out
    assert main(["datasets", "show", "mtx_printo20_jdm"]) == 0
    assert "Ruperto" in capsys.readouterr().out
    assert main(["mcid", "list"]) == 0
    assert "cdasi-activity" in capsys.readouterr().out
    assert main(["datasets", "show", "nope"]) == 1


def test_spec_with_sensitivity(capsys):
    assert main(["fit", str(ROOT / "models" / "ivig_response_tis20.toml")]) == 0
    out = capsys.readouterr().out
    assert "Prior sensitivity" in out and "common effect (tau = 0)" in out
    # common effect, prior N(0, 4^2) on log RR is nearly flat next to the data: closed form
    # P(log RR > log 1.25) = Phi((log 1.7994 - log 1.25) / 0.18038) = Phi(2.020) = 0.978
    assert "Probability 0.98 that the pooled RR is above 1.25" in out


def test_installed_entry_point_and_fast_help():
    exe = shutil.which("bayesmeta", path=str(Path(sys.executable).parent))
    assert exe, "the bayesmeta entry point is not installed"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("bayesmeta ")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "fit" in out.stdout
    code = (
        "import sys; from bayesmeta.cli import main; main(['--help']); "
        "print([m for m in ('pymc','matplotlib','arviz_base') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().endswith("[]")
    out = subprocess.run([exe, "fit", "nope.csv"], capture_output=True, text=True)
    assert out.returncode == 2 and "bayesmeta: error:" in out.stderr
