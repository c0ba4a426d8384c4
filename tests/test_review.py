"""Whole reviews: read_review, run_review, ReviewResult.write and `bayesmeta review`."""

import argparse
import sys
from pathlib import Path

import pandas as pd
import pytest

from bayesmeta.review import (
    ReviewError,
    add_review_parser,
    cmd_review,
    read_review,
    run_review,
)
from bayesmeta.revman import RevManError

sys.path.insert(0, str(Path(__file__).parent / "data"))
from make_synthetic_review import write_synthetic_review  # noqa: E402

DATA = Path(__file__).parent / "data" / "revman"
ROOT = Path(__file__).parents[1]
FILES = {
    "rm5": DATA / "fleiss1993.rm5",
    "revman5-csv": DATA / "fleiss1993.csv",
    "data-package": DATA / "fleiss1993-data.zip",
}
IDS = ["1.1", "1.2", "2.1", "2.1.1", "2.1.2", "2.2"]
# the data package prints 6 decimals, the others 8: posterior medians agree to this
SAME_NUMBERS = 1e-5


@pytest.fixture(scope="module")
def fleiss():
    return {fmt: run_review(path, progress=False) for fmt, path in FILES.items()}


def _cli(argv):
    parser = argparse.ArgumentParser(prog="bayesmeta")
    add_review_parser(parser.add_subparsers())
    return cmd_review(parser.parse_args(["review", *argv]))


@pytest.mark.parametrize("fmt", FILES)
def test_read_review_lists_specs(fmt):
    specs = read_review(FILES[fmt])
    assert [s.measure for s in specs] == ["OR", "MD", "OR", "OR", "OR", "OR"]
    assert [s.effects for s in specs] == ["fixed"] * 5 + ["random"]
    assert specs[3].title.endswith("[Trials published before 1980]")
    assert specs[0].title.startswith("Examples from Fleiss (1993): Aspirin")


def test_three_formats_same_analyses_and_numbers(fleiss):
    tables = {}
    for fmt, res in fleiss.items():
        assert [it.id for it in res.items] == IDS
        assert all(it.error is None for it in res.items)
        assert len(res.skipped) == 3  # O-E, Peto, no studies: listed, not dropped
        tables[fmt] = pd.DataFrame(
            {
                it.id: it.primary.result.summary().loc["mu", ["median", "lower", "upper"]]
                for it in res.items
            }
        ).T
    for fmt in ("revman5-csv", "data-package"):
        pd.testing.assert_frame_equal(tables[fmt], tables["rm5"], atol=SAME_NUMBERS, rtol=0)


def test_primary_is_the_reviews_choice_plus_random(fleiss):
    items = {it.id: it for it in fleiss["rm5"].items}
    assert items["1.1"].primary.result.fixed and not items["1.1"].random.result.fixed
    assert not items["2.2"].primary.result.fixed and items["2.2"].random is None
    # RevMan's stored total is the classical estimate beside the Bayesian one
    label, est, lo, hi = items["1.1"].classical_revman()
    assert label == "RevMan MH fixed" and est == pytest.approx(0.896866)


def test_sof_from_fleiss(fleiss):
    sof = fleiss["rm5"].sof()
    assert len(sof) == 6 and (sof["Certainty (GRADE)"] == "").all()
    row = sof.iloc[0]
    assert row["№ participants (studies)"] == "28,003 (7 studies)"
    assert row["Classical estimate [95% CI]"] == "OR 0.90 (0.84 to 0.96); RevMan MH fixed"
    assert row["Risk with comparator (per 1000)"] == "123"


