"""Bad input: each case raises DataError (a ValueError) naming the study and the column."""

import re

import numpy as np
import pandas as pd
import pytest

import bayesmeta
from bayesmeta import DataError


def cont(**over):
    d = {
        "study": ["Dalakas 1993", "Miyasaka 2012"],
        "mean_t": [10.0, 8.0],
        "sd_t": [2.0, 3.0],
        "n_t": [8, 12],
        "mean_c": [5.0, 6.0],
        "sd_c": [2.0, 3.0],
        "n_c": [7, 14],
    }
    d.update(over)
    return pd.DataFrame(d)


def binary(**over):
    d = {
        "study": ["Dalakas 1993", "ProDERM"],
        "events_t": [5, 37],
        "n_t": [8, 47],
        "events_c": [1, 21],
        "n_c": [7, 48],
    }
    d.update(over)
    return pd.DataFrame(d)


def est(**over):
    d = {
        "study": ["ProDERM", "Ruperto 2016"],
        "estimate": [1.80, 1.40],
        "ci_lower": [1.26, 1.01],
        "ci_upper": [2.56, 1.96],
    }
    d.update(over)
    return pd.DataFrame(d)


def test_is_value_error():
    assert issubclass(DataError, ValueError)


@pytest.mark.parametrize(
    ("frame", "measure", "pattern"),
    [
        (cont(sd_t=[2.0, -1.0]), "MD", r"study 'Miyasaka 2012': sd_t \(-1\) must be > 0"),
        (cont(sd_c=[0.0, 3.0]), "SMD", r"study 'Dalakas 1993': sd_c \(0\) must be > 0"),
        (cont(n_t=[0, 12]), "MD", r"study 'Dalakas 1993': n_t \(0\) must be >= 1"),
        (cont(n_c=[1, 14]), "SMD", r"study 'Dalakas 1993': n_c \(1\) must be >= 2 for SMD"),
        (
            cont(mean_t=[np.nan, 8.0]),
            "MD",
            r"study 'Dalakas 1993': column 'mean_t' is missing \(NaN\)",
        ),
        (
            cont(mean_c=["five", 6.0]),
            "MD",
            r"study 'Dalakas 1993': column 'mean_c' is not a number \('five'\)",
        ),
        (
            cont(n_t=[8.5, 12]),
            "MD",
            r"study 'Dalakas 1993': column 'n_t' \(8.5\) is not a whole number",
        ),
        (cont(sd_t=[np.inf, 3.0]), "MD", r"study 'Dalakas 1993': column 'sd_t' is not finite"),
        (
            binary(events_t=[12, 37], n_t=[10, 47]),
            "OR",
            r"study 'Dalakas 1993': events_t \(12\) > n_t \(10\)",
        ),
        (binary(events_c=[1, -2]), "RR", r"study 'ProDERM': events_c \(-2\) must be >= 0"),
        (binary(n_c=[7, 0], events_c=[1, 0]), "RD", r"study 'ProDERM': n_c \(0\) must be >= 1"),
        (
            binary(events_t=[None, 37]),
            "OR",
            r"study 'Dalakas 1993': column 'events_t' is missing \(NaN\)",
        ),
        (
            est(ci_lower=[2.56, 1.01], ci_upper=[1.26, 1.96]),
            "RR",
            r"study 'ProDERM': ci_lower \(2.56\) must be < ci_upper \(1.26\)",
        ),
        (
            est(ci_lower=[1.26, 1.96]),
            "RR",
            r"study 'Ruperto 2016': ci_lower \(1.96\) must be < ci_upper \(1.96\)",
        ),
        (
            est(estimate=[1.80, -0.3]),
            "OR",
            r"study 'Ruperto 2016': estimate \(-0.3\) must be > 0 for a ratio measure",
        ),
        (est(ci_lower=[0.0, 1.01]), "RR", r"study 'ProDERM': ci_lower \(0\) must be > 0"),
        (est(estimate=[3.0, 1.4]), "RR", r"study 'ProDERM': estimate \(3\) lies outside its CI"),
        (
            pd.DataFrame({"study": ["A", "B"], "estimate": [0.2, 0.1], "se": [0.1, 0.0]}),
            "SMD",
            r"study 'B': se \(0\) must be > 0",
        ),
        (
            pd.DataFrame(
                {
                    "study": ["A"],
                    "estimate": [0.2],
                    "ci_lower": [0.1],
                    "ci_upper": [0.3],
                    "ci_level": [95],
                }
            ),
            "SMD",
            r"study 'A': ci_level \(95\) must be between 0 and 1",
        ),
    ],
)
def test_bad_values_name_study_and_column(frame, measure, pattern):
    with pytest.raises(DataError, match=pattern):
        bayesmeta.effect_sizes(frame, measure)


