"""Issue 9, "Clean failure": every bad input gets an exit code, a message naming what is wrong,
no traceback and no files left behind.

Exit codes: 1 data or spec error, 2 usage error (a bad flag value, --out problems), 3 failed
diagnostics under --strict, 130 Ctrl-C. Most cases run in-process (``main(argv)``; an
exception escaping it fails the test as a traceback would); the ones about processes
(broken pipe, SIGINT, warnings' format, imports) run the installed entry point.
"""

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bayesmeta.cli import main

ROOT = Path(__file__).resolve().parents[1]
IVIG = str(ROOT / "models" / "ivig_response_tis20.toml")
EXE = shutil.which("bayesmeta", path=str(Path(sys.executable).parent))


@pytest.fixture
def files(tmp_path, crins):
    """A working directory with good and bad inputs."""
    w = tmp_path / "work"
    w.mkdir()
    crins.to_csv(w / "crins.csv", index=False)
    (w / "est.csv").write_text("study,estimate,se\nA,0.4,0.2\nB,0.7,0.25\nC,0.2,0.3\n")
    (w / "md.csv").write_text("study,estimate,se\nA,-6,2\nB,-4,2.5\nC,-9,3\n")
    (w / "dir.csv").mkdir()
    (w / "dir.toml").mkdir()
    (w / "file").write_text("x")
    (w / "bad_events.csv").write_text(
        "study,events_t,n_t,events_c,n_c\nA,14,61,15,20\nGibelli 2004,40,28,19,28\n"
    )
    (w / "means.csv").write_text(
        "study,mean_t,sd_t,n_t,mean_c,sd_c,n_c\nA,1e308,1,10,-1e308,1,10\nB,1,1,10,0,1,10\n"
    )
    (w / "estimates_1e308.csv").write_text("study,estimate,se\nA,1e308,0.1\nB,-1e308,0.2\n")
    (w / "ci95.toml").write_text(
        '[analysis]\nci_prob = 95\n[data]\npath = "est.csv"\nmeasure = "SMD"\n'
    )
    (w / "badkey.toml").write_text('[data]\npath = "est.csv"\nmeasure = "SMD"\n[model]\nfoo = 1\n')
    (w / "baddata.toml").write_text('[data]\npath = "dir.csv"\nmeasure = "SMD"\n')
    return w


def _leftovers(w: Path, out: str | None) -> list[str]:
    names = [p.name for p in w.iterdir()]
    bad = [n for n in names if ".tmp-" in n or n.endswith(".tmp") or n.endswith(".old")]
    if out is not None and out not in ("file",) and (w / out).exists():
        bad.append(out)
    return bad


