"""Network meta-analysis with NUTS: agreement with the exact engine, binomial recovery."""

import numpy as np
import pandas as pd
import pytest

from bayesmeta import datasets, priors
from bayesmeta.network import fit_network

pytestmark = pytest.mark.slow


#: Monte Carlo tolerance: 4 x the MCSE of a mean from ~1000 effective draws (sd / sqrt(1000)),
#: plus 0.01 for the SDs' own Monte Carlo error.
def _mc_tol(sd):
    return 4 * sd / np.sqrt(1000) + 0.01


def test_exact_and_nuts_agree_on_parkinsons():
    df = datasets.load("parkinsons_tsd2")
    kw = dict(reference="placebo", tau_prior=priors.HalfNormal(1.0))
    exact = fit_network(df, "MD", **kw)
    nuts = fit_network(
        df, "MD", engine="nuts", seed=11, draws=1000, tune=1000, chains=2, target_accept=0.95, **kw
    )
    assert nuts.engine == "nuts" and exact.engine == "exact"
    e, n = exact.relative_effects(), nuts.relative_effects()
    for idx in e.index:
        tol = _mc_tol(e.loc[idx, "sd"])
        assert abs(e.loc[idx, "mean"] - n.loc[idx, "mean"]) < tol, idx
        assert abs(e.loc[idx, "sd"] - n.loc[idx, "sd"]) < 2 * tol, idx
    te, tn = exact.heterogeneity().loc["tau"], nuts.heterogeneity().loc["tau"]
    assert abs(te["median"] - tn["median"]) < 0.06


def _simulated_binomial(seed=5):
    rng = np.random.default_rng(seed)
    d = {"A": 0.0, "B": -0.5, "C": -1.0, "D": 0.4}
    designs = [("A", "B"), ("A", "C"), ("A", "D"), ("B", "C"), ("C", "D"), ("A", "B", "C")]
    rows = []
    tau = 0.3
    for i in range(24):
        arms = designs[i % len(designs)]
        base = rng.normal(-0.5, 0.3)
        for t in arms:
            delta = 0.0 if t == arms[0] else d[t] - d[arms[0]] + tau * rng.normal()
            p = 1 / (1 + np.exp(-(base + delta)))
            n = 150
            rows.append({"study": f"s{i}", "treatment": t, "events": rng.binomial(n, p), "n": n})
    return pd.DataFrame(rows), d


def test_binomial_recovers_parameters():
    df, truth = _simulated_binomial()
    res = fit_network(
        df,
        "OR",
        reference="A",
        likelihood="binomial",
        tau_prior=priors.HalfNormal(0.5),
        baseline_prior=priors.Normal(0, 10),
        d_prior=priors.Normal(0, 10),
        seed=3,
        draws=600,
        tune=800,
        chains=4,
    )
    rel = res.relative_effects()
    for t in ("B", "C", "D"):
        row = rel.loc[(t, "A")]
        assert row["lower"] < truth[t] < row["upper"], (t, row.to_dict())
        assert abs(row["mean"] - truth[t]) < 3 * row["sd"], (t, row.to_dict())
    assert res.fit.diagnostics.ok
    # the binomial and the normal approximation agree with large arms
    approx = fit_network(
        df, "OR", reference="A", tau_prior=priors.HalfNormal(0.5), d_prior=priors.Normal(0, 10)
    ).relative_effects()
    np.testing.assert_allclose(rel["mean"], approx["mean"], atol=0.08)
