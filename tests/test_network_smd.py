"""SMD (Hedges' g) contrasts of multi-arm trials and their covariance.

bayesmeta.network.data pools one SD over all arms of a study and uses the Gleser-Olkin
covariance ``1/n_b + g_j g_l / (2N)`` (N the study's total sample size). Checked here:
(a) a closed form computed independently in the test; (b) R metafor (reference:
tests/reference/metafor_network_smd.json, made by tests/reference/metafor_network_smd.R);
(c) a simulation of the sampling distribution of g in a three-arm trial; (d) bad input.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta import effects
from bayesmeta.errors import DataError
from bayesmeta.network.data import network_data
from bayesmeta.network.model import consistency_design

REF = json.loads(
    (Path(__file__).parent / "reference" / "metafor_network_smd.json").read_text("utf-8")
)

#: Closed forms recomputed in the test: the same few floating-point operations in another
#: order, so agreement to a few ulps of O(1) numbers.
EXACT_TOL = 1e-12
#: R values are written with 15 significant digits and computed by short formulas (and one
#: GLS of 9 parameters); 1e-8 as the other metafor comparisons of this suite.
R_TOL = 1e-8
#: Monte Carlo: an empirical covariance entry is off by more than 4 of its standard errors
#: with probability 6e-5 (normal approximation of the sample covariance).
Z_MC = 4.0
#: The Gleser-Olkin covariance is a large-sample approximation, off by O(1/n^2). For the
#: simulated design (evaluated, as bayesmeta does, at the estimate g = J delta) its largest
#: distance to the exact finite-sample covariance of g is 3.1e-5, about half a Monte Carlo
#: standard error (checked by test_simulated_design_approximation_error_is_small).
APPROX_BIAS = 4e-5


def _hedges_j(m: float) -> float:
    """Hedges' J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)), with math.lgamma."""
    return math.exp(math.lgamma(m / 2) - 0.5 * math.log(m / 2) - math.lgamma((m - 1) / 2))


def _table(study, treatment, mean, sd, n) -> pd.DataFrame:
    k = len(treatment)
    return pd.DataFrame(
        {"study": [study] * k, "treatment": treatment, "mean": mean, "sd": sd, "n": n}
    )


def _gleser_olkin(mean, sd, n) -> tuple[np.ndarray, np.ndarray]:
    """Independent closed form: one pooled SD, J(N - k), V = 1/n_b + g g'/(2N) + diag 1/n_j."""
    mean, sd, n = (np.asarray(x, float) for x in (mean, sd, n))
    k, total = len(n), float(n.sum())
    s_pooled = math.sqrt(sum((n[i] - 1) * sd[i] ** 2 for i in range(k)) / (total - k))
    g = _hedges_j(total - k) * (mean[1:] - mean[0]) / s_pooled
    V = np.empty((k - 1, k - 1))
    for j in range(k - 1):
        for m in range(k - 1):
            V[j, m] = 1 / n[0] + g[j] * g[m] / (2 * total) + (1 / n[j + 1] if j == m else 0)
    return g, V


# (a) closed form -------------------------------------------------------------------------
THREE_ARM = {
    "treatment": ["pbo", "low", "high"],
    "mean": [10.0, 12.0, 14.5],
    "sd": [4.0, 5.0, 4.5],
    "n": [30, 25, 35],
}


def test_three_arm_smd_covariance_is_gleser_olkin():
    s = network_data(_table("T", **THREE_ARM), "SMD").studies[0]
    g, V = _gleser_olkin(THREE_ARM["mean"], THREE_ARM["sd"], THREE_ARM["n"])
    np.testing.assert_allclose(s.y, g, rtol=EXACT_TOL, atol=0)
    np.testing.assert_allclose(s.cov, V, rtol=EXACT_TOL, atol=0)
    # the off-diagonal is not the MD-style baseline variance alone: the g term is there
    assert s.cov[0, 1] - 1 / 30 == pytest.approx(g[0] * g[1] / (2 * 90), rel=1e-12)


def test_two_arm_smd_is_unchanged_escalc():
    df = _table("T", ["c", "t"], [1.0, 2.3], [1.2, 0.9], [14, 17])
    s = network_data(df, "SMD").studies[0]
    yi, vi = effects.standardized_mean_difference([2.3], [0.9], [17], [1.0], [1.2], [14])
    np.testing.assert_allclose(s.y, yi, rtol=EXACT_TOL)
    np.testing.assert_allclose(s.cov, [[vi[0]]], rtol=EXACT_TOL)


