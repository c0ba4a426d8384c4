"""Bad input: each case raises DataError (a ValueError) naming the study and the column."""

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


def test_unknown_column_lists_expected():
    with pytest.raises(
        DataError,
        match=r"unknown column\(s\) 'year'.*expected columns: study, events_t, n_t, events_c, n_c",
    ):
        bayesmeta.effect_sizes(binary(year=[1993, 2022]), "OR")


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
