"""Network plots (matplotlib only, imported on call): graph, forest, rankogram.

Examples
--------
>>> from bayesmeta import datasets
>>> from bayesmeta.network import fit_network
>>> res = fit_network(datasets.load("parkinsons_tsd2"), "MD", reference="placebo",
...                   tau_prior="uniform(0, 5)", lower_better=True)
>>> fig = network_graph(res.data)
>>> fig2 = forest(res)
>>> fig3 = rankogram(res, cumulative=True)
>>> import matplotlib.pyplot as plt
>>> plt.close("all")
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["forest", "network_graph", "rankogram"]


def _plt() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        try:
            import matplotlib.pyplot as plt  # noqa: F401
        except ImportError:  # pragma: no cover
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def network_graph(data: Any, ax: Any = None, title: str | None = None) -> Any:
    """Network graph: treatments on a circle, node area by participants, edge width by studies.

    Parameters
    ----------
    data : NetworkData or NetworkResult
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    nd = getattr(data, "data", data)
    trts = list(nd.treatments)
    T = len(trts)
    ang = np.pi / 2 - 2 * np.pi * np.arange(T) / T
    pos = {t: (math.cos(a), math.sin(a)) for t, a in zip(trts, ang, strict=True)}
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 5.0))
    else:
        fig = ax.figure
    edges = nd.edges()
    smax = max(int(edges["studies"].max()), 1) if len(edges) else 1
    for _, e in edges.iterrows():
        (x0, y0), (x1, y1) = pos[e["treatment"]], pos[e["comparator"]]
        w = 1.5 + 6.0 * e["studies"] / smax
        ax.plot(
            [x0, x1], [y0, y1], color="#4c72b0", lw=w, alpha=0.6, zorder=1, solid_capstyle="round"
        )
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2,
            str(int(e["studies"])),
            ha="center",
            va="center",
            fontsize=8,
            color="#1f3b63",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            zorder=3,
        )
    n = nd.participants()
    known = n.notna().any()
    nmax = float(n.max()) if known else 1.0
    for t in trts:
        x, y = pos[t]
        size = 300 + 1700 * (float(n[t]) / nmax if known and np.isfinite(n[t]) else 0.3)
        ax.scatter([x], [y], s=size, color="#dd8452", edgecolor="black", zorder=2)
        label = t if not (known and np.isfinite(n[t])) else f"{t}\n(n={int(n[t])})"
        # outside the node, on the ray from the centre, aligned away from it
        ax.text(
            1.3 * x,
            1.3 * y,
            label,
            ha="left" if x > 0.2 else "right" if x < -0.2 else "center",
            va="bottom" if y > 0.2 else "top" if y < -0.2 else "center",
            fontsize=9,
        )
    ys = [xy[1] for xy in pos.values()]
    ax.set_xlim(-2.3, 2.3)
    ax.set_ylim(min(ys) - 0.75, max(ys) + 0.75)
    ax.set_aspect("equal")
    ax.axis("off")
    k = len(nd.studies)
    ax.set_title(
        title
        or f"Network: {k} stud{'y' if k == 1 else 'ies'}, {T} treatments\n"
        "(node area: participants; edge width and label: studies)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def forest(result: Any, scale: str = "natural", ax: Any = None, title: str | None = None) -> Any:
    """Every treatment against the reference: median, 95% interval and prediction bar.

    The thick bar is the credible interval of the mean effect; the thin grey bar the
    interval for the effect in a new study (prediction; random effects only). The numbers
    (median and credible interval) are printed at the right; ratios on a log axis with
    natural ticks.
    """
    from matplotlib.lines import Line2D

    from bayesmeta.plots import _natural_ratio_axis

    plt = _plt()
    rel = result.relative_effects(scale=scale)
    pred = result.predict(scale=scale)
    natural = scale == "natural" and result.is_ratio
    random = result.model == "random"
    k = len(rel)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8.0, 1.6 + 0.5 * k))
    else:
        fig = ax.figure
    ys = np.arange(k)[::-1]
    for y, (_, r), (_, p) in zip(ys, rel.iterrows(), pred.iterrows(), strict=True):
        if random:
            ax.plot([p["lower"], p["upper"]], [y, y], color="#8c8c8c", lw=1.2, zorder=1)
        ax.plot([r["lower"], r["upper"]], [y, y], color="#1f3b63", lw=4, zorder=2)
        ax.plot([r["median"]], [y], "D", color="white", mec="#1f3b63", ms=6, zorder=3)
        ax.annotate(
            f"{r['median']:.2f} [{r['lower']:.2f}, {r['upper']:.2f}]",
            (1.02, y),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=9,
        )
    ax.axvline(1.0 if natural else 0.0, color="black", lw=0.8, ls="--")
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{a} vs {b}" for a, b in rel.index])
    if natural:
        _natural_ratio_axis(ax, "x")
    ax.set_xlabel(result.measure + (" (log scale)" if natural else ""))
    ax.set_ylim(-0.7, k - 0.3)
    ax.set_title(title or f"Relative effects against {result.reference}", fontsize=10)
    pct = f"{100 * result.ci_prob:g}%"
    handles = [
        Line2D([], [], marker="D", color="white", mec="#1f3b63", ls="", label="median"),
        Line2D([], [], color="#1f3b63", lw=4, label=f"{pct} credible interval"),
    ]
    if random:
        handles.append(
            Line2D([], [], color="#8c8c8c", lw=1.2, label=f"{pct} prediction (new study)")
        )
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0.0, 0.35 / fig.get_figheight(), 1.0, 1.0))  # room for the legend
    return fig


def rankogram(result: Any, cumulative: bool = False, ax: Any = None) -> Any:
    """Rank probabilities (or cumulative rank probabilities, with SUCRA in the legend)."""
    plt = _plt()
    rp = result.ranks()
    T = len(rp)
    probs = rp[list(range(1, T + 1))].to_numpy()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, 4.2))
    else:
        fig = ax.figure
    ranks = np.arange(1, T + 1)
    sucra = result.sucra()["mean"]
    for t, p in zip(rp.index, probs, strict=True):
        if cumulative:
            ax.plot(ranks, np.cumsum(p), marker="o", label=f"{t} (SUCRA {sucra[t]:.2f})")
        else:
            ax.plot(ranks, p, marker="o", label=t)
    ax.set_xticks(ranks)
    ax.set_xlabel("rank (1 = best" + (", lower is better)" if result.lower_better else ")"))
    ax.set_ylabel("cumulative probability" if cumulative else "probability")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(
        "Cumulative rank probabilities" if cumulative else "Rank probabilities", fontsize=10
    )
    fig.tight_layout()
    return fig
