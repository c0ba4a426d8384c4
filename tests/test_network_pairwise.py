"""Pairwise binomial networks use the exact binomial-normal engine (issue 12, "Reuse")."""

import numpy as np
import pandas as pd
import pytest

import bayesmeta
from bayesmeta import priors
from bayesmeta.network import fit_network
from bayesmeta.spec import SpecError

D_PRIOR = priors.Normal(0, 2)
TAU_PRIOR = priors.HalfNormal(0.5)
BASELINE = priors.BASELINE  # the default baseline prior of every binomial model
Q = [0.025, 0.25, 0.5, 0.75, 0.975]


def _long(crins: pd.DataFrame, flip: tuple[str, ...] = ()) -> pd.DataFrame:
    rows = []
    for r in crins.itertuples():
        arms = [("IL2RA", r.events_t, r.n_t), ("control", r.events_c, r.n_c)]
        if r.study in flip:  # the control arm listed first: the study's baseline changes
            arms.reverse()
        for t, e, n in arms:
            rows.append({"study": r.study, "treatment": t, "events": e, "n": n})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def crins_wide(crins):
    """Crins et al. 2014 in the wide pairwise shape (the conftest fixture)."""
    return crins


@pytest.fixture(scope="module")
def pairwise(crins_wide):
    res = fit_network(
        _long(crins_wide),
        "OR",
        reference="control",
        likelihood="binomial",
        d_prior=D_PRIOR,
        tau_prior=TAU_PRIOR,
    )
    ref = bayesmeta.fit(
        crins_wide,
        "OR",
        likelihood="binomial",
        mu_prior=D_PRIOR,
        tau_prior=TAU_PRIOR,
        baseline_prior=BASELINE,
    )
    return res, ref


def test_uses_the_exact_engine(pairwise):
    res, ref = pairwise
    assert res.engine == "exact"
    assert ref.engine == "exact"
    assert res.fit.diagnostics is None
    assert repr(res.priors["baseline"]) == repr(BASELINE)


def test_matches_the_pairwise_fit(pairwise):
    res, ref = pairwise
    mu = ref.posterior.marginal("mu")
    m = res.fit.posterior.linear(np.array([[1.0]]))
    np.testing.assert_allclose(m.quantile(Q)[0], mu.quantile(Q), rtol=0, atol=1e-9)
    rel = res.relative_effects().loc[("IL2RA", "control")]
    np.testing.assert_allclose(
        [rel["median"], rel["lower"], rel["upper"]],
        mu.quantile([0.5, 0.025, 0.975]),
        rtol=0,
        atol=1e-9,
    )
    assert rel["mean"] == pytest.approx(float(mu.mean()), abs=1e-9)
    assert rel["sd"] == pytest.approx(float(mu.sd()), abs=1e-9)
    nat = res.relative_effects(scale="natural").loc[("IL2RA", "control")]
    assert nat["mean"] == pytest.approx(float(mu.mean_sd_exp()[0]), abs=1e-9)
    # prediction: theta_new
    new = ref.posterior.marginal("theta_new")
    pr = res.predict().loc[("IL2RA", "control")]
    np.testing.assert_allclose(
        [pr["median"], pr["lower"], pr["upper"]],
        new.quantile([0.5, 0.025, 0.975]),
        rtol=0,
        atol=1e-9,
    )
    # tau
    tau = ref.posterior.marginal("tau")
    het = res.heterogeneity().loc["tau"]
    np.testing.assert_allclose(
        [het["median"], het["lower"], het["upper"]],
        tau.quantile([0.5, 0.025, 0.975]),
        rtol=0,
        atol=1e-9,
    )
    # the result is a clear reduction in rejection (Crins)
    assert rel["upper"] < 0


