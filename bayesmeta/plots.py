"""Plots of a MetaResult: forest plot, MCID (exceedance) curve, posterior of tau.

matplotlib is imported inside each function. Each returns the matplotlib Figure.

Examples
--------
>>> import pandas as pd, bayesmeta
>>> from bayesmeta import plots
>>> df = pd.DataFrame({"study": ["A", "B"], "estimate": [0.4, 0.7], "se": [0.2, 0.25]})
>>> fig = plots.forest(bayesmeta.fit(df, "SMD"), mcid=[0.2, 0.5])
>>> fig.axes[0].get_xlabel()
'SMD (95% intervals)'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from bayesmeta.results import MetaResult

__all__ = ["forest", "mcid_curve", "mcmc_diagnostics", "tau_posterior"]

_OBS, _SHRUNK, _POOL, _PRED, _MCID = "#555555", "#1f77b4", "#000000", "#d62728", "#2ca02c"


def _plt() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in {"agg", "module://matplotlib_inline.backend_inline"}:
        import os

        if not os.environ.get("DISPLAY"):
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _axis_label(result: MetaResult, ci_prob: float) -> str:
    return f"{result.measure} ({100 * ci_prob:g}% intervals)"


def forest(
    result: MetaResult,
    *,
    mcid: Sequence[float] | None = None,
    ci_prob: float = 0.95,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Forest plot: observed estimates, shrunken estimates, pooled effect and prediction.

    Parameters
    ----------
    result : MetaResult
    mcid : sequence of float, optional
        Candidate MCIDs on the natural scale (ratios for OR/RR/HR), drawn as dashed lines.
    ci_prob : float
        Interval probability for every interval drawn (confidence for the observed
        estimates, credible for the posterior ones).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    natural = result.is_ratio
    tf = np.exp if natural else (lambda x: x)
    s = result.summary(ci_prob=ci_prob, scale="natural" if natural else "analysis")
    labels = result.data.labels
    k = len(labels)
    z = stats.norm.ppf(0.5 + ci_prob / 2)
    yi, sei = result.data.yi, result.data.sei
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 1.6 + 0.42 * (k + 3)))
    else:
        fig = ax.figure
    rows = np.arange(k)[::-1] + 3
    ax.errorbar(
        tf(yi),
        rows + 0.15,
        xerr=[tf(yi) - tf(yi - z * sei), tf(yi + z * sei) - tf(yi)],
        fmt="s",
        color=_OBS,
        ms=5,
        capsize=2,
        label="observed (study CI)",
    )
    th = result.studies(ci_prob=ci_prob, scale="natural" if natural else "analysis")
    ax.errorbar(
        th["median"],
        rows - 0.15,
        xerr=[th["median"] - th["lower"], th["upper"] - th["median"]],
        fmt="o",
        color=_SHRUNK,
        ms=4,
        capsize=2,
        label="shrunken (posterior CrI)",
    )
    mu = s.loc["mu"]
    ax.fill(
        [mu["lower"], mu["median"], mu["upper"], mu["median"]],
        [1, 1.3, 1, 0.7],
        color=_POOL,
        label="pooled effect mu",
    )
    new = s.loc["theta_new"]
    if not result.fixed:
        ax.plot(
            [new["lower"], new["upper"]],
            [0, 0],
            color=_PRED,
            lw=2.5,
            label="prediction (new study)",
        )
        ax.plot([new["median"]], [0], "|", color=_PRED, ms=12)
    ax.axvline(1.0 if natural else 0.0, color="grey", lw=0.8)
    for m in mcid or ():
        ax.axvline(m, color=_MCID, ls="--", lw=1, label="candidate MCID" if m == mcid[0] else None)
    ticks = list(rows) + [1] + ([] if result.fixed else [0])
    names = list(labels) + ["Pooled (mu)"] + ([] if result.fixed else ["New study (theta_new)"])
    ax.set_yticks(ticks, names)
    if natural:
        ax.set_xscale("log")
    ax.set_xlabel(_axis_label(result, ci_prob))
    ax.set_ylim(-0.8, k + 3.2)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18 - 0.5 / (k + 3)),
        ncol=2,
        fontsize="small",
        frameon=False,
    )
    ax.set_title(title or f"{result.describe_model().split(',')[0]} (k = {k})", fontsize="medium")
    fig.tight_layout()
    return fig


def mcid_curve(
    result: MetaResult,
    *,
    candidates: Sequence[float] | None = None,
    direction: str = "greater",
    labels: Sequence[str] | None = None,
    ax: Any = None,
    n: int = 200,
) -> Any:
    """P(effect beyond m) against m, for the pooled effect and a new study.

    Parameters
    ----------
    candidates : sequence of float, optional
        Candidate MCIDs (natural scale), marked with their probabilities.
    direction : {"greater", "less"}
    labels : sequence of str, optional
        Names of the candidates (e.g. "minimal", "moderate").

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    natural = result.is_ratio
    s = result.summary(ci_prob=0.99, scale="natural" if natural else "analysis")
    lo = min(s.loc["mu", "lower"], s.loc["theta_new", "lower"])
    hi = max(s.loc["mu", "upper"], s.loc["theta_new", "upper"])
    cand = list(candidates or ())
    if cand:
        lo, hi = min(lo, *cand), max(hi, *cand)
    grid = np.geomspace(lo, hi, n) if natural else np.linspace(lo, hi, n)
    pe = result.prob_exceeds(grid, direction=direction)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.2))
    else:
        fig = ax.figure
    sign = ">" if direction == "greater" else "<"
    ax.plot(grid, pe["p_mu"], color=_POOL, label=f"P(mu {sign} m)  pooled effect")
    if not result.fixed:
        ax.plot(grid, pe["p_new"], color=_PRED, ls="-.", label=f"P(theta_new {sign} m)  new study")
    if cand:
        pc = result.prob_exceeds(cand, direction=direction)
        for i, (m, p) in enumerate(zip(cand, pc["p_mu"], strict=True)):
            ax.axvline(m, color=_MCID, ls="--", lw=1, label="candidate MCID" if i == 0 else None)
            ax.plot([m], [p], "o", color=_MCID)
            tag = f"{labels[i]}: " if labels else ""
            ax.annotate(
                f"{tag}{p:.2f}",
                (m, p),
                textcoords="offset points",
                xytext=(5, -14 - 13 * i),
                fontsize="small",
                color=_MCID,
            )
    if natural:
        ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"threshold m ({result.measure})")
    ax.set_ylabel(f"posterior probability effect {sign} m")
    ax.legend(fontsize="small", frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def tau_posterior(result: MetaResult, *, ax: Any = None) -> Any:
    """Posterior density of tau with its prior overlaid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if result.fixed or result.tau_prior is None:
        raise ValueError("a fixed-effect model has no tau to plot")
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4))
    else:
        fig = ax.figure
    upper = float(result.heterogeneity(ci_prob=0.995).loc["tau", "upper"])
    x = np.linspace(upper * 1e-4, upper, 400)
    tau = result.posterior.marginal("tau")
    if "density" in result.posterior.capabilities:
        ax.plot(x, tau.pdf(x), color=_SHRUNK, label="posterior")
    else:
        ax.hist(
            np.ravel(tau.draws()),
            bins=60,
            range=(0, upper),
            density=True,
            color=_SHRUNK,
            alpha=0.5,
            label="posterior (MCMC draws)",
        )
    ax.plot(
        x,
        np.exp(result.tau_prior.logpdf(x)),
        color="grey",
        ls="--",
        label=f"prior {result.tau_prior.name}",
    )
    ax.set_xlabel(
        "tau (between-study SD" + (", log scale of the ratio)" if result.is_ratio else ")")
    )
    ax.set_ylabel("density")
    ax.set_xlim(0, upper)
    ax.legend(fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


def mcmc_diagnostics(result: MetaResult) -> dict[str, Any]:
    """ArviZ trace and rank plots of an MCMC fit (arviz-plots, matplotlib backend).

    Returns
    -------
    dict
        ``{"trace.png": Figure, "rank.png": Figure}``.
    """
    _plt()
    import arviz_plots as azp

    dt = result.idata
    names = [n for n in ("mu", "tau") if n in dt["posterior"]]
    out = {}
    for fname, fn in (("trace.png", azp.plot_trace_dist), ("rank.png", azp.plot_rank)):
        pc = fn(dt, var_names=names, backend="matplotlib")
        out[fname] = pc.viz["chart"].item() if hasattr(pc.viz["chart"], "item") else pc.viz["chart"]
    return out
