"""The 2-D grid engine (bayesmeta.engines.grid) against independent references."""

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta import priors
from bayesmeta.data import study_data
from bayesmeta.engines import grid, linear
from bayesmeta.engines.base import Marginal, Posterior

REF = json.loads((Path(__file__).parent / "reference" / "binomial_reference.json").read_text())
Q = np.array([0.025, 0.5, 0.975])
# normal mode vs the exact linear engine (both ~1e-7 accurate): the brief's 1e-6.
TOL_EXACT = 1e-6
# binomial vs the brute-force nested adaptive quadrature (reference ~1e-9): the brief's 1e-4.
TOL_BRUTE = 1e-4
# |engine - NUTS| < 4 MCSE + slack (slack covers the engine's own ~1e-5 error).
N_MCSE, SLACK = 4.0, 2e-4


class StudentTPrior:
    """Stand-in for priors.StudentT until it lands (logpdf, ppf, bounds, proper)."""

    def __init__(self, nu, mu, sigma):
        self.d = stats.t(nu, mu, sigma)
        self.bounds, self.proper = (-np.inf, np.inf), True

    def logpdf(self, x):
        return self.d.logpdf(x)

    def ppf(self, q):
        return self.d.ppf(q)


@pytest.fixture(scope="module")
def crins_normal(crins):
    sd = study_data(crins, "OR")
    post = grid.integrate_normal(
        sd.yi,
        sd.vi,
        mu_prior=priors.Normal(0, 4),
        tau_prior=priors.HalfNormal(0.5),
        study_labels=sd.labels,
    )
    ex = linear.integrate(
        sd.yi, sd.vi, tau_prior=priors.HalfNormal(0.5), beta_prior_mean=[0.0],
        beta_prior_var=[16.0],
    )  # fmt: skip
    return post, ex


def test_protocol(crins_normal):
    post, _ = crins_normal
    assert isinstance(post, Posterior)
    assert {"log_evidence", "density"} <= post.capabilities
    for name in ("mu", "tau", "tau2", "theta_new", "theta"):
        assert isinstance(post.marginal(name), Marginal)
    assert post.marginal("theta").shape == (6,)
    assert post.marginal("theta").quantile(Q).shape == (6, 3)
    assert np.all(post.marginal("mu").mcse_cdf([0.0]) == 0)


@pytest.mark.parametrize("name", ["mu", "tau", "theta_new", "theta"])
def test_normal_mode_matches_exact_engine(crins_normal, name):
    post, ex = crins_normal
    got = post.marginal(name).quantile(Q)
    want = ex.marginal(name).quantile(Q)
    np.testing.assert_allclose(got, want, atol=TOL_EXACT, rtol=0)


def test_normal_mode_evidence_and_moments_match_exact(crins_normal):
    post, ex = crins_normal
    assert post.log_evidence == pytest.approx(float(ex.log_evidence), abs=TOL_EXACT)
    m, s = ex.marginal("mu").mean(), ex.marginal("mu").sd()
    assert float(post.marginal("mu").mean()) == pytest.approx(float(m), abs=TOL_EXACT)
    assert float(post.marginal("mu").sd()) == pytest.approx(float(s), abs=TOL_EXACT)
    assert post.marginal("mu").cdf([-1.0])[0] == pytest.approx(1 - 0.0378769, abs=2e-6)
    assert post.accuracy["quantile"] < 1e-5


@pytest.mark.parametrize("tau_prior", [None, priors.HalfNormal(0.5)], ids=["fixed", "random"])
def test_normal_mode_mu_fixed_matches_exact(crins, tau_prior):
    sd = study_data(crins, "OR")
    post = grid.integrate_normal(
        sd.yi, sd.vi, mu_prior=priors.Normal(0, 4), tau_prior=tau_prior, mu_fixed_at=0.0
    )
    ex = linear.integrate(
        sd.yi, sd.vi, tau_prior=tau_prior, beta_prior_mean=[0.0], beta_prior_var=[16.0],
        beta_fixed={"mu": 0.0},
    )  # fmt: skip
    assert post.log_evidence == pytest.approx(float(ex.log_evidence), abs=TOL_EXACT)


