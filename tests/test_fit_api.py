"""fit() arguments, errors, printing and save/load."""

import numpy as np
import pandas as pd
import pytest

import bayesmeta
from bayesmeta import priors
from bayesmeta.fit import fit_spec
from bayesmeta.spec import SpecError


@pytest.fixture
def est():
    return pd.DataFrame(
        {"study": ["A", "B", "C"], "estimate": [0.4, 0.7, 0.2], "se": [0.2, 0.25, 0.3]}
    )


def test_k0_is_a_clear_error(est):
    with pytest.raises(bayesmeta.DataError, match="no studies"):
        bayesmeta.fit(est.iloc[:0], "SMD")


def test_unknown_measure(est):
    # the spec names the option, the valid values and what was given
    with pytest.raises(bayesmeta.DataError, match=r"measure must be one of MD, SMD, .*'ABC'"):
        bayesmeta.fit(est, "ABC")


def test_non_positive_prior_scale(est):
    with pytest.raises(SpecError, match=r"tau_prior is invalid: .*sigma must be > 0"):
        bayesmeta.fit(est, "SMD", tau_prior="halfnormal(-0.5)")
    with pytest.raises(SpecError, match=r"tau_prior must be a prior on \[0, inf\)"):
        bayesmeta.fit(est, "SMD", tau_prior=priors.Normal(0, 1))


def test_binomial_with_reported_estimates(est):
    with pytest.raises(SpecError, match="likelihood binomial needs arm-level binary data"):
        bayesmeta.fit(
            est.assign(
                estimate=[1.2, 1.5, 0.9],
            ),
            "OR",
            likelihood="binomial",
        )


def test_bad_options(est, crins):
    # messages use the argument names the caller typed (model=, an alias of `effects`)
    with pytest.raises(SpecError, match="model must be one of random, fixed"):
        bayesmeta.fit(est, "SMD", model="mixed")
    with pytest.raises(SpecError, match="engine must be one of auto, exact, nuts"):
        bayesmeta.fit(est, "SMD", engine="gibbs")
    with pytest.raises(SpecError, match="draws must be an integer >= 1"):
        bayesmeta.fit(est, "SMD", draws=0)
    # the exact engines cover the binomial likelihood (2-D grid) but not with moderators
    spec = bayesmeta.AnalysisSpec.from_kwargs(
        data=crins.assign(year=[2003, 2004, 2005, 2005, 2006, 2008]),
        measure="OR", likelihood="binomial", moderators="~ year", engine="exact",
    )  # fmt: skip
    with pytest.raises(SpecError, match="engine 'exact' does not apply: .*normal likelihood"):
        fit_spec(spec)
    with pytest.raises(SpecError, match="binomial is on the log odds ratio scale: use measure OR"):
        bayesmeta.fit(crins, "RR", likelihood="binomial")
    with pytest.raises(SpecError, match="tau_prior is given but the model is a fixed"):
        bayesmeta.fit(est, "SMD", model="fixed", tau_prior="halfnormal(1)")
    with pytest.raises(SpecError, match="measure is required"):
        bayesmeta.fit(est)


def test_no_default_tau_prior_for_generic(est):
    with pytest.raises(SpecError, match="no default prior on tau for measure GEN"):
        bayesmeta.fit(est, "GEN")
    assert bayesmeta.fit(est, "GEN", model="fixed").k == 3


def test_md_default_tau_prior_scales_with_pooled_sd():
    df = pd.DataFrame(
        {
            "study": ["a", "b"],
            "mean_t": [10.0, 12.0],
            "sd_t": [4.0, 4.0],
            "n_t": [20, 20],
            "mean_c": [8.0, 9.0],
            "sd_c": [4.0, 4.0],
            "n_c": [20, 20],
        }
    )
    r = bayesmeta.fit(df, "MD")
    assert r.tau_prior == priors.HalfNormal(2.0)  # 0.5 x pooled SD 4
    assert "pooled within-arm SD 4" in str(r)


def test_print_shows_model_priors_k_interval_kind_and_verdict(est):
    # Turner's prior was made for log odds ratios: using it for SMD now warns (issue 9)
    with pytest.warns(bayesmeta.ModelWarning, match="derived for log odds ratios"):
        text = str(bayesmeta.fit(est, "SMD", tau_prior=priors.turner2015()))
    for part in (
        "random-effects",
        "normal-normal",
        "k = 3 studies",
        "95% equal-tailed",
        "tau ~ LogNormal(mu=-1.28, sigma=0.87)",
        "Turner 2015",
        "Diagnostics:",
        "theta_new",
        "Study-specific",
    ):
        assert part in text, part


