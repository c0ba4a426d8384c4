"""Classical estimators: agreement with R metafor, Q/df/p/I2, and numerical robustness.

References: tests/reference/metafor_classical.json, made by tests/reference/metafor_classical.R
(R 4.2.2, metafor 3.8-1). For the SE = 1e-12 case metafor itself is inaccurate (it warns that
the variance ratio is extreme and returns Q = 5.3469 for an exact 5.64), so there the
expected values come from an independent closed-form calculation in exact rational
arithmetic (fractions.Fraction on the same float inputs).
"""

import json
import math
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayesmeta
from bayesmeta import classical

REF = json.loads((Path(__file__).parent / "reference" / "metafor_classical.json").read_text())
# metafor's JSON export keeps 15 significant digits; estimates are compared on the log scale.
METAFOR_TOL = 1e-8
# exact rational reference vs float64 with scaled weights: a few ulp per term.
EXACT_RTOL = 1e-12

FE, DL, MH = classical.FE_ROW, classical.DL_ROW, classical.MH_ROW


def arm_table(name):
    rec = REF[name]
    return pd.DataFrame(
        {
            "study": [f"s{i}" for i in range(len(rec["n_t"]))],
            **{k: rec[k] for k in ("events_t", "n_t", "events_c", "n_c")},
        }
    )


def tiny_se():
    rec = REF["tiny_se"]
    return pd.DataFrame({"study": list("ABCD"), "estimate": rec["yi"], "se": rec["sei"]})


def exact(yi, vi):
    """Q, C, tau2 (DL), I2 and the DL estimate and SE, in exact rational arithmetic."""
    y = [Fraction(float(v)) for v in yi]
    w = [1 / Fraction(float(v)) for v in vi]
    s = sum(w)
    fe = sum(a * b for a, b in zip(w, y, strict=True)) / s
    q = sum(a * (b - fe) ** 2 for a, b in zip(w, y, strict=True))
    c = s - sum(a * a for a in w) / s
    df = len(y) - 1
    tau2 = max(Fraction(0), (q - df) / c)
    i2 = max(Fraction(0), (q - df) / q) if q > 0 else Fraction(0)
    wr = [1 / (Fraction(float(v)) + tau2) for v in vi]
    mu = sum(a * b for a, b in zip(wr, y, strict=True)) / sum(wr)
    return {
        "fe": float(fe),
        "fe_se": math.sqrt(1 / s),
        "Q": float(q),
        "C": float(c),
        "tau2": float(tau2),
        "I2": float(i2),
        "dl": float(mu),
        "dl_se": math.sqrt(1 / sum(wr)),
    }


def chi2_sf_df3(x):
    """Chi-squared upper tail for 3 df in closed form."""
    return math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)


# -- against metafor ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bcg", "nielweise2007"])
@pytest.mark.parametrize("measure", ["OR", "RR"])
def test_q_df_p_and_i2_match_metafor(name, measure):
    ref = REF[name][measure]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.DataWarning)  # nielweise2007: a double zero
        sd = bayesmeta.study_data(arm_table(name), measure)
    t = classical.classical_table(sd)
    row = t.loc[DL]
    assert row["Q"] == pytest.approx(ref["dl_Q"], rel=1e-12)
    assert row["df"] == ref["dl_df"]
    assert row["p_Q"] == pytest.approx(ref["dl_p"], rel=1e-9)
    assert row["I2"] == pytest.approx(ref["dl_I2"] / 100, abs=1e-12)  # metafor: percent
    assert row["tau2"] == pytest.approx(ref["dl_tau2"], abs=1e-10)
    np.testing.assert_allclose(
        np.log(t.loc[DL, ["estimate", "lower", "upper"]].astype(float)), ref["dl"], atol=METAFOR_TOL
    )
    assert (t["note"] == "").all()


def test_reference_covers_q_for_every_case():
    for name in ("bcg", "nielweise2007"):
        for m in ("OR", "RR"):
            assert {"dl_Q", "dl_df", "dl_p"} <= set(REF[name][m])
    assert "tiny_se" in REF and REF["tiny_se"]["metafor_warnings"]


# -- one study with SE 1e-12 ----------------------------------------------------------------


def test_tiny_se_study_gives_exact_heterogeneity():
    sd = bayesmeta.study_data(tiny_se(), "GEN")
    want = exact(sd.yi, sd.vi)
    t = classical.classical_table(sd)  # warnings are errors in this suite: none may leak
    row = t.loc[DL]
    assert row["Q"] == pytest.approx(want["Q"], rel=EXACT_RTOL)  # 5.64
    assert row["df"] == 3
    assert row["p_Q"] == pytest.approx(chi2_sf_df3(want["Q"]), rel=1e-10)
    assert row["tau2"] == pytest.approx(want["tau2"], rel=EXACT_RTOL)
    assert row["I2"] == pytest.approx(want["I2"], rel=EXACT_RTOL)
    assert row["estimate"] == pytest.approx(want["dl"], rel=EXACT_RTOL)
    half = 1.959963984540054 * want["dl_se"]
    assert row["lower"] == pytest.approx(want["dl"] - half, rel=EXACT_RTOL)
    assert t.loc[FE, "estimate"] == pytest.approx(want["fe"], rel=EXACT_RTOL)
    assert (t["note"] == "").all()
    assert np.isfinite(t[["estimate", "lower", "upper", "tau2", "I2", "Q", "p_Q"]].loc[DL]).all()