def test_bayes_factor_equals_savage_dickey_density_ratio(crins):
    """p(y | mu=0) / p(y) = p(mu=0 | y) / p(mu=0): two independent parts of the engine."""
    sd = study_data(crins, "OR")
    kw = {"mu_prior": priors.Normal(0, 1), "tau_prior": priors.HalfNormal(0.5)}
    h1 = grid.integrate_normal(sd.yi, sd.vi, **kw)
    h0 = grid.integrate_normal(sd.yi, sd.vi, mu_fixed_at=0.0, **kw)
    bf01 = math.exp(h0.log_evidence - h1.log_evidence)
    sd_ratio = h1.marginal("mu").pdf([0.0])[0] / stats.norm.pdf(0, 0, 1)
    assert bf01 == pytest.approx(sd_ratio, rel=1e-4)


def test_student_t_prior_matches_direct_quadrature():
    """A non-normal mu prior: compare with direct quadrature of the normal-normal model."""
    from scipy import integrate

    y, v = np.array([0.3, 0.8, -0.1]), np.array([0.04, 0.09, 0.06])
    prior = StudentTPrior(3, 0.0, 0.5)
    post = grid.integrate_normal(y, v, mu_prior=prior, tau_prior=priors.HalfNormal(0.5))

    # outer: adaptive quad over tau; inner: 3 x 200-point Gauss-Legendre panels in mu
    x, w = np.polynomial.legendre.leggauss(200)

    def inner(tau, lo):
        tot = 0.0
        edges = np.linspace(lo, 6, 4)
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            m = 0.5 * (a + b) + 0.5 * (b - a) * x
            ll = stats.norm.logpdf(y[:, None], m, np.sqrt(v[:, None] + tau**2)).sum(0)
            tot += 0.5 * (b - a) * np.sum(w * np.exp(prior.logpdf(m) + ll))
        return tot * stats.halfnorm.pdf(tau, scale=0.5)

    Z = integrate.quad(inner, 0, 5, args=(-6.0,), epsabs=0, epsrel=1e-11, limit=200)[0]
    p0 = integrate.quad(inner, 0, 5, args=(0.0,), epsabs=0, epsrel=1e-11, limit=200)[0] / Z
    assert post.log_evidence == pytest.approx(math.log(Z), abs=1e-6)
    assert 1 - post.marginal("mu").cdf([0.0])[0] == pytest.approx(p0, abs=1e-6)


# -- binomial ---------------------------------------------------------------------------
def _bf_ref():
    bf = REF.get("brute_force", REF)
    if "log_evidence" not in bf:
        pytest.fail(
            "tests/reference/binomial_reference.json lacks the brute-force block; "
            "run tests/reference/make_binomial_reference.py"
        )
    return bf


@pytest.fixture(scope="module")
def k2_post():
    d = _bf_ref()["source"]["data"]
    return grid.integrate_binomial(
        d["events_t"],
        d["n_t"],
        d["events_c"],
        d["n_c"],
        mu_prior=priors.Normal(0, 2),
        tau_prior=priors.HalfNormal(0.5),
        baseline_prior=priors.Normal(0, 10),
    )


def test_binomial_log_evidence_matches_brute_force(k2_post):
    assert k2_post.log_evidence == pytest.approx(_bf_ref()["log_evidence"], abs=TOL_BRUTE)


def test_binomial_cdfs_match_brute_force(k2_post):
    ref = _bf_ref()
    for x, p in ref["cdf_mu"].items():
        assert k2_post.marginal("mu").cdf([float(x)])[0] == pytest.approx(p, abs=TOL_BRUTE), x
    for x, p in ref["cdf_tau"].items():
        assert k2_post.marginal("tau").cdf([float(x)])[0] == pytest.approx(p, abs=TOL_BRUTE), x


