"""Meta-regression and subgroups through the public API, the pipeline and the CLI.

The engine's numbers are checked against R bayesmeta's bmr() in test_linear_engine.py; here:
the NUTS engine agrees with the exact engine within Monte Carlo error, the API tables are
consistent with the engine, and bad moderators get clear errors.
"""

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

import bayesmeta
from bayesmeta.cli import main
from bayesmeta.fit import fit_spec

matplotlib.use("Agg")

# BCG vaccine trials (Colditz et al. 1994; metafor's dat.bcg): counts, absolute latitude
# and allocation method.
BCG = pd.DataFrame(
    {
        "study": [f"T{i}" for i in range(1, 14)],
        "events_t": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
        "n_t": [123, 306, 231, 13598, 5069, 1541, 2545, 88391, 7499, 1716, 50634, 2498, 16913],
        "events_c": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
        "n_c": [139, 303, 220, 12867, 5808, 1451, 629, 88391, 7277, 1665, 27338, 2341, 17854],
        "ablat": [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33],
        "alloc": ["random"] * 4 + ["alternate"] * 2 + ["random"] * 3 + ["systematic"] * 4,
    }
)
#: MCMC agreement: |exact - NUTS| within this many Monte Carlo standard errors, plus slack
#: for the quantile's own Monte Carlo error estimate.
N_MCSE, SLACK = 4.0, 0.01


def spec(**kw):
    return bayesmeta.AnalysisSpec.from_kwargs(data=BCG, measure="RR", seed=1, **kw)


@pytest.fixture(scope="module")
def ablat():
    return fit_spec(spec(moderators="~ ablat"))


def test_coefficients_predict_and_prob_exceeds_are_consistent(ablat):
    coef = ablat.coefficients()
    assert list(coef.index) == ["Intercept", "ablat", "tau"]
    # the slope is clearly negative (BCG works better far from the equator)
    assert coef.loc["ablat", "upper"] < 0 and coef.loc["ablat", "P(>0)"] < 0.01
    # at ablat = 0 the mean effect is the intercept
    pred = ablat.predict({"ablat": [0.0, 40.0]})
    assert pred.iloc[0]["median"] == pytest.approx(coef.loc["Intercept", "median"], abs=1e-8)
    # a new study's interval is wider than the mean's
    new = ablat.predict({"ablat": [40.0]}, kind="new")
    assert (
        new.iloc[0]["upper"] - new.iloc[0]["lower"] > pred.iloc[1]["upper"] - pred.iloc[1]["lower"]
    )
    # P(RR < 0.8 at ablat = 40) is the CDF of the prediction at log(0.8)
    pe = ablat.prob_exceeds([0.8], direction="less", at={"ablat": [40.0]})
    m = ablat.posterior.linear(np.array([[1.0, 40.0]]))
    assert pe.loc[0, "p_mu"] == pytest.approx(float(m.cdf([np.log(0.8)])[0, 0]), abs=1e-12)
    assert pe.loc[0, "at"] == "ablat=40.0"
    with pytest.raises(ValueError, match="give at="):
        ablat.prob_exceeds([0.8])
    assert 0 < ablat.heterogeneity_explained() < 1


def test_prob_exceeds_at_has_one_row_per_covariate_row_and_threshold(ablat):
    at = pd.DataFrame({"ablat": [20, 40, 55], "alloc": ["random", "random", "systematic"]})
    pe = ablat.prob_exceeds([0.6, 0.8], direction="less", labels=["big", "small"], at=at)
    assert list(pe.columns) == [
        "at", "threshold", "label", "direction", "p_mu", "mcse", "p_new", "mcse_new"
    ]  # fmt: skip
    # labels as iterrows() gives the rows (one dtype per row: mixed columns keep theirs)
    assert pe["at"].tolist() == [
        f"ablat={a}, alloc={b}" for a, b in zip(at["ablat"], at["alloc"], strict=True) for _ in "xy"
    ]
    assert pe["threshold"].tolist() == [0.6, 0.8] * 3
    assert pe["label"].tolist() == ["big", "small"] * 3
    assert set(pe["direction"]) == {"less"} and pe["direction"].dtype == pe["at"].dtype
    A = np.column_stack([np.ones(3), at["ablat"]])
    for col, new in (("p_mu", False), ("p_new", True)):
        want = ablat.posterior.linear(A, new=new).cdf(np.log([0.6, 0.8])).ravel()
        np.testing.assert_allclose(pe[col], want, rtol=0, atol=1e-15)
    assert (pe[["mcse", "mcse_new"]].to_numpy() == 0).all()