def test_ratio_measure_natural_scale_and_prior_sensitivity():
    df = pd.DataFrame(
        {"study": ["ProDERM"], "estimate": [1.80], "ci_lower": [1.26], "ci_upper": [2.56]}
    )
    with pytest.warns(bayesmeta.ModelWarning, match="random effects with k = 1"):
        res = {
            name: bayesmeta.fit(df, "RR", tau_prior=p)
            for name, p in [("hn05", "halfnormal(0.5)"), ("hn1", "halfnormal(1)")]
        }
    # wider heterogeneity prior -> wider prediction interval for a new study
    w = {
        n: r.summary().loc["theta_new", "upper"] - r.summary().loc["theta_new", "lower"]
        for n, r in res.items()
    }
    assert w["hn1"] > w["hn05"]
    nat = res["hn05"].summary(scale="natural")
    assert nat.loc["mu", "median"] == pytest.approx(
        np.exp(res["hn05"].summary().loc["mu", "median"])
    )
    with pytest.raises(ValueError, match="ratios and must be > 0"):
        res["hn05"].prob_exceeds([0.0])


@pytest.mark.filterwarnings("ignore::bayesmeta.ConvergenceWarning")  # small run on purpose
@pytest.mark.parametrize("engine", ["exact", "nuts"])
def test_save_load_roundtrip(tmp_path, crins, engine):
    r = bayesmeta.fit(crins, "OR", engine=engine, seed=3, draws=300, tune=300, chains=2)
    path = r.save(tmp_path / "res.nc")
    back = bayesmeta.load(path)
    pd.testing.assert_frame_equal(back.summary(), r.summary())
    pd.testing.assert_frame_equal(back.prob_exceeds([0.3, 0.5]), r.prob_exceeds([0.3, 0.5]))
    assert back.tau_prior == r.tau_prior and back.mu_prior == r.mu_prior
    assert back.provenance["data_sha256"] == r.data.sha256()
    assert back.spec.seed == 3 and back.spec.draws == 300 and back.spec.chains == 2
    assert back.spec.engine == r.spec.engine == engine
    pd.testing.assert_frame_equal(back.studies(), r.studies())
    assert not list(tmp_path.glob(".*tmp"))


def test_load_rejects_other_files(tmp_path):
    import xarray as xr

    p = tmp_path / "x.nc"
    xr.DataTree(xr.Dataset({"a": ("x", [1.0])})).to_netcdf(p, engine="h5netcdf")
    with pytest.raises(ValueError, match="not a bayesmeta result"):
        bayesmeta.load(p)


def test_seed_is_recorded_when_not_given(est):
    r = bayesmeta.fit(est, "SMD")
    assert isinstance(r.spec.seed, int)
    assert r.provenance["spec"]["seed"] == r.spec.seed
    assert r.provenance["versions"]["numpy"] == np.__version__


def test_fit_many_binomial_uses_the_exact_binomial_engine(crins):
    # issue 12: fit_many reuses the exact binomial-normal engine; each row must equal the
    # single fit of that analysis
    long = pd.concat([crins.assign(analysis="all"), crins.iloc[:3].assign(analysis="first three")])
    out = bayesmeta.fit_many(
        long, measure="OR", likelihood="binomial", thresholds=[0.5], direction="less"
    )
    assert out.index.tolist() == ["all", "first three"] and out["k"].tolist() == [6, 3]
    single = bayesmeta.fit(crins, "OR", likelihood="binomial", seed=0)
    s = single.summary()
    assert out.loc["all", "mu_median"] == pytest.approx(s.loc["mu", "median"], abs=1e-9)
    assert out.loc["all", "tau_upper"] == pytest.approx(s.loc["tau", "upper"], abs=1e-9)
    p = single.prob_exceeds([0.5], direction="less")["p_mu"].iloc[0]
    assert out.loc["all", "p_mu[0.5]"] == pytest.approx(p, abs=1e-9)
    assert np.isfinite(out["log_evidence"]).all()
    assert out.attrs["likelihood"] == "binomial"