def test_binomial_quantiles_match_brute_force(k2_post):
    """The engine's quantiles q_p satisfy F_ref(q_p) = p (reference CDF at those points)."""
    ref = _bf_ref()["cdf_mu"]
    q = k2_post.marginal("mu").quantile(Q)
    for p, qp in zip(Q, q, strict=True):
        key = min(ref, key=lambda s: abs(float(s) - qp))
        assert abs(float(key) - qp) < 1e-4, (p, qp, key)
        assert ref[key] == pytest.approx(p, abs=TOL_BRUTE)


def _nuts(name):
    nuts = REF.get("nuts")
    if nuts is None:
        pytest.fail("binomial_reference.json lacks the NUTS block; run the script with --nuts")
    return nuts["sets"][name], nuts["runs"][name]


@pytest.fixture(scope="module")
def nuts_posts():
    out = {}
    for name in ("crins", "bcg", "sparse"):
        d, _ = _nuts(name)
        out[name] = grid.integrate_binomial(
            d["events_t"],
            d["n_t"],
            d["events_c"],
            d["n_c"],
            mu_prior=priors.Normal(0, 2),
            tau_prior=priors.HalfNormal(0.5),
            baseline_prior=priors.Normal(0, 10),
        )
    return out


@pytest.mark.parametrize("name", ["crins", "bcg", "sparse"])
def test_binomial_agrees_with_nuts(nuts_posts, name):
    _, run = _nuts(name)
    post = nuts_posts[name]
    for var in ("mu", "tau"):
        r = run[var]
        got_q = post.marginal(var).quantile(Q)
        for g, w, se in zip(got_q, r["quantile"], r["mcse_quantile"], strict=True):
            assert abs(g - w) < N_MCSE * se + SLACK, (var, g, w, se)
        got_c = post.marginal(var).cdf(r["cuts"])
        for g, w, se in zip(got_c, r["cdf"], r["mcse_cdf"], strict=True):
            assert abs(g - w) < N_MCSE * se + SLACK, (var, g, w, se)


# Crins: no NUTS draw fell within |mu| < 0.05 (expected ~0.5 of 20000), so it is not used.
@pytest.mark.parametrize("name", ["bcg", "sparse"])
def test_binomial_bayes_factor_matches_savage_dickey_from_nuts(nuts_posts, name):
    d, run = _nuts(name)
    post = nuts_posts[name]
    h0 = grid.integrate_binomial(
        d["events_t"],
        d["n_t"],
        d["events_c"],
        d["n_c"],
        mu_prior=priors.Normal(0, 2),
        tau_prior=priors.HalfNormal(0.5),
        mu_fixed_at=0.0,
    )
    bf01 = math.exp(h0.log_evidence - post.log_evidence)
    sdk = run["savage_dickey"]
    delta = sdk["delta"]
    prior_window = stats.norm.cdf(delta, 0, 2) - stats.norm.cdf(-delta, 0, 2)
    # Savage-Dickey from NUTS: P(|mu| < delta | y) / P(|mu| < delta) (window average)
    bf_nuts = sdk["p_window"] / prior_window
    bf_nuts_se = sdk["mcse"] / prior_window
    # the exact engine's window average, and its point value (the Bayes factor)
    m = post.marginal("mu")
    exact_window = float(np.diff(m.cdf([-delta, delta]))[0]) / prior_window
    assert abs(exact_window - bf_nuts) < N_MCSE * bf_nuts_se + 1e-4
    assert bf01 == pytest.approx(m.pdf([0.0])[0] / stats.norm.pdf(0, 0, 2), rel=1e-3)
    # (the window average differs from the point value by O(delta^2): not compared)


def _sparse_df():
    return pd.DataFrame(
        {
            "study": list("ABCDE"),
            "events_t": [0, 2, 1, 0, 5],
            "n_t": [15, 20, 12, 40, 30],
            "events_c": [3, 6, 4, 0, 9],
            "n_c": [15, 20, 12, 40, 30],
        }
    )


