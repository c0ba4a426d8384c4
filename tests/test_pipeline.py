"""One pipeline: the CLI, run_analysis and the README show the same numbers; what it writes."""

import json
import os
import re
import stat
import warnings
from pathlib import Path

import pandas as pd
import pytest

import bayesmeta
from bayesmeta.cli import main
from bayesmeta.pipeline import OutputError, check_out_dir

ROOT = Path(__file__).resolve().parents[1]
IVIG = "models/ivig_response_tis20.toml"
README_COMMAND = "bayesmeta fit models/ivig_response_tis20.toml --out out/ivig"


def readme_block(text: str) -> str:
    """The output block: the first fenced block after the one holding README_COMMAND."""
    start = text.index(README_COMMAND)
    end_of_command_block = text.index("```", start)
    m = re.compile(r"```[a-z]*\n(.*?)```", re.S).search(text, end_of_command_block + 3)
    assert m, "no output block after the README's example command"
    return m.group(1)


@pytest.fixture(scope="module")
def ivig_text():
    with warnings.catch_warnings():
        # the file's sensitivity fits are random effects with k = 1 and one Turner prior
        # (made for log OR) on RR: both warn on purpose
        warnings.simplefilter("ignore", bayesmeta.ModelWarning)
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            return bayesmeta.run_analysis(IVIG).text()
        finally:
            os.chdir(cwd)


def test_cli_prints_what_run_analysis_returns(ivig_text, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["fit", IVIG]) == 0
    captured = capsys.readouterr()
    assert captured.out == ivig_text + "\n"
    # the warnings went to stderr, one line each
    assert "bayesmeta: warning: random effects with k = 1" in captured.err


def test_readme_example_shows_the_same_numbers(ivig_text):
    # regenerate with: run_analysis("models/ivig_response_tis20.toml").text()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_block(readme) == ivig_text + "\n"


def test_same_seed_same_report():
    # the seed is in the file and the exact engine is deterministic
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.ModelWarning)
        a = bayesmeta.run_analysis(ROOT / IVIG)
        b = bayesmeta.run_analysis(ROOT / IVIG)
    assert a.result.spec.seed == b.result.spec.seed == 2026
    pd.testing.assert_frame_equal(a.sensitivity, b.sensitivity)


def test_run_analysis_overrides_go_through_the_spec():
    with pytest.raises(bayesmeta.SpecError, match="tau_prior is given but the model is a fixed"):
        bayesmeta.run_analysis(ROOT / IVIG, overrides={"tau_prior": "halfnormal(1)"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.ModelWarning)
        a = bayesmeta.run_analysis(
            ROOT / IVIG, overrides={"effects": "random", "tau_prior": "halfnormal(1)"}
        )
    assert a.result.tau_prior == bayesmeta.priors.HalfNormal(1.0)
    assert "tau ~ HalfNormal(sigma=1)" in a.text()


def test_warnings_are_collected_once():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.ModelWarning)
        a = bayesmeta.run_analysis(ROOT / IVIG, overrides={"effects": "random"})
    k1 = [w for w in a.warnings if "random effects with k = 1" in w]
    assert len(k1) == 1, a.warnings


# -- what .write() produces ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def md_less(tmp_path_factory):
    df = pd.DataFrame(
        {"study": ["A", "B", "C"], "estimate": [-6.0, -4.0, -9.0], "se": [2.0, 2.5, 3.0]}
    )
    spec = bayesmeta.AnalysisSpec.from_kwargs(
        data=df,
        measure="MD",
        tau_prior="halfnormal(5)",
        mcid=[-4, -5],
        mcid_direction="less",
        seed=1,
        title="lower is better",
    )
    a = bayesmeta.run_analysis(spec)
    out = tmp_path_factory.mktemp("w") / "out"
    a.write(out)
    return a, out


def test_summary_csv_has_a_scale_column(md_less):
    _, out = md_less
    s = pd.read_csv(out / "summary.csv", index_col=0)
    assert list(s.columns[:1]) == ["scale"] and list(s.index) == ["mu", "tau", "theta_new"]
    assert set(s["scale"]) == {"MD"}


def test_summary_scale_of_tau_for_ratios(crins, tmp_path):
    spec = bayesmeta.AnalysisSpec.from_kwargs(data=crins, measure="OR", seed=1)
    with pytest.warns(bayesmeta.ModelWarning, match="zero cells"):
        a = bayesmeta.run_analysis(spec)
    s = a.summary_table()
    assert s.loc["mu", "scale"] == "OR" and s.loc["tau", "scale"] == "log OR (SD)"


def test_mcid_csv_and_json_record_the_direction(md_less):
    a, out = md_less
    m = pd.read_csv(out / "mcid.csv")
    assert list(m["direction"]) == ["less", "less"]
    assert list(m["threshold"]) == [-4, -5]
    payload = a.to_json()
    assert payload["mcid"]["direction"] == "less"
    assert all(r["direction"] == "less" for r in payload["mcid"]["rows"])
    json.dumps(payload, default=str)  # serialisable


