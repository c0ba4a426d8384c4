"""Prior value objects: densities against scipy and PyMC, empirical priors from their tables."""

import numpy as np
import pytest
from scipy import integrate, special, stats

from bayesmeta import priors as P

X = np.array([0.01, 0.2, 0.5, 1.0, 3.0])

# (prior, independent scipy law written from the definition)
CASES = [
    (P.Normal(0.3, 2.0), stats.norm(0.3, 2.0)),
    (P.HalfNormal(0.5), stats.halfnorm(scale=0.5)),
    (P.HalfCauchy(1.0), stats.halfcauchy(scale=1.0)),
    (P.HalfStudentT(3, 0.7), None),  # folded t: 2 x t density on [0, inf), below
    (P.LogNormal(-1.28, 0.87), stats.lognorm(s=0.87, scale=np.exp(-1.28))),
    (P.Uniform(0.0, 2.0), stats.uniform(0, 2)),
    (P.Exponential(2.0), stats.expon(scale=0.5)),
]


@pytest.mark.parametrize(("prior", "law"), CASES, ids=lambda x: repr(x)[:24])
def test_density_matches_scipy(prior, law):
    if law is None:  # half-t: density is twice the t density on [0, inf)
        want = np.log(2 * stats.t(3, 0, 0.7).pdf(X))
    else:
        want = law.logpdf(X)
    np.testing.assert_allclose(prior.logpdf(X), want, rtol=1e-12)
    np.testing.assert_allclose(np.exp(prior.logpdf(X)), prior.scipy().pdf(X), rtol=1e-10)


@pytest.mark.parametrize(
    ("prior", "law"), [c for c in CASES if c[0].name != "Uniform"], ids=lambda x: repr(x)[:24]
)
def test_density_matches_pymc(prior, law):
    import pymc as pm

    dist = getattr(pm, prior.name).dist(**prior.params)
    got = pm.logp(dist, X).eval()
    # PyMC rounds some constants (seen: ~2e-8 absolute); 1e-7 still catches any real error
    np.testing.assert_allclose(got, prior.logpdf(X), rtol=0, atol=1e-7)


def test_logstudentt_is_log_t_on_tau_squared():
    # Rhodes 2015: log(tau^2) = m + s t_5  <=>  log(tau) = m/2 + (s/2) t_5
    p = P.rhodes2015("any", "any")
    assert (p.nu, p.mu, p.sigma) == (5, -1.72, 1.295)
    tau = np.array([0.05, 0.2, 0.6])
    np.testing.assert_allclose(p.cdf(tau), stats.t(5, -3.44, 2.59).cdf(np.log(tau**2)), rtol=1e-12)
    # density integrates to one
    from scipy import integrate

    total = integrate.quad(lambda t: np.exp(p.logpdf(t)), 0, np.inf, limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-7)


def test_turner_lognormal_on_tau_squared():
    # Turner 2015 marginal: log(tau^2) ~ N(-2.56, 1.74^2)  <=>  tau ~ LogNormal(-1.28, 0.87)
    p = P.turner2015("any", "any")
    tau = np.array([0.05, 0.2, 0.6])
    np.testing.assert_allclose(p.cdf(tau), stats.norm(-2.56, 1.74).cdf(np.log(tau**2)), rtol=1e-12)


def test_turner_table_lookup():
    # shared/reference/turner2015_lognormal_tau2.csv row "adverse events",
    # "pharmacological vs. placebo / control": -1.87, 1.52
    p = P.turner2015("Adverse events", "pharmacological vs. placebo / control")
    assert (p.mu, p.sigma) == (-0.935, 0.76)
    assert "Turner 2015" in repr(p)


def test_rhodes_table_lookup_and_area():
    # rhodes2015_logt5_tau2.csv: "obstetric outcome", pharmacological vs. placebo / control,
    # other: -4.13, 2.34
    p = P.rhodes2015("obstetric outcome", "pharmacological vs. placebo / control")
    assert (p.mu, p.sigma) == (-4.13 / 2, 2.34 / 2)
    q = P.rhodes2015(
        "obstetric outcome", "pharmacological vs. placebo / control", area="respiratory"
    )
    assert q != p