def test_double_zero_contribution():
    """Study D (0/40 vs 0/40) is kept; dropping it changes the posterior a little."""
    df = _sparse_df()
    kw = {"mu_prior": priors.Normal(0, 2), "tau_prior": priors.HalfNormal(0.5)}
    full = grid.integrate_binomial(df.events_t, df.n_t, df.events_c, df.n_c, **kw)
    keep = df.study != "D"
    drop = grid.integrate_binomial(
        df.events_t[keep], df.n_t[keep], df.events_c[keep], df.n_c[keep], **kw
    )
    dmu = full.marginal("mu").quantile(Q) - drop.marginal("mu").quantile(Q)
    dtau = full.marginal("tau").quantile(Q) - drop.marginal("tau").quantile(Q)
    assert 1e-4 < np.max(np.abs(dmu)) < 0.1
    assert np.max(np.abs(dtau)) < 0.1
    # its L(theta) is nearly flat: the likelihood ratio over theta in [-2, 2] is near 1
    lL = full._lik.logL(np.array([-2.0, 0.0, 2.0]))[0][3]
    assert np.ptp(lL) < 0.5


def test_double_zero_study_passes_validation_with_warning():
    from bayesmeta.data import DataWarning

    with pytest.warns(DataWarning):
        study_data(_sparse_df(), "OR")


def test_round_trip_datatree(k2_post):
    dt = k2_post.to_datatree(chains=2, draws=200, seed=3)
    assert dt["posterior"]["theta"].shape == (2, 200, 2)
    back = grid.GridPosterior.from_datatree(dt)
    np.testing.assert_allclose(
        back.marginal("mu").quantile(Q), k2_post.marginal("mu").quantile(Q), atol=1e-12
    )
    np.testing.assert_allclose(
        back.marginal("theta").quantile(Q), k2_post.marginal("theta").quantile(Q), atol=1e-10
    )
    assert back.log_evidence == k2_post.log_evidence


def test_draws_are_seeded_and_match_marginals(k2_post):
    d = k2_post.joint_draws()
    mu = d["mu"].ravel()
    assert d["mu"].shape == (4, 1000)
    np.testing.assert_array_equal(d["mu"], k2_post.joint_draws()["mu"])
    # KS distance to the exact CDF: within the 99.9% critical value
    xs = np.sort(mu)
    F = k2_post.marginal("mu").cdf(xs)
    ks = np.max(np.abs(F - np.arange(1, xs.size + 1) / xs.size))
    assert ks < 1.95 / math.sqrt(xs.size)


def test_implied_rr_rd(k2_post):
    imp = k2_post.implied(0.2)
    q_mu = k2_post.marginal("mu").quantile(Q)
    rr = imp["RR_mu"].quantile(Q)
    from scipy.special import expit, logit

    np.testing.assert_allclose(rr, expit(logit(0.2) + q_mu) / 0.2)
    assert imp["RD_theta_new"].cdf([0.0])[0] == pytest.approx(
        k2_post.marginal("theta_new").cdf([0.0])[0], abs=1e-12
    )
    assert np.all(np.isfinite(imp["RR_mu"].mean()))


def test_flat_mu_prior_and_all_zero_cells_is_an_error():
    with pytest.raises(ValueError, match="improper"):
        grid.integrate_binomial(
            [0, 0],
            [10, 10],
            [2, 3],
            [10, 10],
            mu_prior=priors.Flat(),
            tau_prior=priors.HalfNormal(0.5),
        )


