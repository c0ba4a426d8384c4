"""Forest plot (RevMan / metafor layout), ratio ticks, MCID curve labels, fonts."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import bayesmeta  # noqa: E402
from bayesmeta import plots  # noqa: E402


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def _binary(k, seed=1):
    rng = np.random.default_rng(seed)
    n = rng.integers(20, 300, k)
    return pd.DataFrame({"study": [f"Trial {i + 1}" for i in range(k)],
                         "events_t": rng.binomial(n, 0.2), "n_t": n,
                         "events_c": rng.binomial(n, 0.3), "n_c": n,
                         "subgroup": ["Adults" if i % 3 else "Children" for i in range(k)]})  # fmt: skip


@pytest.fixture(scope="module")
def res(crins):
    return bayesmeta.fit(crins, "OR", seed=1)


def test_ratio_ticks_are_natural_and_do_not_overlap():
    assert plots.ratio_ticks(0.05, 20) == [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20]
    short = plots.ratio_ticks(0.84, 1.02, width_in=3.0)
    assert 1 in short and len(short) >= 3
    assert all(f"{t:g}" == str(t) for t in short)  # plain decimals, never 10^-1


def test_forest_columns_and_elements(res):
    fig = plots.forest(res, mcid=[0.5, 0.8], favours=("Favours IL-2RA", "Favours control"))
    texts = _texts(fig)
    ax = fig.axes[0]
    assert "Heffron 2003" in texts and "Weight" in texts
    assert "14/61" in texts  # events/total of the first study
    assert any(t.startswith("OR [95% CI]") for t in texts)
    assert any(t.startswith("Shrunken [95% CrI]") for t in texts)
    assert any(t.startswith("Heterogeneity: τ =") and "classical: I²" in t for t in texts)
    assert {"MCID 0.5", "MCID 0.8", "Favours IL-2RA", "Favours control"} <= set(texts)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "1" in labels and not any("10^" in s or "times" in s for s in labels)
    sq = [c for c in ax.collections if c.get_offsets().shape[0] == res.k][0]
    w = res.weights().iloc[: res.k].to_numpy()
    assert np.argmax(sq.get_sizes()) == np.argmax(w)  # squares sized by weight
    plt.close(fig)


@pytest.mark.parametrize("k", [1, 6, 30, 200])
def test_height_grows_with_k_and_stays_sane(k):
    with pytest.warns(bayesmeta.ModelWarning) if k == 1 else _nullcontext():
        r = bayesmeta.fit(_binary(k).drop(columns="subgroup"), "RR", seed=1)
    fig = plots.forest(r)
    w, h = fig.get_size_inches()
    assert 5 <= w <= 14 and 1.5 < h < 0.25 * min(k, plots.MAX_ROWS) + 4
    plt.close(fig)


def test_k5000_is_capped():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"study": [f"S{i}" for i in range(5000)],
                       "estimate": rng.normal(0.2, 0.3, 5000), "se": rng.uniform(0.1, 0.5, 5000)})  # fmt: skip
    fig = plots.forest(bayesmeta.fit(df, "SMD", seed=1))
    w, h = fig.get_size_inches()
    assert h * 300 < 12000 and w * 300 < 5000
    assert any("4750 of 5000 studies not drawn" in t for t in _texts(fig))
    plt.close(fig)


def test_subgroups_blocks_with_subtotals():
    r = bayesmeta.fit(_binary(9), "OR", seed=1)
    fig = plots.forest(r, subgroups="subgroup")
    texts = _texts(fig)
    assert texts.count("Subtotal (95% CrI)") == 2
    assert {"Children", "Adults"} <= set(texts)
    plt.close(fig)


def test_cjk_names_do_not_fail():
    df = _binary(3).drop(columns="subgroup").assign(study=["山田 2011", "Müller 2015", "Lee"])
    fig = plots.forest(bayesmeta.fit(df, "OR", seed=1))
    fig.canvas.draw()
    assert plots.font_families()[0] == "DejaVu Sans"
    plt.close(fig)


def test_mcid_curve_labels_clear_the_curves(res):
    fig = plots.mcid_curve(res, candidates=[0.5, 0.55, 0.8], direction="less",
                           labels=["a", "b", "c"])  # fmt: skip
    fig.canvas.draw()
    ax = fig.axes[0]
    top = ax.get_window_extent().y1
    boxes = [t.get_window_extent() for t in ax.texts]
    assert all(b.y0 >= top for b in boxes)  # above the plot area: never on a curve
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
    plt.close(fig)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