def test_reversed_pair_is_the_negation(pairwise):
    res, ref = pairwise
    mu = ref.posterior.marginal("mu")
    rev = res.relative_effects(vs="IL2RA").loc[("control", "IL2RA")]
    np.testing.assert_allclose(
        [rev["median"], rev["lower"], rev["upper"]],
        -mu.quantile([0.5, 0.975, 0.025]),
        rtol=0,
        atol=1e-9,
    )
    assert rev["mean"] == pytest.approx(-float(mu.mean()), abs=1e-9)
    assert rev["sd"] == pytest.approx(float(mu.sd()), abs=1e-9)
    m = res.fit.posterior.linear(np.array([[1.0], [-1.0], [0.0]]))
    x = np.array([-1.5, -0.5, 0.0, 0.7])
    c = m.cdf(x)
    np.testing.assert_allclose(c[1], 1 - mu.cdf(-x), atol=1e-12)
    np.testing.assert_allclose(c[2], (x >= 0).astype(float))
    nat = res.relative_effects(scale="natural", all_pairs=True)
    lt = res.league_table()
    assert lt.loc["control", "IL2RA"] != "" and lt.loc["IL2RA", "control"] != ""
    nat_rev = res.relative_effects(scale="natural", vs="IL2RA").loc[("control", "IL2RA")]
    assert nat_rev["median"] == pytest.approx(1 / nat.iloc[0]["median"], rel=1e-9)
    # Jensen: E[1/OR] > 1/E[OR]
    assert nat_rev["mean"] > 1 / nat.iloc[0]["mean"]
    draws = np.asarray(res.fit.posterior.marginal("beta").draws()).ravel()
    assert draws.size == 10_000
    assert nat_rev["mean"] == pytest.approx(np.exp(-draws).mean(), rel=0.03)


def test_negated_exp_moments_by_quadrature(pairwise):
    """The quadrature for exp(a X) reproduces the engine's own E[exp(X)] when a = 1."""
    from bayesmeta.network.pairwise import ScaledMarginal

    _, ref = pairwise
    mu = ref.posterior.marginal("mu")
    s = ScaledMarginal(mu, 1.0 + 1e-15)  # a != 1 exactly: forces the quadrature
    m, sd = s.mean_sd_exp()
    me, se = mu.mean_sd_exp()
    assert float(m) == pytest.approx(float(me), rel=1e-6)
    assert float(sd) == pytest.approx(float(se), rel=1e-5)


def test_ranks_sucra_prob_exceeds(pairwise):
    res, ref = pairwise
    mu = ref.posterior.marginal("mu")
    r = res.ranks(lower_better=True)
    assert list(r.index) == ["control", "IL2RA"]
    p_il2ra_best = float(mu.cdf([0.0])[0])  # lower is better: P(d < 0)
    assert r.loc["IL2RA", "p_best"] == pytest.approx(p_il2ra_best, abs=0.01)
    np.testing.assert_allclose(r[[1, 2]].sum(axis=1), 1.0)
    s = res.sucra(lower_better=True)
    assert s.loc["IL2RA", "mean"] == pytest.approx(p_il2ra_best, abs=0.01)
    assert s.loc["IL2RA", "mean"] + s.loc["control", "mean"] == pytest.approx(1.0)
    p = res.prob_exceeds([1.0, 0.5], direction="less")
    assert list(p["treatment"]) == ["IL2RA", "IL2RA"]
    assert p["p"].iloc[0] == pytest.approx(p_il2ra_best, abs=1e-9)
    assert p["p"].iloc[1] == pytest.approx(float(mu.cdf([np.log(0.5)])[0]), abs=1e-9)
    new = ref.posterior.marginal("theta_new")
    assert p["p_new"].iloc[0] == pytest.approx(float(new.cdf([0.0])[0]), abs=1e-9)
    assert np.all(p["mcse"] == 0) and np.all(p["mcse_new"] == 0)
    pr = res.prob_exceeds([1.0], vs="IL2RA", direction="greater")
    assert pr["p"].iloc[0] == pytest.approx(p_il2ra_best, abs=1e-9)
    # summary, node-split (nothing to split) and unrelated effects (the same pair)
    assert list(res.summary().index) == ["d[IL2RA]", "tau"]
    assert res.node_split().empty
    ume = res.unrelated_effects()
    assert ume.iloc[0]["median"] == pytest.approx(float(mu.quantile([0.5])[0]), abs=1e-9)


def test_study_baselines_in_either_order(crins_wide, pairwise):
    res, _ = pairwise
    flipped = fit_network(
        _long(crins_wide, flip=("Heffron 2003", "Gras 2008")),
        "OR",
        reference="control",
        likelihood="binomial",
        d_prior=D_PRIOR,
        tau_prior=TAU_PRIOR,
    )
    assert flipped.engine == "exact"
    np.testing.assert_allclose(
        flipped.relative_effects()[["median", "lower", "upper"]].to_numpy(),
        res.relative_effects()[["median", "lower", "upper"]].to_numpy(),
        atol=1e-9,
    )


