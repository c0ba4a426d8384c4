"""Property tests (hypothesis) for the effect-size functions."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import bayesmeta
from bayesmeta import effects

pos = st.floats(0.1, 100, allow_nan=False)
mean = st.floats(-100, 100, allow_nan=False)
n = st.integers(2, 500)


@st.composite
def two_by_two(draw):
    n_t, n_c = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    return draw(st.integers(0, n_t)), n_t, draw(st.integers(0, n_c)), n_c


@given(mean, pos, n, mean, pos, n)
def test_swapping_arms_negates_md_and_smd(m1, s1, n1, m2, s2, n2):
    for fn in (effects.mean_difference, effects.standardized_mean_difference):
        y, v = fn(m1, s1, n1, m2, s2, n2)
        y_swap, v_swap = fn(m2, s2, n2, m1, s1, n1)
        np.testing.assert_allclose(y_swap, -y, atol=1e-9)
        np.testing.assert_allclose(v_swap, v, rtol=1e-12)


@given(two_by_two())
def test_swapping_arms_negates_binary_measures(t):
    a, n1, c, n2 = t
    for fn in (effects.log_odds_ratio, effects.log_risk_ratio, effects.risk_difference):
        y, v = fn(a, n1, c, n2)
        y_swap, v_swap = fn(c, n2, a, n1)
        np.testing.assert_allclose(y_swap, -y, atol=1e-12)
        np.testing.assert_allclose(v_swap, v, rtol=1e-12)


@given(mean, pos, n, mean, pos, n, st.floats(-1e3, 1e3, allow_nan=False))
def test_shifting_both_means_leaves_md_unchanged(m1, s1, n1, m2, s2, n2, shift):
    y, v = effects.mean_difference(m1, s1, n1, m2, s2, n2)
    y2, v2 = effects.mean_difference(m1 + shift, s1, n1, m2 + shift, s2, n2)
    np.testing.assert_allclose(y2, y, atol=1e-9)
    np.testing.assert_allclose(v2, v)


@given(st.floats(-5, 5), st.floats(1e-3, 5), st.floats(0.5, 0.999))
def test_ci_se_roundtrip(estimate, se, level):
    lo, hi = effects.ci_from_se(estimate, se, level)
    np.testing.assert_allclose(effects.se_from_ci(lo, hi, level), se, rtol=1e-9)


@settings(max_examples=50)
@given(st.floats(-3, 3), st.floats(0.01, 2))
def test_ratio_ci_roundtrip_through_data_layer(log_est, se):
    lo, hi = effects.ci_from_se(log_est, se)
    df = pd.DataFrame(
        {
            "study": ["A"],
            "estimate": [np.exp(log_est)],
            "ci_lower": [float(np.exp(lo))],
            "ci_upper": [float(np.exp(hi))],
        }
    )
    out = bayesmeta.effect_sizes(df, "OR")
    np.testing.assert_allclose(out["yi"], log_est, atol=1e-9)
    np.testing.assert_allclose(out["sei"], se, rtol=1e-9)


@given(mean, pos, n, mean, pos, n, st.sampled_from([1e-300, 1e-150, 1e150, 1e300]))
def test_smd_is_scale_free_even_near_the_float_limits(m1, s1, n1, m2, s2, n2, c):
    # The pooled SD is computed with scaled SDs: no overflow or underflow when the means
    # and SDs are multiplied by c (warnings are errors in this suite).
    y, v = effects.standardized_mean_difference(m1, s1, n1, m2, s2, n2)
    with np.errstate(under="ignore"):  # c * m for a tiny m may be subnormal: that is fine
        yc, vc = effects.standardized_mean_difference(m1 * c, s1 * c, n1, m2 * c, s2 * c, n2)
    np.testing.assert_allclose(yc, y, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(vc, v, rtol=1e-9)


@settings(max_examples=50)
@given(st.floats(-1e308, 1e308), st.floats(-1e308, 1e308), st.floats(1e-300, 1e300))
def test_data_layer_never_returns_non_finite_effects(m1, m2, sd):
    # Any finite input either gives finite yi and vi > 0, or a DataError naming the study.
    df = pd.DataFrame(
        {"study": ["A"], "mean_t": [m1], "sd_t": [sd], "n_t": [10]}
        | {"mean_c": [m2], "sd_c": [sd], "n_c": [12]}
    )
    for measure in ("MD", "SMD"):
        try:
            out = bayesmeta.effect_sizes(df, measure)
        except bayesmeta.DataError as exc:
            assert "study 'A'" in str(exc)
        else:
            assert np.isfinite(out[["yi", "vi", "sei"]].to_numpy()).all()
            assert (out["vi"] > 0).all()
