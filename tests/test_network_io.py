"""Saving and loading network results: a true round trip (every table equal, no refit)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesmeta import datasets, priors
from bayesmeta.diagnostics import ConvergenceWarning
from bayesmeta.network import fit_network
from bayesmeta.network.result import load_network

#: Every table a user reads; each must be equal (bit for bit) after loading.
TABLES = {
    "relative_effects": lambda r: r.relative_effects(all_pairs=True),
    "relative_effects_natural": lambda r: r.relative_effects(all_pairs=True, scale="natural"),
    "predict": lambda r: r.predict(all_pairs=True),
    "league_table": lambda r: r.league_table(),
    "ranks": lambda r: r.ranks(),
    "sucra": lambda r: r.sucra(),
    "prob_exceeds": lambda r: r.prob_exceeds([-0.5, 0.0], direction="less", scale="analysis"),
    "heterogeneity": lambda r: r.heterogeneity(),
    "summary": lambda r: r.summary(),
    "node_split": lambda r: r.node_split(),
    "unrelated_effects": lambda r: r.unrelated_effects(),
}

_TRIANGLE = pd.DataFrame(
    {
        "study": ["s1", "s1", "s2", "s2", "s3", "s3", "s4", "s4", "s5", "s5", "s5"],
        "treatment": ["A", "B", "A", "C", "B", "C", "A", "B", "A", "B", "C"],
        "events": [10, 15, 12, 20, 14, 18, 9, 13, 11, 16, 19],
        "n": [50] * 11,
    }
)


def _round_trip(res, path):
    res.save(path)
    return load_network(path)


@pytest.fixture(scope="module")
def exact_pair(tmp_path_factory):
    res = fit_network(
        datasets.load("parkinsons_tsd2"),
        "MD",
        reference="placebo",
        tau_prior=priors.HalfNormal(1.0),
        consistency="nodesplit",
        lower_better=True,
    )
    res.unrelated_effects()
    return res, _round_trip(res, tmp_path_factory.mktemp("io") / "exact.nc")


@pytest.fixture(scope="module")
def nuts_pair(tmp_path_factory):
    """A small binomial NUTS fit with its three node splits (four models, about 8 s)."""
    with warnings.catch_warnings():  # convergence is not what these tests check
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = fit_network(
            _TRIANGLE,
            "OR",
            reference="A",
            likelihood="binomial",
            engine="nuts",
            seed=3,
            draws=300,
            tune=300,
            chains=2,
            consistency="nodesplit",
        )
    return res, _round_trip(res, tmp_path_factory.mktemp("io") / "nuts.nc")


@pytest.mark.parametrize("table", list(TABLES))
def test_exact_round_trip_gives_equal_tables(exact_pair, table):
    res, loaded = exact_pair
    pd.testing.assert_frame_equal(TABLES[table](loaded), TABLES[table](res), check_exact=True)


@pytest.mark.slow
@pytest.mark.parametrize("table", [t for t in TABLES if t != "unrelated_effects"])
def test_nuts_round_trip_gives_equal_tables(nuts_pair, table):
    res, loaded = nuts_pair
    pd.testing.assert_frame_equal(TABLES[table](loaded), TABLES[table](res), check_exact=True)


@pytest.mark.slow
def test_nuts_round_trip_keeps_the_fits_without_refitting(nuts_pair):
    res, loaded = nuts_pair
    assert loaded.refit is not res.refit
    assert list(loaded.splits) == list(res.splits) and len(res.splits) == 3
    for comp, f in res.splits.items():
        assert loaded.splits[comp].diagnostics.to_dict() == f.diagnostics.to_dict()
        assert loaded.splits[comp].design.names == f.design.names
    assert loaded.ume is None and res.ume is None
    assert loaded.fit.diagnostics.to_dict() == res.fit.diagnostics.to_dict()
    pd.testing.assert_frame_equal(loaded.fit.diagnostics.table, res.fit.diagnostics.table)
    assert loaded.engine == "nuts" and loaded.fit.seconds == res.fit.seconds


def test_round_trip_keeps_data_priors_spec_and_settings(exact_pair):
    res, loaded = exact_pair
    pd.testing.assert_frame_equal(loaded.data.table, res.data.table, check_exact=True)
    assert loaded.data.studies[0].arms == res.data.studies[0].arms
    np.testing.assert_array_equal(loaded.fit.design.y, res.fit.design.y)
    assert loaded.priors == res.priors
    assert loaded.spec.to_dict() == res.spec.to_dict()
    assert loaded.spec.reference == "placebo" and loaded.spec.lower_better
    for attr in ("reference", "model", "likelihood", "lower_better", "ci_prob", "seed", "notes"):
        assert getattr(loaded, attr) == getattr(res, attr), attr
    assert loaded.describe() == res.describe()
    assert loaded.fit.diagnostics is None


def test_pairwise_exact_binomial_round_trip(tmp_path):
    df = pd.DataFrame(
        {
            "study": ["a", "a", "b", "b", "c", "c"],
            "treatment": ["x", "c", "x", "c", "x", "c"],
            "events": [3, 8, 5, 9, 0, 2],
            "n": [20, 20, 30, 30, 15, 15],
        }
    )
    res = fit_network(
        df, "OR", reference="c", likelihood="binomial", tau_prior=priors.HalfNormal(0.5)
    )
    loaded = _round_trip(res, tmp_path / "pairwise.nc")
    assert loaded.engine == "exact"
    for table in ("relative_effects_natural", "predict", "sucra", "prob_exceeds", "heterogeneity"):
        pd.testing.assert_frame_equal(TABLES[table](loaded), TABLES[table](res), check_exact=True)


def test_splits_not_saved_are_fitted_from_the_saved_spec(tmp_path):
    res = fit_network(
        datasets.load("parkinsons_tsd2"),
        "MD",
        reference="placebo",
        tau_prior=priors.HalfNormal(1.0),
    )
    loaded = _round_trip(res, tmp_path / "plain.nc")
    assert not loaded.splits and loaded.ume is None
    pd.testing.assert_frame_equal(loaded.node_split(), res.node_split(), check_exact=True)
    pd.testing.assert_frame_equal(
        loaded.unrelated_effects(), res.unrelated_effects(), check_exact=True
    )


def _pairwise_result_file(path):
    from bayesmeta import fit

    df = pd.DataFrame({"study": ["a", "b", "c"], "yi": [0.1, 0.3, -0.2], "sei": [0.2, 0.3, 0.25]})
    fit(df, "MD", tau_prior=priors.HalfNormal(0.5)).save(path)
    return "pairwise result: read it with bayesmeta.load"


def _empty_netcdf_file(path):
    import xarray as xr

    xr.DataTree().to_netcdf(path, engine="h5netcdf")
    return "no 'bayesmeta_network' metadata"


def _text_file(path):
    path.write_text("study,treatment\n")
    return "not a readable bayesmeta network result"


@pytest.mark.parametrize(
    "make", [_pairwise_result_file, _empty_netcdf_file, _text_file], ids=lambda f: f.__name__[1:]
)
def test_load_rejects_files_that_are_not_network_results(tmp_path, make):
    path = tmp_path / "other.nc"
    expected = make(path)
    with pytest.raises(ValueError, match=expected):
        load_network(path)


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, exact_pair):
    import xarray as xr

    res, _ = exact_pair
    path = tmp_path / "res.nc"
    path.write_bytes(b"old")

    def boom(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.DataTree, "to_netcdf", boom)
    with pytest.raises(OSError, match="disk full"):
        res.save(path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["res.nc"]


def test_a_loaded_result_saves_and_loads_again(tmp_path, exact_pair):
    res, loaded = exact_pair
    again = _round_trip(loaded, tmp_path / "again.nc")
    for table in ("relative_effects", "sucra", "node_split", "unrelated_effects"):
        pd.testing.assert_frame_equal(TABLES[table](again), TABLES[table](res), check_exact=True)


def test_bayesmeta_load_reads_network_results_too(exact_pair, tmp_path):
    import bayesmeta

    res, _ = exact_pair
    loaded = bayesmeta.load(res.save(tmp_path / "n.nc"))
    assert type(loaded).__name__ == "NetworkResult"
    pd.testing.assert_frame_equal(loaded.sucra(), res.sucra(), check_exact=True)