def test_tiny_se_fe_matches_metafor_and_metafor_q_is_the_inaccurate_one():
    rec = REF["tiny_se"]
    sd = bayesmeta.study_data(tiny_se(), "GEN")
    t = classical.classical_table(sd)
    np.testing.assert_allclose(
        t.loc[FE, ["estimate", "lower", "upper"]].astype(float), rec["fe"], atol=METAFOR_TOL
    )
    # documents why the exact reference is used: metafor's Q is 5% off here
    assert abs(rec["dl_Q"] - exact(sd.yi, sd.vi)["Q"]) > 0.2


def test_heterogeneity_function_and_typical_variance():
    sd = bayesmeta.study_data(tiny_se(), "GEN")
    h = classical.heterogeneity(sd.yi, sd.vi)
    want = exact(sd.yi, sd.vi)
    assert h.C == pytest.approx(want["C"], rel=EXACT_RTOL)
    assert h.s2 == pytest.approx(3 / want["C"], rel=EXACT_RTOL)
    assert h.df == 3


def test_dersimonian_laird_function_agrees_with_the_table():
    sd = bayesmeta.study_data(tiny_se(), "GEN")
    est, se, tau2, i2 = classical.dersimonian_laird(sd.yi, sd.vi)
    row = classical.classical_table(sd).loc[DL]
    assert (est, tau2, i2) == (row["estimate"], row["tau2"], row["I2"])


# -- robustness properties ------------------------------------------------------------------


log_v = st.floats(-30, 4)  # variances from 1e-30 to 1e4: weights over 34 orders of magnitude
y_val = st.floats(-5, 5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(y_val, log_v), min_size=2, max_size=8))
def test_heterogeneity_matches_exact_arithmetic(studies):
    yi = np.array([y for y, _ in studies])
    vi = np.array([10.0**lv for _, lv in studies])
    h = classical.heterogeneity(yi, vi)
    want = exact(yi, vi)
    assert h.C == pytest.approx(want["C"], rel=EXACT_RTOL)
    assert h.Q == pytest.approx(want["Q"], rel=1e-9, abs=1e-9)
    est, se = classical.inverse_variance(yi, vi)
    assert est == pytest.approx(want["fe"], rel=1e-12, abs=1e-12)
    assert se == pytest.approx(want["fe_se"], rel=1e-12)


def test_identical_estimates_have_no_heterogeneity():
    h = classical.heterogeneity(np.full(3, 0.4), np.array([0.1, 0.2, 0.3]))
    assert (h.Q, h.tau2, h.I2) == (0.0, 0.0, 0.0)
    assert h.p_Q == 1.0


def test_overflowing_q_is_nan_with_a_note():
    # Q = (1e200)^2 / 1 overflows; the FE estimate (about 1) is still exact.
    # (the data layer now refuses such an estimate outright, naming the study; the
    # estimators themselves must still not return a plausible-looking wrong number)
    df = pd.DataFrame({"study": ["A", "B"], "estimate": [0.0, 1e200], "se": [1e-100, 1.0]})
    with pytest.raises(bayesmeta.DataError, match="study 'B'.*too large to analyse"):
        bayesmeta.study_data(df, "GEN")
    yi, vi = np.array([0.0, 1e200]), np.array([1e-200, 1.0])
    est, _ = classical.inverse_variance(yi, vi)
    assert est == pytest.approx(1.0)
    dl = classical.dersimonian_laird(yi, vi)
    assert np.isnan(dl[0]) and np.isnan(dl[2])


# -- table layout and small k ---------------------------------------------------------------


def test_columns():
    t = classical.classical_table(bayesmeta.study_data(tiny_se(), "GEN"))
    assert list(t.columns) == ["estimate", "lower", "upper", "tau2", "I2", "Q", "df", "p_Q", "note"]
    assert list(t.index) == [FE, DL]
    assert t.loc[FE, ["tau2", "I2", "Q", "df", "p_Q"]].isna().all()


def test_one_study_has_no_dl_row_and_says_so():
    df = pd.DataFrame({"study": ["A"], "estimate": [0.3], "se": [0.1]})
    t = classical.classical_table(bayesmeta.study_data(df, "GEN"))
    assert DL not in t.index
    assert "k = 1" in t.loc[FE, "note"] and "DerSimonian-Laird" in t.loc[FE, "note"]
    with pytest.raises(ValueError, match="at least 2 studies"):
        classical.dersimonian_laird(np.array([0.3]), np.array([0.01]))
    with pytest.raises(ValueError, match="at least 2 studies"):
        classical.heterogeneity(np.array([0.3]), np.array([0.01]))


def test_undefined_mantel_haenszel_has_a_note():
    df = pd.DataFrame({"study": ["A", "B"], "events_t": [3, 2], "n_t": [52, 40]})
    df = df.assign(events_c=[0, 0], n_c=[48, 41])
    t = classical.classical_table(bayesmeta.study_data(df, "RR"))
    assert np.isnan(t.loc[MH, "estimate"])
    assert "MH RR is 0 or infinite" in t.loc[MH, "note"]
    assert np.isfinite(t.loc[DL, "estimate"]) and t.loc[DL, "note"] == ""


def test_ratio_overflow_on_the_natural_scale_is_a_note():
    df = pd.DataFrame({"study": ["A"], "yi": [700.0], "sei": [10.0]})
    t = classical.classical_table(bayesmeta.study_data(df, "OR"))
    assert np.isinf(t.loc[FE, "upper"])
    assert t.loc[FE, "note"] == "the CI overflows on the ratio scale"
