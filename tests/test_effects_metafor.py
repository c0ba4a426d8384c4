"""Effect sizes against R metafor escalc() on published datasets.

Reference: tests/reference/metafor_escalc.json, made by tests/reference/metafor_escalc.R
(R 4.2.2, metafor 3.8-1, escalc defaults; datasets dat.normand1999, dat.curtis1998,
dat.bcg, dat.nielweise2007 and Crins et al. 2014).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmeta

# metafor's JSON export keeps 15 significant digits; 1e-8 is the requirement.
TOL = 1e-8

CASES = [
    ("continuous", "normand1999", "MD"),
    ("continuous", "normand1999", "SMD"),
    ("continuous", "curtis1998", "MD"),
    ("continuous", "curtis1998", "SMD"),
    *[("binary", d, m) for d in ("bcg", "nielweise2007", "crins2014") for m in ("OR", "RR", "RD")],
]


@pytest.mark.parametrize(("kind", "dataset", "measure"), CASES)
def test_matches_metafor_escalc(metafor_escalc, kind, dataset, measure):
    rec = metafor_escalc[kind][dataset]
    df = pd.DataFrame({k: v for k, v in rec.items() if k != "measures"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayesmeta.DataWarning)  # nielweise2007 has a double zero
        out = bayesmeta.effect_sizes(df, measure)
    ref = rec["measures"][measure]
    assert list(out.columns) == ["study", "yi", "vi", "sei"]
    assert out["study"].tolist() == [str(s) for s in rec["study"]]
    np.testing.assert_allclose(out["yi"], ref["yi"], rtol=0, atol=TOL)
    np.testing.assert_allclose(out["vi"], ref["vi"], rtol=0, atol=TOL)
    np.testing.assert_allclose(out["sei"], np.sqrt(ref["vi"]), rtol=0, atol=TOL)


def test_reference_file_records_its_source(metafor_escalc):
    src = metafor_escalc["source"]
    assert src["metafor_version"].startswith("3.")
    assert "escalc" in src["call"]


def test_double_zero_study_warns_by_name(metafor_escalc):
    rec = metafor_escalc["binary"]["nielweise2007"]
    df = pd.DataFrame({k: v for k, v in rec.items() if k != "measures"})
    with pytest.warns(bayesmeta.DataWarning, match="'Yucel 2004': zero events in both arms"):
        out = bayesmeta.effect_sizes(df, "OR")
    assert len(out) == len(df)  # kept, not dropped


def test_reported_estimates_ratio_and_ci():
    # RR 1.80 (1.26 to 2.56) -> log scale, SE from the full width of the 95% CI (closed form).
    df = pd.DataFrame(
        {"study": ["ProDERM"], "estimate": [1.80], "ci_lower": [1.26], "ci_upper": [2.56]}
    )
    out = bayesmeta.effect_sizes(df, "RR")
    assert out["yi"].iloc[0] == pytest.approx(np.log(1.80), abs=1e-12)
    se = (np.log(2.56) - np.log(1.26)) / (2 * 1.959963984540054)
    assert out["sei"].iloc[0] == pytest.approx(se, abs=1e-12)


def test_ci_level_column():
    # 90% CI: z = 1.644853626951 (scipy.stats.norm.ppf(0.95), closed form)
    df = pd.DataFrame(
        {
            "study": ["A"],
            "estimate": [0.5],
            "ci_lower": [0.1],
            "ci_upper": [0.9],
            "ci_level": [0.90],
        }
    )
    out = bayesmeta.effect_sizes(df, "SMD")
    assert out["sei"].iloc[0] == pytest.approx(0.8 / (2 * 1.6448536269514722), abs=1e-12)


def test_se_shape_and_generic():
    df = pd.DataFrame({"study": ["A", "B"], "estimate": [0.3, -0.1], "se": [0.2, 0.1]})
    out = bayesmeta.effect_sizes(df, "gen")
    np.testing.assert_allclose(out["yi"], [0.3, -0.1])
    np.testing.assert_allclose(out["vi"], [0.04, 0.01])


def test_asymmetric_ci_warns():
    # On the log scale 0.5 (0.45 to 2.0) is far from symmetric: probably not a ratio CI.
    df = pd.DataFrame({"study": ["Odd"], "estimate": [0.5], "ci_lower": [0.45], "ci_upper": [2.0]})
    with pytest.warns(bayesmeta.DataWarning, match="'Odd': the CI is clearly asymmetric"):
        bayesmeta.effect_sizes(df, "OR")


def test_published_ci_rounding_does_not_warn():
    # Review-rounded CIs (2023 Cochrane review, shared/data/iim-trials.md) are symmetric enough.
    df = pd.DataFrame(
        {
            "study": ["a", "b", "c"],
            "estimate": [1.80, 1.01, 0.86],
            "ci_lower": [1.26, 0.74, 0.51],
            "ci_upper": [2.56, 1.39, 1.21],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bayesmeta.effect_sizes(df.iloc[:2], "RR")
        bayesmeta.effect_sizes(df.iloc[2:], "SMD")


def test_studydata_container(crins):
    sd = bayesmeta.study_data(crins, "or")
    assert sd.measure == "OR" and sd.kind == "binary" and sd.k == 6 and sd.is_ratio
    assert sd.labels[0] == "Heffron 2003"
    assert len(sd.sha256()) == 64
    assert sd.sha256() == bayesmeta.study_data(crins.copy(), "OR").sha256()
    assert bayesmeta.study_data(sd, "OR") is sd
    assert bayesmeta.study_data(sd, "RR").measure == "RR"


def test_read_csv(tmp_path, crins):
    p = tmp_path / "crins.csv"
    crins.to_csv(p, index=False)
    sd = bayesmeta.read_csv(p, "OR")
    assert sd.source == str(p)
    assert sd.k == 6


def test_column_map(crins):
    df = crins.rename(columns={"study": "trial", "events_t": "a"})
    sd = bayesmeta.study_data(df, "OR", columns={"trial": "study", "a": "events_t"})
    assert sd.k == 6
