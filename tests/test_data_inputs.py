"""Input tables that are accepted: covariates, metafor names, headers, CSV dialects, files."""

import hashlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayesmeta
from bayesmeta.data import METAFOR_NAMES, StudyData

# The digests of covariate-free tables must not change (provenance of saved results).
# Both were computed with bayesmeta/data.py at commit 462884f, before covariates existed.
CRINS_OR_SHA256 = "83f05c5e5b5cc41c4fbf5046f946dc3357300bf05464013fe4eade9d481f6bc6"
EST_RR_SHA256 = "09be5ccf08b67452130b32acc7983d330fcf5f8592622a43d1a316f9247a190e"

# Metafor-named and canonical input go through the same arithmetic; exp/log and sqrt/square
# round trips cost at most a few ulp.
ROUNDTRIP_TOL = 1e-14
# metafor's JSON export keeps 15 significant digits; 1e-8 is the requirement.
METAFOR_TOL = 1e-8


def est_table():
    return pd.DataFrame(
        {
            "study": ["A", "B"],
            "estimate": [1.5, 2.0],
            "ci_lower": [1.0, 1.2],
            "ci_upper": [2.25, 3.3],
        }
    )


# -- covariates ----------------------------------------------------------------------------


def test_covariates_keep_values_dtypes_order_and_normalised_names(crins):
    df = crins.assign(
        **{
            " Year ": [2003, 2004, 2005, 2005, 2006, 2008],
            "Latitude": [51.5, 48.1, 47.4, 53.6, 45.5, 43.6],
            "risk_of_bias": ["low", "high", "some", "low", "low", "high"],
        }
    )
    sd = bayesmeta.study_data(df, "OR")
    cov = sd.covariates
    assert list(cov.columns) == ["year", "latitude", "risk_of_bias"]
    assert cov["year"].tolist() == [2003, 2004, 2005, 2005, 2006, 2008]
    assert pd.api.types.is_integer_dtype(cov["year"])
    assert pd.api.types.is_float_dtype(cov["latitude"])
    assert cov["risk_of_bias"].tolist() == ["low", "high", "some", "low", "low", "high"]
    assert list(cov.index) == list(range(6))
    assert list(sd.table.columns) == ["study", "events_t", "n_t", "events_c", "n_c"]


def test_covariates_follow_input_order_with_a_shuffled_index(crins):
    df = crins.assign(subgroup=list("abcdef")).iloc[::-1].set_index(pd.Index([9, 3, 7, 1, 5, 0]))
    sd = bayesmeta.study_data(df, "OR")
    assert sd.labels[0] == "Gras 2008"
    assert sd.covariates["subgroup"].tolist() == list("fedcba")
    assert list(sd.covariates.index) == list(range(6))


def test_no_covariates_is_an_empty_frame_of_the_right_length(crins):
    sd = bayesmeta.study_data(crins, "OR")
    assert sd.covariates.shape == (6, 0)


def test_studydata_built_directly_gets_empty_covariates(crins):
    sd = bayesmeta.study_data(crins, "OR")
    again = StudyData(table=sd.table, measure="OR", kind="binary", effects=sd.effects)
    assert again.covariates.shape == (6, 0)
    with pytest.raises(ValueError, match="covariates have 2 rows for 6 studies"):
        StudyData(sd.table, "OR", "binary", sd.effects, covariates=pd.DataFrame({"x": [1, 2]}))


def test_covariates_survive_a_change_of_measure(crins):
    sd = bayesmeta.study_data(crins.assign(year=range(6)), "OR")
    rr = bayesmeta.study_data(sd, "RR")
    assert rr.measure == "RR" and rr.covariates["year"].tolist() == list(range(6))


def test_covariate_free_digest_is_unchanged(crins):
    assert bayesmeta.study_data(crins, "OR").sha256() == CRINS_OR_SHA256
    assert bayesmeta.study_data(est_table(), "RR").sha256() == EST_RR_SHA256


def test_covariates_enter_the_digest(crins):
    base = bayesmeta.study_data(crins, "OR").sha256()
    a = bayesmeta.study_data(crins.assign(year=range(6)), "OR").sha256()
    b = bayesmeta.study_data(crins.assign(year=range(1, 7)), "OR").sha256()
    c = bayesmeta.study_data(crins.assign(year=range(6)), "OR").sha256()
    assert len({base, a, b}) == 3 and a == c
    buf = bayesmeta.study_data(crins, "OR").table.to_csv(
        index=False, float_format="%.17g", lineterminator="\n"
    )
    assert hashlib.sha256(buf.encode()).hexdigest() == base


def test_extra_columns_in_estimate_data(crins):
    df = est_table().assign(n_t=[40, 60], n_c=[41, 59], ci=["x", "y"])
    sd = bayesmeta.study_data(df, "RR")
    # arm sizes and a column named like metafor's control events are covariates here
    assert list(sd.covariates.columns) == ["n_t", "n_c", "ci"]


# -- metafor names -------------------------------------------------------------------------