def test_nuts_agrees_with_exact_on_a_meta_regression(ablat):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.ConvergenceWarning)
        nuts = fit_spec(spec(moderators="~ ablat", engine="nuts", draws=1500, chains=4))
    e, n = ablat.coefficients(), nuts.coefficients()
    import arviz_stats as azs

    beta = nuts.idata["posterior"]["beta"]
    for j, name in enumerate(["Intercept", "ablat"]):
        draws = beta.isel(coef=j)
        mcse = float(azs.mcse(draws, method="median"))
        assert abs(e.loc[name, "median"] - n.loc[name, "median"]) < N_MCSE * mcse + SLACK * abs(
            e.loc[name, "sd"]
        ), name
        assert n.loc[name, "sd"] == pytest.approx(e.loc[name, "sd"], rel=0.1)


def test_subgroups_common_and_separate_tau():
    r = fit_spec(spec(subgroup="alloc", beta_prior="normal(0, 2)"))
    sg = r.subgroups()
    assert list(sg.index[:3]) == ["alternate", "random", "systematic"]
    assert "random - alternate" in sg.index
    assert 0 <= sg.loc["random - alternate", "P(>0)"] <= 1
    assert np.isfinite(sg.attrs["bf_no_moderator"]) and sg.attrs["bf_no_moderator"] > 0
    # the difference is the difference of the group means (same posterior)
    assert sg.loc["random - alternate", "mean"] == pytest.approx(
        sg.loc["random", "mean"] - sg.loc["alternate", "mean"], abs=1e-9
    )
    sep = fit_spec(spec(subgroup="alloc", separate_tau=True)).subgroups()
    assert sep.attrs["separate_tau"] and "systematic - random" in sep.index
    # under a flat prior on the coefficients the Bayes factor is not defined
    flat = fit_spec(spec(subgroup="alloc")).subgroups()
    assert np.isnan(flat.attrs["bf_no_moderator"])


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"moderators": "~ latitude"}, "latitude"),
        ({"moderators": ["nope"]}, "moderator column\\(s\\) 'nope' not in the data"),
        ({"subgroup": "nope"}, "subgroup column 'nope' is not in the data"),
        ({"moderators": "~ ablat", "subgroup": "alloc"}, "subgroup conflicts with moderators"),
        ({"separate_tau": True}, "separate_tau applies to a subgroup analysis only"),
        ({"beta_prior": "normal(0, 1)"}, "beta_prior applies to meta-regression"),
    ],
)
def test_bad_moderators_are_clear_errors(kw, message):
    with pytest.raises(bayesmeta.DataError, match=message):
        fit_spec(spec(**kw))


def test_missing_covariate_names_study_and_column():
    df = BCG.assign(ablat=BCG["ablat"].astype(float).where(BCG["study"] != "T3"))
    s = bayesmeta.AnalysisSpec.from_kwargs(data=df, measure="RR", moderators="~ ablat", seed=1)
    with pytest.raises(bayesmeta.DataError, match="study 'T3': covariate column 'ablat'"):
        fit_spec(s)


def test_collinear_moderators_are_an_error():
    s = bayesmeta.AnalysisSpec.from_kwargs(
        data=BCG.assign(twice=2 * BCG["ablat"]), measure="RR", moderators="~ ablat + twice"
    )
    with pytest.raises(bayesmeta.DataError, match="not of full rank"):
        fit_spec(s)


def test_plots_render(ablat):
    from bayesmeta import plots

    fig = plots.bubble(ablat, mcid=[0.8])
    assert fig.axes[0].get_xlabel() == "ablat"
    fig = plots.subgroup_forest(fit_spec(spec(subgroup="alloc")))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "alloc = random" in texts and any(t.startswith("  random - alternate") for t in texts)