@pytest.mark.parametrize(
    "call",
    [
        lambda: P.turner2015("not an outcome", "pharmacological vs. placebo / control"),
        lambda: P.turner2015("pain", "surgery"),
        lambda: P.rhodes2015("mental health outcome", "pharmacological vs. placebo", area="heart"),
    ],
)
def test_unknown_categories_list_valid_ones(call):
    with pytest.raises(P.PriorError, match=r"valid \w+s:\n  any\n"):
        call()


def test_marginal_needs_both_any():
    with pytest.raises(P.PriorError, match="needs outcome='any' and comparison='any'"):
        P.turner2015("any", "pharmacological vs. pharmacological")


@pytest.mark.parametrize(
    "make",
    [
        lambda: P.HalfNormal(0),
        lambda: P.HalfNormal(-1),
        lambda: P.Normal(0, 0),
        lambda: P.HalfCauchy(-2),
        lambda: P.LogNormal(0, -1),
        lambda: P.Exponential(0),
        lambda: P.HalfStudentT(0, 1),
        lambda: P.Uniform(1, 1),
        lambda: P.Normal(np.nan, 1),
    ],
)
def test_non_positive_scale_is_rejected(make):
    with pytest.raises(P.PriorError, match="must be"):
        make()


def test_parse_and_from_dict_roundtrip():
    for text in [
        "halfnormal(0.5)",
        "HalfCauchy(beta=1)",
        "normal(0, 4)",
        "flat",
        "halfstudentt(nu=3, sigma=0.5)",
        "lognormal(-1.28, 0.87)",
    ]:
        p = P.parse(text)
        assert P.from_dict(p.to_dict()) == p
    assert P.parse("turner2015(any; any)") == P.turner2015()
    with pytest.raises(P.PriorError, match="unknown prior 'gamma'"):
        P.parse("gamma(2, 1)")
    with pytest.raises(P.PriorError, match="unknown parameter"):
        P.from_dict({"dist": "HalfNormal", "scale": 1})


def test_repr_is_readable():
    assert repr(P.HalfNormal(0.5)) == "HalfNormal(sigma=0.5)"
    assert repr(P.Normal(0, 4)) == "Normal(mu=0, sigma=4)"


# -- every proper distribution, one parametrised check -------------------------------------
INF = np.inf
_SEI = [0.2, 0.3, 0.5]
_S02 = 3 / sum(1 / s**2 for s in _SEI)  # harmonic mean of sei^2

