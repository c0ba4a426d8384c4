"""Issue 9: one validated spec for every entry point, and no bad input that ends in a wrong number.

Each rule is checked through every entry point that builds an AnalysisSpec (fit, fit_many,
AnalysisSpec.from_kwargs, analysis files): the same rule, the same message, from one place.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmeta
from bayesmeta import priors
from bayesmeta.spec import AnalysisSpec, SpecError, field_names, load_spec


@pytest.fixture
def est():
    return pd.DataFrame(
        {"study": ["A", "B", "C"], "estimate": [0.4, 0.7, 0.2], "se": [0.2, 0.25, 0.3]}
    )


def _long(est):
    return pd.concat([est.assign(analysis="a"), est.iloc[:2].assign(analysis="b")])


ENTRY_POINTS = {
    "fit": lambda est, kw: bayesmeta.fit(est, "SMD", **kw),
    "fit_many": lambda est, kw: bayesmeta.fit_many(_long(est), measure="SMD", **kw),
    "from_kwargs": lambda est, kw: AnalysisSpec.from_kwargs(data=est, measure="SMD", **kw),
}

# (id, keyword arguments, what the message must say)
BAD_OPTIONS = [
    ("ci_prob-95", {"ci_prob": 95}, r"ci_prob must be between 0 and 1 \(got 95\)"),
    ("ci_prob-0", {"ci_prob": 0}, r"ci_prob must be between 0 and 1"),
    (
        "tau_prior-normal",
        {"tau_prior": "normal(0, 1)"},
        r"tau_prior must be a prior on \[0, inf\)",
    ),
    (
        "fixed-with-tau_prior",
        {"model": "fixed", "tau_prior": "halfnormal(1)"},
        r"tau_prior is given but the model is a fixed \(common\) effect",
    ),
    (
        "tau_prior-normal(0)",
        {"tau_prior": "normal(0)"},
        r"tau_prior is invalid: Normal: missing parameter sigma",
    ),
    (
        "tau_prior-halfnormal(1e-300)",
        {"tau_prior": "halfnormal(1e-300)"},
        r"tau_prior is invalid: HalfNormal: sigma=1e-300 is too small",
    ),
    (
        "tau_prior-logstudentt(5)",
        {"tau_prior": "logstudentt(5)"},
        r"tau_prior is invalid: LogStudentT: missing parameters mu, sigma",
    ),
    (
        "tau_prior-logstudentt-negative-sigma",
        {"tau_prior": "logstudentt(5, 0, -1)"},
        r"tau_prior is invalid: LogStudentT: sigma must be > 0",
    ),
    ("mu_prior-halfnormal", {"mu_prior": "halfnormal(1)"}, r"mu_prior must allow negative"),
    ("model-mixed", {"model": "mixed"}, r"model must be one of random, fixed"),
    ("direction-up", {"direction": "up"}, r"direction must be one of greater, less"),
    (
        "thresholds-nan",
        {"thresholds": [0.2, float("nan")]},
        r"thresholds must be finite numbers",
    ),
]


# fit() has no MCID arguments (they belong to prob_exceeds and analysis files)
CASES = [
    pytest.param(entry, kw, message, id=f"{entry}-{case}")
    for case, kw, message in BAD_OPTIONS
    for entry in ENTRY_POINTS
    if not (entry == "fit" and set(kw) & {"direction", "thresholds"})
]


@pytest.mark.parametrize(("entry", "kw", "message"), CASES)
def test_every_entry_point_rejects_the_same_bad_option(est, entry, kw, message):
    with pytest.raises(SpecError, match=message) as info:
        ENTRY_POINTS[entry](est, kw)
    assert info.value.problems  # the key of every problem is recorded


def test_fit_many_ci_prob_95_no_longer_gives_a_wide_tau_interval(est):
    # issue 9: fit_many(ci_prob=95) returned a tau interval of -18 to 24 without complaint
    with pytest.raises(SpecError, match="ci_prob must be between 0 and 1"):
        bayesmeta.fit_many(_long(est), measure="SMD", ci_prob=95)


def test_fit_many_fixed_effect_keeps_no_tau(est):
    out = bayesmeta.fit_many(_long(est), measure="SMD", model="fixed")
    assert out.attrs["tau_prior"] == "None"
    np.testing.assert_array_equal(out["tau_median"], 0.0)


def test_every_problem_is_reported_at_once(est):
    with pytest.raises(SpecError) as info:
        AnalysisSpec.from_kwargs(measure="XYZ", ci_prob=95, draws=0, engine="gibbs")
    keys = {k for k, _ in info.value.problems}
    assert keys == {"measure", "ci_prob", "draws", "engine"}
    assert len(str(info.value).splitlines()) == 4


def test_unknown_option_lists_the_known_ones():
    with pytest.raises(SpecError, match=r"tau_priors is not a known option \(known: .*tau_prior"):
        AnalysisSpec.from_kwargs(measure="SMD", tau_priors="halfnormal(1)")


def test_fixed_effect_is_stored_once():
    # "fixed effect" was stored twice (a model string and a flag); now only `effects`
    assert "fixed" not in field_names() and "model" not in field_names()
    s = AnalysisSpec.from_kwargs(measure="SMD", model="fixed")
    assert s.effects == "fixed" and s.fixed and s.tau_prior is None
    r = s.replace(effects="random")
    assert r.effects == "random" and not r.fixed
    # switching to fixed drops the prior on tau; giving one with fixed is an error
    s = AnalysisSpec.from_kwargs(measure="SMD", tau_prior="halfnormal(1)")
    assert s.replace(effects="fixed").tau_prior is None
    with pytest.raises(SpecError, match="tau_prior is given but the model is a fixed"):
        s.replace(effects="fixed", tau_prior="halfnormal(1)")


def test_spec_is_frozen():
    s = AnalysisSpec.from_kwargs(measure="SMD")
    with pytest.raises(AttributeError):
        s.draws = 10  # type: ignore[misc]


def test_analysis_file_rule_reports_its_key_path(tmp_path):
    (tmp_path / "d.csv").write_text("study,estimate,se\nA,0.3,0.1\nB,0.5,0.2\n")
    p = tmp_path / "x.toml"
    p.write_text('[analysis]\nci_prob = 95\n[data]\npath = "d.csv"\nmeasure = "SMD"\n')
    with pytest.raises(SpecError, match=rf"{p}: analysis.ci_prob must be between 0 and 1"):
        load_spec(p)
    p.write_text(
        '[data]\npath = "d.csv"\nmeasure = "SMD"\n[model]\neffects = "fixed"\n'
        '[priors]\ntau = { dist = "HalfNormal", sigma = 1 }\n'
    )
    with pytest.raises(SpecError, match=rf"{p}: priors.tau is given but the model is a fixed"):
        load_spec(p)


@pytest.mark.parametrize("path_kind", ["data-directory", "spec-directory"])
def test_directory_as_path_is_a_spec_error(tmp_path, path_kind):
    (tmp_path / "d.csv").mkdir()
    if path_kind == "data-directory":
        p = tmp_path / "x.toml"
        p.write_text('[data]\npath = "d.csv"\nmeasure = "SMD"\n')
        match = "data.path points to a directory"
    else:
        p = tmp_path / "y.toml"
        p.mkdir()
        match = "is a directory, not an analysis file"
    with pytest.raises(SpecError, match=match):
        load_spec(p)


# -- priors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("measure", ["MD", "GEN"])
def test_tau_prior_alone_is_enough_for_estimates(est, measure):
    # MD or GEN from reported estimates with tau_prior given failed with "Give tau_prior"
    r = bayesmeta.fit(est, measure, tau_prior="halfnormal(1)", seed=1)
    assert isinstance(r.mu_prior, priors.Flat)
    assert r.tau_prior == priors.HalfNormal(1.0)
    assert np.isfinite(r.summary().loc["mu", ["median", "lower", "upper"]].astype(float)).all()


def test_logstudentt_tau_prior_fits(est):
    # a logstudentt(...) prior on tau used to end in a traceback
    r = bayesmeta.fit(est, "SMD", tau_prior="logstudentt(5, 0, 1)", seed=1)
    s = r.summary()
    assert np.isfinite(s[["median", "lower", "upper"]].to_numpy(float)).all()
    assert 0 < s.loc["tau", "lower"] < s.loc["tau", "median"] < s.loc["tau", "upper"]


@pytest.mark.parametrize(
    ("prior", "measure", "intended"),
    [
        ("turner2015(any; any)", "SMD", "OR"),
        ("turner2015(any; any)", "MD", "OR"),
        ("rhodes2015(any; any)", "OR", "SMD"),
    ],
)
def test_empirical_prior_for_another_measure_warns(est, crins, prior, measure, intended):
    data = crins if measure == "OR" else est
    with pytest.warns(
        bayesmeta.ModelWarning, match=rf"derived for .*\({intended}\).*uses {measure}"
    ):
        bayesmeta.fit(data, measure, tau_prior=prior, seed=1)


@pytest.mark.parametrize(
    ("prior", "measure"), [("turner2015(any; any)", "OR"), ("rhodes2015(any; any)", "SMD")]
)
def test_empirical_prior_for_its_own_measure_does_not_warn(est, crins, prior, measure):
    data = crins if measure == "OR" else est
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bayesmeta.fit(data, measure, tau_prior=prior, seed=1)


def test_random_effects_with_one_study_warns(est):
    with pytest.warns(bayesmeta.ModelWarning, match="random effects with k = 1: .*prior on tau"):
        bayesmeta.fit(est.iloc[:1], "SMD", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bayesmeta.fit(est.iloc[:1], "SMD", model="fixed", seed=1)


# -- studies called like parameters -------------------------------------------------------------
def test_study_named_mu_or_tau_is_legal():
    df = pd.DataFrame(
        {"study": ["mu", "tau", "C"], "estimate": [0.3, 0.5, 0.1], "se": [0.1, 0.2, 0.15]}
    )
    r = bayesmeta.fit(df, "SMD", seed=1)
    s = r.summary()
    assert list(s.index) == ["mu", "tau", "theta_new"]  # one mu row, not two
    st = r.studies()
    assert list(st.index) == ["mu", "tau", "C"]
    assert st.loc["mu", "yi"] == 0.3 and st.loc["tau", "yi"] == 0.5
    assert s.loc["mu", "median"] != st.loc["mu", "median"]


# -- numbers that must never be absurd ----------------------------------------------------------
def test_rhodes_prior_flat_mu_one_study_gives_no_absurd_interval():
    # issue 9: mu interval of +/-8.55e57, and an OverflowError when printed.
    # Acceptable: a clear error, or a finite interval, or explicit inf/NaN with a note.
    df = pd.DataFrame({"study": ["A"], "estimate": [0.3], "se": [0.1]})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bayesmeta.ModelWarning)  # k = 1, on purpose
            r = bayesmeta.fit(df, "SMD", tau_prior="rhodes2015(any; any)", mu_prior="flat")
            text = str(r)
            s = r.summary()
            h = r.heterogeneity()
    except bayesmeta.DataError as exc:
        assert "prior" in str(exc)
        return
    for name in ("mu", "theta_new"):
        lo, med, hi = s.loc[name, ["lower", "median", "upper"]].astype(float)
        if np.isfinite(lo) and np.isfinite(hi):
            assert lo < med < hi, name
            assert abs(lo) < 1e6 and abs(hi) < 1e6, (name, lo, hi)
        else:
            assert r.notes, "a non-finite interval needs a note"
    for table in (s, h):
        moments = table[["mean", "sd"]].to_numpy(float)
        finite = moments[np.isfinite(moments)]
        assert (np.abs(finite) < 1e6).all() or r.notes
    assert "e+57" not in text and "e+8" not in text


def test_tiny_standard_error_gives_no_nan_and_no_warning():
    # issue 9: one study with SE 1e-12 gave a NaN DerSimonian-Laird row, I^2 "0% to 0%"
    # and leaked RuntimeWarnings
    from bayesmeta.classical import classical_table

    df = pd.DataFrame(
        {"study": ["A", "B", "C"], "estimate": [0.3, 0.5, 0.1], "se": [1e-12, 0.2, 0.3]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = bayesmeta.fit(df, "SMD", seed=1)
        h = r.heterogeneity()
        t = classical_table(r.data)
        text = str(r)
    assert np.isfinite(h.to_numpy(float)).all()
    assert h.loc["I2", "upper"] > 0.5  # tau is not pinned at 0 by the tiny SE
    dl = t.loc["DerSimonian-Laird random effects"]
    assert np.isfinite(dl[["estimate", "lower", "upper", "tau2", "I2", "Q"]].astype(float)).all()
    assert "nan" not in text.lower()


def test_tiny_standard_error_single_study_keeps_the_prior_on_tau():
    # k = 1: the data say nothing about tau, so its posterior is (nearly) its prior,
    # whatever the study's SE
    df = pd.DataFrame({"study": ["A"], "estimate": [0.3], "se": [1e-12]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.ModelWarning)  # k = 1, on purpose
        r = bayesmeta.fit(df, "SMD", seed=1)
    prior_median = priors.HalfNormal(0.5).ppf([0.5])[0]
    assert r.summary().loc["tau", "median"] == pytest.approx(prior_median, rel=0.05)
    assert not math.isnan(r.heterogeneity().loc["I2", "median"])


def test_prior_model_probs_are_checked_by_the_spec():
    with pytest.raises(SpecError, match="prior_model_probs needs exactly the keys"):
        bayesmeta.AnalysisSpec.from_kwargs(
            measure="SMD", averaging=True, prior_model_probs={"fixed_H0": 1.0}
        )
    with pytest.raises(SpecError, match="prior_model_probs must sum to 1"):
        bayesmeta.AnalysisSpec.from_kwargs(measure="SMD", prior_model_probs=[0.5] * 4)
