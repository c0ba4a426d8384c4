"""Plots are checked structurally: artists, labels, threshold lines."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

import bayesmeta  # noqa: E402
from bayesmeta import plots  # noqa: E402


@pytest.fixture(scope="module")
def res(crins):
    return bayesmeta.fit(crins, "OR", seed=1)


def _vlines(ax):
    return [
        ln
        for ln in ax.get_lines()
        if isinstance(ln, Line2D)
        and len(set(np.atleast_1d(ln.get_xdata()))) == 1
        and ln.get_linestyle() == "--"
    ]


def test_forest(res):
    # RevMan/metafor layout: labels and numbers are text columns, not tick labels
    fig = plots.forest(res, mcid=[0.5, 0.8])
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    rows = [t for t in texts if t in res.data.labels]
    assert rows == res.data.labels  # every study, in input order
    assert "Total (95% CrI)" in texts and "Prediction interval (95%)" in texts
    assert ax.get_xscale() == "log" and ax.get_xlabel().startswith("OR")
    assert sorted(ln.get_xdata()[0] for ln in _vlines(ax)) == [0.5, 0.8]
    assert "MCID 0.5" in texts and "MCID 0.8" in texts
    s = res.summary(scale="natural")
    mu = s.loc["mu", ["median", "lower", "upper"]].astype(float)
    assert f"{mu['median']:.2f} [{mu['lower']:.2f}, {mu['upper']:.2f}]" in texts
    # prediction line spans the theta_new interval on the natural scale
    red = [ln for ln in ax.get_lines() if ln.get_linewidth() == 2.5][0]
    np.testing.assert_allclose(
        red.get_xdata(), s.loc["theta_new", ["lower", "upper"]].astype(float)
    )


def test_mcid_curve(res):
    fig = plots.mcid_curve(res, candidates=[0.5, 0.8], direction="less", labels=["a", "b"])
    ax = fig.axes[0]
    curves = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 10]
    assert len(curves) == 2
    y = np.asarray(curves[0].get_ydata())
    assert np.all(np.diff(y) >= -1e-12)  # P(mu < m) increases with m
    assert sorted(ln.get_xdata()[0] for ln in _vlines(ax)) == [0.5, 0.8]
    pe = res.prob_exceeds([0.5], direction="less")
    texts = [t.get_text() for t in ax.texts]
    assert f"a: {pe['p_mu'].iloc[0]:.2f}" in texts
    assert "P(mu < m)" in ax.get_legend().get_texts()[0].get_text()


def test_tau_posterior(res):
    fig = plots.tau_posterior(res)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["posterior", "prior HalfNormal"]
    assert ax.get_xlabel().startswith("tau")
    x, y = ax.get_lines()[0].get_data()
    assert abs(np.trapezoid(y, x) - 1) < 0.01  # a density over [0, 99.5% quantile]


def test_fixed_effect_has_no_tau_plot(crins):
    with pytest.raises(ValueError, match="no tau"):
        plots.tau_posterior(bayesmeta.fit(crins, "OR", model="fixed"))