@pytest.mark.parametrize("baseline", ["low", "high"])
def test_smd_rebased_equals_built_against_that_baseline(baseline):
    # One SD per study: the contrasts are consistent and V is closed under re-basing, so
    # node-splitting (which moves baselines) sees the same numbers as a re-ordered table.
    df = _table("T", **THREE_ARM)
    arms, y, cov = network_data(df, "SMD").studies[0].rebased(baseline)
    order = [THREE_ARM["treatment"].index(a) for a in arms]
    s2 = network_data(df.iloc[order], "SMD").studies[0]
    assert s2.arms == arms
    np.testing.assert_allclose(y, s2.y, rtol=0, atol=EXACT_TOL)
    np.testing.assert_allclose(cov, s2.cov, rtol=0, atol=EXACT_TOL)


# (b) R metafor ---------------------------------------------------------------------------
def _ref_table(arms: dict) -> pd.DataFrame:
    return pd.DataFrame({k: arms[k] for k in ("study", "treatment", "mean", "sd", "n")})


def test_reference_covers_two_three_and_four_arms():
    sizes = {len(s["arms"]) for s in REF["senn2013"]["studies"]}
    sizes.add(len(REF["four_arm"]["study"]["arms"]))
    assert sizes == {2, 3, 4}
    assert REF["source"]["metafor_version"]


def test_senn2013_study_contrasts_match_metafor():
    nd = network_data(_ref_table(REF["senn2013"]["arms"]), "SMD")
    got = {s.study: s for s in nd.studies}
    assert set(got) == {r["study"] for r in REF["senn2013"]["studies"]}
    for r in REF["senn2013"]["studies"]:
        s = got[r["study"]]
        assert list(s.arms) == r["arms"]
        np.testing.assert_allclose(s.y, np.atleast_1d(r["yi"]), rtol=0, atol=R_TOL)
        np.testing.assert_allclose(s.cov, r["V"], rtol=0, atol=R_TOL)


def test_four_arm_contrasts_match_metafor():
    ref = REF["four_arm"]
    s = network_data(_ref_table(ref["arms"]), "SMD").studies[0]
    assert list(s.arms) == ref["study"]["arms"]
    np.testing.assert_allclose(s.y, ref["study"]["yi"], rtol=0, atol=R_TOL)
    np.testing.assert_allclose(s.cov, ref["study"]["V"], rtol=0, atol=R_TOL)


def test_equal_means_covariance_is_metafor_vcalc_shared_group():
    # g = 0: the covariance reduces to the shared arm's 1/n_b, which metafor's vcalc builds
    # from escalc variances and the group sizes (grp1, grp2, w1, w2).
    ref = REF["equal_means"]
    s = network_data(_ref_table(ref["arms"]), "SMD").studies[0]
    np.testing.assert_allclose(s.y, ref["yi"], rtol=0, atol=R_TOL)
    np.testing.assert_allclose(s.cov, ref["V"], rtol=0, atol=R_TOL)


def test_senn2013_common_effect_nma_matches_metafor_rma_mv():
    ref = REF["senn2013"]
    d = consistency_design(network_data(_ref_table(ref["arms"]), "SMD"), ref["reference"])
    Si = np.linalg.inv(d.S)
    info = d.X.T @ Si @ d.X
    b = np.linalg.solve(info, d.X.T @ Si @ d.y)
    vb = np.linalg.inv(info)
    ce = ref["common_effect"]
    idx = [d.names.index(nm) for nm in ce["names"]]
    assert len(idx) == len(d.names)
    np.testing.assert_allclose(b[idx], ce["b"], rtol=0, atol=R_TOL)
    np.testing.assert_allclose(vb[np.ix_(idx, idx)], ce["vb"], rtol=0, atol=R_TOL)


# (c) simulation --------------------------------------------------------------------------
SIM_N = np.array([150.0, 250.0, 200.0])
SIM_MU = np.array([0.0, 0.8, 1.5])  # true SMDs 0.8 and 1.5 against arm 0 (sigma = 1)
SIM_REPS = 100_000