def test_missing_column_lists_expected():
    with pytest.raises(
        DataError,
        match=r"missing column\(s\) 'sd_c'.*expected columns: study, mean_t, sd_t, n_t, mean_c, sd_c, n_c",
    ):
        bayesmeta.effect_sizes(cont().drop(columns="sd_c"), "MD")


def test_extra_column_is_a_covariate_not_an_error():
    sd = bayesmeta.study_data(binary(year=[1993, 2022]), "OR")
    assert sd.covariates["year"].tolist() == [1993, 2022]


@pytest.mark.parametrize(
    ("frame", "pattern"),
    [
        # a typo leaves a required column missing: listed, with the close match suggested
        (
            cont().rename(columns={"sd_c": "sd_cc"}),
            r"missing column\(s\) 'sd_c'.*Did you mean 'sd_cc' for 'sd_c'\?",
        ),
        (
            binary().rename(columns={"events_t": "event_t"}),
            r"missing column\(s\) 'events_t'.*Did you mean 'event_t' for 'events_t'\?",
        ),
        (
            pd.DataFrame({"study": ["A"], "ai": [1], "bi": [4], "ci": [2], "n2": [3]}),
            r"missing column\(s\) 'n_c'.*Did you mean 'n2' for 'n_c'\?",
        ),
    ],
)
def test_missing_column_suggests_close_matches(frame, pattern):
    with pytest.raises(DataError, match=pattern):
        bayesmeta.effect_sizes(frame, "OR" if "ai" in frame or "event_t" in frame else "MD")


def test_unrecognised_shape_suggests_close_matches():
    df = pd.DataFrame({"study": ["A"], "estimat": [0.2], "se": [0.1]})
    with pytest.raises(DataError, match=r"Did you mean: 'estimat' -> 'estimate'"):
        bayesmeta.effect_sizes(df, "MD")


def test_unrecognised_shape_lists_all_shapes():
    with pytest.raises(
        DataError, match=r"cannot recognise the input shape.*binary: study, events_t"
    ):
        bayesmeta.effect_sizes(pd.DataFrame({"study": ["A"], "x": [1]}), "MD")


def test_both_se_and_ci():
    df = est(se=[0.1, 0.2])
    with pytest.raises(DataError, match="either 'se' or 'ci_lower'/'ci_upper'"):
        bayesmeta.effect_sizes(df, "RR")


def test_duplicate_labels():
    with pytest.raises(DataError, match=r"duplicate study label\(s\) 'ProDERM' in column 'study'"):
        bayesmeta.effect_sizes(binary(study=["ProDERM", "ProDERM"]), "OR")


def test_missing_label():
    with pytest.raises(DataError, match=r"row 2: column 'study' is missing"):
        bayesmeta.effect_sizes(binary(study=["A", None]), "OR")


def test_no_rows():
    with pytest.raises(DataError, match="no studies: the table has no rows"):
        bayesmeta.effect_sizes(binary().iloc[:0], "OR")


def test_unknown_measure_lists_valid():
    with pytest.raises(
        DataError, match=r"unknown measure 'XYZ'; valid measures: GEN, HR, MD, OR, RD, RR, SMD"
    ):
        bayesmeta.effect_sizes(binary(), "XYZ")


def test_measure_wrong_for_shape():
    with pytest.raises(
        DataError,
        match=r"measure 'OR' does not apply to continuous data; valid for continuous data: MD, SMD",
    ):
        bayesmeta.effect_sizes(cont(), "OR")


def test_not_a_dataframe():
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        bayesmeta.effect_sizes([1, 2, 3], "MD")


def test_csv_errors_name_file(tmp_path):
    p = tmp_path / "trials.csv"
    binary(events_t=[12, 37], n_t=[10, 47]).to_csv(p, index=False)
    with pytest.raises(
        DataError, match=r"trials.csv: study 'Dalakas 1993': events_t \(12\) > n_t \(10\)"
    ):
        bayesmeta.read_csv(p, "OR")
    with pytest.raises(DataError, match="no such file"):
        bayesmeta.read_csv(tmp_path / "absent.csv", "OR")
    p.write_text("study,events_t,n_t,events_c,n_c\nA,x,10,1,10\n")
    with pytest.raises(DataError, match=r"study 'A': column 'events_t' is not a number \('x'\)"):
        bayesmeta.read_csv(p, "OR")


# -- metafor names that conflict with canonical ones (one case per conflict) ----------------


