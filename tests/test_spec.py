"""Analysis files: every file in models/ validates and fits; bad specs report key paths."""

import warnings
from pathlib import Path

import pytest

import bayesmeta
from bayesmeta.fit import fit_spec
from bayesmeta.spec import SpecError, load_spec

MODELS = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.toml"))


def test_there_are_analysis_files():
    assert len(MODELS) >= 10


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_every_analysis_file_validates_and_fits(path):
    spec = load_spec(path)
    if spec.is_network:
        a = bayesmeta.run_analysis(spec.replace(draws=500, tune=500, chains=2))
        assert a.result.reference == spec.reference and len(a.result.treatments) >= 3
        if spec.mcid:
            assert a.mcid["p"].between(0, 1).all()
        return
    sd = spec.load_data()
    small = spec.replace(draws=500, tune=500, chains=2)  # small runs for the suite
    with warnings.catch_warnings():
        # ConvergenceWarning: short runs; ModelWarning: k = 1 and empirical priors made
        # for another measure are deliberate in some files; DataWarning: double zeros
        for cat in (bayesmeta.ConvergenceWarning, bayesmeta.ModelWarning, bayesmeta.DataWarning):
            warnings.simplefilter("ignore", cat)
        res = fit_spec(small, sd)
    assert res.k == sd.k
    assert res.spec.draws == 500 and res.spec.title == spec.title
    if spec.mcid:
        pe = res.prob_exceeds(list(spec.mcid), direction=spec.mcid_direction, scale=spec.mcid_scale)
        assert ((pe["p_mu"] >= 0) & (pe["p_mu"] <= 1)).all()
        assert (pe["direction"] == spec.mcid_direction).all()


def write(tmp_path, text):
    p = tmp_path / "x.toml"
    p.write_text(text)
    (tmp_path / "d.csv").write_text("study,estimate,se\nA,0.3,0.1\n")
    return p


def test_bad_spec_reports_every_key_path(tmp_path):
    p = write(
        tmp_path,
        """
[data]
path = "d.csv"
measure = "SMD"
[model]
effects = "mixed"
[priors]
tau = { dist = "HalfNormal", sigma = -0.5 }
[mcid]
values = [0.2, 0.5]
labels = ["one"]
direction = "up"
[sampling]
draws = 0
[extra]
x = 1
""",
    )
    with pytest.raises(SpecError) as info:
        load_spec(p)
    msg = str(info.value)
    for part in [
        f"{p}: priors.tau is invalid: HalfNormal: sigma must be > 0",
        f"{p}: model.effects must be one of random, fixed (got 'mixed')",
        f"{p}: mcid.labels must be a list with one label per value",
        f"{p}: mcid.direction must be one of greater, less (got 'up')",
        f"{p}: sampling.draws must be an integer >= 1",
        f"{p}: extra is not a known section",
    ]:
        assert part in msg, part
    assert len(info.value.problems) == 6  # every problem, each once


def test_missing_data_and_measure(tmp_path):
    p = write(tmp_path, '[data]\npath = "absent.csv"\n')
    with pytest.raises(SpecError, match=r"data.path points to a missing file") as info:
        load_spec(p)
    assert "data.measure is required" in str(info.value)


def test_registry_and_responder_definitions(tmp_path):
    p = write(tmp_path, '[data]\npath = "d.csv"\nmeasure = "SMD"\n[mcid]\nregistry = "smd-cohen"\n')
    assert load_spec(p).mcid == (0.2, 0.5, 0.8)
    p = write(tmp_path, '[data]\npath = "d.csv"\nmeasure = "RR"\n[mcid]\nregistry = "tis-adult"\n')
    with pytest.raises(SpecError, match="mcid.registry 'tis-adult' defines responders"):
        load_spec(p)


def test_invalid_toml(tmp_path):
    p = write(tmp_path, "[data\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(p)
