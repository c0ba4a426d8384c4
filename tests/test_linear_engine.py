"""The linear-model exact engine (bayesmeta.engines.linear) against closed forms, R
bayesmeta values and stored independent quadrature (tests/reference/quadrature.json)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bayesmeta import priors
from bayesmeta.engines.base import shortest_interval
from bayesmeta.engines.linear import ImproperPosteriorError, LinearPosterior, integrate

REF = Path(__file__).parent / "reference"
QUAD = json.loads((REF / "quadrature.json").read_text())
Q = np.array(QUAD["source"]["quantiles"])
# Stored reference (scipy.quad at epsrel 1e-11, brentq at 1e-13) vs the engine (Legendre
# panels resolved to ~1e-8 of the mass): quantiles and moments to 1e-6.
TOL_QUAD = 1e-6
# R bayesmeta at delta=2e-5, epsilon=1e-10 (shared/reference/README.md): accurate to 5e-6.
TOL_R = 2e-5


def _fit(case: dict, **kw) -> LinearPosterior:
    c = case["input"]
    return integrate(
        c["y"],
        c["S"],
        c.get("X"),
        c.get("W"),
        tau_prior=priors.from_dict(c["tau_prior"]),
        beta_prior_mean=c.get("m0"),
        beta_prior_var=None if c.get("fixed") else c.get("v0"),
        beta_fixed={"mu": 0.0} if c.get("fixed") else None,
        coef_names=c.get("coef_names"),
        **kw,
    )


@pytest.fixture(scope="module")
def fits():
    return {name: _fit(case) for name, case in QUAD["cases"].items()}


CASES = sorted(QUAD["cases"])


@pytest.mark.parametrize("name", CASES)
def test_log_normaliser_matches_quadrature(fits, name):
    want = QUAD["cases"][name]["values"]["log_norm"]
    assert float(fits[name].log_normalizer) == pytest.approx(want, abs=TOL_QUAD)


@pytest.mark.parametrize("name", [n for n in CASES if not QUAD["cases"][n]["input"].get("fixed")])
def test_tau_quantiles_match_quadrature(fits, name):
    want = QUAD["cases"][name]["values"]["tau"]
    got = fits[name].marginal("tau").quantile(Q)
    np.testing.assert_allclose(got, want, rtol=TOL_QUAD, atol=TOL_QUAD * 1e-3)


@pytest.mark.parametrize("name", [n for n in CASES if not QUAD["cases"][n]["input"].get("fixed")])
def test_effect_quantiles_match_quadrature(fits, name):
    vals = QUAD["cases"][name]["values"]
    post = fits[name]
    beta = post.marginal("beta").quantile(Q)
    for j, nm in enumerate(post.names_beta):
        np.testing.assert_allclose(beta[j], vals[f"beta[{nm}]"], atol=TOL_QUAD, rtol=TOL_QUAD)
    if "theta_new" in vals:
        got = post.marginal("theta_new").quantile(Q)
        np.testing.assert_allclose(got, vals["theta_new"], atol=TOL_QUAD, rtol=TOL_QUAD)
    if "linear" in vals:
        row = np.array([vals["linear_row"]])
        np.testing.assert_allclose(post.linear(row).quantile(Q)[0], vals["linear"], atol=TOL_QUAD)
        np.testing.assert_allclose(
            post.linear(row, new=True).quantile(Q)[0], vals["linear_new"], atol=TOL_QUAD
        )
    if "theta_i" in vals:
        i = QUAD["cases"][name]["input"]["theta_study"]
        got = post.marginal("theta").quantile(Q)[i]
        np.testing.assert_allclose(got, vals["theta_i"], atol=TOL_QUAD)


@pytest.mark.parametrize(
    "name",
    [n for n in CASES if not {"fixed", "light"} & set(QUAD["cases"][n]["input"])],
)
def test_moments_match_quadrature_or_are_infinite(fits, name):
    vals = QUAD["cases"][name]["values"]
    post = fits[name]
    tau = post.marginal("tau")
    for key, got in (("tau_mean", tau.mean()), ("tau2_mean", post.marginal("tau2").mean())):
        if vals[key] is None:
            assert got == np.inf
            assert any("does not exist" in n for n in post.notes)
        else:
            assert got == pytest.approx(vals[key], rel=TOL_QUAD)
    m = post.marginal("beta")
    for j, nm in enumerate(post.names_beta):
        ms = vals.get(f"beta[{nm}]_mean_sd")
        if ms is not None:
            assert m.mean()[j] == pytest.approx(ms[0], abs=TOL_QUAD)
            assert m.sd()[j] == pytest.approx(ms[1], abs=TOL_QUAD)


# -- defects of the previous engine -----------------------------------------------------------
def test_uniform_upper_bound_is_integrated_exactly(fits):
    # eight schools, tau ~ Uniform(0, 15): the 97.5% quantile was off by 0.076
    got = fits["schools-uniform-15"].marginal("tau").quantile([0.975])[0]
    want = QUAD["cases"]["schools-uniform-15"]["values"]["tau"][2]
    assert got == pytest.approx(want, rel=1e-7)
    assert got < 15


@pytest.mark.parametrize(
    ("name", "moments"),
    [
        (
            "halfcauchy-k1-flat",
            [("tau", "mean"), ("mu", "mean"), ("mu", "sd"), ("theta_new", "mean")],
        ),
        (
            "halfcauchy-k2-flat",
            [("mu", "sd"), ("theta_new", "sd"), ("tau2", "mean"), ("tau", "sd")],
        ),
        ("halfcauchy-k1-normal", [("tau2", "mean"), ("theta_new", "sd"), ("tau", "sd")]),
    ],
)
def test_moments_that_do_not_exist_are_inf(fits, name, moments):
    post = fits[name]
    for base, kind in moments:
        m = post.marginal(base)
        value = m.sd() if kind == "sd" else m.mean()
        assert value == np.inf, (base, kind)
    assert post.notes
    assert np.all(np.isfinite(post.marginal("tau").quantile(Q)))


def test_improper_posterior_raises():
    with pytest.raises(ImproperPosteriorError, match="improper"):
        integrate([0.3], [0.04], tau_prior=priors.ImproperUniform())


# -- closed forms -----------------------------------------------------------------------------
def _gls(y, S, X, W, tau, m0, v0):
    Sig = S + tau**2 * W
    Si = np.linalg.inv(Sig)
    prec0 = np.where(np.isinf(v0), 0.0, 1 / np.where(np.isinf(v0), 1.0, v0))
    A = X.T @ Si @ X + np.diag(prec0)
    C = np.linalg.inv(A)
    return C @ (X.T @ Si @ y + prec0 * np.where(np.isinf(v0), 0, m0)), C


@pytest.mark.parametrize("flat", [True, False])
def test_fixed_tau_posterior_is_gls(flat):
    rng = np.random.default_rng(3)
    K = 9
    X = np.column_stack([np.ones(K), rng.normal(size=K), rng.normal(size=K)])
    y = rng.normal(size=K)
    v = rng.uniform(0.05, 0.5, K)
    m0, v0 = np.array([0.1, 0.0, -0.2]), np.array([np.inf, 4.0, 1.0]) if flat else np.ones(3)
    post = integrate(y, v, X, tau_prior=priors.HalfNormal(1), tau_fixed=0.4,
                     beta_prior_mean=m0, beta_prior_var=v0)  # fmt: skip
    mean, C = _gls(y, np.diag(v), X, np.eye(K), 0.4, m0, v0)
    b = post.marginal("beta")
    np.testing.assert_allclose(b.mean(), mean, atol=1e-12)
    np.testing.assert_allclose(b.sd(), np.sqrt(np.diag(C)), atol=1e-12)
    np.testing.assert_allclose(
        b.quantile([0.975])[:, 0], stats.norm.ppf(0.975, mean, np.sqrt(np.diag(C))), atol=1e-9
    )
    if not flat:  # proper prior: p(y | tau) = N(X m0, S + tau^2 I + X V0 X')
        cov = np.diag(v) + 0.16 * np.eye(K) + X @ np.diag(v0) @ X.T
        want = stats.multivariate_normal(X @ m0, cov).logpdf(y)
        assert float(post.log_evidence) == pytest.approx(want, abs=1e-10)


def test_fixed_tau_general_W_is_gls():
    c = QUAD["cases"]["nma-three-arm"]["input"]
    y, S, X, W = (np.array(c[k], float) for k in ("y", "S", "X", "W"))
    post = integrate(y, S, X, W, tau_prior=priors.HalfNormal(0.5), tau_fixed=0.3)
    mean, C = _gls(y, S, X, W, 0.3, np.zeros(2), np.full(2, np.inf))
    np.testing.assert_allclose(post.marginal("beta").mean(), mean, atol=1e-12)
    np.testing.assert_allclose(post.marginal("beta").sd(), np.sqrt(np.diag(C)), atol=1e-12)
    # theta = X beta + u, u ~ N(0, tau^2 W): posterior mean by direct algebra
    Sig = S + 0.09 * W
    G = 0.09 * W @ np.linalg.inv(Sig)
    want = G @ y + (np.eye(5) - G) @ X @ mean
    np.testing.assert_allclose(post.marginal("theta").mean(), want, atol=1e-12)


def test_common_effect_closed_form():
    y, s = np.array([0.2, 0.5, 0.1]), np.array([0.2, 0.3, 0.25])
    m0, s0 = 0.1, 2.0
    post = integrate(y, s**2, tau_prior=None, beta_prior_mean=[m0], beta_prior_var=[s0**2])
    prec = 1 / s0**2 + (1 / s**2).sum()
    mhat = (m0 / s0**2 + (y / s**2).sum()) / prec
    mu = post.marginal("mu")
    assert float(mu.mean()) == pytest.approx(mhat, abs=1e-12)
    assert float(mu.sd()) == pytest.approx(prec**-0.5, abs=1e-12)
    want = stats.multivariate_normal(np.full(3, m0), np.diag(s**2) + s0**2).logpdf(y)
    assert float(post.log_evidence) == pytest.approx(want, abs=1e-10)
    assert float(post.marginal("tau").quantile([0.5])[0]) == 0


# -- R bayesmeta (Crins) ------------------------------------------------------------------------
CRINS_REF = {
    "mu": [-2.237895, -1.573495, -0.933506],
    "tau": [0.017735, 0.344502, 0.972960],
    "theta_new": [-2.773027, -1.570217, -0.417299],
}
CRINS_P = {("mu", -1.0): 0.0378769, ("mu", -0.5): 0.0014612, ("theta_new", -1.0): 0.1180610}
CRINS_LOGML = -9.63282


def test_crins_matches_r_bayesmeta(fits):
    post = fits["crins-halfnormal"]
    for name, ref in CRINS_REF.items():
        np.testing.assert_allclose(post.marginal(name).quantile(Q), ref, atol=TOL_R, err_msg=name)
    for (name, x), p in CRINS_P.items():
        assert 1 - post.marginal(name).cdf([x])[0] == pytest.approx(p, abs=TOL_R)
    assert float(post.log_evidence) == pytest.approx(CRINS_LOGML, abs=TOL_R)


def test_bayes_factors_from_normalisers(fits):
    post = fits["crins-halfnormal"]
    c = QUAD["cases"]["crins-halfnormal"]["input"]
    y, v = np.array(c["y"]), np.array(c["S"])
    tau0 = integrate(y, v, tau_prior=None, beta_prior_mean=[0.0], beta_prior_var=[16.0])
    want = stats.multivariate_normal(np.zeros(6), np.diag(v) + 16).logpdf(y)
    assert float(tau0.log_normalizer) == pytest.approx(want, abs=1e-10)
    mu0 = fits["crins-halfnormal-mu0"]
    ref = QUAD["cases"]["crins-halfnormal-mu0"]["values"]["log_norm"]
    bf01 = math.exp(float(mu0.log_normalizer) - float(post.log_normalizer))
    assert bf01 == pytest.approx(math.exp(ref - float(post.log_evidence)), rel=1e-6)


# -- batches, edge cases ------------------------------------------------------------------------
def test_batch_matches_single_fits():
    rng = np.random.default_rng(5)
    B, K = 7, 6
    s = rng.uniform(0.1, 0.6, (B, K))
    y = rng.normal(0.2, 0.3, (B, K))
    mask = np.ones((B, K), bool)
    mask[2, 3:] = False
    mask[4, 1:] = False
    tp = priors.HalfNormal(0.5)
    batch = integrate(
        y, s**2, mask=mask, tau_prior=tp, beta_prior_mean=[0.0], beta_prior_var=[16.0]
    )
    assert batch.marginal("mu").shape == (B,)
    qb = batch.marginal("mu").quantile(Q)
    tb = batch.marginal("tau").quantile(Q)
    for b in range(B):
        one = integrate(y[b, mask[b]], s[b, mask[b]] ** 2, tau_prior=tp, beta_prior_mean=[0.0],
                        beta_prior_var=[16.0])  # fmt: skip
        np.testing.assert_allclose(qb[b], one.marginal("mu").quantile(Q), atol=1e-9)
        np.testing.assert_allclose(tb[b], one.marginal("tau").quantile(Q), rtol=1e-7, atol=1e-10)


def test_batch_refines_each_analysis_and_matches_single_fits(monkeypatch):
    # 1 to 400 studies per analysis: each analysis halves its own unresolved panels (the
    # batch is padded to a common number of panels); each must be resolved and agree with
    # its own fit as closely as in test_batch_matches_single_fits
    from bayesmeta.engines import linear

    splits, split_panels = [], linear._split_panels

    def counting(kind, pa, pb, nodes, split, evaluate):
        splits.append(split.sum(1))  # panels halved in each analysis
        return split_panels(kind, pa, pb, nodes, split, evaluate)

    monkeypatch.setattr(linear, "_split_panels", counting)
    rng = np.random.default_rng(5)
    B, K = 12, 400
    mask = np.arange(K)[None, :] < rng.integers(1, K + 1, B)[:, None]
    s = rng.uniform(0.02, 0.8, (B, K))
    y = rng.normal(0.2, rng.uniform(0.01, 0.5, (B, 1)), (B, K)) + rng.normal(0, s)
    kw = dict(tau_prior=priors.HalfCauchy(0.2), beta_prior_mean=[0.0], beta_prior_var=[16.0])
    batch = integrate(y, s**2, mask=mask, **kw)
    assert splits and len(set(splits[0].tolist())) > 1  # analyses split different panels
    assert not any("resolution" in n for n in batch.notes)
    qb, tb = batch.marginal("mu").quantile(Q), batch.marginal("tau").quantile(Q)
    for b in range(B):
        one = integrate(y[b, mask[b]], s[b, mask[b]] ** 2, **kw)
        np.testing.assert_allclose(qb[b], one.marginal("mu").quantile(Q), atol=1e-9)
        np.testing.assert_allclose(tb[b], one.marginal("tau").quantile(Q), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(
    "name", ["crins-halfnormal", "bcg-latitude-normal", "nma-three-arm", "k1000"]
)
def test_moments_kept_from_the_quadrature_match_a_fresh_computation(fits, name):
    # integrate() keeps beta-hat and its covariance at the nodes from its last pass; a
    # reloaded posterior (at_nodes=None) computes them again from the whitened data
    from dataclasses import replace

    post = fits[name]
    fresh = replace(post, at_nodes=None)
    np.testing.assert_allclose(post._tau_nodes, fresh._tau_nodes, rtol=1e-15)
    for kept, again in zip(post._cond_nodes, fresh._cond_nodes, strict=True):
        np.testing.assert_allclose(kept, again, rtol=1e-12, atol=1e-14)


# The quantile search evaluates each panel's polynomial in the power basis, the CDF in the
# Legendre basis: the two agree to rounding.
TOL_TAU_ROUND_TRIP = 1e-14


@pytest.mark.parametrize("name", [n for n in CASES if not QUAD["cases"][n]["input"].get("fixed")])
def test_tau_quantiles_invert_the_cdf(fits, name):
    p = np.array([1e-9, 1e-4, 0.025, 0.3, 0.5, 0.9, 0.975, 1 - 1e-6])
    tau = fits[name].marginal("tau")
    np.testing.assert_allclose(tau.cdf(tau.quantile(p)), p, rtol=0, atol=TOL_TAU_ROUND_TRIP)


def test_batched_mixture_quantiles_invert_the_cdf():
    # one vectorised Newton/Halley loop for every analysis and probability: analyses with
    # different numbers of live nodes (k = 1..12, flat and normal priors) and tail
    # probabilities; each quantile must invert the mixture CDF and match the same
    # quantile computed alone
    rng = np.random.default_rng(11)
    B, K = 40, 12
    s = rng.uniform(0.05, 1.0, (B, K))
    y = rng.normal(0.0, 0.5, (B, K))
    mask = np.arange(K)[None, :] < rng.integers(1, K + 1, B)[:, None]
    p = np.array([1e-6, 0.025, 0.3, 0.5, 0.975, 1 - 1e-6])
    for v0 in (16.0, np.inf):
        post = integrate(y, s**2, mask=mask, tau_prior=priors.HalfNormal(0.5), beta_prior_var=[v0])
        for name in ("mu", "theta_new"):
            m = post.marginal(name)
            q = m.quantile(p)
            cdf = m.cdf(q.ravel()).reshape(B, B, p.size)[np.arange(B), np.arange(B)]
            np.testing.assert_allclose(cdf, np.broadcast_to(p, (B, p.size)), rtol=1e-9, atol=1e-13)
            np.testing.assert_allclose(m.quantile(p[2:4]), q[:, 2:4], rtol=0, atol=1e-12)
        theta = post.marginal("theta").quantile(p[1:-1])
        cdf = post.marginal("theta").cdf(theta[0, 0])  # study 1 of analysis 1
        np.testing.assert_allclose(cdf[0, 0], p[1:-1], atol=1e-12)


@pytest.mark.parametrize(
    ("y", "v", "tau_prior"),
    [
        ([0.1, 0.5, 0.3], [1e-24, 1.0, 1.0], priors.HalfNormal(0.5)),  # SE 1e-12 next to 1
        ([10.0, -30.0, 50.0], [1e6, 4e6, 9e6], priors.HalfNormal(0.5)),  # huge SEs
        ([0.2, 0.3, 0.1], [0.04, 0.05, 0.03], priors.HalfNormal(1e-8)),  # tau prior scale 1e-8
        ([0.3] * 5, [0.04] * 5, priors.HalfCauchy(0.1)),  # tau piled at 0
    ],
)
def test_extreme_inputs_give_finite_consistent_results(y, v, tau_prior):
    post = integrate(y, v, tau_prior=tau_prior, beta_prior_mean=[0.0], beta_prior_var=[16.0])
    for name in ("mu", "tau", "theta_new", "theta", "I2"):
        m = post.marginal(name)
        qs = m.quantile(Q)
        assert np.all(np.isfinite(qs)) and np.all(np.diff(qs, axis=-1) >= 0), name
        assert np.all(np.isfinite(m.mean())) and np.all(np.isfinite(m.sd())), name
        np.testing.assert_allclose(m.cdf(qs[..., 1].ravel()[:1]).ravel()[0], 0.5, atol=1e-7)


# -- protocol pieces ------------------------------------------------------------------------------
def test_weights_reproduce_posterior_mean(fits):
    post = fits["bcg-latitude-normal"]
    c = QUAD["cases"]["bcg-latitude-normal"]["input"]
    w = post.weights()
    mean = w.study @ np.array(c["y"]) + w.prior @ np.array(c["m0"])
    np.testing.assert_allclose(mean, post.marginal("beta").mean(), atol=1e-10)
    b = post.shrinkage()
    assert b.shape == (13,) and np.all((b > 0) & (b < 1))


def test_shortest_interval_is_shorter_and_has_the_probability(fits):
    post = fits["crins-halfnormal"]
    for name in ("mu", "tau"):
        m = post.marginal(name)
        lo, hi = shortest_interval(m, 0.95)
        p = m.cdf([hi])[0] - m.cdf([lo])[0]
        assert p == pytest.approx(0.95, abs=1e-8)
        eti = m.quantile([0.025, 0.975])
        assert hi - lo <= eti[1] - eti[0] + 1e-12
        d = m.pdf([lo, hi])
        if name == "mu":  # highest density: equal density at both ends
            assert d[0] == pytest.approx(d[1], rel=1e-4)
        else:  # p(tau | y) is highest at tau = 0: the interval starts there
            assert lo < 1e-9 and d[0] > d[1]


def test_pdf_integrates_to_cdf(fits):
    post = fits["bcg-latitude-flat"]
    for name in ("tau", "beta"):
        m = post.marginal(name)
        a, b = m.quantile([0.1, 0.9]) if name == "tau" else m.quantile([0.1, 0.9])[1]
        x = np.linspace(a, b, 2001)
        dens = m.pdf(x) if name == "tau" else m.pdf(x)[1]
        F = m.cdf([a, b]) if name == "tau" else m.cdf([a, b])[1]
        integral = np.trapezoid(dens, x)
        assert integral == pytest.approx(F[1] - F[0], abs=1e-5)


def test_draws_and_datatree_round_trip(fits):
    post = fits["crins-halfnormal"]
    dt = post.to_datatree(chains=2, draws=4000, seed=3)
    assert set(dt["posterior"].data_vars) >= {"mu", "tau", "theta", "theta_new", "beta"}
    mu = np.asarray(dt["posterior"]["mu"]).ravel()
    assert np.quantile(mu, 0.5) == pytest.approx(CRINS_REF["mu"][1], abs=0.03)
    back = LinearPosterior.from_datatree(dt)
    for name in ("mu", "tau", "theta_new", "theta", "I2"):
        np.testing.assert_array_equal(
            back.marginal(name).quantile(Q), post.marginal(name).quantile(Q)
        )
    assert float(back.log_normalizer) == float(post.log_normalizer)
    np.testing.assert_array_equal(
        np.asarray(back.to_datatree(2, 4000, 3)["posterior"]["tau"]),
        np.asarray(dt["posterior"]["tau"]),
    )


def test_map_and_ml_are_optima(fits):
    post = fits["crins-halfnormal"]
    c = QUAD["cases"]["crins-halfnormal"]["input"]
    y, v = np.array(c["y"]), np.array(c["S"])
    est = post.map()
    tj, mj = est["joint"]["tau"], est["joint"]["mu"]

    def logjoint(t, m):
        return (stats.norm.logpdf(y, m, np.sqrt(v + t * t)).sum() + stats.halfnorm.logpdf(t, 0, 0.5)
                + stats.norm.logpdf(m, 0, 4))  # fmt: skip

    best = logjoint(tj, mj)
    for dt_, dm in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]:
        if tj + dt_ >= 0:
            assert logjoint(tj + dt_, mj + dm) <= best + 1e-12
    ml = post.ml()
    tl, ml_mu = ml["joint"]["tau"], ml["joint"]["mu"]
    ll = stats.norm.logpdf(y, ml_mu, np.sqrt(v + tl * tl)).sum()
    for dt_, dm in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]:
        if tl + dt_ >= 0:
            assert (
                stats.norm.logpdf(y, ml_mu + dm, np.sqrt(v + (tl + dt_) ** 2)).sum() <= ll + 1e-12
            )
    # the marginal posterior mode of tau maximises the tau density
    tm = est["marginal"]["tau"]
    d = post.marginal("tau").pdf([tm * 0.99, tm, tm * 1.01])
    assert d[1] >= d[0] and d[1] >= d[2]


# -- R bayesmeta bmr() (tests/reference/bayesmeta_bmr.json, written by bayesmeta_bmr.R) ----------
BMR_FILE = REF / "bayesmeta_bmr.json"
BMR = json.loads(BMR_FILE.read_text()) if BMR_FILE.exists() else None
# bmr() at delta=1e-5, epsilon=1e-10 discretises tau into a finite mixture; its summaries agree
# with finer settings to ~3e-7 (source block), its quantile inversion to ~1e-5: 1e-4 absolute.
TOL_BMR = 1e-4
needs_bmr = pytest.mark.skipif(
    BMR is None, reason="tests/reference/bayesmeta_bmr.json not generated"
)
BMR_CASES = sorted(BMR["cases"]) if BMR else []


def _bmr_num(v):
    return {"Inf": np.inf, "-Inf": -np.inf, "NaN": np.nan, "NA": np.nan}.get(v, v)


@pytest.fixture(scope="module")
def bmr_fits():
    out = {}
    d = BMR["data"]
    for name, c in BMR["cases"].items():
        cols = c["design_colnames_R"]
        X = np.column_stack([c["design_matrix"][k] for k in cols])
        normal = c["beta_prior"]["type"] == "normal"
        out[name] = integrate(
            d["yi"],
            d["vi"],
            X,
            tau_prior=priors.HalfNormal(0.5),
            beta_prior_mean=c["beta_prior"]["mean"] if normal else None,
            beta_prior_var=np.square(c["beta_prior"]["sd"]) if normal else None,
            coef_names=cols,
        )
    return out


@needs_bmr
@pytest.mark.parametrize("name", BMR_CASES)
def test_bmr_tau(bmr_fits, name):
    c, post = BMR["cases"][name], bmr_fits[name]
    tau = post.marginal("tau")
    q = c["tau"]["quantiles"]
    np.testing.assert_allclose(tau.quantile(Q), [q["q025"], q["q500"], q["q975"]], atol=TOL_BMR)
    assert float(tau.mean()) == pytest.approx(c["tau"]["mean"], abs=TOL_BMR)
    assert float(tau.sd()) == pytest.approx(c["tau"]["sd"], abs=TOL_BMR)
    np.testing.assert_allclose(tau.quantile([0.025, 0.975]), c["tau"]["central95"], atol=TOL_BMR)
    np.testing.assert_allclose(shortest_interval(tau, 0.95), c["tau"]["shortest95"], atol=TOL_BMR)
    np.testing.assert_allclose(
        tau.pdf(c["tau"]["density"]["tau"]), c["tau"]["density"]["value"], rtol=TOL_BMR, atol=1e-9
    )
    assert tau.cdf([0.1])[0] == pytest.approx(c["tau"]["P_tau_le_0.1"], abs=TOL_BMR)
    assert tau.cdf([0.3])[0] == pytest.approx(c["tau"]["P_tau_le_0.3"], abs=TOL_BMR)


@needs_bmr
@pytest.mark.parametrize("name", BMR_CASES)
def test_bmr_coefficients(bmr_fits, name):
    c, post = BMR["cases"][name], bmr_fits[name]
    beta = post.marginal("beta")
    qs, means, sds = beta.quantile(Q), beta.mean(), beta.sd()
    for j, col in enumerate(c["design_colnames_R"]):
        ref = c["beta"][col]
        q = ref["quantiles"]
        np.testing.assert_allclose(qs[j], [q["q025"], q["q500"], q["q975"]], atol=TOL_BMR)
        assert means[j] == pytest.approx(ref["mean"], abs=TOL_BMR)
        assert sds[j] == pytest.approx(ref["sd"], abs=TOL_BMR)
        lo_hi = shortest_interval(post.linear(np.eye(len(means))[j]), 0.95)[0]
        np.testing.assert_allclose(lo_hi, ref["shortest95"], atol=TOL_BMR)


@needs_bmr
@pytest.mark.parametrize("name", BMR_CASES)
def test_bmr_evidence_and_predictions(bmr_fits, name):
    c, post = BMR["cases"][name], bmr_fits[name]
    lml = _bmr_num(c["log_marginal_likelihood"])
    if isinstance(lml, float) and np.isfinite(lml):
        assert float(post.log_evidence) == pytest.approx(lml, abs=TOL_BMR)
    elif c["beta_prior"]["type"] != "normal":
        assert np.isnan(post.log_evidence)  # flat beta prior: undefined, as in R
    else:  # R's integrate() underflowed to 0 (log -Inf): ours must be finite
        assert np.isfinite(post.log_evidence)
    for block in c["predictions"].values():
        x = np.array([block["x"]])
        for key, new in (("mean", False), ("prediction", True)):
            m = post.linear(x, new=new)
            q = block[key]["quantiles"]
            np.testing.assert_allclose(
                m.quantile(Q)[0], [q["q025"], q["q500"], q["q975"]], atol=TOL_BMR
            )
            assert m.mean()[0] == pytest.approx(block[key]["mean"], abs=TOL_BMR)
            assert m.sd()[0] == pytest.approx(block[key]["sd"], abs=TOL_BMR)


@needs_bmr
@pytest.mark.parametrize("name", BMR_CASES)
def test_bmr_shrinkage(bmr_fits, name):
    c, post = BMR["cases"][name], bmr_fits[name]
    theta = post.marginal("theta")
    qs, means = theta.quantile(Q), theta.mean()
    for i, label in enumerate(c["shrinkage_order"]):
        q = c["shrinkage_quantiles"][label]
        np.testing.assert_allclose(qs[i], [q["q025"], q["q500"], q["q975"]], atol=TOL_BMR)
        assert means[i] == pytest.approx(c["shrinkage"][label]["mean"], abs=TOL_BMR)


# R's optim()/optimize() stop early on the badly scaled ablat + raw-year design (a flat ridge):
# there our estimates must be at least as good as R's on R's own objective (checked below).
BMR_OPTIMISER_FAILURES = {"ablat_year_flat", "ablat_year_normal"}


def _bmr_objectives(c, post, what, row):
    """Objective maximised by R for (what, row), as a function of the estimate dict."""
    d = BMR["data"]
    y, v = np.array(d["yi"]), np.array(d["vi"])
    cols = c["design_colnames_R"]
    X = np.column_stack([c["design_matrix"][k] for k in cols])
    normal = c["beta_prior"]["type"] == "normal"

    def joint(est, with_prior):
        b = np.array([est[k] for k in cols])
        out = stats.norm.logpdf(y, X @ b, np.sqrt(v + est["tau"] ** 2)).sum()
        if with_prior:
            out += stats.halfnorm.logpdf(est["tau"], 0, 0.5)
            out += stats.norm.logpdf(b, 0, 10).sum() if normal else 0.0
        return out

    if row == "joint":
        return lambda est: joint(est, what == "MAP")
    return None


@needs_bmr
@pytest.mark.parametrize("name", BMR_CASES)
def test_bmr_map_ml(bmr_fits, name):
    c, post = BMR["cases"][name], bmr_fits[name]
    names = dict(zip(c["design_colnames_bmr"], c["design_colnames_R"], strict=True))
    for what, got in (("MAP", post.map()), ("ML", post.ml())):
        for row in ("joint", "marginal"):
            ref = {
                ("tau" if k == "tau" else names[k]): _bmr_num(x) for k, x in c[what][row].items()
            }
            if any(isinstance(x, float) and np.isnan(x) for x in ref.values()):
                continue  # R leaves it undefined (e.g. marginal ML under a flat prior)
            if name in BMR_OPTIMISER_FAILURES:
                objective = _bmr_objectives(c, post, what, row)
                if objective is not None:
                    assert objective(got[row]) >= objective(ref) - 1e-9, (what, row)
                continue
            for key, want in ref.items():
                assert got[row][key] == pytest.approx(want, abs=TOL_BMR), (what, row, key)


# -- R bayesmeta defect references (tests/reference/bayesmeta_defects.json) ---------------------
DEFECTS_FILE = REF / "bayesmeta_defects.json"
DEFECTS = json.loads(DEFECTS_FILE.read_text()) if DEFECTS_FILE.exists() else None
needs_defects = pytest.mark.skipif(DEFECTS is None, reason="bayesmeta_defects.json not generated")
DEFECT_CASES = sorted(DEFECTS["cases"]) if DEFECTS else []
# `independent`: R integrate() at rel.tol 1e-12 on log(tau): hold 1e-6 like our own quadrature.
TOL_INDEPENDENT = 1e-6
QKEYS = ("q025", "q500", "q975")


def _defect_fit(name):
    c = DEFECTS["cases"][name]
    data = DEFECTS[c["data"]] if isinstance(c["data"], str) else c["data"]
    if name.startswith("uniform"):
        tp = priors.Uniform(0.0, float(c["U"]))
    elif name.startswith("rhodes"):
        tp = priors.LogStudentT(5, -1.72, 1.295)
    else:
        tp = priors.HalfCauchy(1.0)
    mp = c["mu_prior"]
    normal = isinstance(mp, dict) and mp["type"] == "normal"
    return integrate(
        data["y"],
        np.square(data["sigma"]),
        tau_prior=tp,
        beta_prior_mean=[mp["mean"]] if normal else None,
        beta_prior_var=[mp["sd"] ** 2] if normal else None,
    )


@needs_defects
@pytest.mark.parametrize("name", DEFECT_CASES)
def test_defects_against_independent_integration(name):
    ind = DEFECTS["cases"][name]["independent"]
    post = _defect_fit(name)
    for key, m in (("tau", "tau"), ("mu", "mu"), ("theta_new", "theta_new")):
        want = [ind[f"{key}_quantiles"][k] for k in QKEYS]
        np.testing.assert_allclose(
            post.marginal(m).quantile(Q), want, rtol=TOL_INDEPENDENT, atol=TOL_INDEPENDENT
        )
    assert float(post.log_normalizer) == pytest.approx(ind["log_Z"], abs=TOL_INDEPENDENT)
    dens = ind["tau_density"]
    np.testing.assert_allclose(post.marginal("tau").pdf(dens["tau"]), dens["value"], rtol=1e-6)
    for key, m, what in (
        ("E_tau", "tau", "mean"),
        ("sd_tau", "tau", "sd"),
        ("E_tau2", "tau2", "mean"),
        ("E_mu", "mu", "mean"),
        ("sd_mu", "mu", "sd"),
        ("sd_theta_new", "theta_new", "sd"),
    ):
        marg = post.marginal(m)
        got = float(marg.mean() if what == "mean" else marg.sd())
        want = _bmr_num(ind[key])
        if want == np.inf:
            assert got == np.inf, key
        else:
            assert got == pytest.approx(want, rel=TOL_INDEPENDENT, abs=TOL_INDEPENDENT), key


@needs_defects
@pytest.mark.parametrize(
    "name", [n for n in DEFECT_CASES if "quantiles" in DEFECTS["cases"][n]["R"]]
)
def test_defects_against_r_bayesmeta(name):
    # tau quantiles agree with R to ~1e-11; R's mu / theta_new quantiles (its discrete mixture
    # at delta=1e-5) differ from R's own `independent` integration by up to 1.5e-3 / 7.5e-3,
    # so those are held against `independent` above, not against R's mixture.
    r = DEFECTS["cases"][name]["R"]
    post = _defect_fit(name)
    want = [r["quantiles"]["tau"][k] for k in QKEYS]
    np.testing.assert_allclose(post.marginal("tau").quantile(Q), want, atol=TOL_BMR)
    lml = _bmr_num(r["log_marginal_likelihood"])
    if isinstance(lml, float) and np.isfinite(lml):
        assert float(post.log_evidence) == pytest.approx(lml, abs=TOL_BMR)
    est = post.map()
    for row in ("joint", "marginal"):
        for key, want in r["MAP"][row].items():
            assert est[row][key] == pytest.approx(want, abs=TOL_BMR), (row, key)


# -- R bayesmeta with its named tau priors (tests/reference/bayesmeta_priors.json) --------------
PRIORS_FILE = REF / "bayesmeta_priors.json"
RPRI = json.loads(PRIORS_FILE.read_text()) if PRIORS_FILE.exists() else None
needs_rpri = pytest.mark.skipif(RPRI is None, reason="bayesmeta_priors.json not generated")
RPRI_CASES = (
    sorted((a, p) for a, r in RPRI["results"].items() for p in r["priors"] if "R" in r["priors"][p])
    if RPRI
    else []
)


# R's optim() (Nelder-Mead) finds the joint mode only to ~1e-3 on flat surfaces; where it
# differs by more than 1e-4, ours is the higher point of R's own objective (eight schools,
# BergerDeely: log joint -33.5462227902 here vs -33.5462228186 at R's estimate).
TOL_R_OPTIM = 2e-3


def _rpri_fit(analysis, prior_name):
    r = RPRI["results"][analysis]
    data = RPRI["datasets"][r["data"]]
    mp = r["mu_prior"]
    normal = isinstance(mp, dict) and mp["type"] == "normal"
    return integrate(
        data["y"],
        np.square(data["sigma"]),
        tau_prior=priors.rbayesmeta(prior_name),
        beta_prior_mean=[mp["mean"]] if normal else None,
        beta_prior_var=[mp["sd"] ** 2] if normal else None,
    )


@needs_rpri
@pytest.mark.parametrize(("analysis", "prior_name"), RPRI_CASES)
def test_r_named_priors(analysis, prior_name):
    r = RPRI["results"][analysis]["priors"][prior_name]["R"]
    post = _rpri_fit(analysis, prior_name)
    for key in ("tau", "mu", "theta_new"):
        m = post.marginal(key)
        want = [r["quantiles"][key][k] for k in QKEYS]
        np.testing.assert_allclose(m.quantile(Q), want, atol=TOL_BMR, err_msg=key)
        iv = r["intervals95"][key]
        np.testing.assert_allclose(m.quantile([0.025, 0.975]), iv["central"], atol=TOL_BMR)
        np.testing.assert_allclose(shortest_interval(m, 0.95), iv["shortest"], atol=TOL_BMR)
        dens = r["density"][key]
        np.testing.assert_allclose(m.pdf(dens["at"]), dens["value"], rtol=TOL_BMR, atol=1e-9)
    cdf = r["cdf_tau"]
    np.testing.assert_allclose(post.marginal("tau").cdf(cdf["at"]), cdf["value"], atol=TOL_BMR)
    lml = _bmr_num(r["log_marginal_likelihood"])
    if isinstance(lml, float) and np.isfinite(lml):
        assert float(post.log_evidence) == pytest.approx(lml, abs=TOL_BMR)
    elif "heterogeneity" in r.get("marginal_likelihood_NA_reason", "") and post.tau_prior.proper:
        # R declares overallJeffreys improper; it integrates (O(k / tau^2) tail), see priors.py
        assert np.isfinite(post.log_evidence)
    else:
        assert np.isnan(post.log_evidence)
    for what, got in (("MAP", post.map()), ("ML", post.ml())):
        for row in ("joint", "marginal"):
            for key, want in r[what][row].items():
                want = _bmr_num(want)
                if isinstance(want, float) and np.isnan(want):
                    continue
                assert got[row][key] == pytest.approx(want, abs=TOL_R_OPTIM), (what, row, key)


# ------------------------------------------------------------------------------------------
# fast paths (several coefficients; design rows without formulaic)
# ------------------------------------------------------------------------------------------
def test_conditional_several_coefficients_matches_direct_algebra(monkeypatch):
    """The matmul/row-block path of _conditional equals the textbook formulas."""
    from bayesmeta.engines import linear

    rng = np.random.default_rng(3)
    B, K, P, N = 2, 30, 3, 41
    xt = rng.normal(size=(B, K, P))
    lam = rng.uniform(0.5, 3, size=(B, K))
    m = linear._Model(
        yt=rng.normal(size=(B, K)),
        xt=xt,
        lam=lam,
        k=np.full(B, K),
        logdet_s=np.zeros(B),
        m0=np.array([0.1, -0.2, 0.0]),
        prec0=np.array([0.25, 0.0, 1.0]),
        p_flat=1,
        logdet_v0=0.0,
        tinv=None,
        sqrt_s=np.ones((B, K)),
        y=np.zeros((B, K)),
        x=xt,
        offset=np.zeros((B, K)),
        mask=np.ones((B, K), bool),
    )
    tau2 = rng.uniform(0.01, 4, size=(B, N))
    monkeypatch.setattr(linear, "_MM_MNK", 7 * K)  # force several row blocks
    ll, bh, cov, _ = linear._conditional(m, tau2)
    ll2, _ = linear._conditional(m, tau2, moments=False)
    for b in range(B):
        for n in range(N):
            iw = 1 / (1 + tau2[b, n] * lam[b])
            a = xt[b].T @ (iw[:, None] * xt[b]) + np.diag(m.prec0)
            r = m.yt[b] - xt[b] @ m.m0
            delta = np.linalg.solve(a, xt[b].T @ (iw * r))
            res = r - xt[b] @ delta
            quad = (iw * res * res).sum() + delta @ (m.prec0 * delta)
            want = -0.5 * (
                (K - 1) * math.log(2 * math.pi)
                + np.log(1 / iw).sum()
                + np.linalg.slogdet(a)[1]
                + quad
            )
            assert ll[b, n] == pytest.approx(want, abs=1e-10)
            assert ll2[b, n] == pytest.approx(want, abs=1e-10)
            np.testing.assert_allclose(bh[b, n], m.m0 + delta, atol=1e-12)
            np.testing.assert_allclose(cov[b, n], np.linalg.inv(a), atol=1e-12)


@pytest.mark.parametrize(
    "formula",
    ["~ a", "~ a + b", "~ 0 + a + b", "~ b + a", "~ a * b", "~ np.log(b) + a", "~ C(g) + a"],
)
def test_design_rows_fast_path_matches_formulaic(formula):
    import pandas as pd

    from bayesmeta.design import design_matrix
    from bayesmeta.errors import DataError

    cov = pd.DataFrame({"a": [1.0, 2.5, -1.0, 0.3], "b": [2, 3, 5, 7], "g": ["u", "v", "u", "v"]})
    d = design_matrix(cov, list("ABCD"), moderators=formula)
    new = {"a": [0.0, 1.5, -2.0], "b": [1, 4, 9], "g": ["v", "u", "u"]}
    want = np.asarray(d.model_spec.get_model_matrix(pd.DataFrame(new)), dtype=float)
    np.testing.assert_array_equal(d.rows(new), want)
    np.testing.assert_array_equal(d.rows(cov), d.X)
    with pytest.raises(DataError):  # missing values still go to formulaic (and fail)
        d.rows({"a": [np.nan], "b": [np.nan], "g": [None]})
    fast = d._numeric_rows(pd.DataFrame(new))
    assert (fast is not None) == (formula in ("~ a", "~ a + b", "~ 0 + a + b", "~ b + a"))