@pytest.mark.parametrize(
    ("frame", "measure", "pattern"),
    [
        (binary(n1i=[8, 47]), "OR", r"columns 'n_t' and 'n1i' both give 'n_t'"),
        (binary(ai=[5, 37]), "OR", r"columns 'events_t' and 'ai' both give 'events_t'"),
        (
            pd.DataFrame({"study": ["A"], "ai": [1], "bi": [4], "n1i": [5], "ci": [2], "n2i": [9]}),
            "OR",
            r"columns 'bi' and 'n1i' both give 'n_t'",
        ),
        (binary(slab=["a", "b"]), "OR", r"columns 'study' and 'slab' both give 'study'"),
        (
            pd.DataFrame({"study": ["A"], "yi": [0.2], "estimate": [1.2], "sei": [0.1]}),
            "OR",
            r"columns 'yi' and 'estimate' both give 'estimate'",
        ),
        (
            pd.DataFrame({"study": ["A"], "yi": [0.2], "vi": [0.01], "sei": [0.1]}),
            "MD",
            r"columns 'vi' and 'sei' both give 'se'",
        ),
        (
            pd.DataFrame({"study": ["A"], "yi": [0.2], "se": [0.1], "sei": [0.1]}),
            "MD",
            r"columns 'se' and 'sei' both give 'se'",
        ),
        (
            pd.DataFrame({"study": ["A"], "yi": [0.2], "ci_lower": [0.1], "ci_upper": [0.3]}),
            "MD",
            r"'yi' \(metafor, on the analysis scale\) cannot be combined with 'ci_lower'",
        ),
    ],
)
def test_conflicting_metafor_and_canonical_names(frame, measure, pattern):
    with pytest.raises(DataError, match=pattern):
        bayesmeta.effect_sizes(frame, measure)


@pytest.mark.parametrize(
    ("frame", "measure", "pattern"),
    [
        (
            pd.DataFrame({"slab": ["A"], "ai": [1], "bi": [-4], "ci": [2], "di": [3]}),
            "OR",
            r"study 'A': bi \(-4\) must be >= 0",
        ),
        (
            pd.DataFrame({"slab": ["A"], "ai": [1.5], "bi": [4], "ci": [2], "di": [3]}),
            "OR",
            r"study 'A': column 'ai' \(1.5\) is not a whole number",
        ),
        (
            pd.DataFrame({"slab": ["A", "B"], "yi": [0.1, 0.2], "vi": [0.01, 0.0]}),
            "MD",
            r"study 'B': vi \(0\) must be > 0",
        ),
        (
            pd.DataFrame({"slab": ["A", "B"], "yi": [0.1, 800.0], "sei": [0.1, 0.2]}),
            "OR",
            r"study 'B': yi \(800\) is not a usable log odds ratio",
        ),
        (
            pd.DataFrame({"slab": ["A", None], "yi": [0.1, 0.2], "sei": [0.1, 0.2]}),
            "MD",
            r"row 2: column 'slab' is missing",
        ),
        (
            pd.DataFrame(
                {"study": ["A"], "m1i": [1.0], "sd1i": [-1.0], "n1i": [5]}
                | {"m2i": [0.0], "sd2i": [1.0], "n2i": [5]}
            ),
            "MD",
            r"study 'A': sd1i \(-1\) must be > 0",
        ),
    ],
)
def test_bad_values_in_metafor_names_name_the_metafor_column(frame, measure, pattern):
    with pytest.raises(DataError, match=pattern):
        bayesmeta.effect_sizes(frame, measure)


# -- header normalisation -------------------------------------------------------------------


def test_header_collision_after_normalising_names_both_originals():
    df = binary().rename(columns={"n_t": " N_T "}).assign(n_t=[8, 47])
    with pytest.raises(DataError, match=r"columns ' N_T ' and 'n_t' both become 'n_t'"):
        bayesmeta.effect_sizes(df, "OR")


# -- overflow: never inf/NaN yi or vi, never a RuntimeWarning (warnings are errors here) ----


