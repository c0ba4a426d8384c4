"""Bayesian model averaging (bayesmeta.averaging) against metaBMA and direct quadrature."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from bayesmeta import averaging, priors

# metaBMA "towels" data (metaBMA 0.6.9, data/towels.RData, read with R 4.2.2:
# Scheibehenne, Jamil & Wagenmakers 2016), full precision.
TOWELS = pd.DataFrame(
    {
        "study": [
            "Goldstein 2008 Exp 1",
            "Goldstein 2008 Exp 2",
            "Schultz 2008 Exp 2",
            "Schultz 2008 Exp 3",
            "Mair 2010 Exp 1",
            "Bohner 2014 Exp 1",
            "Bohner 2014 Exp 2",
        ],
        "estimate": [
            0.38060174568949018,
            0.30493767106321112,
            0.20553785182976053,
            0.25084471039656886,
            0.28768207245178085,
            -0.12154243858028917,
            -1.4579240172591452,
        ],
        "se": [
            0.19769011444225412,
            0.13611550561829339,
            0.19159204247979103,
            0.17007692988890766,
            0.82375447104791399,
            0.2480539793082564,
            0.76017980789378026,
        ],
    }
)
# metaBMA 0.6.9 tests/testthat/test_scheibehenne2017.R, lines 35-43 (priors at lines 16-24:
# d ~ Normal(0, 0.3) truncated to d > 0, tau ~ half-t(nu = 1, scale 1/4) = HalfCauchy(0.25)).
METABMA_BF = {
    "fixed_H1/random_H1": 2.450923,
    "random_H1/random_H0": 4.055704,
    "fixed_H1/fixed_H0": 23.88449,
    "incl_effect": 9.882879,
}
# their expect_equal tolerances (relative): .03 for fixed/random, .01 for the others
METABMA_TOL = {
    "fixed_H1/random_H1": 0.03,
    "random_H1/random_H0": 0.01,
    "fixed_H1/fixed_H0": 0.01,
    "incl_effect": 0.01,
}
# lines 51-53 and 67-79: posterior means with the unrestricted Normal(0, 0.3) prior
METABMA_MEAN = {"fixed": 0.2116763, "random": 0.1848269, "averaged": 0.2033756}
# Our own quadrature (scipy, epsrel 1e-11) vs the grid engine: both far below 1e-6.
TOL_OWN = 1e-6

_EXTERNAL = Path(__file__).parent / "reference" / "metabma_towels.json"


class TruncNormalPrior:
    """Stand-in for priors.TruncatedNormal (logpdf, ppf, bounds, proper)."""

    def __init__(self, mu, sigma, lower=-np.inf, upper=np.inf):
        a, b = (lower - mu) / sigma, (upper - mu) / sigma
        self.d = stats.truncnorm(a, b, mu, sigma)
        self.bounds, self.proper = (lower, upper), True

    def logpdf(self, x):
        return self.d.logpdf(x)

    def ppf(self, q):
        return self.d.ppf(q)


def _tn(mu, sigma, lower):
    cls = getattr(priors, "TruncatedNormal", None)
    if cls is not None:
        return cls(mu=mu, sigma=sigma, lower=lower, upper=math.inf)
    return TruncNormalPrior(mu, sigma, lower)


@pytest.fixture(scope="module")
def towels_onesided():
    return averaging.average(
        TOWELS, "GEN", mu_prior=_tn(0.0, 0.3, 0.0), tau_prior=priors.HalfCauchy(0.25)
    )


@pytest.fixture(scope="module")
def towels_twosided():
    return averaging.average(
        TOWELS, "GEN", mu_prior=priors.Normal(0, 0.3), tau_prior=priors.HalfCauchy(0.25)
    )


def _bfs(res):
    return {
        "fixed_H1/random_H1": res.bayes_factor("fixed_H1", "random_H1"),
        "random_H1/random_H0": res.bayes_factor("random_H1", "random_H0"),
        "fixed_H1/fixed_H0": res.bayes_factor("fixed_H1", "fixed_H0"),
        "incl_effect": res.inclusion_bf()["effect"],
    }


@pytest.mark.parametrize("key", list(METABMA_BF))
def test_towels_bayes_factors_match_metabma(towels_onesided, key):
    got = _bfs(towels_onesided)[key]
    assert got == pytest.approx(METABMA_BF[key], rel=METABMA_TOL[key])


def test_towels_external_reference_if_present(towels_onesided):
    """Another engineer may store metaBMA's numbers; use them when they exist."""
    if not _EXTERNAL.exists():
        return
    ext = json.loads(_EXTERNAL.read_text())
    for key, val in ext.get("bayes_factors", {}).items():
        if key in METABMA_BF:
            assert _bfs(towels_onesided)[key] == pytest.approx(val, rel=METABMA_TOL[key])