# (id, argv (paths relative to the work dir; IVIG absolute), exit code, message on stderr)
BAD = [
    # data / spec errors: 1
    ("data-is-directory", ["fit", "dir.csv", "--measure", "SMD"], 1, "dir.csv is a directory"),
    ("spec-is-directory", ["fit", "dir.toml"], 1, "dir.toml is a directory"),
    ("validate-spec-directory", ["validate", "dir.toml"], 1, "is a directory"),
    ("effects-directory", ["effects", "dir.csv", "--measure", "SMD"], 1, "is a directory"),
    ("spec-data-directory", ["fit", "baddata.toml"], 1, "data.path points to a directory"),
    ("missing-csv", ["fit", "nope.csv", "--measure", "SMD"], 1, "nope.csv: no such file"),
    ("missing-toml", ["fit", "nope.toml"], 1, "nope.toml: no such file"),
    (
        "events-gt-n",
        ["fit", "bad_events.csv", "--measure", "OR", "--out", "res"],
        1,
        "bad_events.csv: study 'Gibelli 2004': events_t (40) > n_t (28)",
    ),
    (
        "overflowing-means",
        ["fit", "means.csv", "--measure", "MD", "--out", "res"],
        1,
        "study 'A': the mean difference is not finite (overflow) when computed from mean_t",
    ),
    ("spec-ci-prob-95", ["fit", "ci95.toml"], 1, "analysis.ci_prob must be between 0 and 1"),
    ("spec-unknown-key", ["fit", "badkey.toml"], 1, "model.foo is not a known key"),
    ("unknown-dataset", ["datasets", "show", "nope"], 1, "nope"),
    (
        "no-default-tau-prior-md",
        ["fit", "md.csv", "--measure", "MD"],
        1,
        "no default prior on tau for measure MD",
    ),
    # usage errors: 2
    ("draws-0", ["fit", "est.csv", "--measure", "SMD", "--draws", "0"], 2, "--draws"),
    ("draws-negative", ["fit", "est.csv", "--measure", "SMD", "--draws", "-3"], 2, "--draws"),
    ("chains-0", ["fit", "est.csv", "--measure", "SMD", "--chains", "0"], 2, "--chains"),
    ("draws-text", ["fit", "est.csv", "--measure", "SMD", "--draws", "many"], 2, "--draws"),
    (
        "ci-prob-95",
        ["fit", "est.csv", "--measure", "SMD", "--ci-prob", "95"],
        2,
        "between 0 and 1",
    ),
    ("mcid-text", ["fit", "est.csv", "--measure", "SMD", "--mcid", "a,b"], 2, "--mcid"),
    ("measure-missing", ["fit", "est.csv"], 2, "--measure is required"),
    ("measure-unknown", ["fit", "est.csv", "--measure", "XYZ"], 2, "--measure must be one of"),
    ("model-mixed", ["fit", "est.csv", "--measure", "SMD", "--model", "mixed"], 2, "--model"),
    ("no-command", [], 2, "usage"),
    ("unknown-command", ["nonsense"], 2, "invalid choice"),
    (
        "tau-prior-with-fixed-file",
        ["fit", IVIG, "--tau-prior", "halfnormal(1)"],
        2,
        "--tau-prior is given but the model is a fixed (common) effect",
    ),
    (
        "tau-prior-fixed-flag",
        ["fit", "est.csv", "--measure", "SMD", "--model", "fixed", "--tau-prior", "halfnormal(1)"],
        2,
        "fixed (common) effect",
    ),
    (
        "tau-prior-normal(0)",
        ["fit", "est.csv", "--measure", "SMD", "--tau-prior", "normal(0)"],
        2,
        "--tau-prior is invalid: Normal: missing parameter sigma",
    ),
    (
        "mu-prior-normal(0)",
        ["fit", "est.csv", "--measure", "SMD", "--mu-prior", "normal(0)"],
        2,
        "--mu-prior is invalid: Normal: missing parameter sigma",
    ),
    (
        "tau-prior-normal",
        ["fit", "est.csv", "--measure", "SMD", "--tau-prior", "normal(0, 1)"],
        2,
        "--tau-prior must be a prior on [0, inf)",
    ),
    (
        "tau-prior-halfnormal(1e-300)",
        ["fit", "est.csv", "--measure", "SMD", "--tau-prior", "halfnormal(1e-300)"],
        2,
        "sigma=1e-300 is too small",
    ),
    (
        "tau-prior-logstudentt-missing",
        ["fit", "est.csv", "--measure", "SMD", "--tau-prior", "logstudentt(5)"],
        2,
        "LogStudentT: missing parameters mu, sigma",
    ),
    (
        "measure-contradicts-file",
        ["fit", IVIG, "--measure", "OR"],
        2,
        "--measure OR contradicts data.measure",
    ),
    (
        "binomial-with-estimates",
        ["fit", "est.csv", "--measure", "SMD", "--likelihood", "binomial"],
        2,
        "binomial is on the log odds ratio scale",
    ),
    # --out problems: 2, found before fitting
    ("out-is-file", ["fit", "est.csv", "--measure", "SMD", "--out", "file"], 2, "is a file"),
    (
        "out-under-file",
        ["fit", "est.csv", "--measure", "SMD", "--out", "file/sub"],
        2,
        "is a file, so file/sub cannot be a directory",
    ),
]


