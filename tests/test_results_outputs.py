"""R bayesmeta's outputs on MetaResult: shortest intervals, densities, CDF, MAP/ML, shrinkage.

The engine values are checked against R bayesmeta in test_linear_engine.py; here each
result-level method must give the engine's numbers, whatever engine fitted the result.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

import bayesmeta

# Rubin's eight schools (Gelman et al., Bayesian Data Analysis, Table 5.2)
SCHOOLS = pd.DataFrame(
    {
        "study": list("ABCDEFGH"),
        "estimate": [28.0, 8, -3, 7, -1, 1, 18, 12],
        "se": [15.0, 10, 16, 11, 9, 11, 10, 18],
    }
)


@pytest.fixture(scope="module")
def res():
    return bayesmeta.fit(SCHOOLS, "GEN", tau_prior="halfcauchy(5)", seed=1)


def test_density_integrates_to_the_cdf(res):
    x = 12.0
    mass, _ = integrate.quad(lambda t: res.density("tau", t)[0], 0, x, limit=200)
    assert mass == pytest.approx(res.cdf("tau", x)[0], abs=1e-6)
    mass, _ = integrate.quad(lambda m: res.density("mu", m)[0], -60, 8.0, limit=200)
    assert mass == pytest.approx(res.cdf("mu", 8.0)[0], abs=1e-6)


def test_shortest_interval_is_shorter_and_holds_95_percent(res):
    c = res.summary(interval="central")
    s = res.summary(interval="shortest")
    for name in ("mu", "tau"):
        assert s.loc[name, "upper"] - s.loc[name, "lower"] <= (
            c.loc[name, "upper"] - c.loc[name, "lower"] + 1e-9
        )
        p = res.cdf(name, s.loc[name, "upper"])[0] - res.cdf(name, s.loc[name, "lower"])[0]
        assert p == pytest.approx(0.95, abs=1e-6)
    assert s.attrs["ci_kind"] == "shortest"


def test_estimates_and_shrinkage_are_the_engines(res):
    est = res.estimates()
    assert list(est.index) == ["MAP joint", "MAP marginal", "ML joint", "ML marginal"]
    assert est.loc["MAP marginal", "tau"] == pytest.approx(res.posterior.map()["marginal"]["tau"])
    b = res.shrinkage()
    assert list(b.index) == list("ABCDEFGH")
    assert ((b > 0) & (b < 1)).all()
    # the study with the largest SE is shrunk the most
    assert b.idxmax() == "H"


def test_nuts_result_gets_the_same_estimates_from_the_exact_engine(res):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.ConvergenceWarning)
        nuts = bayesmeta.fit(
            SCHOOLS, "GEN", tau_prior="halfcauchy(5)", engine="nuts", seed=1, draws=300, tune=300,
            chains=2,
        )  # fmt: skip
    pd.testing.assert_frame_equal(nuts.estimates(), res.estimates())
    pd.testing.assert_series_equal(nuts.shrinkage(), res.shrinkage())
    assert np.all(np.isfinite(nuts.density("tau", [1.0, 5.0])))