def test_cli_moderators_and_subgroup(tmp_path, capsys):
    csv = tmp_path / "bcg.csv"
    BCG.to_csv(csv, index=False)
    code = main(["fit", str(csv), "--measure", "RR", "--moderators", "~ ablat", "--seed", "1",
                 "--mcid", "0.8", "--direction", "less"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "Moderators: ~ ablat" in out and "mean RR at ablat=44" in out
    code = main(["fit", str(csv), "--measure", "RR", "--subgroup", "alloc", "--seed", "1",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "Subgroups by alloc (common tau)" in out
    assert (tmp_path / "o" / "forest.png").is_file()
    report = (tmp_path / "o" / "report.md").read_text()
    assert "## Moderators" in report and "Subgroups by `alloc` (a common tau)" in report


def test_analysis_file_moderators(tmp_path):
    BCG.to_csv(tmp_path / "bcg.csv", index=False)
    (tmp_path / "a.toml").write_text(
        '[data]\npath = "bcg.csv"\nmeasure = "RR"\n[model]\nmoderators = "~ ablat"\n'
        '[mcid]\nvalues = [0.8]\ndirection = "less"\n[sampling]\nseed = 1\n'
    )
    a = bayesmeta.run_analysis(tmp_path / "a.toml")
    assert list(a.mcid["at"].unique())[:2] == ["ablat=44", "ablat=55"]
    assert a.result.coefficients().loc["ablat", "median"] < 0


@pytest.mark.parametrize(
    "options",
    [
        {"moderators": "~ ablat"},
        {"moderators": ["ablat"], "beta_prior": {"ablat": "normal(0, 0.1)"}},
        {"subgroup": "alloc"},
        {"subgroup": "alloc", "separate_tau": True},
        {"moderators": "~ ablat + C(alloc)", "beta_prior": "normal(0, 10)"},
    ],
    ids=["formula", "columns-beta-prior", "subgroup", "separate-tau", "two-moderators"],
)
def test_fit_takes_the_moderator_options(options):
    """bayesmeta.fit(data, measure, moderators=..., subgroup=..., ...) is the spec's fit."""
    got = bayesmeta.fit(BCG, "RR", seed=1, **options)
    want = fit_spec(spec(**options))
    pd.testing.assert_frame_equal(got.coefficients(), want.coefficients())
    assert got.spec.moderators == want.spec.moderators
    if "subgroup" in options:
        pd.testing.assert_frame_equal(got.subgroups(), want.subgroups())


def test_fit_moderator_errors_name_the_argument():
    with pytest.raises(bayesmeta.DataError, match="beta_prior applies to meta-regression"):
        bayesmeta.fit(BCG, "RR", beta_prior="normal(0, 1)")
    with pytest.raises(bayesmeta.DataError, match="separate_tau applies to a subgroup"):
        bayesmeta.fit(BCG, "RR", separate_tau=True)


@pytest.mark.parametrize(
    "formula",
    ["~ ablat", "~ ablat + year", "year + ablat", "~ ablat + ablat", "~ 1 + year"],
)
def test_plain_formula_fast_path_is_formulaics_matrix(formula):
    """Intercept + numeric columns are built without formulaic, exactly as formulaic would."""
    import formulaic

    from bayesmeta.design import design_matrix

    cov = BCG[["ablat"]].assign(year=np.arange(1948, 1961))
    d = design_matrix(cov, BCG["study"].tolist(), moderators=formula)
    want = formulaic.model_matrix(d.formula, cov, na_action="raise")
    assert d.names == tuple(want.columns) and d._spec is None  # the fast path was taken
    np.testing.assert_array_equal(d.X, np.asarray(want, dtype=float))
    assert d.variables == tuple(sorted(want.model_spec.required_variables))
    new = pd.DataFrame({"ablat": [10.0, 50.0], "year": [1950, 1960]})
    np.testing.assert_array_equal(
        d.rows(new), np.asarray(want.model_spec.get_model_matrix(new), dtype=float)
    )
    assert d.model_spec.required_variables == want.model_spec.required_variables


@pytest.mark.parametrize("formula", ["~ log(ablat)", "~ C(alloc)", "~ ablat:year", "~ ablat - 1"])
def test_other_formulas_go_through_formulaic(formula):
    from bayesmeta.design import design_matrix

    cov = BCG[["ablat", "alloc"]].assign(year=np.arange(1948, 1961))
    assert design_matrix(cov, BCG["study"].tolist(), moderators=formula)._spec is not None