def test_speed_k22(capsys):
    """Measured, not asserted tightly (machine-dependent); reported in the final notes."""
    rng = np.random.default_rng(7)
    k = 22
    n_t, n_c = rng.integers(8, 60, k), rng.integers(8, 60, k)
    a, th = rng.normal(-1.5, 1, k), rng.normal(-0.4, 0.3, k)
    e_c = rng.binomial(n_c, 1 / (1 + np.exp(-a)))
    e_t = rng.binomial(n_t, 1 / (1 + np.exp(-a - th)))
    e_t[3] = e_c[3] = 0
    kw = {"mu_prior": priors.Normal(0, 2), "tau_prior": priors.HalfNormal(0.5), "tol": 1e-4}
    grid.integrate_binomial(e_t, n_t, e_c, n_c, **kw)
    t0 = time.perf_counter()
    post = grid.integrate_binomial(e_t, n_t, e_c, n_c, **kw)
    dt = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nk=22 binomial grid fit: {dt * 1000:.0f} ms, accuracy {post.accuracy}")
    assert dt < 10.0
    assert np.all(np.isfinite(post.marginal("mu").quantile(Q)))


def test_moment_guard_reports_absent_moments_as_inf():
    """Heavy tails: a Cauchy mu prior with a likelihood flat in mu (all treated arms empty)."""
    post = grid.integrate_binomial(
        [0, 0],
        [10, 12],
        [0, 1],
        [10, 12],
        mu_prior=StudentTPrior(1, 0.0, 1.0),
        tau_prior=priors.HalfNormal(0.5),
    )
    assert math.isinf(float(post.marginal("mu").mean()))
    assert math.isinf(float(post.marginal("mu").sd()))
    assert any("mu" in n and "no mean" in n for n in post.notes)
    assert np.isfinite(float(post.marginal("tau").mean()))
    # HalfCauchy tau prior, one study, flat mu prior: tau has no mean
    one = grid.integrate_normal(
        [0.3], [0.04], mu_prior=priors.Flat(), tau_prior=priors.HalfCauchy(0.5)
    )
    assert math.isinf(float(one.marginal("tau").mean()))
    assert any("tau" in n for n in one.notes)
    # light tails: every moment finite and no notes
    ok = grid.integrate_normal(
        [0.3, 0.1, 0.5],
        [0.04, 0.05, 0.06],
        mu_prior=priors.Normal(0, 1),
        tau_prior=priors.HalfNormal(0.5),
    )
    assert ok.notes == ()
    assert np.isfinite(float(ok.marginal("mu").sd()))
    assert np.isfinite(float(ok.marginal("tau").sd()))


def _k1_normal_mu_density(mu: float) -> float:
    """p(mu | y) up to a constant for y = 0.3, v = 0.04, flat mu, HalfCauchy(0.5) tau."""
    from scipy import integrate

    def f(tau):
        var = 0.04 + tau**2
        return stats.halfcauchy.pdf(tau, scale=0.5) * stats.norm.pdf(0.3, mu, np.sqrt(var))

    scale = abs(mu)
    return sum(integrate.quad(f, a * scale, b * scale, limit=200)[0] for a, b in ((0, 1), (1, 100)))


def test_mu_tail_through_large_tau_matches_direct_quadrature():
    """Flat mu, HalfCauchy tau, one study: p(mu | y) ~ |mu|^-2 (the route through large tau)."""
    one = grid.integrate_normal(
        [0.3], [0.04], mu_prior=priors.Flat(), tau_prior=priors.HalfCauchy(0.5)
    )
    x1, x2 = 1e3, 1e4
    slope = -math.log(_k1_normal_mu_density(x2) / _k1_normal_mu_density(x1)) / math.log(x2 / x1)
    assert slope == pytest.approx(2.0, abs=1e-3)
    assert one.tail_index["mu_hi"] == pytest.approx(slope, abs=1e-3)
    assert math.isinf(float(one.marginal("mu").mean()))