def _simulate(seed: int = 20240611):
    """Arm means ~ N(mu, 1/n), sums of squares ~ chi2(n - 1), independent (normal data)."""
    rng = np.random.default_rng(seed)
    means = SIM_MU + rng.standard_normal((SIM_REPS, 3)) / np.sqrt(SIM_N)
    ss = rng.chisquare(SIM_N - 1, size=(SIM_REPS, 3))
    df = SIM_N.sum() - 3
    g = _hedges_j(df) * (means[:, 1:] - means[:, [0]]) / np.sqrt(ss.sum(1) / df)[:, None]
    return means, ss, g


def _exact_covariance() -> np.ndarray:
    """Finite-sample cov of g for normal data: g = J Z / (s/sigma), Z ~ N(delta, A)."""
    nu = SIM_N.sum() - 3
    delta = SIM_MU[1:] - SIM_MU[0]
    A = np.diag(1 / SIM_N[1:]) + 1 / SIM_N[0]
    # E[g g'] = J^2 E[Z Z'] E[sigma^2/s^2] = J^2 (A + delta delta') nu/(nu - 2); E[g] = delta
    return _hedges_j(nu) ** 2 * nu / (nu - 2) * (A + np.outer(delta, delta)) - np.outer(
        delta, delta
    )


def _formula_at_truth() -> np.ndarray:
    s = network_data(_table("sim", ["a", "b", "c"], SIM_MU, [1.0] * 3, SIM_N), "SMD")
    return s.studies[0].cov


def test_simulated_design_approximation_error_is_small():
    assert np.max(np.abs(_exact_covariance() - _formula_at_truth())) <= APPROX_BIAS


def test_smd_covariance_matches_simulated_three_arm_trial():
    means, ss, g = _simulate()
    # bayesmeta's estimator is the simulated one (first few replicates through network_data)
    for r in range(3):
        sd = np.sqrt(ss[r] / (SIM_N - 1))
        s = network_data(_table("sim", ["a", "b", "c"], means[r], sd, SIM_N), "SMD")
        np.testing.assert_allclose(s.studies[0].y, g[r], rtol=1e-12)
    c = g - g.mean(0)
    emp = c.T @ c / (SIM_REPS - 1)
    se = (c[:, :, None] * c[:, None, :]).std(0, ddof=1) / math.sqrt(SIM_REPS)
    tol = Z_MC * se + APPROX_BIAS
    # the simulation itself reproduces the exact covariance
    assert np.all(np.abs(emp - _exact_covariance()) <= Z_MC * se)
    # the formula matches within Monte Carlo error plus its O(1/n^2) approximation error
    V = _formula_at_truth()
    assert np.all(np.abs(emp - V) <= tol), (emp, V, tol)
    # and the check has power: the MD-style covariance (no g_j g_l / (2N) term) fails it
    md_style = np.diag(1 / SIM_N[1:]) + 1 / SIM_N[0]
    assert np.all(np.abs(emp - md_style) > tol)


# (d) bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad_sd", [0.0, -1.0, np.nan], ids=["zero", "negative", "missing"])
def test_multi_arm_smd_bad_sd_names_study_and_treatment(bad_sd):
    df = _table("Trial 7", ["pbo", "low", "high"], [1.0, 2.0, 3.0], [1.0, bad_sd, 1.2], [20] * 3)
    with pytest.raises(DataError, match=r"study 'Trial 7', treatment 'low': SMD needs sd > 0"):
        network_data(df, "SMD")


def test_multi_arm_smd_missing_n_names_study_and_treatment():
    df = _table("Trial 7", ["pbo", "low", "high"], [1.0, 2.0, 3.0], [1.0] * 3, [20, 20, None])
    with pytest.raises(DataError, match=r"study 'Trial 7', treatment 'high': SMD needs"):
        network_data(df, "SMD")


def test_smd_without_pooled_degrees_of_freedom_is_an_error():
    # total n - arms = 1: no Hedges correction (J needs > 1 degree of freedom)
    df = _table("Tiny", ["pbo", "low", "high"], [1.0, 2.0, 3.0], [1.0] * 3, [1, 1, 2])
    with pytest.raises(DataError, match=r"study 'Tiny', treatment 'pbo': .*2 degrees of freedom"):
        network_data(df, "SMD")