# (prior, closed-form or independent scipy logpdf, x values inside the support)
PROPER = [
    (P.Normal(0.3, 2.0), stats.norm(0.3, 2.0).logpdf, [-3.0, 0.0, 0.3, 2.5]),
    (P.StudentT(4, 0.2, 1.5), stats.t(4, 0.2, 1.5).logpdf, [-3.0, 0.0, 0.7]),
    (
        P.TruncatedNormal(0.0, 1.0, 0.0, INF),
        lambda x: np.log(2) + stats.norm.logpdf(x),  # half of a standard normal, doubled
        [0.0, 0.4, 2.0],
    ),
    (
        P.TruncatedNormal(0.5, 2.0, -1.0, 1.0),
        lambda x: (
            stats.norm(0.5, 2).logpdf(x)
            - np.log(stats.norm(0.5, 2).cdf(1) - stats.norm(0.5, 2).cdf(-1))
        ),
        [-1.0, 0.0, 1.0],
    ),
    (
        P.TruncatedNormal(0.0, 1.0, -INF, -1.0),
        lambda x: stats.norm.logpdf(x) - np.log(stats.norm.cdf(-1)),
        [-3.0, -1.0],
    ),
    (P.HalfNormal(0.5), stats.halfnorm(scale=0.5).logpdf, X),
    (P.HalfCauchy(1.0), stats.halfcauchy(scale=1.0).logpdf, X),
    (P.HalfStudentT(3, 0.7), lambda x: np.log(2 * stats.t(3, 0, 0.7).pdf(x)), X),
    (P.LogNormal(-1.28, 0.87), stats.lognorm(s=0.87, scale=np.exp(-1.28)).logpdf, X),
    (
        P.LogStudentT(5, -1.72, 1.295),
        lambda x: stats.t(5, -1.72, 1.295).logpdf(np.log(x)) - np.log(x),
        X,
    ),
    (P.Uniform(0.0, 2.0), stats.uniform(0, 2).logpdf, [0.0, 0.5, 2.0]),
    (P.Exponential(2.0), stats.expon(scale=0.5).logpdf, [0.0, *X]),
    (
        P.InverseGamma(2.0, 0.3),  # beta^a / Gamma(a) x^(-a-1) exp(-beta/x)
        lambda x: 2 * np.log(0.3) - special.gammaln(2) - 3 * np.log(x) - 0.3 / np.asarray(x),
        X,
    ),
    (
        P.DuMouchel().bind(_SEI),  # s0 / (s0 + tau)^2
        lambda t: 0.5 * np.log(_S02) - 2 * np.log(np.sqrt(_S02) + np.asarray(t)),
        [0.0, *X],
    ),
    (
        P.UniformShrinkage().bind(_SEI),  # 2 s0^2 tau / (s0^2 + tau^2)^2
        lambda t: np.log(2 * _S02 * np.asarray(t) / (_S02 + np.asarray(t) ** 2) ** 2),
        X,
    ),
    (
        P.UniformI2().bind([0.3, 0.3]),  # k = 2 equal sei: s^2 = sei^2 = 0.09
        lambda t: np.log(2 * 0.09 * np.asarray(t) / (0.09 + np.asarray(t) ** 2) ** 2),
        X,
    ),
    (
        P.Conventional().bind([0.4, 0.4]),  # equal sei s: tau / (s^2 + tau^2)^(3/2) * s
        lambda t: np.log(0.4 * np.asarray(t) / (0.16 + np.asarray(t) ** 2) ** 1.5),
        X,
    ),
]
IMPROPER = [
    P.Flat(),
    P.ImproperUniform(),
    P.ImproperUniformSqrt(),
    P.Jeffreys().bind(_SEI),
    P.BergerDeely().bind(_SEI),
]


def _pid(x):
    return repr(x)[:40] if isinstance(x, P.Prior) else ""


def test_every_distribution_is_checked():
    checked = {p[0].name for p in PROPER} | {p.name for p in IMPROPER}
    checked.add("OverallJeffreys")  # normalised numerically: see test_priors_reference.py
    assert {c.lower() for c in checked} == set(P.DISTRIBUTIONS)


@pytest.mark.parametrize(("prior", "logpdf", "x"), PROPER, ids=_pid)
def test_proper_distribution(prior, logpdf, x):
    x = np.asarray(x, dtype=float)
    assert prior.proper
    np.testing.assert_allclose(prior.logpdf(x), logpdf(x), rtol=1e-10, atol=1e-12)
    # outside the support (and just beyond finite bounds) the density is zero
    lo, hi = prior.bounds
    outside = [v for v in (lo - 1.0, lo - 1e-9, hi + 1e-9, hi + 1.0) if np.isfinite(v)]
    assert np.all(prior.logpdf(outside) == -np.inf)

    # cdf is the integral of the density; ppf inverts it
    def density_integral(v):
        if v == lo:
            return 0.0
        if lo == 0:  # on the log scale: smooth near 0 for the log-normal and log-t
            g = lambda u: np.exp(prior.logpdf(np.exp(u)) + u)  # noqa: E731
            return integrate.quad(g, -np.inf, np.log(v), epsabs=1e-13, limit=200)[0]
        g = lambda t: np.exp(prior.logpdf(t))  # noqa: E731
        return integrate.quad(g, lo, v, epsabs=1e-13, limit=200)[0]

    f = [density_integral(v) for v in x]
    np.testing.assert_allclose(prior.cdf(x), f, rtol=1e-8, atol=1e-10)
    q = np.array([0.05, 0.5, 0.95])
    np.testing.assert_allclose(prior.cdf(prior.ppf(q)), q, rtol=1e-9)
    draws = prior.rvs(200, np.random.default_rng(1))
    assert draws.shape == (200,)
    assert np.all((draws >= lo) & (draws <= hi))
    # round trips
    assert P.from_dict(prior.to_dict()) == prior
    if not isinstance(prior, P.BoundPrior):
        assert P.parse(repr(prior)) == prior