def test_towels_posterior_means_match_metabma(towels_twosided):
    r = towels_twosided
    assert float(r.posteriors["fixed_H1"].marginal("mu").mean()) == pytest.approx(
        METABMA_MEAN["fixed"], rel=0.01
    )
    assert float(r.posteriors["random_H1"].marginal("mu").mean()) == pytest.approx(
        METABMA_MEAN["random"], rel=0.01
    )
    assert r.summary("H1").loc["mu", "mean"] == pytest.approx(METABMA_MEAN["averaged"], rel=0.01)


def _own_log_ml(model):
    """Independent scipy quadrature of the four marginal likelihoods (one-sided prior)."""
    y, s = TOWELS.estimate.to_numpy(), TOWELS.se.to_numpy()
    v = s**2
    dprior = stats.truncnorm(0, np.inf, 0, 0.3)
    tprior = stats.halfcauchy(scale=0.25)

    def lik(mu, tau):
        return math.exp(stats.norm.logpdf(y, mu, np.sqrt(v + tau**2)).sum())

    if model == "fixed_H0":
        return math.log(lik(0, 0))
    if model == "fixed_H1":
        f = lambda m: dprior.pdf(m) * lik(m, 0)  # noqa: E731
        return math.log(integrate.quad(f, 0, 3, epsabs=0, epsrel=1e-11, limit=200)[0])
    if model == "random_H0":
        f = lambda t: tprior.pdf(t) * lik(0, t)  # noqa: E731
        parts = [
            integrate.quad(f, a, b, epsabs=0, epsrel=1e-11, limit=200)[0]
            for a, b in ((0, 1), (1, np.inf))
        ]
        return math.log(sum(parts))
    # outer adaptive quad over tau; inner 3 x 200-point Gauss-Legendre panels on mu in [0, 3]
    x, w = np.polynomial.legendre.leggauss(200)

    def inner(t):
        tot = 0.0
        for a, b in ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0)):
            m = 0.5 * (a + b) + 0.5 * (b - a) * x
            ll = stats.norm.logpdf(y[:, None], m, np.sqrt(v[:, None] + t**2)).sum(0)
            tot += 0.5 * (b - a) * np.sum(w * dprior.pdf(m) * np.exp(ll))
        return tot * tprior.pdf(t)

    parts = [
        integrate.quad(inner, a, b, epsabs=0, epsrel=1e-11, limit=200)[0]
        for a, b in ((0, 1), (1, 30))
    ]
    tail = tprior.sf(30) * lik(0.2, 30)  # beyond tau = 30: < 1e-10 of the total
    return math.log(sum(parts) + tail)


@pytest.mark.parametrize("model", averaging.MODELS)
def test_towels_log_ml_matches_own_quadrature(towels_onesided, model):
    got = towels_onesided.models().loc[model, "log_marginal_likelihood"]
    assert got == pytest.approx(
        _own_log_ml(model), abs=TOL_OWN * 100 if model == "random_H1" else TOL_OWN
    )


