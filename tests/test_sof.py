"""The Bayesian summary-of-findings table (bayesmeta.sof)."""

import math

import numpy as np
import pandas as pd
import pytest

import bayesmeta
from bayesmeta.sof import COLUMNS, Outcome, sof_numbers, sof_table, to_html, to_markdown


@pytest.fixture(scope="module")
def binary():
    df = pd.DataFrame({"study": ["A", "B", "C"], "events_t": [12, 20, 9],
                       "n_t": [100, 150, 80], "events_c": [20, 31, 15], "n_c": [100, 150, 80]})  # fmt: skip
    spec = bayesmeta.AnalysisSpec.from_kwargs(
        data=df, measure="OR", mcid=[0.9, 0.75], mcid_direction="less", seed=1
    )
    return bayesmeta.run_analysis(spec)


def test_absolute_effects_per_1000(binary):
    n = sof_numbers([Outcome("Death", binary)]).iloc[0]
    p0 = np.median([20 / 100, 31 / 150, 15 / 80])
    assert n["control_risk"] == pytest.approx(p0)
    mu = binary.result.summary().loc["mu"]
    lo0 = math.log(p0 / (1 - p0))
    for col, q in (("risk_median", "median"), ("risk_lower", "lower"), ("risk_upper", "upper")):
        assert n[col] == pytest.approx(1 / (1 + math.exp(-(lo0 + mu[q]))), rel=1e-9)


def test_benefit_harm_trivial_add_up(binary):
    n = sof_numbers([Outcome("Death", binary)]).iloc[0]
    pe = binary.result.prob_exceeds([0.9, 0.75], direction="less")
    assert n["p_benefit"] == pytest.approx(pe["p_mu"].tolist())
    assert n["harm_threshold"] == pytest.approx(1 / 0.9)
    harm = binary.result.prob_exceeds([1 / 0.9], direction="greater")["p_mu"].iloc[0]
    assert n["p_harm"] == pytest.approx(harm)
    assert n["p_trivial"] == pytest.approx(1 - n["p_benefit"][0] - harm)


def test_table_columns_empty_grade_and_flags(binary):
    t = sof_table([Outcome("Death", binary, group_labels=("Drug", "Placebo"))])
    assert list(t.columns) == list(COLUMNS)
    row = t.iloc[0]
    assert row["Certainty (GRADE)"] == ""
    assert row["№ participants (studies)"] == "660 (3 studies)"
    assert "95% CrI crosses the MCID (OR 0.9)" in row["Imprecision flags"]
    assert "fewer than 300 events" in row["Imprecision flags"]
    assert row["Plain-language summary"].startswith("With Drug, about")
    assert row["P(benefit ≥ MCID): pooled [new study]"].startswith("OR < 0.9:")


def test_k1_flag_and_fixed_uses_random_for_new_study(crins):
    one = crins.iloc[:1]
    spec = bayesmeta.AnalysisSpec.from_kwargs(
        data=one, measure="RR", effects="fixed", mcid=[0.8], mcid_direction="less", seed=1
    )
    fixed = bayesmeta.run_analysis(spec)
    with pytest.warns(bayesmeta.ModelWarning, match="k = 1"):
        rnd = bayesmeta.run_analysis(spec.replace(effects="random"))
    n = sof_numbers([Outcome("Rejection", fixed, random=rnd)]).iloc[0]
    assert "k = 1" in n["flags"]
    assert n["p_benefit_new"][0] == pytest.approx(
        rnd.result.prob_exceeds([0.8], direction="less")["p_new"].iloc[0]
    )


def test_failed_outcome_row():
    t = sof_table([Outcome("Broken", None, error="no default prior")])
    assert t.iloc[0]["Plain-language summary"] == "Not analysed: no default prior"


def test_renderers_escape():
    df = pd.DataFrame({"Outcome": ["a|b <i>"], "Certainty (GRADE)": [""]})
    assert "a\\|b" in to_markdown(df)
    assert "&lt;i&gt;" in to_html(df) and "<i>" not in to_html(df)
