"""Network meta-analysis with NUTS: agreement with the exact engine, binomial recovery,
convergence of the binomial model."""

import numpy as np
import pandas as pd
import pytest

from bayesmeta import datasets, priors
from bayesmeta.engines import nuts_network as nn
from bayesmeta.network import fit_network
from bayesmeta.network.result import COLUMNS, MC_COLUMNS

pytestmark = pytest.mark.slow


#: Monte Carlo tolerance: 4 x the MCSE of a mean from ~1000 effective draws (sd / sqrt(1000)),
#: plus 0.01 for the SDs' own Monte Carlo error.
def _mc_tol(sd):
    return 4 * sd / np.sqrt(1000) + 0.01


_PARKINSONS = dict(reference="placebo", tau_prior=priors.HalfNormal(1.0))


@pytest.fixture(scope="module")
def parkinsons_exact():
    return fit_network(datasets.load("parkinsons_tsd2"), "MD", **_PARKINSONS)


@pytest.fixture(scope="module")
def parkinsons_nuts():
    return fit_network(
        datasets.load("parkinsons_tsd2"),
        "MD",
        engine="nuts",
        seed=11,
        draws=1000,
        tune=1000,
        chains=2,
        target_accept=0.95,
        **_PARKINSONS,
    )


def test_exact_and_nuts_agree_on_parkinsons(parkinsons_exact, parkinsons_nuts):
    exact, nuts = parkinsons_exact, parkinsons_nuts
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
    # bulk and tail ESS use ranks and quantiles (the same on the odds-ratio scale); the MCSE
    # is of the mean OR
    nat = res.relative_effects(scale="natural")
    ess = ["ess_bulk", "ess_tail"]
    np.testing.assert_allclose(nat[ess], rel[ess], rtol=1e-9)
    assert np.all(nat["mcse_mean"] != rel["mcse_mean"])
    # the binomial and the normal approximation agree with large arms
    approx = fit_network(
        df, "OR", reference="A", tau_prior=priors.HalfNormal(0.5), d_prior=priors.Normal(0, 10)
    ).relative_effects()
    np.testing.assert_allclose(rel["mean"], approx["mean"], atol=0.08)


def _weak_network(k=25, seed=1):
    """Binary network of benchmarks/network.py: 6 treatments, 9 two-arm designs and one
    three-arm, tau 0.2, 40-200 per arm: the data say little about each study's effect."""
    rng = np.random.default_rng(seed)
    d = dict(zip("ABCDEF", [0.0, -0.3, -0.5, 0.2, -0.1, -0.6], strict=True))
    designs = ["AB", "AC", "BC", "AD", "CD", "DE", "AE", "EF", "BF", "ABC"]
    rows = []
    for i in range(k):
        arms = designs[i % len(designs)]
        base = rng.normal(-0.5, 0.5)
        for t in arms:
            delta = 0.0 if t == arms[0] else d[t] - d[arms[0]] + 0.2 * rng.normal()
            n = int(rng.integers(40, 200))
            p = 1 / (1 + np.exp(-(base + delta)))
            rows.append({"study": f"s{i}", "treatment": t, "events": rng.binomial(n, p), "n": n})
    return pd.DataFrame(rows)


#: Bulk ESS of tau the binomial model must reach on the weak network with 4 x 1000 draws at
#: target_accept 0.9: 1.5 x the diagnostic threshold (400). The earlier form (a z for every
#: arm, the baseline log odds free) gave 274-612 over seeds 1-6 and failed R-hat or ESS of
#: tau at seeds 1, 2 and 4; the present one gives 817-1078.
TAU_ESS_MIN = 600


def test_binomial_network_converges_at_moderate_settings():
    res = fit_network(
        _weak_network(),
        "OR",
        reference="A",
        likelihood="binomial",
        engine="nuts",
        seed=1,
        draws=1000,
        tune=1000,
        chains=4,
        target_accept=0.9,
    )
    diag = res.fit.diagnostics
    assert diag.ok, diag.problems
    assert diag.n_divergent == 0
    assert diag.table.loc["tau", "ess_bulk"] > TAU_ESS_MIN, diag.table


@pytest.mark.parametrize("sizes", [(1,), (2,), (1, 3, 2)])
def test_random_effect_blocks_factor_w(sizes):
    s_idx = np.repeat(np.arange(len(sizes)), sizes)
    K = s_idx.size
    L, Li = np.zeros((K, K)), np.zeros((K, K))
    rows, cols, vals = nn._blocks(s_idx)
    L[rows, cols] = vals
    rows, cols, vals = nn._blocks(s_idx, inverse=True)
    Li[rows, cols] = vals
    W = np.where(s_idx[:, None] == s_idx[None, :], 0.5, 0.0) + 0.5 * np.eye(K)
    np.testing.assert_allclose(L @ L.T, W, atol=1e-12)
    np.testing.assert_allclose(Li @ L, np.eye(K), atol=1e-12)