#: (label, events/n per arm, mu prior) -> which moments exist: mu mean, mu sd, tau mean, tau sd,
#: theta_new sd. Tails with a HalfCauchy(0.5) tau prior (b = 2) and k studies without zero
#: cells (the likelihood ~ tau^-k at large tau): tau ~ tau^-(b + k) for a proper mu prior and
#: tau^-(b + k - 1) for a flat one; mu ~ |mu|^-(b + k - 1) for a flat mu prior. A moment of
#: order r exists iff the index exceeds r + 1, and on the boundary (index = r + 1) it diverges.
HEAVY = [
    ("k1-flat", ([5], [20], [2], [20]), priors.Flat(), (False, False, False, False, False)),
    ("k1-normal", ([5], [20], [2], [20]), priors.Normal(0, 4), (True, True, True, False, False)),
    (
        "k2-flat",
        ([5, 7], [20, 20], [2, 3], [20, 20]),
        priors.Flat(),
        (True, False, True, False, False),
    ),
    (
        "k3-flat",
        ([5, 7, 4], [20, 20, 20], [2, 3, 3], [20, 20, 20]),
        priors.Flat(),
        (True, True, True, True, True),
    ),
]


@pytest.mark.parametrize(
    ("counts", "mu_prior", "exists"), [h[1:] for h in HEAVY], ids=[h[0] for h in HEAVY]
)
def test_binomial_moments_on_the_boundary_are_inf(counts, mu_prior, exists):
    post = grid.integrate_binomial(*counts, mu_prior=mu_prior, tau_prior=priors.HalfCauchy(0.5))
    got = (
        float(post.marginal("mu").mean()),
        float(post.marginal("mu").sd()),
        float(post.marginal("tau").mean()),
        float(post.marginal("tau").sd()),
        float(post.marginal("theta_new").sd()),
    )
    assert tuple(bool(np.isfinite(g)) for g in got) == exists
    assert bool(post.notes) == (not all(exists))


#: theta_i quantiles with a HalfCauchy tau prior: the grid's mu spacing (about 0.02 here,
#: 1,025 points over mu's long tails) bounds the interpolation at tau ~ 0 to a few 1e-6.
TOL_HEAVY = 1e-5


def test_theta_with_heavy_tailed_tau_matches_exact_engine(crins):
    """theta_i with a HalfCauchy tau prior (tau's 1 - 1e-12 quantile ~ 1e11): the theta grid
    follows the mu spacing near the data (it once spread 4,000 points over +-1e12 and
    missed quantiles by 0.01); checked against the linear engine's normal mixtures."""
    sd = study_data(crins, "OR")
    tau_prior = priors.HalfCauchy(0.5)
    post = grid.integrate_normal(sd.yi, sd.vi, mu_prior=priors.Normal(0, 4), tau_prior=tau_prior)
    ex = linear.integrate(
        sd.yi, sd.vi, tau_prior=tau_prior, beta_prior_mean=[0.0], beta_prior_var=[16.0]
    )
    got = post.marginal("theta").quantile(Q)
    np.testing.assert_allclose(got, ex.marginal("theta").quantile(Q), atol=TOL_HEAVY, rtol=0)


SPARSE_HEAVY = pd.DataFrame(
    {
        "study": list("ABCD"),
        "events_t": [0, 1, 0, 2],
        "n_t": [20, 25, 30, 15],
        "events_c": [2, 0, 3, 4],
        "n_c": [20, 25, 30, 15],
    }
)


def test_auto_falls_back_to_nuts_when_the_grid_misses_its_accuracy():
    """Zero cells and a HalfCauchy tau prior: the grid cannot resolve the posterior."""
    import bayesmeta

    opts = {"likelihood": "binomial", "tau_prior": "halfcauchy(0.5)", "seed": 1}
    with pytest.raises(FloatingPointError, match="use engine='nuts'"):
        bayesmeta.fit(SPARSE_HEAVY, "OR", engine="exact", **opts)
    with pytest.warns(bayesmeta.ModelWarning, match="fitted with NUTS instead"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bayesmeta.ConvergenceWarning)  # a short run
            res = bayesmeta.fit(SPARSE_HEAVY, "OR", draws=200, tune=200, chains=2, **opts)
    assert res.engine == "nuts" and "engine" in res.prior_notes