def test_reference_il2ra_and_fixed_effect(crins_wide):
    fe = fit_network(
        _long(crins_wide),
        "OR",
        reference="IL2RA",
        model="fixed",
        likelihood="binomial",
        d_prior=D_PRIOR,
        baseline_prior=priors.Normal(0, 10),
        engine="exact",
    )
    # IL2RA the reference: the experimental arm is control, the baselines are IL2RA's
    swapped = crins_wide.rename(
        columns={"events_t": "events_c", "n_t": "n_c", "events_c": "events_t", "n_c": "n_t"}
    )
    ref = bayesmeta.fit(
        swapped,
        "OR",
        likelihood="binomial",
        model="fixed",
        mu_prior=D_PRIOR,
        baseline_prior=priors.Normal(0, 10),
    )
    assert fe.engine == "exact"
    mu = ref.posterior.marginal("mu")
    rel = fe.relative_effects().loc[("control", "IL2RA")]
    np.testing.assert_allclose(
        [rel["median"], rel["lower"], rel["upper"]],
        mu.quantile([0.5, 0.025, 0.975]),
        rtol=0,
        atol=1e-9,
    )
    assert rel["lower"] > 0
    assert (fe.heterogeneity() == 0).all().all()
    pr = fe.predict().loc[("control", "IL2RA")]
    assert pr["median"] == pytest.approx(rel["median"], abs=1e-12)


def _three_arm_network():
    return pd.DataFrame(
        {
            "study": ["a", "a", "b", "b", "c", "c"],
            "treatment": ["A", "B", "A", "C", "B", "C"],
            "events": [5, 8, 6, 10, 7, 9],
            "n": [40, 40, 50, 50, 45, 45],
        }
    )


def test_three_treatments_still_use_nuts(monkeypatch):
    from bayesmeta.engines import nuts_network as nn
    from bayesmeta.engines.base import DrawsMarginal

    calls = []

    class _FakePost:
        def marginal(self, name):
            return DrawsMarginal(np.zeros((1, 4, 2)))

    def fake_fit(model, **kw):
        calls.append(model)
        return _FakePost(), None

    monkeypatch.setattr(nn, "binomial_model", lambda *a, **k: "binomial-model")
    monkeypatch.setattr(nn, "fit", fake_fit)
    res = fit_network(
        _three_arm_network(),
        "OR",
        reference="A",
        likelihood="binomial",
        tau_prior=TAU_PRIOR,
        seed=1,
    )
    assert res.engine == "nuts" and calls == ["binomial-model"]
    with pytest.raises(SpecError, match="pairwise"):
        fit_network(
            _three_arm_network(),
            "OR",
            reference="A",
            likelihood="binomial",
            tau_prior=TAU_PRIOR,
            engine="exact",
        )


def test_engine_nuts_is_respected(crins_wide, monkeypatch):
    from bayesmeta.engines import nuts_network as nn

    monkeypatch.setattr(nn, "binomial_model", lambda *a, **k: "binomial-model")
    monkeypatch.setattr(nn, "fit", lambda model, **kw: (object(), None))
    res = fit_network(
        _long(crins_wide),
        "OR",
        reference="control",
        likelihood="binomial",
        tau_prior=TAU_PRIOR,
        engine="nuts",
        seed=2,
    )
    assert res.engine == "nuts"


def test_multi_arm_two_treatment_study_is_not_pairwise(monkeypatch):
    """A study with an arm repeated is rejected by the data layer or fitted with NUTS."""
    from bayesmeta.engines import nuts_network as nn

    monkeypatch.setattr(nn, "binomial_model", lambda *a, **k: "binomial-model")
    monkeypatch.setattr(nn, "fit", lambda model, **kw: (object(), None))
    df = pd.DataFrame(
        {
            "study": ["a", "a", "a", "b", "b"],
            "treatment": ["A", "B", "C", "A", "B"],
            "events": [5, 8, 6, 10, 7],
            "n": [40, 40, 50, 50, 45],
        }
    )
    res = fit_network(df, "OR", reference="A", likelihood="binomial", tau_prior=TAU_PRIOR)
    assert res.engine == "nuts"