@pytest.mark.parametrize(
    ("frame", "measure", "pattern"),
    [
        (
            cont(mean_t=[1e308, 8.0], mean_c=[-1e308, 6.0]),
            "MD",
            r"study 'Dalakas 1993': the mean difference is not finite.*mean_t \(1e\+308\), "
            r"mean_c \(-1e\+308\)",
        ),
        (
            cont(mean_t=[10.0, 1e308], mean_c=[5.0, -1e308]),
            "SMD",
            r"study 'Miyasaka 2012': the standardised mean difference.*is not finite.*mean_t",
        ),
        (
            cont(sd_t=[2.0, 1e308]),
            "MD",
            r"study 'Miyasaka 2012': the sampling variance of the mean difference is not "
            r"finite.*sd_t \(1e\+308\)",
        ),
        (
            cont(sd_t=[1e-300, 3.0], sd_c=[1e-300, 3.0]),
            "SMD",
            r"study 'Dalakas 1993': the sampling variance of the standardised mean "
            r"difference.*is not finite.*sd_t \(1e-300\)",
        ),
        (
            pd.DataFrame({"study": ["A", "B"], "estimate": [0.1, 0.2], "se": [0.1, 1e200]}),
            "GEN",
            r"study 'B': the sampling variance of the generic effect is not finite.*se \(1e\+200\)",
        ),
        (
            pd.DataFrame({"study": ["A", "B"], "estimate": [0.1, 0.2], "se": [0.1, 1e-200]}),
            "GEN",
            r"study 'B': the sampling variance of the generic effect underflows to 0.*se",
        ),
        (
            pd.DataFrame(
                {"study": ["A"], "estimate": [0.0], "ci_lower": [-1e308], "ci_upper": [1e308]}
            ),
            "MD",
            r"study 'A': the sampling variance.*not finite.*ci_lower \(-1e\+308\), "
            r"ci_upper \(1e\+308\)",
        ),
    ],
)
def test_overflow_names_study_and_columns(frame, measure, pattern):
    with pytest.raises(DataError, match=pattern):
        bayesmeta.effect_sizes(frame, measure)


# -- files: every DataError from read_csv names the file ------------------------------------


def test_directory_is_not_a_csv_file(tmp_path):
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path))} is a directory, not a CSV"):
        bayesmeta.read_csv(tmp_path, "OR")


def test_unreadable_file(tmp_path, monkeypatch):
    p = tmp_path / "locked.csv"
    p.write_text("study,events_t,n_t,events_c,n_c\nA,1,10,2,10\n")

    def deny(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(p), "read_bytes", deny)
    with pytest.raises(DataError, match=r"locked.csv: cannot read the file \(Permission denied\)"):
        bayesmeta.read_csv(p, "OR")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"empty.csv: the file is empty"),
        (b"  \n\n", r"empty.csv: the file is empty"),
        (bytes(range(256)) * 4, r"empty.csv: looks like a binary file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), r"empty.csv: looks like a binary file"),
        (
            b"study\x07\x01\x02\x03,n\x04\x05\x06\x0e\x0f\x10\n",
            r"empty.csv: looks like a binary file",
        ),
        ("study,n\nA,1\n".encode("utf-16"), r"empty.csv: the file is UTF-16 text"),
        (b"study,events_t,n_t,events_c,n_c\n", r"empty.csv: no studies: the table has no rows"),
    ],
    ids=["empty", "blank", "binary", "png", "control-chars", "utf16", "header-only"],
)
def test_unusable_file_names_the_file(tmp_path, content, pattern):
    p = tmp_path / "empty.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=pattern):
        bayesmeta.read_csv(p, "OR")


def test_comma_file_with_unquoted_decimal_commas_gets_a_hint(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text("study,mean_t,sd_t,n_t,mean_c,sd_c,n_c\nA,1,5,2,10,1,2,10\n")
    with pytest.raises(
        DataError,
        match=r"trials.csv: line 2 has 8 fields but the header has 7; if a number is written "
        r"as 1,5 this looks like a decimal comma; use a semicolon-separated file",
    ):
        bayesmeta.read_csv(p, "MD")


def test_comma_file_with_quoted_decimal_commas_gets_a_hint(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text('study,mean_t,sd_t,n_t,mean_c,sd_c,n_c\nA,"1,5",2,10,1,2,10\n')
    with pytest.raises(
        DataError,
        match=r"trials.csv: study 'A': column 'mean_t' is not a number \('1,5'\); '1,5' looks "
        r"like a decimal comma; use a semicolon-separated file",
    ):
        bayesmeta.read_csv(p, "MD")


def test_duplicate_header_in_file(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text("study,n_t,n_t\nA,1,2\n")
    with pytest.raises(DataError, match=r"trials.csv: duplicate column name\(s\) 'n_t'"):
        bayesmeta.read_csv(p, "OR")


def test_header_collision_in_file_names_file_and_both_headers(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text("study,events_t, Events_T ,n_t,events_c,n_c\nA,1,1,10,2,10\n")
    with pytest.raises(
        DataError, match=r"trials.csv: columns 'events_t' and ' Events_T ' both become"
    ):
        bayesmeta.read_csv(p, "OR")


def test_semicolon_file_with_a_bad_cell_names_file_study_and_column(tmp_path):
    p = tmp_path / "trials.csv"
    p.write_text("study;mean_t;sd_t;n_t;mean_c;sd_c;n_c\nA;1,5;2,0;10;1,0;x;10\n")
    with pytest.raises(DataError, match=r"trials.csv: study 'A': column 'sd_c' is not a number"):
        bayesmeta.read_csv(p, "MD")