def test_write_outputs(fleiss, tmp_path):
    out = fleiss["rm5"].write(tmp_path / "out")
    for name in ("sof.csv", "sof.md", "sof.html", "report.html", "sof_numbers.csv"):
        assert (out / name).is_file(), name
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == [f"{i:03d}-{aid}" for i, aid in enumerate(IDS, 1)]
    for f in folders:
        assert {"summary.csv", "studies.csv", "forest.svg", "report.html"} <= {
            p.name for p in (out / f).iterdir()
        }
    assert len(pd.read_csv(out / "sof.csv", encoding="utf-8-sig")) == 6
    assert not list(tmp_path.glob(".out.tmp-*"))


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("truncated.rm5", None, r"truncated\.rm5"),
        ("unknown.rm5", "STD-X", r"unknown\.rm5: comparison 1 .*, outcome 1\.1 'Aspirin.*'STD-X'"),
    ],
)
def test_malformed_file_clear_error_no_output(tmp_path, name, content, match, capsys):
    text = FILES["rm5"].read_bytes()
    path = tmp_path / name
    if content is None:
        path.write_bytes(text[: len(text) // 2])
    else:
        old = b'STUDY_ID="STD-GASP"'
        at = text.index(old, text.index(b"<DICH_DATA"))
        path.write_bytes(text[:at] + f'STUDY_ID="{content}"'.encode() + text[at + len(old) :])
    with pytest.raises(RevManError, match=match):
        run_review(path, progress=False)
    assert _cli([str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*"))


def test_synthetic_review_command(tmp_path, capsys):
    path = write_synthetic_review(tmp_path / "synthetic.csv", 10)
    assert _cli([str(path), "--out", str(tmp_path / "out")]) == 0
    sof = pd.read_csv(tmp_path / "out" / "sof.csv", encoding="utf-8-sig")
    assert len(sof) == 10
    assert "10 analyses, 0 failed" in capsys.readouterr().out
    # a second run refuses a non-empty --out, then --force replaces it
    assert _cli([str(path), "--out", str(tmp_path / "out")]) == 1
    assert _cli([str(path), "--out", str(tmp_path / "out"), "--force"]) == 0


def test_progress_callback(tmp_path):
    path = write_synthetic_review(tmp_path / "synthetic.csv", 4)
    seen = []
    run_review(path, progress=lambda i, n, title: seen.append((i, n)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)


def test_models_folder_gets_a_sof_table():
    res = run_review(ROOT / "models", progress=False)
    files = sorted((ROOT / "models").glob("*.toml"))
    networks = [f for f in files if "[network]" in f.read_text()]
    assert networks  # skipped, with the reason: an SoF row is one pairwise comparison
    assert len(res.items) == len(files) - len(networks)
    assert [s for s in res.skipped if "network meta-analysis" in s] == [
        f"{f}: a network meta-analysis" for f in networks
    ]
    assert all(it.primary is not None for it in res.items)
    sof = res.sof()
    cdasi = sof[sof["Outcome"].str.contains("CDASI")].iloc[0]
    assert cdasi["P(benefit ≥ MCID): pooled [new study]"].startswith("MD < -4 (4 points)")
    assert "k = 1" in cdasi["Imprecision flags"]


def test_review_spec_lists_analysis_files(tmp_path):
    spec = tmp_path / "myositis.toml"
    spec.write_text(
        '[review]\ntitle = "IVIg in myositis"\n'
        f'analyses = ["{ROOT / "models" / "ivig_cdasi.toml"}", '
        f'"{ROOT / "models" / "ivig_response_tis20.toml"}"]\n'
    )
    res = run_review(spec, progress=False)
    assert res.title == "IVIg in myositis" and [it.id for it in res.items] == [
        "ivig_cdasi",
        "ivig_response_tis20",
    ]
    out = res.write(tmp_path / "out")
    assert "IVIg in myositis" in (out / "sof.md").read_text()


def test_mcid_map_and_registry_by_scale(tmp_path):
    mmap = tmp_path / "map.toml"
    mmap.write_text(
        '[[mcid]]\nmatch = "aspirin for preventing death"\nvalues = [0.9, 0.8]\n'
        'direction = "less"\nlabels = ["10% fewer", "20% fewer"]\n'
    )
    specs = read_review(FILES["rm5"], mcid_map=mmap)
    assert specs[0].mcid == (0.9, 0.8) and specs[0].mcid_direction == "less"
    assert specs[1].mcid == ()  # MD of an unknown scale: no registry entry
    bad = tmp_path / "bad.toml"
    bad.write_text("[[mcid]]\nvalue = [1]\n")
    with pytest.raises(ReviewError, match=r"bad\.toml: \[\[mcid\]\] entry 1: unknown keys"):
        read_review(FILES["rm5"], mcid_map=bad)


def test_smd_gets_cohen_thresholds_signed_by_favours(tmp_path):
    path = write_synthetic_review(tmp_path / "s.csv", 4)
    specs = read_review(path)
    smd = [s for s in specs if s.measure == "SMD"][0]
    # "Favours drug" on the left: lower is better, so the thresholds turn negative
    assert smd.mcid == (-0.2, -0.5, -0.8) and smd.mcid_direction == "less"