def test_report_md_says_below_and_has_tau_i2_and_inputs(md_less):
    _, out = md_less
    report = (out / "report.md").read_text()
    assert "## MCID probabilities (effect below each threshold): P(mu < threshold)" in report
    section = report.split("## MCID")[1].split("\n## ")[0]
    assert "exceed" not in report and "above" not in section and ">" not in section
    assert "is below -4" in section
    assert "## Heterogeneity" in report and "| tau |" in report and "| I2 |" in report
    data = report.split("## Data")[1].split("## ")[0]
    for study in ("| A |", "| B |", "| C |"):
        assert study in data, study
    assert "estimate" in data and "se" in data


def test_outputs_have_umask_permissions(md_less):
    _, out = md_less
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~mask
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask, f.name


def test_write_leaves_no_temporary_directory(md_less):
    _, out = md_less
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def test_study_named_mu_writes(tmp_path):
    df = pd.DataFrame(
        {"study": ["mu", "tau", "C"], "estimate": [0.3, 0.5, 0.1], "se": [0.1, 0.2, 0.15]}
    )
    a = bayesmeta.run_analysis(bayesmeta.AnalysisSpec.from_kwargs(data=df, measure="SMD", seed=1))
    out = a.write(tmp_path / "o")
    s = pd.read_csv(out / "summary.csv", index_col=0)
    assert list(s.index) == ["mu", "tau", "theta_new"]
    st = pd.read_csv(out / "studies.csv", index_col=0)
    assert list(st.index) == ["mu", "tau", "C"]


# -- --out checked before fitting -------------------------------------------------------------------
def test_check_out_dir_rejects_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        check_out_dir(f)
    with pytest.raises(OutputError, match="is a file, so .* cannot be a directory"):
        check_out_dir(f / "sub")


def test_check_out_dir_rejects_non_empty_without_force(tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x").write_text("x")
    with pytest.raises(OutputError, match="exists and is not empty"):
        check_out_dir(tmp_path / "o")
    check_out_dir(tmp_path / "o", force=True)


def test_check_out_dir_rejects_read_only(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    real = os.access
    # root ignores permissions: make os.access tell the truth the mode bits tell
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == ro else real(p, m))
    try:
        with pytest.raises(OutputError, match="is not writable"):
            check_out_dir(ro / "out")
    finally:
        ro.chmod(0o755)


def test_binary_or_data_get_normal_and_binomial_side_by_side(crins):
    # issue 12: both models with mu, the prediction and the MCID probabilities; the zero
    # cell in Gras 2008 forces a continuity correction on the normal model: a warning
    spec = bayesmeta.AnalysisSpec.from_kwargs(
        data=crins, measure="OR", mcid=[0.8], mcid_direction="less", seed=1
    )
    with pytest.warns(bayesmeta.ModelWarning, match="continuity correction"):
        a = bayesmeta.run_analysis(spec)
    t = a.likelihoods
    assert list(t.index) == ["normal (normal approx.)", "binomial (exact binomial-normal)"]
    assert {"mu_median", "theta_new_lower", "P(mu < 0.8)", "P(new < 0.8)"} <= set(t.columns)
    # the binomial row is the exact binomial fit itself
    exact = bayesmeta.fit(crins, "OR", likelihood="binomial", seed=1)
    assert t.iloc[1]["mu_median"] == pytest.approx(
        exact.summary(scale="natural").loc["mu", "median"], rel=1e-9
    )
    assert "Normal approximation vs exact binomial-normal model" in a.text()


def test_material_disagreement_is_a_warning(tmp_path):
    # a single sparse trial (3/52 vs 0/48, the IVIg discontinuation data): the normal
    # approximation's P(OR > 2) differs from the exact model's by more than 0.05
    with pytest.warns(bayesmeta.ModelWarning) as rec:
        bayesmeta.run_analysis(ROOT / "models" / "ivig_discontinuation_ae.toml")
    assert any("disagree materially" in str(w.message) for w in rec)


def test_averaging_section(tmp_path):
    (tmp_path / "d.csv").write_text(
        "study,estimate,se\nA,0.31,0.12\nB,0.18,0.15\nC,0.45,0.2\nD,0.05,0.18\n"
    )
    (tmp_path / "a.toml").write_text(
        '[data]\npath = "d.csv"\nmeasure = "SMD"\n[priors]\nmu = "normal(0, 1)"\n'
        "[averaging]\nprior_model_probs = { fixed_H0 = 0.25, fixed_H1 = 0.25, "
        "random_H0 = 0.25, random_H1 = 0.25 }\n[sampling]\nseed = 1\n"
    )
    a = bayesmeta.run_analysis(tmp_path / "a.toml")
    models = a.averaging.models()
    assert list(models.index) == ["fixed_H0", "fixed_H1", "random_H0", "random_H1"]
    assert models["posterior_prob"].sum() == pytest.approx(1.0)
    assert "Bayesian model averaging" in a.text()


def test_nuts_out_writes_arviz_trace_and_rank_plots(tmp_path):
    df = pd.DataFrame(
        {"study": ["A", "B", "C"], "estimate": [0.4, 0.7, 0.2], "se": [0.2, 0.25, 0.3]}
    )
    spec = bayesmeta.AnalysisSpec.from_kwargs(
        data=df, measure="SMD", engine="nuts", draws=200, tune=200, chains=2, seed=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.ConvergenceWarning)
        a = bayesmeta.run_analysis(spec)
        a.write(tmp_path / "o")
    for name in ("trace.png", "rank.png"):
        assert (tmp_path / "o" / name).stat().st_size > 10_000, name
    assert "trace.png" in (tmp_path / "o" / "report.md").read_text()