def test_models_table_layout(towels_onesided):
    t = towels_onesided.models()
    assert list(t.index) == ["fixed_H0", "fixed_H1", "random_H0", "random_H1"]
    assert list(t.columns) == ["log_marginal_likelihood", "prior_prob", "posterior_prob"]
    assert t.posterior_prob.sum() == pytest.approx(1.0)
    assert set(towels_onesided.inclusion_bf()) == {"effect", "heterogeneity"}


def test_summary_handles_point_masses(towels_onesided):
    s = towels_onesided.summary()
    assert list(s.columns) == ["mean", "sd", "median", "lower", "upper"]
    # P(tau = 0) = P(fixed models | y) > 0.5, so the median of tau is exactly 0
    pfixed = towels_onesided.models().posterior_prob[["fixed_H0", "fixed_H1"]].sum()
    assert pfixed > 0.5
    assert s.loc["tau", "median"] == 0.0
    assert s.loc["mu", "lower"] >= 0.0  # one-sided prior
    # mean of the mixture: sum of weights x conditional means (H0 contributes 0)
    w = towels_onesided.models().posterior_prob
    m = sum(
        w[k] * float(towels_onesided.posteriors[k].marginal("mu").mean())
        for k in ("fixed_H1", "random_H1")
    )
    assert s.loc["mu", "mean"] == pytest.approx(m, abs=1e-12)


def test_prob_exceeds(towels_onesided):
    pe = towels_onesided.prob_exceeds([0.0, 0.2], scale="analysis")
    w = towels_onesided.models().posterior_prob
    assert pe.p_mu.iloc[0] == pytest.approx(w[["fixed_H1", "random_H1"]].sum(), abs=1e-8)
    less = towels_onesided.prob_exceeds([0.2], direction="less", scale="analysis")
    assert less.p_mu.iloc[0] == pytest.approx(1 - pe.p_mu.iloc[1], abs=1e-12)


@pytest.mark.parametrize(
    "probs, match",
    [
        ({"fixed_H0": 0.5, "fixed_H1": 0.5}, "missing"),
        ([0.5, 0.5, 0.5, -0.5], "non-negative"),
        ([0.3, 0.3, 0.3, 0.3], "sum to 1"),
        ([0.5, 0.5], "4 values"),
        (
            {"fixed_H0": 0.25, "fixed_H1": 0.25, "random_H0": 0.25, "random_H1": 0.2, "x": 0.05},
            "unknown",
        ),
    ],
)
def test_prior_model_probs_validated(probs, match):
    with pytest.raises(ValueError, match=match):
        averaging.average(
            TOWELS,
            "GEN",
            mu_prior=priors.Normal(0, 0.3),
            tau_prior=priors.HalfCauchy(0.25),
            prior_model_probs=probs,
        )


def test_prior_model_probs_change_posterior(towels_onesided):
    probs = {"fixed_H0": 0.1, "fixed_H1": 0.4, "random_H0": 0.1, "random_H1": 0.4}
    r = averaging.average(
        TOWELS,
        "GEN",
        mu_prior=_tn(0.0, 0.3, 0.0),
        tau_prior=priors.HalfCauchy(0.25),
        prior_model_probs=probs,
    )
    np.testing.assert_allclose(r.log_ml, towels_onesided.log_ml)
    # inclusion BFs do not depend on the prior odds between H0 and H1
    assert r.inclusion_bf()["effect"] == pytest.approx(
        towels_onesided.inclusion_bf()["effect"], rel=0.2
    )


def test_flat_mu_prior_is_an_error():
    with pytest.raises(ValueError, match="proper prior"):
        averaging.average(TOWELS, "GEN", mu_prior=priors.Flat(), tau_prior=priors.HalfCauchy(0.25))


def test_binomial_averaging_runs(crins):
    r = averaging.average(
        crins,
        "OR",
        likelihood="binomial",
        mu_prior=priors.Normal(0, 2),
        tau_prior=priors.HalfNormal(0.5),
    )
    assert np.all(np.isfinite(r.log_ml))
    assert r.inclusion_bf()["effect"] > 10  # Crins: a clear reduction in rejection
