"""The exact engine (numerical integration) against R bayesmeta and independent quadrature.

Tests through ``bayesmeta.fit`` exercise whichever engine ``fit`` uses; tests of the engine
itself use :mod:`bayesmeta.engines.linear` (more in tests/test_linear_engine.py).
Independent quadrature values are stored in tests/reference/quadrature.json (written by
tests/reference/make_quadrature.py).
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmeta
from bayesmeta import priors
from bayesmeta.engines.linear import integrate

QUAD = json.loads((Path(__file__).parent / "reference" / "quadrature.json").read_text())["cases"]

# shared/reference/README.md: R bayesmeta 3.4 (delta=2e-5, epsilon=1e-10) and an independent
# adaptive-quadrature computation agree to 5e-6; mu ~ N(0, 4^2), tau ~ HalfNormal(0.5).
CRINS_REF = {
    "mu": [-2.237895, -1.573495, -0.933506],
    "tau": [0.017735, 0.344502, 0.972960],
    "theta_new": [-2.773027, -1.570217, -0.417299],
}
CRINS_P = {("mu", -1.0): 0.0378769, ("mu", -0.5): 0.0014612, ("theta_new", -1.0): 0.1180610}
CRINS_LOGML = -9.63282
# The issue asks for 1e-4 absolute; we hold 2e-5 (reference accuracy 5e-6 + rounding).
TOL_R = 2e-5
# Against our own independent quad reference (both ~1e-9 accurate): 1e-6.
TOL_QUAD = 1e-6
Q = np.array([0.025, 0.5, 0.975])


@pytest.fixture(scope="module")
def crins_fit(crins):
    return bayesmeta.fit(
        crins,
        "OR",
        mu_prior=priors.Normal(0, 4),
        tau_prior=priors.HalfNormal(0.5),
        engine="exact",
        seed=1,
    )


def test_crins_quantiles_match_r_bayesmeta(crins_fit):
    s = crins_fit.summary()
    for name, ref in CRINS_REF.items():
        got = s.loc[name, ["lower", "median", "upper"]].to_numpy(float)
        np.testing.assert_allclose(got, ref, atol=TOL_R, rtol=0, err_msg=name)


def test_crins_probabilities_match_r_bayesmeta(crins_fit):
    pe = crins_fit.prob_exceeds([-1.0, -0.5], scale="analysis")
    assert pe["p_mu"].iloc[0] == pytest.approx(CRINS_P[("mu", -1.0)], abs=TOL_R)
    assert pe["p_mu"].iloc[1] == pytest.approx(CRINS_P[("mu", -0.5)], abs=TOL_R)
    assert pe["p_new"].iloc[0] == pytest.approx(CRINS_P[("theta_new", -1.0)], abs=TOL_R)
    assert (pe["mcse"] == 0).all()
    # natural-scale thresholds are ratios: OR exp(-1) is the same question
    nat = crins_fit.prob_exceeds([np.exp(-1.0)])
    assert nat["p_mu"].iloc[0] == pytest.approx(pe["p_mu"].iloc[0], abs=1e-12)
    less = crins_fit.prob_exceeds([np.exp(-1.0)], direction="less")
    assert less["p_mu"].iloc[0] == pytest.approx(1 - pe["p_mu"].iloc[0], abs=1e-12)


def test_crins_log_marginal_likelihood(crins_fit):
    assert crins_fit.log_marginal_likelihood == pytest.approx(CRINS_LOGML, abs=TOL_R)


def test_summary_is_95_percent_equal_tailed(crins_fit):
    s = crins_fit.summary()
    assert s.attrs["ci_prob"] == 0.95 and s.attrs["ci_kind"] == "equal-tailed"
    s80 = crins_fit.summary(ci_prob=0.8)
    assert s80.loc["mu", "lower"] > s.loc["mu", "lower"]
    assert list(s.index[:3]) == ["mu", "tau", "theta_new"]
    assert list(crins_fit.studies().index) == crins_fit.data.labels
    nat = crins_fit.summary(scale="natural")
    np.testing.assert_allclose(
        nat.loc["mu", ["median", "lower", "upper"]],
        np.exp(s.loc["mu", ["median", "lower", "upper"]].astype(float)),
    )
    assert nat.loc["tau", "median"] == s.loc["tau", "median"]


def test_shrunken_study_estimates_against_quadrature(crins_fit):
    # theta_i | y by independent quadrature of its conditional normal (make_quadrature.py)
    want = QUAD["crins-halfnormal"]["values"]["theta_i"][2]
    i = QUAD["crins-halfnormal"]["input"]["theta_study"]
    assert crins_fit.studies().iloc[i]["upper"] == pytest.approx(want, abs=TOL_QUAD)


@pytest.mark.parametrize(
    "case",
    [
        "single-study",
        "tau-piled-at-zero",
        "sei-span-4-orders",
        "halfcauchy-k4",
        "turner-k4",
        "k1000",
    ],
)
def test_engine_against_stored_quadrature(case):
    c = QUAD[case]
    post = integrate(
        c["input"]["y"],
        c["input"]["S"],
        tau_prior=priors.from_dict(c["input"]["tau_prior"]),
        beta_prior_mean=c["input"]["m0"],
        beta_prior_var=c["input"]["v0"],
    )
    want = c["values"]
    np.testing.assert_allclose(post.marginal("mu").quantile(Q), want["beta[mu]"], atol=TOL_QUAD)
    if "theta_new" in want:  # not stored for k1000 (slow to compute)
        np.testing.assert_allclose(
            post.marginal("theta_new").quantile(Q), want["theta_new"], atol=TOL_QUAD
        )
    np.testing.assert_allclose(
        post.marginal("tau").quantile(Q), want["tau"], atol=TOL_QUAD, rtol=1e-5
    )
    assert float(post.log_evidence) == pytest.approx(want["log_norm"], abs=1e-6)
    if case == "k1000":  # simulated with tau = 0.2: recovers the truth
        assert abs(post.marginal("tau").quantile([0.5])[0] - 0.2) < 0.03


def test_fixed_effect_closed_form():
    # tau = 0, mu ~ N(m0, s0^2): mu | y ~ N(mhat, V) in closed form
    y, s = np.array([0.2, 0.5, 0.1]), np.array([0.2, 0.3, 0.25])
    m0, s0 = 0.1, 2.0
    prec = 1 / s0**2 + (1 / s**2).sum()
    mhat = (m0 / s0**2 + (y / s**2).sum()) / prec
    df = pd.DataFrame({"study": list("abc"), "estimate": y, "se": s})
    res = bayesmeta.fit(df, "SMD", model="fixed", mu_prior=priors.Normal(m0, s0))
    row = res.summary().loc["mu"]
    assert row["mean"] == pytest.approx(mhat, abs=1e-12)
    assert row["sd"] == pytest.approx(prec**-0.5, abs=1e-12)
    assert row["upper"] == pytest.approx(stats.norm.ppf(0.975, mhat, prec**-0.5), abs=1e-10)
    p = res.prob_exceeds([0.3])["p_mu"].iloc[0]
    assert p == pytest.approx(stats.norm.sf(0.3, mhat, prec**-0.5), abs=1e-12)
    # marginal likelihood: y ~ MVN(m0, diag(s^2) + s0^2)
    want = stats.multivariate_normal(np.full(3, m0), np.diag(s**2) + s0**2).logpdf(y)
    assert res.log_marginal_likelihood == pytest.approx(want, abs=1e-10)
    assert res.summary().loc["tau", "median"] == 0


def test_fixed_tau_closed_form():
    # tau held at 0.3 by a prior on [0.3, 0.3 + 1e-9]: mu | y is N(mhat(0.3), V(0.3))
    y, s = np.array([0.2, 0.9, 0.1]), np.array([0.2, 0.3, 0.25])
    t = 0.3
    w = 1 / (s**2 + t**2)
    prec = 1 / 16 + w.sum()
    mhat = (w * y).sum() / prec
    post = integrate(
        y, s**2, tau_prior=priors.Uniform(t, t + 1e-9), beta_prior_mean=[0.0], beta_prior_var=[16.0]
    )
    mu = post.marginal("mu")
    np.testing.assert_allclose(mu.quantile(Q), stats.norm.ppf(Q, mhat, prec**-0.5), atol=1e-7)
    assert 1 - mu.cdf([0.5])[0] == pytest.approx(stats.norm.sf(0.5, mhat, prec**-0.5), abs=1e-7)


def test_bayes_factors_closed_form_and_consistency(crins_fit):
    bf = crins_fit.bayes_factors()
    sd = crins_fit.data
    ml = QUAD["crins-halfnormal"]["values"]["log_norm"]
    # tau = 0: fixed-effect evidence, closed form MVN(0, diag(v) + 16)
    ml_tau0 = stats.multivariate_normal(np.zeros(sd.k), np.diag(sd.vi) + 16).logpdf(sd.yi)
    assert bf.loc["tau=0", "BF01"] == pytest.approx(np.exp(ml_tau0 - ml), rel=1e-6)
    # mu = 0: integral over tau of prod N(y_i; 0, v_i + tau^2) p(tau), by quad (stored)
    want = math.exp(QUAD["crins-halfnormal-mu0"]["values"]["log_norm"] - ml)
    assert bf.loc["mu=0", "BF01"] == pytest.approx(want, rel=1e-6)
    assert bf.loc["mu=0", "BF10"] == pytest.approx(1 / want, rel=1e-6)


def test_flat_mu_prior():
    y, s = [0.2, 0.9, -0.4, 0.6], [0.3, 0.25, 0.4, 0.5]
    df = pd.DataFrame({"study": list("abcd"), "estimate": y, "se": s})
    res = bayesmeta.fit(df, "MD", mu_prior="flat", tau_prior="halfnormal(0.5)")
    want = QUAD["flat-mu-k4"]["values"]["beta[mu]"][2]  # flat prior, stored quadrature
    assert res.summary().loc["mu", "upper"] == pytest.approx(want, abs=1e-5)
    assert np.isnan(res.log_marginal_likelihood)
    bf = res.bayes_factors()
    assert np.isnan(bf.loc["mu=0", "BF01"]) and bf.loc["tau=0", "BF01"] > 0


def test_weights_reproduce_posterior_mean(crins_fit):
    w = crins_fit.weights()
    mean = (w.drop("(prior mean)") * crins_fit.data.yi).sum() + w["(prior mean)"] * 0.0
    assert mean == pytest.approx(crins_fit.summary().loc["mu", "mean"], abs=1e-10)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)


def test_heterogeneity_is_consistent(crins_fit):
    h = crins_fit.heterogeneity()
    s = crins_fit.summary()
    assert h.loc["tau", "median"] == pytest.approx(s.loc["tau", "median"])
    assert h.loc["tau2", "median"] == pytest.approx(s.loc["tau", "median"] ** 2)
    assert 0 <= h.loc["I2", "lower"] < h.loc["I2", "median"] < h.loc["I2", "upper"] < 1


def test_exact_draws_match_exact_quantiles(crins_fit):
    post = crins_fit.idata["posterior"]
    assert set(post.data_vars) >= {"mu", "tau", "theta", "theta_new"}
    assert post["theta"].dims == ("chain", "draw", "study")
    draws = np.asarray(post["mu"]).ravel()
    # 8000 independent draws: the 2.5% quantile has MC sd ~0.01; allow 5 sd
    assert np.quantile(draws, 0.025) == pytest.approx(CRINS_REF["mu"][0], abs=0.05)
    assert np.median(np.asarray(post["tau"])) == pytest.approx(CRINS_REF["tau"][1], abs=0.05)


def test_fit_many_matches_fit(crins):
    sd = bayesmeta.study_data(crins, "OR")
    long = pd.concat(
        [
            pd.DataFrame({"analysis": "all", "study": sd.labels, "estimate": sd.yi, "se": sd.sei}),
            pd.DataFrame(
                {
                    "analysis": "first3",
                    "study": sd.labels[:3],
                    "estimate": sd.yi[:3],
                    "se": sd.sei[:3],
                }
            ),
        ]
    )
    out = bayesmeta.fit_many(
        long, measure="GEN", mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", thresholds=[-1.0]
    )
    assert out.loc["all", "k"] == 6 and out.loc["first3", "k"] == 3
    np.testing.assert_allclose(
        out.loc["all", ["mu_lower", "mu_median", "mu_upper"]].astype(float),
        CRINS_REF["mu"],
        atol=TOL_R,
    )
    np.testing.assert_allclose(
        out.loc["all", ["theta_new_lower", "theta_new_median", "theta_new_upper"]].astype(float),
        CRINS_REF["theta_new"],
        atol=TOL_R,
    )
    assert out.loc["all", "p_mu[-1]"] == pytest.approx(CRINS_P[("mu", -1.0)], abs=TOL_R)
    single = bayesmeta.fit(
        long[long.analysis == "first3"].drop(columns="analysis"),
        "GEN",
        mu_prior="normal(0, 4)",
        tau_prior="halfnormal(0.5)",
    )
    assert out.loc["first3", "tau_median"] == pytest.approx(
        single.summary().loc["tau", "median"], abs=1e-12
    )


def test_fit_many_errors_name_the_analysis():
    df = pd.DataFrame(
        {"analysis": ["a", "b"], "study": ["s1", "s1"], "estimate": [0.1, 0.2], "se": [0.1, -0.2]}
    )
    with pytest.raises(bayesmeta.DataError, match=r"study 'b / s1': se \(-0.2\) must be > 0"):
        bayesmeta.fit_many(df, measure="SMD")
    with pytest.raises(bayesmeta.DataError, match="column 'trial' .* is missing"):
        bayesmeta.fit_many(df, by="trial", measure="SMD")


def test_exact_path_does_not_import_pymc():
    code = (
        "import sys, pandas as pd, bayesmeta\n"
        "df = pd.DataFrame({'study': ['a', 'b'], 'estimate': [0.2, 0.4], 'se': [0.1, 0.2]})\n"
        "r = bayesmeta.fit(df, 'SMD', engine='auto'); r.summary(); r.prob_exceeds([0.2])\n"
        "bayesmeta.fit_many(df.assign(analysis='x'), measure='SMD')\n"
        "print('pymc' in sys.modules, 'pytensor' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