@pytest.mark.parametrize("prior", IMPROPER, ids=_pid)
def test_improper_distribution(prior):
    assert not prior.proper
    assert P.from_dict(prior.to_dict()) == prior
    for method in (prior.cdf, prior.ppf):
        with pytest.raises(P.PriorError, match="improper"):
            method(0.5)
    if prior.bounds[0] == 0:
        assert prior.logpdf(-0.1) == -np.inf


PYMC_CASES = [
    P.Normal(0.3, 2.0),
    P.StudentT(4, 0.2, 1.5),
    P.TruncatedNormal(0.0, 1.0, 0.0, INF),
    P.TruncatedNormal(0.5, 2.0, -1.0, 1.0),
    P.InverseGamma(2.0, 0.3),
    P.Exponential(2.0),
]


@pytest.mark.parametrize("prior", PYMC_CASES, ids=_pid)
def test_new_densities_match_pymc(prior):
    import pymc as pm

    with pm.Model():
        rv = prior.to_pymc("x")
    x = prior.ppf([0.1, 0.5, 0.9])
    got = np.array([float(pm.logp(rv, v).eval()) for v in x])
    # PyMC rounds some constants (seen: ~2e-8 absolute); 1e-7 still catches any real error
    np.testing.assert_allclose(got, prior.logpdf(x), rtol=0, atol=1e-7)


def test_far_tail_truncation_is_still_a_density():
    p = P.TruncatedNormal(0, 1, 60, np.inf)
    assert np.isfinite(p.logpdf(60.5))
    assert float(p.cdf(60.01)) == pytest.approx(0.4513072018711227, rel=1e-6)


@pytest.mark.parametrize(
    "prior",
    [
        P.Jeffreys().bind(_SEI),
        P.OverallJeffreys().bind(_SEI),
        P.UniformI2().bind(_SEI),
        P.ImproperUniformSqrt(),
        P.ImproperUniform(),
    ],
    ids=_pid,
)
def test_improper_and_bound_to_pymc_is_flat_plus_potential(prior):
    import pymc as pm

    with pm.Model() as model:
        prior.to_pymc("tau")
    lp = model.compile_logp(jacobian=False)
    for t in (0.05, 0.4, 2.0):
        assert float(lp({"tau_log__": np.log(t)})) == pytest.approx(
            float(prior.logpdf(t)), abs=1e-10
        )


# -- the R bayesmeta priors (values against R: test_priors_reference.py) ----------------------
def test_unbound_data_dependent_prior_has_no_density():
    p = P.parse("jeffreys")
    assert p.data_dependent and p == P.Jeffreys()
    for call in (lambda: p.logpdf(0.5), lambda: p.cdf(0.5), lambda: p.ppf(0.5)):
        with pytest.raises(P.PriorError, match=r"must be bound .*Jeffreys\(\)\.bind\(sei\)"):
            call()
    with pytest.raises(P.PriorError, match="must be bound"):
        p.to_pymc("tau")


def test_bind_is_identity_for_other_priors_and_rebinds_bound_ones():
    hn = P.HalfNormal(0.5)
    assert hn.bind([0.1, 0.2]) is hn
    b = P.Jeffreys().bind([0.1, 0.2])
    assert b.bind([0.1, 0.2]) == b
    assert b.bind([0.3]).sei == (0.3,)


@pytest.mark.parametrize(
    ("sei", "message"),
    [
        ([0.1, -0.2], "sei must be finite and > 0"),
        ([0.1, np.nan], "sei must be finite"),
        ([], "at least 1"),
        ([1e-300], "too small to be represented"),
        (["a"], "sei must be numbers"),
    ],
)
def test_bind_rejects_bad_standard_errors(sei, message):
    with pytest.raises(P.PriorError, match=message):
        P.Jeffreys().bind(sei)


def test_i2_prior_needs_two_studies():
    with pytest.raises(P.PriorError, match="UniformI2: needs at least 2"):
        P.UniformI2().bind([0.3])


