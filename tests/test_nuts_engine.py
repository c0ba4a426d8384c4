"""NUTS engine: agreement with R bayesmeta / the exact engine, diagnostics, binomial-normal."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmeta
from bayesmeta import priors
from bayesmeta.diagnostics import Diagnostics

CRINS_REF = {  # shared/reference/README.md (R bayesmeta, high-precision settings)
    "mu": [-2.237895, -1.573495, -0.933506],
    "tau": [0.017735, 0.344502, 0.972960],
    "theta_new": [-2.773027, -1.570217, -0.417299],
}
Q = np.array([0.025, 0.5, 0.975])
# MCMC agreement: |estimate - reference| <= 4 * MCSE (arviz_stats.mcse of that quantile or
# probability) + 0.005. 4 MCSE makes a false alarm over the ~12 comparisons below
# improbable (two-sided p ~ 6e-5 each); 0.005 covers MCSE's own estimation error.
Z, FLOOR = 4.0, 0.005


@pytest.fixture(scope="module")
def crins_nuts(crins):
    return bayesmeta.fit(
        crins,
        "OR",
        mu_prior=priors.Normal(0, 4),
        tau_prior=priors.HalfNormal(0.5),
        engine="nuts",
        seed=20261124,
    )


def _mcse_quantile(result, name, q):
    import arviz_stats as azs

    da = result.idata["posterior"][name]
    return float(azs.mcse(da, method="quantile", prob=q))


def test_nuts_matches_r_bayesmeta_within_mc_error(crins_nuts):
    s = crins_nuts.summary()
    for name, ref in CRINS_REF.items():
        got = s.loc[name, ["lower", "median", "upper"]].to_numpy(float)
        for g, r, q in zip(got, ref, Q, strict=True):
            tol = Z * _mcse_quantile(crins_nuts, name, q) + FLOOR
            assert abs(g - r) <= tol, (name, q, g, r, tol)
    pe = crins_nuts.prob_exceeds([-1.0], scale="analysis")
    assert abs(pe["p_mu"].iloc[0] - 0.0378769) <= Z * pe["mcse"].iloc[0] + FLOOR
    assert abs(pe["p_new"].iloc[0] - 0.1180610) <= Z * pe["mcse_new"].iloc[0] + FLOOR
    assert pe["mcse"].iloc[0] > 0


def test_nuts_has_no_divergences_and_passes_diagnostics(crins_nuts):
    d = crins_nuts.diagnostics
    # the engine that ran is on the spec; diagnostics say what kind of checks were made
    assert crins_nuts.engine == "nuts" and crins_nuts.spec.engine == "nuts"
    assert d.engine == "mcmc" and d.ok and d.n_divergent == 0
    assert set(d.table.index) >= {"mu", "tau", "theta_new", "theta[Gras 2008]"}
    assert all(b >= 0.3 for b in d.bfmi) and len(d.bfmi) == 4
    s = crins_nuts.summary()
    assert s["r_hat"].max() < 1.01 and s["ess_bulk"].min() > 400
    assert "OK" in str(crins_nuts)


def test_idata_layout(crins_nuts):
    post = crins_nuts.idata["posterior"]
    for name in ("mu", "tau", "theta", "theta_new"):
        assert name in post
    assert post["theta"].dims == ("chain", "draw", "study")
    assert list(post["theta"].coords["study"].values) == crins_nuts.data.labels


@pytest.mark.parametrize(
    ("dataset", "kind", "measure"), [("normand1999", "continuous", "SMD"), ("bcg", "binary", "OR")]
)
def test_nuts_agrees_with_exact_engine(metafor_escalc, dataset, kind, measure):
    rec = metafor_escalc[kind][dataset]
    df = pd.DataFrame({k: v for k, v in rec.items() if k != "measures"})
    ex = bayesmeta.fit(df, measure, engine="exact")
    nu = bayesmeta.fit(df, measure, engine="nuts", seed=3, draws=1000)
    assert nu.diagnostics.n_divergent == 0
    se, sn = ex.summary(), nu.summary()
    for name in ("mu", "tau", "theta_new"):
        for col, q in (("lower", 0.025), ("median", 0.5), ("upper", 0.975)):
            tol = Z * _mcse_quantile(nu, name, q) + FLOOR
            assert abs(sn.loc[name, col] - se.loc[name, col]) <= tol, (name, col)


@pytest.mark.filterwarnings("ignore::bayesmeta.ConvergenceWarning")  # tiny runs on purpose
def test_same_seed_same_numbers(crins):
    a = bayesmeta.fit(crins, "OR", engine="nuts", seed=11, draws=200, tune=200, chains=2)
    b = bayesmeta.fit(crins, "OR", engine="nuts", seed=11, draws=200, tune=200, chains=2)
    pd.testing.assert_frame_equal(a.summary(), b.summary())


def test_closed_form_fixed_effect_nuts():
    # tau = 0 and mu ~ N(0, 1): mu | y ~ N(mhat, V) in closed form
    y, s = np.array([0.3, 0.5]), np.array([0.2, 0.25])
    prec = 1 + (1 / s**2).sum()
    mhat = (y / s**2).sum() / prec
    df = pd.DataFrame({"study": ["a", "b"], "estimate": y, "se": s})
    r = bayesmeta.fit(df, "SMD", model="fixed", mu_prior=priors.Normal(0, 1), engine="nuts", seed=5)
    from scipy import stats

    want = stats.norm.sf(0.5, mhat, prec**-0.5)
    pe = r.prob_exceeds([0.5])
    assert abs(pe["p_mu"].iloc[0] - want) <= Z * pe["mcse"].iloc[0] + FLOOR
    assert abs(r.summary().loc["mu", "mean"] - mhat) < 0.01


def test_fabricated_bad_fit_warns():
    # far too few draws with no tuning: R-hat and ESS must fail and be reported
    df = pd.DataFrame(
        {"study": list("abcd"), "estimate": [0.1, 0.9, -0.4, 0.6], "se": [0.3, 0.25, 0.4, 0.5]}
    )
    with pytest.warns(bayesmeta.ConvergenceWarning, match="ESS"):
        r = bayesmeta.fit(df, "SMD", engine="nuts", draws=20, tune=0, chains=2, seed=1)
    assert not r.diagnostics.ok
    assert "PROBLEMS" in str(r)


def test_diagnostics_flag_disagreeing_chains():
    # two chains centred at 0 and 3: R-hat far above 1.01
    from arviz_base import from_dict

    rng = np.random.default_rng(0)
    mu = np.stack([rng.normal(0, 1, 500), rng.normal(3, 1, 500)])
    dt = from_dict(
        {
            "posterior": {"mu": mu},
            "sample_stats": {
                "diverging": np.zeros((2, 500), bool),
                "energy": rng.normal(size=(2, 500)),
            },
        }
    )
    d = Diagnostics.from_datatree(dt, ["mu"])
    assert not d.ok and any("R-hat" in p for p in d.problems)


def test_binomial_normal_recovers_simulated_parameters():
    rng = np.random.default_rng(2024)
    k, mu, tau = 25, -0.6, 0.3
    n = rng.integers(80, 200, size=(k, 2))
    alpha = rng.normal(-0.8, 0.5, k)
    theta = rng.normal(mu, tau, k)
    pc, pt = 1 / (1 + np.exp(-alpha)), 1 / (1 + np.exp(-(alpha + theta)))
    df = pd.DataFrame(
        {
            "study": [f"s{i}" for i in range(k)],
            "events_t": rng.binomial(n[:, 0], pt),
            "n_t": n[:, 0],
            "events_c": rng.binomial(n[:, 1], pc),
            "n_c": n[:, 1],
        }
    )
    r = bayesmeta.fit(df, "OR", likelihood="binomial", seed=7, draws=1000)
    s = r.summary()
    assert r.diagnostics.ok
    assert s.loc["mu", "lower"] < mu < s.loc["mu", "upper"]
    assert s.loc["tau", "lower"] < tau < s.loc["tau", "upper"]
    assert abs(s.loc["mu", "median"] - mu) < 0.15


def test_binomial_normal_keeps_double_zero_study(metafor_escalc):
    rec = metafor_escalc["binary"]["nielweise2007"]
    df = pd.DataFrame({k: v for k, v in rec.items() if k != "measures"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.DataWarning)
        r = bayesmeta.fit(df, "OR", likelihood="binomial", seed=1, draws=1000, tune=1000)
    assert "Yucel 2004" in r.studies().index
    assert list(r.summary().index) == ["mu", "tau", "theta_new"]
    assert r.diagnostics.n_divergent == 0
    imp = r.implied()
    assert set(imp.index) == {"RR (mu)", "RD (mu)", "RR (theta_new)", "RD (theta_new)"}
    assert imp.attrs["control_risk"] == pytest.approx(sum(rec["events_c"]) / sum(rec["n_c"]))
    assert (imp.loc["RR (mu)", ["lower", "median", "upper"]] > 0).all()
    text = str(r)
    assert "Implied at control risk" in text and "RR (mu)" in text and "RD (theta_new)" in text


def test_bayes_factors_and_weights_whatever_engine_fitted(crins_nuts, crins):
    # issue 9: these raised unless the exact engine had fitted the result
    ex = bayesmeta.fit(
        crins, "OR", mu_prior=priors.Normal(0, 4), tau_prior=priors.HalfNormal(0.5), seed=1
    )
    pd.testing.assert_frame_equal(crins_nuts.bayes_factors(), ex.bayes_factors())
    pd.testing.assert_series_equal(crins_nuts.weights(), ex.weights())
    assert crins_nuts.log_marginal_likelihood == pytest.approx(ex.log_marginal_likelihood)


def test_interrupt_during_sampling_raises_after_the_sampler_stops():
    # nutpie swallows KeyboardInterrupt and returns a partial trace; _interruptible re-raises
    import signal

    from bayesmeta.engines import nuts

    with pytest.raises(KeyboardInterrupt):
        with nuts._interruptible():
            try:
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                pass  # what nutpie does
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