def test_metafor_binary_events_and_non_events_equal_the_canonical_path(crins):
    mf = pd.DataFrame(
        {
            "slab": crins["study"],
            "ai": crins["events_t"],
            "bi": crins["n_t"] - crins["events_t"],
            "ci": crins["events_c"],
            "di": crins["n_c"] - crins["events_c"],
        }
    )
    for m in ("OR", "RR", "RD"):
        got, want = bayesmeta.study_data(mf, m), bayesmeta.study_data(crins, m)
        pd.testing.assert_frame_equal(got.effects, want.effects, check_exact=True)
        pd.testing.assert_frame_equal(got.table, want.table, check_exact=True)
        assert got.sha256() == want.sha256()


def test_metafor_binary_with_arm_sizes(crins):
    mf = crins.rename(
        columns={"study": "slab", "events_t": "ai", "n_t": "n1i", "events_c": "ci", "n_c": "n2i"}
    )
    got, want = bayesmeta.study_data(mf, "OR"), bayesmeta.study_data(crins, "OR")
    pd.testing.assert_frame_equal(got.effects, want.effects, check_exact=True)


@pytest.mark.parametrize("dataset", ["normand1999", "curtis1998"])
@pytest.mark.parametrize("measure", ["MD", "SMD"])
def test_metafor_continuous_names_match_escalc(metafor_escalc, dataset, measure):
    rec = metafor_escalc["continuous"][dataset]
    canon = pd.DataFrame({k: v for k, v in rec.items() if k != "measures"})
    rename = {v: k for k, v in METAFOR_NAMES.items() if k in {"m1i", "sd1i", "m2i", "sd2i"}}
    rename |= {"n_t": "n1i", "n_c": "n2i"}
    out = bayesmeta.effect_sizes(canon.rename(columns=rename), measure)
    ref = rec["measures"][measure]
    np.testing.assert_allclose(out["yi"], ref["yi"], rtol=0, atol=METAFOR_TOL)
    np.testing.assert_allclose(out["vi"], ref["vi"], rtol=0, atol=METAFOR_TOL)


@pytest.mark.parametrize("measure", ["OR", "RR", "HR"])
def test_metafor_yi_is_on_the_log_scale_for_ratio_measures(measure):
    log_ratio, vi = np.array([np.log(1.8), -0.25]), np.array([0.0324, 0.01])
    mf = pd.DataFrame({"slab": ["A", "B"], "yi": log_ratio, "vi": vi})
    canon = pd.DataFrame({"study": ["A", "B"], "estimate": np.exp(log_ratio), "se": np.sqrt(vi)})
    got, want = bayesmeta.study_data(mf, measure), bayesmeta.study_data(canon, measure)
    pd.testing.assert_frame_equal(got.effects, want.effects, check_exact=True)
    np.testing.assert_allclose(got.yi, log_ratio, rtol=0, atol=ROUNDTRIP_TOL)
    np.testing.assert_allclose(got.vi, vi, rtol=ROUNDTRIP_TOL)


@pytest.mark.parametrize("measure", ["MD", "SMD", "RD", "GEN"])
def test_metafor_yi_is_taken_as_is_for_difference_measures(measure):
    mf = pd.DataFrame({"slab": ["A", "B"], "yi": [-0.4, 1.2], "sei": [0.2, 0.3]})
    sd = bayesmeta.study_data(mf, measure)
    np.testing.assert_array_equal(sd.yi, [-0.4, 1.2])
    np.testing.assert_array_equal(sd.sei, [0.2, 0.3])


def test_metafor_names_after_header_normalisation():
    mf = pd.DataFrame({" SLAB": ["A"], "Yi ": [0.3], "SEI": [0.1]})
    assert bayesmeta.study_data(mf, "MD").labels == ["A"]


def test_metafor_names_of_another_shape_are_covariates(crins):
    df = crins.assign(m1i=range(6))  # a binary table: m1i means nothing here
    assert bayesmeta.study_data(df, "OR").covariates.columns.tolist() == ["m1i"]


# -- header normalisation -------------------------------------------------------------------


def test_headers_are_stripped_and_lower_cased(crins):
    df = crins.rename(columns={"events_t": " Events_T ", "study": "STUDY"})
    pd.testing.assert_frame_equal(
        bayesmeta.study_data(df, "OR").effects, bayesmeta.study_data(crins, "OR").effects
    )


def test_column_map_accepts_original_or_normalised_keys(crins):
    df = crins.rename(columns={"study": " Trial "})
    assert bayesmeta.study_data(df, "OR", columns={" Trial ": "study"}).k == 6
    assert bayesmeta.study_data(df, "OR", columns={"trial": "study"}).k == 6


# -- CSV dialects ---------------------------------------------------------------------------