def test_rbayesmeta_names_are_case_insensitive_and_listed():
    for name, cls in P.RBAYESMETA.items():
        assert type(P.rbayesmeta(name.upper())) is cls
        assert P.parse(f"rbayesmeta({name.lower()})") == cls()
        assert P.from_dict({"rbayesmeta": name}) == cls()
    with pytest.raises(
        P.PriorError, match="unknown tau prior 'tibshirani'.*Jeffreys, overallJeffreys"
    ):
        P.rbayesmeta("tibshirani")


def test_bound_prior_round_trip_keeps_sei():
    b = P.UniformI2().bind([0.1, 0.25, 0.4])
    d = b.to_dict()
    assert d == {"dist": "UniformI2", "sei": [0.1, 0.25, 0.4]}
    assert P.from_dict(d) == b
    assert repr(b) == "UniformI2(bound to k=3 standard errors)"


def test_improper_uniform_logpdf_at_bounds():
    np.testing.assert_array_equal(P.ImproperUniform().logpdf([-1e-12, 0.0, 5.0]), [-np.inf, 0, 0])
    np.testing.assert_array_equal(P.ImproperUniformSqrt().logpdf([-1.0, 0.0]), [-np.inf, np.inf])
    assert P.Jeffreys().bind(_SEI).logpdf(0.0) == -np.inf  # density 0 at tau = 0
    assert P.DuMouchel().bind([0.5]).logpdf(0.0) == pytest.approx(-np.log(0.5))


@pytest.mark.parametrize(
    ("prior", "bounds"),
    [
        (P.HalfNormal(1), (0.0, np.inf)),
        (P.Normal(0, 1), (-np.inf, np.inf)),
        (P.Flat(), (-np.inf, np.inf)),
        (P.Uniform(-1, 2), (-1.0, 2.0)),
        (P.TruncatedNormal(0, 1, -np.inf, 3), (-np.inf, 3.0)),
        (P.ImproperUniform(), (0.0, np.inf)),
        (P.Jeffreys(), (0.0, np.inf)),
    ],
    ids=_pid,
)
def test_bounds(prior, bounds):
    assert prior.bounds == bounds


# -- intended measure ---------------------------------------------------------------------
def test_empirical_priors_know_their_measure():
    t, r = P.turner2015(), P.rhodes2015()
    assert t.intended_measure == "OR" and r.intended_measure == "SMD"
    assert P.HalfNormal(0.5).intended_measure is None
    assert P.from_dict(t.to_dict()).intended_measure == "OR"
    assert t.to_dict()["intended_measure"] == "OR"
    assert t == P.LogNormal(-1.28, 0.87)  # compare=False: the label does not change the law


