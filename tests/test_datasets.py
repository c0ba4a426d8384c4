"""Bundled datasets load, validate and match their provenance files; classical figures."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmeta
from bayesmeta import classical, datasets, mcid

NAMES = datasets.names()


def test_all_datasets_listed():
    assert {
        "ivig_tis20",
        "ivig_tis40",
        "ivig_tis60",
        "ivig_cdasi",
        "ivig_sae",
        "ivig_discontinuation_ae",
        "mtx_printo20_jdm",
        "villalba1998_improved",
        "miller1992_plasma_exchange",
        "miller1992_leukapheresis",
        "mtx_noncompletion",
        "dalakas1993_strength",
        "ivig_disability_smd",
        "ivig_strength_smd",
        "review2023_pooled",
    } <= set(NAMES)
    assert len(datasets.list()) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_dataset_matches_provenance(name):
    meta = datasets.info(name)
    for key in ("title", "citation", "location", "status", "derivation", "not_found"):
        assert key in meta, key
    assert meta["status"].startswith(("V", "D"))
    df = datasets.load(name)
    for col, values in meta["expected"].items():
        np.testing.assert_allclose(df[col].to_numpy(float), values, err_msg=col)
    if meta["measure"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bayesmeta.DataWarning)
            assert bayesmeta.study_data(df, meta["measure"]).k == len(df)


def test_derived_counts_follow_their_arithmetic():
    # ivig_tis40/60: counts = round(percentage x n) as the provenance files state
    for name, (pt, pc) in {"ivig_tis40": (0.68, 0.23), "ivig_tis60": (0.32, 0.08)}.items():
        df = datasets.load(name)
        assert df["events_t"][0] == round(pt * 47) and df["events_c"][0] == round(pc * 48)


@pytest.mark.parametrize(
    ("name", "measure", "printed"),
    [
        ("ivig_tis20", "RR", (1.80, 1.26, 2.56)),  # 2023 review: RR 1.80 (1.26 to 2.56)
        ("mtx_printo20_jdm", "RR", (1.40, 1.01, 1.96)),  # 2023 review: RR 1.40 (1.01 to 1.96)
    ],
)
def test_classical_figures_reproduce_the_review(name, measure, printed):
    t = classical.classical_table(bayesmeta.study_data(datasets.load(name), measure))
    for row in ("inverse-variance fixed effect", "Mantel-Haenszel (fixed)"):
        got = t.loc[row, ["estimate", "lower", "upper"]].to_numpy(float)
        np.testing.assert_array_equal(np.round(got, 2), printed)


def test_cdasi_md_reproduces_the_review():
    t = classical.classical_table(bayesmeta.study_data(datasets.load("ivig_cdasi"), "MD"))
    assert round(t.iloc[0]["estimate"], 2) == -8.20
    # Werth 2023 arm-level changes give the same MD (provenance: D check)
    assert round(-9.36 - (-1.16), 2) == -8.20


def test_classical_against_metafor():
    # tests/reference/metafor_classical.json (rma FE/DL, rma.mh; R 4.2.2, metafor 3.8-1)
    import json
    from pathlib import Path

    ref = json.loads((Path(__file__).parent / "reference" / "metafor_classical.json").read_text())
    for name in ("bcg", "nielweise2007"):
        rec = ref[name]
        df = pd.DataFrame(
            {
                "study": [f"s{i}" for i in range(len(rec["n_t"]))],
                **{k: rec[k] for k in ("events_t", "n_t", "events_c", "n_c")},
            }
        )
        for m in ("OR", "RR"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", bayesmeta.DataWarning)
                t = classical.classical_table(bayesmeta.study_data(df, m))
            log = np.log(t[["estimate", "lower", "upper"]].astype(float))
            np.testing.assert_allclose(
                log.loc["inverse-variance fixed effect"], rec[m]["fe"], atol=1e-8
            )
            np.testing.assert_allclose(
                log.loc["DerSimonian-Laird random effects"], rec[m]["dl"], atol=1e-8
            )
            assert t.loc["DerSimonian-Laird random effects", "tau2"] == pytest.approx(
                rec[m]["dl_tau2"], abs=1e-10
            )
            np.testing.assert_allclose(log.loc["Mantel-Haenszel (fixed)"], rec[m]["mh"], atol=1e-8)


def test_mcid_registry():
    e = mcid.get("cdasi-activity")
    assert e.direction == "less" and e.thresholds == (-4.0, -5.0)
    with pytest.raises(KeyError, match="unknown MCID registry entry"):
        mcid.get("nope")
    assert set(mcid.table()["kind"]) == {"effect", "responder"}


def test_sensitivity_table(crins):
    from bayesmeta.sensitivity import prior_sensitivity

    r = bayesmeta.fit(crins, "OR")
    t = prior_sensitivity(
        r, ["halfnormal(1)", bayesmeta.priors.turner2015()], [0.5], direction="less"
    )
    assert t.index[0] == "tau ~ HalfNormal(sigma=0.5)" and "[Turner 2015]" in t.index[2]
    assert t.loc["tau ~ HalfNormal(sigma=1)", "tau_median"] > t.iloc[0]["tau_median"]
    assert t.iloc[0]["P(mu < 0.5)"] == pytest.approx(
        r.prob_exceeds([0.5], direction="less")["p_mu"].iloc[0]
    )


def test_mantel_haenszel_undefined_with_an_empty_arm():
    # 3/52 vs 0/48 (ivig_discontinuation_ae): one table, no control events -> MH OR and RR
    # are infinite; reported as NaN rather than a number
    sd = bayesmeta.study_data(datasets.load("ivig_discontinuation_ae"), "OR")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = classical.classical_table(sd)
    assert np.isnan(t.loc["Mantel-Haenszel (fixed)", "estimate"])
    assert np.isfinite(t.loc["inverse-variance fixed effect", "estimate"])