def _model_arms(df):
    from bayesmeta.network.data import network_data
    from bayesmeta.network.fit import _arms_for
    from bayesmeta.network.model import consistency_design

    design = consistency_design(network_data(df, "OR"), "A")
    arms, X = _arms_for(network_data(df, "OR"), design)
    return arms, X, design.names


@pytest.mark.parametrize(
    ("data", "centred"),
    [("weak", False), ("informative", True)],
    ids=["weak-noncentred", "informative-centred"],
)
def test_binomial_parametrisation_follows_the_data(data, centred):
    df = _weak_network() if data == "weak" else _simulated_binomial()[0]
    arms, X, names = _model_arms(df)
    model = nn.binomial_model(
        arms, X, names, priors.Normal(0, 10), priors.HalfNormal(0.5), priors.Normal(0, 10)
    )
    free = {v.name for v in model.free_RVs}
    assert ("delta_centred" in free) is centred
    assert ("z" in free) is not centred
    assert "alpha" in free and "mu" not in free


def test_reml_tau_is_zero_for_identical_studies_and_near_truth_otherwise():
    arms, X, _ = _model_arms(_simulated_binomial()[0])
    studies = list(dict.fromkeys(arms["study"]))
    s_idx = np.array([studies.index(s) for s in arms["study"]])
    nb = np.flatnonzero(np.r_[False, s_idx[1:] == s_idx[:-1]])
    r, n = arms["events"].to_numpy(), arms["n"].to_numpy()
    tau, se = nn._reml_tau(r, n, s_idx, nb, X)
    assert 0.15 < tau < 0.6  # simulated tau 0.3, 24 studies
    assert se.shape == (len(studies),) and np.all(se > 0)
    same = np.where(arms["treatment"] == "A", 30, 40)  # one table repeated: no heterogeneity
    assert nn._reml_tau(same, np.full_like(same, 150), s_idx, nb, X)[0] == 0.0


# -- Monte Carlo columns of the tables ---------------------------------------------------------
_TABLES = {
    "relative_effects": lambda r: r.relative_effects(all_pairs=True),
    "predict": lambda r: r.predict(all_pairs=True),
    "heterogeneity": lambda r: r.heterogeneity(),
    "summary": lambda r: r.summary(),
    "sucra": lambda r: r.sucra(),
}


@pytest.mark.parametrize("table", list(_TABLES))
def test_nuts_tables_end_with_monte_carlo_columns(parkinsons_nuts, table):
    tab = _TABLES[table](parkinsons_nuts)
    assert list(tab.columns[-4:]) == MC_COLUMNS
    mc = tab[MC_COLUMNS].to_numpy()
    assert np.all(np.isfinite(mc)), tab
    assert np.all(tab[["ess_bulk", "ess_tail"]] > 100) and np.all(tab["mcse_mean"] > 0)
    assert np.all((tab["r_hat"] > 0.99) & (tab["r_hat"] < 1.05))


def test_basic_parameter_rows_match_the_fit_diagnostics(parkinsons_nuts):
    summ = parkinsons_nuts.summary()
    diag = parkinsons_nuts.fit.diagnostics.table
    for name in summ.index:
        key = name.replace("d[", "beta[")
        for col in ("ess_bulk", "ess_tail", "r_hat"):
            assert summ.loc[name, col] == pytest.approx(diag.loc[key, col], rel=1e-12), (name, col)


def test_contrast_diagnostics_come_from_the_contrast_draws(parkinsons_nuts):
    import arviz_stats as azs

    rel = parkinsons_nuts.relative_effects(all_pairs=True)
    beta = np.asarray(parkinsons_nuts.fit.posterior.datatree["posterior"]["beta"])
    names = list(parkinsons_nuts.treatments[1:])
    diff = beta[..., names.index("drug3")] - beta[..., names.index("drug2")]
    row = rel.loc[("drug3", "drug2")]
    assert row["ess_bulk"] == pytest.approx(float(azs.ess(diff, method="bulk")), rel=1e-10)
    assert row["r_hat"] == pytest.approx(float(azs.rhat(diff, method="rank")), rel=1e-10)
    assert row["mcse_mean"] == pytest.approx(float(azs.mcse(diff, method="mean")), rel=1e-10)


@pytest.mark.parametrize("table", [*_TABLES, "node_split"])
def test_exact_tables_have_no_monte_carlo_columns(parkinsons_exact, table):
    tab = (
        parkinsons_exact.node_split() if table == "node_split" else _TABLES[table](parkinsons_exact)
    )
    extra = {"sucra": ["p_best"], "node_split": ["p_value"]}.get(table, [])
    assert list(tab.columns) == COLUMNS + extra