@pytest.mark.parametrize(("argv", "code", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(files, monkeypatch, capsys, argv, code, message):
    monkeypatch.chdir(files)
    before = sorted(p.name for p in files.iterdir())
    got = main(list(argv))
    cap = capsys.readouterr()
    assert got == code, cap.err
    assert message in cap.err, cap.err
    assert "Traceback" not in cap.err
    if code in (1, 2) and argv and argv[0] == "fit":
        assert cap.out == "", "nothing is printed as a result"
    out = argv[argv.index("--out") + 1] if "--out" in argv else None
    assert not _leftovers(files, out)
    assert sorted(p.name for p in files.iterdir()) == before


def test_usage_errors_name_the_flag_on_one_line(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    assert main(["fit", "est.csv", "--measure", "SMD", "--draws", "0"]) == 2
    err = capsys.readouterr().err
    assert "argument --draws: must be an integer >= 1 (got 0)" in err


def test_out_existing_directory_needs_force(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    (files / "res").mkdir()
    (files / "res" / "keep.txt").write_text("mine")
    assert main(["fit", "est.csv", "--measure", "SMD", "--out", "res"]) == 2
    cap = capsys.readouterr()
    assert "exists and is not empty (use --force" in cap.err and cap.out == ""
    assert (files / "res" / "keep.txt").read_text() == "mine"


def test_out_read_only_is_found_before_fitting(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    ro = files / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    real = os.access
    if os.geteuid() == 0:  # root ignores the mode bits: make os.access honour them
        monkeypatch.setattr(
            os, "access", lambda p, m: False if Path(p).resolve() == ro else real(p, m)
        )
    try:
        assert main(["fit", "est.csv", "--measure", "SMD", "--out", "ro/res"]) == 2
        cap = capsys.readouterr()
        assert "is not writable" in cap.err and "ro" in cap.err
        assert cap.out == "", "the check comes before the fit: nothing printed"
        assert not (ro / "res").exists()
        assert not [p for p in ro.iterdir()]
    finally:
        ro.chmod(0o755)


def test_failure_while_writing_leaves_nothing(files, monkeypatch, capsys):
    from bayesmeta import plots

    monkeypatch.chdir(files)
    monkeypatch.setattr(plots, "forest", lambda *a, **k: 1 / 0)
    code = main(["fit", "est.csv", "--measure", "SMD", "--out", "res"])
    cap = capsys.readouterr()
    assert code == 1 and "division by zero" in cap.err
    assert not _leftovers(files, "res")


# -- inputs real users have: accepted --------------------------------------------------------------
GOOD = [
    (
        "extra-columns",
        "study,estimate,se,year,latitude,rob\nA,0.3,0.1,2001,44.5,low\nB,0.5,0.2,2005,12,high\n",
        "SMD",
        "covariates: year, latitude, rob",
    ),
    ("metafor-binary", "study,ai,bi,ci,di\nA,10,20,15,15\nB,5,25,9,21\n", "OR", "binary data"),
    ("metafor-binary-n", "study,ai,n1i,ci,n2i\nA,10,30,15,30\nB,5,30,9,30\n", "OR", "binary data"),
    (
        "metafor-continuous",
        "study,m1i,sd1i,n1i,m2i,sd2i,n2i\nA,10,2,20,8,2,20\nB,12,3,15,9,3,15\n",
        "MD",
        "continuous data",
    ),
    ("metafor-yi-vi", "study,yi,vi\nA,0.3,0.01\nB,0.5,0.04\n", "SMD", "k = 2"),
    ("semicolon", "study;estimate;se\nA;0.3;0.1\nB;0.5;0.2\n", "SMD", "k = 2"),
]


@pytest.mark.parametrize(
    ("text", "measure", "expect"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD]
)
def test_real_world_inputs_are_accepted(tmp_path, capsys, text, measure, expect):
    p = tmp_path / "in.csv"
    p.write_text(text)
    assert main(["validate", str(p), "--measure", measure]) == 0, capsys.readouterr().err
    assert expect in capsys.readouterr().out


def test_extra_columns_are_kept_as_covariates(tmp_path):
    import bayesmeta

    p = tmp_path / "in.csv"
    p.write_text(GOOD[0][1])
    sd = bayesmeta.read_csv(p, "SMD")
    assert list(sd.covariates.columns) == ["year", "latitude", "rob"]
    assert sd.covariates["year"].tolist() == [2001, 2005]


@pytest.mark.parametrize("form", [["--mcid", "-4,-5"], ["--mcid=-4,-5"]], ids=["space", "equals"])
def test_negative_mcids(files, monkeypatch, capsys, form):
    monkeypatch.chdir(files)
    argv = ["fit", "md.csv", "--measure", "MD", "--tau-prior", "halfnormal(5)", *form]
    assert main([*argv, "--direction", "less", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "P(mu < threshold)" in out and "is below -4" in out and "is below -5" in out


@pytest.mark.parametrize("measure", ["MD", "GEN"])
def test_estimates_with_only_a_tau_prior(files, monkeypatch, capsys, measure):
    monkeypatch.chdir(files)
    argv = ["fit", "md.csv", "--measure", measure, "--tau-prior", "halfnormal(5)", "--seed", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mu  ~ Flat()" in out and "tau ~ HalfNormal(sigma=5)" in out


def test_fixed_file_with_model_random_uses_the_prior(capsys):
    assert main(["fit", IVIG, "--model", "random", "--tau-prior", "halfnormal(1)"]) == 0
    cap = capsys.readouterr()
    assert "random-effects" in cap.out
    priors = cap.out.split("Priors:")[1].split("Posterior")[0]
    assert "tau ~ HalfNormal(sigma=1)" in priors
    assert "bayesmeta: warning: random effects with k = 1" in cap.err


def test_study_named_mu_or_tau(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    (files / "mu.csv").write_text("study,estimate,se\nmu,0.3,0.1\ntau,0.5,0.2\nC,0.1,0.15\n")
    assert main(["fit", "mu.csv", "--measure", "SMD", "--seed", "1", "--out", "o"]) == 0
    out = capsys.readouterr().out
    assert out.count("mu (pooled)") == 1
    s = pd.read_csv(files / "o" / "summary.csv", index_col=0)
    assert list(s.index) == ["mu", "tau", "theta_new"]
    st = pd.read_csv(files / "o" / "studies.csv", index_col=0)
    assert list(st.index) == ["mu", "tau", "C"]
    assert (files / "o" / "forest.png").stat().st_size > 0


# -- outputs ---------------------------------------------------------------------------------------
@pytest.fixture
def md_out(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    argv = ["fit", "md.csv", "--measure", "MD", "--tau-prior", "halfnormal(5)", "--mcid", "-4,-5"]
    assert main([*argv, "--direction", "less", "--seed", "1", "--out", "o"]) == 0
    capsys.readouterr()
    return files / "o"


def test_out_summary_has_scale_and_mcid_has_direction(md_out):
    s = pd.read_csv(md_out / "summary.csv", index_col=0)
    assert s["scale"].tolist() == ["MD", "MD", "MD"]
    m = pd.read_csv(md_out / "mcid.csv")
    assert m["direction"].tolist() == ["less", "less"]


def test_out_report_says_below_and_has_tau_i2_and_inputs(md_out):
    report = (md_out / "report.md").read_text()
    assert "effect below each threshold" in report and "P(mu < threshold)" in report
    assert "exceed" not in report
    assert "| tau |" in report and "| I2 |" in report
    assert "## Data" in report and "| A | -6" in report


def test_out_permissions_follow_the_umask(md_out):
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(md_out.stat().st_mode) == 0o777 & ~mask != 0o700
    for f in md_out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask, f.name


def test_json_records_the_direction(files, monkeypatch, capsys):
    import json

    monkeypatch.chdir(files)
    argv = ["fit", "md.csv", "--measure", "MD", "--tau-prior", "halfnormal(5)", "--mcid", "-4"]
    assert main([*argv, "--direction", "less", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["mcid"]["direction"] == "less"
    assert payload["mcid"]["rows"][0]["direction"] == "less"


# -- through the installed entry point --------------------------------------------------------------
def run(args, cwd, **kw):
    assert EXE, "the bayesmeta entry point is not installed"
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=120, **kw)


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and 'File "' not in err, err


def test_warnings_are_one_line_without_a_path(files):
    r = run(["fit", "est.csv", "--measure", "SMD", "--tau-prior", "turner2015(any; any)"], files)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines, "expected a warning: Turner's prior was made for log odds ratios"
    for line in lines:
        assert line.startswith("bayesmeta: warning: "), line
    assert "derived for log odds ratios" in r.stderr
    assert ".py" not in r.stderr and "warnings.warn" not in r.stderr


def test_random_effects_with_one_study_warns(files):
    (files / "one.csv").write_text("study,estimate,se\nA,0.3,0.1\n")
    r = run(["fit", "one.csv", "--measure", "SMD", "--seed", "1"], files)
    assert r.returncode == 0
    assert r.stderr.startswith("bayesmeta: warning: random effects with k = 1")


EDGE = {
    "estimates-1e308": ["fit", "estimates_1e308.csv", "--measure", "SMD"],
    "logstudentt": ["fit", "est.csv", "--measure", "SMD", "--tau-prior", "logstudentt(5, 0, 1)"],
    "logstudentt-heavy": [
        "fit",
        "est.csv",
        "--measure",
        "SMD",
        "--tau-prior",
        "logstudentt(1, 0, 50)",
    ],
    "tiny-se": ["fit", "tiny.csv", "--measure", "SMD", "--seed", "1"],
    "rhodes-flat-k1": [
        "fit",
        "one.csv",
        "--measure",
        "SMD",
        "--tau-prior",
        "rhodes2015(any; any)",
        "--mu-prior",
        "flat",
    ],
}


@pytest.mark.parametrize("argv", list(EDGE.values()), ids=list(EDGE))
def test_numerical_edge_cases_end_cleanly(files, argv):
    # a clean result or a clean error: no traceback, no leaked numpy RuntimeWarning, and no
    # absurd or NaN number printed
    (files / "tiny.csv").write_text("study,estimate,se\nA,0.3,1e-12\nB,0.5,0.2\nC,0.1,0.3\n")
    (files / "one.csv").write_text("study,estimate,se\nA,0.3,0.1\n")
    r = run([*argv, "--out", "o"], files)
    _no_traceback(r.stderr)
    assert r.returncode in (0, 1), r.stderr
    for line in r.stderr.splitlines():
        assert line.startswith(("bayesmeta: ", "Wrote o/")), line
        assert not any(
            s in line for s in ("overflow encountered", "invalid value", "divide by zero")
        ), line
    if r.returncode == 1:
        assert r.stdout == "" and not (files / "o").exists()
        assert "bayesmeta: error: " in r.stderr
    else:
        assert "nan" not in r.stdout.lower().replace("nan%", "NAN"), r.stdout
        assert "e+57" not in r.stdout and "e+8" not in r.stdout
    assert not _leftovers(files, None)


def test_broken_pipe_is_quiet(tmp_path):
    rows = "\n".join(f"s{i},{i % 7 / 10},{0.1 + i % 5 / 10}" for i in range(5000))
    (tmp_path / "many.csv").write_text("study,estimate,se\n" + rows + "\n")
    r = subprocess.run(
        f"'{EXE}' effects many.csv --measure SMD | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.stdout.startswith("study")
    assert r.stderr == ""


def test_sigint_stops_a_nuts_fit_and_leaves_nothing(files):
    proc = subprocess.Popen(
        [EXE, "fit", "crins.csv", "--measure", "OR", "--likelihood", "binomial", "--engine", "nuts"]
        + ["--draws", "20000", "--tune", "20000", "--out", "res"],
        cwd=files,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait until it is sampling: a temporary --out directory does not exist yet, so poll the
    # process for a few seconds (model compilation takes ~2-5 s)
    time.sleep(7)
    assert proc.poll() is None, "the fit ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert out == ""
    assert "interrupted" in err
    _no_traceback(err)
    assert not (files / "res").exists()
    assert not _leftovers(files, "res")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["fit", "--help"], []])
def test_help_and_version_import_neither_pandas_nor_scipy(args):
    code = (
        "import sys\n"
        "from bayesmeta.cli import main\n"
        f"main({args!r})\n"
        "print('HEAVY', [m for m in ('pandas', 'scipy', 'pymc', 'matplotlib') if m in sys.modules])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_exact_fit_never_imports_pymc(files):
    code = (
        "import sys\n"
        "from bayesmeta.cli import main\n"
        "assert main(['fit', 'est.csv', '--measure', 'SMD', '--seed', '1', '--out', 'o']) == 0\n"
        f"assert main(['fit', {IVIG!r}]) == 0\n"
        "print('HEAVY', [m for m in ('pymc', 'pytensor', 'nutpie') if m in sys.modules])\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=files, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_internal_error_is_one_line_without_traceback(monkeypatch, capsys):
    """A bug (an unexpected exception) still gives one line on stderr and exit 1."""
    import bayesmeta.cli as cli

    def broken(args):
        raise AttributeError("'NetworkData' object has no attribute 'k'")

    monkeypatch.delenv("BAYESMETA_DEBUG")
    monkeypatch.setattr(cli, "_cmd_mcid", broken)
    assert main(["mcid"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bayesmeta: internal error: AttributeError:") and "Traceback" not in err
    assert err.count("\n") == 1


def test_validate_network_file(capsys):
    assert main(["validate", str(ROOT / "models" / "miller1992_network.toml")]) == 0
    out = capsys.readouterr().out
    assert "network of 1 study, 3 treatments, measure OR; reference sham apheresis" in out


def test_validate_network_file_with_unknown_reference(tmp_path, capsys):
    f = tmp_path / "n.toml"
    f.write_text(
        f'[data]\npath = "{ROOT / "data" / "miller1992_network.csv"}"\n'
        '[network]\nreference = "placebo"\n'
    )
    assert main(["validate", str(f)]) == 1
    assert "unknown reference treatment 'placebo'" in capsys.readouterr().err