# -- bad input: each gives a PriorError that says what is wrong --------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("normal(0)", r"Normal: missing parameter sigma"),
        ("halfnormal()", r"HalfNormal: missing parameter sigma"),
        ("logstudentt()", r"LogStudentT: missing parameters nu, mu, sigma"),
        ("logstudentt(nu=5)", r"LogStudentT: missing parameters mu, sigma"),
        ("uniform", r"Uniform: missing parameters lower, upper .*improper_uniform"),
        ("truncatednormal(0, 1, 0)", r"TruncatedNormal: missing parameter upper"),
        ("halfnormal(", r"missing '\)'"),
        ("halfnormal(0.5", r"missing '\)'"),
        ("halfnormal(a)", r"'a' is not a number"),
        ("halfnormal(sigma=)", r"sigma='' is not a number"),
        ("halfnormal(nan)", r"'nan' is not a number"),
        ("halfnormal(1,,)", r"empty parameter"),
        ("halfnormal((0.5))", r"unbalanced parentheses"),
        ("normal(mu=1, mu=2)", r"mu given twice"),
        ("normal(0, mu=1)", r"Normal: parameter\(s\) mu given twice"),
        ("normal(mu=0, 1)", r"positional after keyword"),
        ("normal(0, 1, 2)", r"Normal takes 2 parameter"),
        ("halfnormal(scale=1)", r"unknown parameter\(s\) scale; parameters: sigma"),
        ("flat(1)", r"Flat takes 0 parameter"),
        ("", r"empty prior specification.*Valid: Normal"),
        ("   ", r"empty prior specification"),
        ("(0.5)", r"expected NAME or NAME\(parameters\)"),
        ("gamma(2, 1)", r"unknown prior 'gamma'; valid: Normal, StudentT"),
        ("turner2015(nonsense)", r"turner2015: the marginal setting needs"),
        ("turner2015(a; b; c)", r"turner2015: too many .*turner2015\(outcome; comparison\)"),
        ("rhodes2015(any; any; heart)", r"unknown or ambiguous area 'heart'"),
        ("rbayesmeta(gamma)", r"unknown tau prior 'gamma'; valid"),
        ("rbayesmeta()", r"unknown tau prior ''"),
        ("halfnormal(1e-300)", r"HalfNormal: sigma=1e-300 is too small to be represented"),
        ("halfcauchy(1e-310)", r"HalfCauchy: beta=1e-310 is too small to be represented"),
        ("halfnormal(1e308)", r"HalfNormal: sigma=1e\+308 is too large to be represented"),
        ("exponential(1e-300)", r"Exponential: lam=1e-300 is too small to be represented"),
        ("uniform(-1e308, 1e308)", r"Uniform: lower=.* is too large to be represented"),
        ("halfnormal(inf)", r"sigma must be > 0, got inf"),
        ("truncatednormal(0, 1, -inf, inf)", r"at least one of lower, upper must be finite"),
        ("truncatednormal(0, 1, 2, 1)", r"upper \(1\) must be > lower \(2\)"),
        ("studentt(0, 0, 1)", r"StudentT: nu must be > 0"),
        ("inversegamma(1, -1)", r"InverseGamma: beta must be > 0"),
    ],
)
def test_bad_prior_text_is_a_clear_error(text, message):
    with pytest.raises(P.PriorError, match=message):
        P.parse(text)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"dist": "Normal", "mu": 0}, r"Normal: missing parameter sigma"),
        ({"dist": "HalfNormal"}, r"HalfNormal: missing parameter sigma"),
        ({"dist": "HalfNormal", "sigma": "a"}, r"sigma must be a number, got 'a'"),
        ({"dist": "HalfNormal", "sigma": True}, r"sigma must be a number, got True"),
        ({"dist": "HalfNormal", "sigma": 1, "note": 3}, r"note must be a string"),
        ({"dist": "HalfNormal", "sigma": 1, "intended_measure": 1}, r"intended_measure must be"),
        ({"dist": 3}, r"'dist' must be a prior name"),
        ({}, r"a prior needs 'dist'"),
        ({"empirical": "turner2015", "foo": 1}, r"turner2015: got an unexpected keyword"),
        ({"empirical": "turner2015", "outcome": 1, "comparison": "x"}, r"outcome must be a string"),
        ({"empirical": "nope"}, r"unknown empirical prior 'nope'"),
        ({"rbayesmeta": "I2", "x": 1}, r"unexpected key\(s\) x"),
        ({"dist": "HalfNormal", "sigma": 1, "sei": [1]}, r"unknown parameter\(s\) sei"),
        ("halfnormal(1)", r"must be a dict"),
    ],
)
def test_bad_prior_mapping_is_a_clear_error(spec, message):
    with pytest.raises(P.PriorError, match=message):
        P.from_dict(spec)


def test_parse_rejects_non_text():
    with pytest.raises(P.PriorError, match="must be given as text"):
        P.parse(None)


@pytest.mark.parametrize("sigma", [1e-150, 1e-100, 1e150])
def test_tiny_and_huge_but_sane_scales_are_kept(sigma):
    p = P.HalfNormal(sigma)
    assert np.isfinite(p.logpdf(sigma))
    assert p.logpdf(0.5 if sigma < 1 else 1e149) <= np.inf  # no warning (errors here)


def test_parse_accepts_r_class_names_and_underscores():
    assert P.parse("improper_uniform") == P.ImproperUniform()
    assert P.parse("Improper Uniform Sqrt") == P.ImproperUniformSqrt()
    assert P.parse("truncated_normal(mu=0, sigma=1, lower=0, upper=inf)").bounds == (0, np.inf)
    assert P.parse("inverse_gamma(1, 0.15)") == P.InverseGamma(1, 0.15)