def test_semicolon_file_with_decimal_commas(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text(
        "study;mean_t;sd_t;n_t;mean_c;sd_c;n_c;latitude\n"
        "A;1,5;2,0;10;1,0;2,25;12;51,5\n"
        "B;2;1;10;1;1;10;48\n"
    )
    sd = bayesmeta.read_csv(p, "MD")
    assert sd.table["mean_t"].tolist() == [1.5, 2.0]
    assert sd.table["sd_c"].tolist() == [2.25, 1.0]
    assert sd.covariates["latitude"].tolist() == [51.5, 48.0]
    np.testing.assert_allclose(sd.yi, [0.5, 1.0])


def test_semicolon_file_with_decimal_points(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text("study;estimate;se\nA;0.25;0.1\nB;-0.5;0.2\n")
    sd = bayesmeta.read_csv(p, "GEN")
    np.testing.assert_array_equal(sd.yi, [0.25, -0.5])


def test_semicolon_file_with_trailing_delimiters(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text("study;estimate;se;\nA;0,25;0,1;\nB;-0,5;0,2;\n")
    sd = bayesmeta.read_csv(p, "GEN")
    np.testing.assert_array_equal(sd.sei, [0.1, 0.2])
    assert sd.covariates.shape == (2, 0)


def test_tab_separated_file(tmp_path):
    p = tmp_path / "trials.tsv"
    p.write_text("study\testimate\tse\nA\t0.25\t0.1\n")
    assert bayesmeta.read_csv(p, "GEN").yi.tolist() == [0.25]


def test_csv_labels_stay_text(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text("Study,estimate,se\n001,0.25,0.1\n1.50,0.3,0.2\n")
    assert bayesmeta.read_csv(p, "GEN").labels == ["001", "1.50"]


def test_csv_with_bom_and_blank_lines(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_bytes(b"\xef\xbb\xbf\nstudy,estimate,se\n\nA,0.25,0.1\n")
    assert bayesmeta.read_csv(p, "GEN").labels == ["A"]


def test_csv_header_normalisation_and_metafor_names(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text(" Slab ,AI,BI,CI,DI, Year \nA,1,9,2,8,2001\n")
    sd = bayesmeta.read_csv(p, "OR")
    assert sd.table["n_t"].tolist() == [10.0]
    assert sd.covariates["year"].tolist() == [2001]


def test_latin1_file_is_read_with_a_warning(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_bytes("study,estimate,se\nMüller 2001,0.2,0.1\n".encode("latin-1"))
    with pytest.warns(bayesmeta.DataWarning, match=r"trials.csv: not UTF-8.*Windows-1252"):
        sd = bayesmeta.read_csv(p, "GEN")
    assert sd.labels == ["Müller 2001"]


def test_utf8_file_reads_without_warning(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text("study,estimate,se\nMüller 2001,0.2,0.1\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bayesmeta.read_csv(p, "GEN").labels == ["Müller 2001"]


# -- extreme but representable values stay exact --------------------------------------------


def test_smd_with_huge_sds_is_finite_and_correct():
    df = pd.DataFrame(
        {"study": ["A"], "mean_t": [1e300], "sd_t": [1e300], "n_t": [10]}
        | {"mean_c": [0.0], "sd_c": [1e300], "n_c": [10]}
    )
    out = bayesmeta.effect_sizes(df, "SMD")
    small = bayesmeta.effect_sizes(df.assign(mean_t=[1.0], sd_t=[1.0], sd_c=[1.0]), "SMD")
    np.testing.assert_allclose(out[["yi", "vi"]], small[["yi", "vi"]], rtol=1e-14)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"study": ["a", "b,c", 'd "e"', "f\ng"], "x": [0.1, -0.0, np.nan, 1e300]}),
        pd.DataFrame({"study": pd.array(["A", None, "C"], dtype="string"), "n": [1, 2, 3]}),
        pd.DataFrame({"x": [np.inf, -np.inf, 5e-324], "k": np.array([1, 2, 3], dtype="uint8")}),
        pd.DataFrame({"flag": [True, False], "y": [1.0, 2.0]}),  # bool: through pandas
        pd.DataFrame({"mixed": ["a", 1], "y": [0.5, 0.25]}),  # object, not all str: pandas
        pd.DataFrame({"study": [], "y": []}),
    ],
    ids=["quoting-nan-negzero", "string-na", "inf-subnormal-uint", "bool", "object", "empty"],
)
def test_canonical_csv_is_pandas_to_csv(frame):
    """The digest's fast CSV writer gives exactly pandas' text (the digest's definition)."""
    from bayesmeta.data import _canonical_csv

    buf = io.StringIO()
    _canonical_csv(frame, buf)
    assert buf.getvalue() == frame.to_csv(index=False, float_format="%.17g", lineterminator="\n")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-(2**62), 2**62),
        ),
        max_size=12,
    )
)
def test_canonical_csv_is_pandas_to_csv_for_any_values(rows):
    from bayesmeta.data import _canonical_csv

    frame = pd.DataFrame(rows, columns=["study", "y", "n"]).astype({"y": float, "n": "int64"})
    buf = io.StringIO()
    _canonical_csv(frame, buf)
    assert buf.getvalue() == frame.to_csv(index=False, float_format="%.17g", lineterminator="\n")
