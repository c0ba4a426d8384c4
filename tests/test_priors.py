"""Prior value objects: densities against scipy and PyMC, empirical priors from their tables."""

import numpy as np
import pytest
from scipy import stats

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
