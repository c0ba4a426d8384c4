"""Plots of a MetaResult: forest plot, MCID (exceedance) curve, posterior of tau.

matplotlib is imported inside each function. Each returns the matplotlib Figure.

The forest plot follows the RevMan / metafor layout: a table of studies (per-arm data,
weight, observed estimate with its CI, shrunken estimate with its CrI) beside the plot,
squares sized by weight, a diamond for the pooled effect, a bar for the prediction
interval, "favours" labels, a heterogeneity line and labelled MCID lines. Study names in
any script render when a CJK font is installed (see :func:`font_families`).

Examples
--------
>>> import pandas as pd, bayesmeta
>>> from bayesmeta import plots
>>> df = pd.DataFrame({"study": ["A", "B"], "estimate": [0.4, 0.7], "se": [0.2, 0.25]})
>>> fig = plots.forest(bayesmeta.fit(df, "SMD", seed=1), mcid=[0.2, 0.5])
>>> fig.axes[0].get_xlabel()
'SMD'
>>> fig.get_size_inches().round(1).tolist()[1] < 4
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from bayesmeta.results import MetaResult

__all__ = [
    "MAX_ROWS",
    "forest",
    "font_families",
    "mcid_curve",
    "mcmc_diagnostics",
    "ratio_ticks",
    "tau_posterior",
    "bubble",
    "subgroup_forest",
]

_OBS, _SHRUNK, _POOL, _PRED, _MCID = "#333333", "#1f77b4", "#000000", "#d62728", "#2ca02c"
#: Above this many studies the forest plot switches to its compact layout.
COMPACT_K = 60
#: At most this many study rows are drawn (the heaviest by weight; a note says so).
MAX_ROWS = 250
#: Fonts tried after DejaVu Sans for glyphs it lacks (CJK study names).
_FALLBACK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Noto Sans JP",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
)
_FONT_GLOBS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def _plt() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in {"agg", "module://matplotlib_inline.backend_inline"}:
        import os

        if not os.environ.get("DISPLAY"):
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@cache
def font_families() -> tuple[str, ...]:
    """Font family list for plots: DejaVu Sans, then any installed CJK font as fallback.

    Fonts installed after matplotlib built its font cache (e.g. ``apt-get install
    fonts-noto-cjk``) are registered on the fly; the first CJK family found is used.
    Without a CJK font the list is just
    ``("DejaVu Sans",)`` and nothing fails (CJK glyphs then render as boxes).

    Examples
    --------
    >>> font_families()[0]
    'DejaVu Sans'
    """
    import os

    from matplotlib import font_manager as fm

    known = {f.name for f in fm.fontManager.ttflist}
    if not known & set(_FALLBACK_FONTS):
        for path in _FONT_GLOBS:
            if os.path.exists(path):
                try:
                    fm.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # pragma: no cover - bad font
                    continue
        known = {f.name for f in fm.fontManager.ttflist}
    return ("DejaVu Sans", *[f for f in _FALLBACK_FONTS if f in known][:1])


def _rc() -> dict[str, Any]:
    return {
        "font.family": list(font_families()),
        "svg.fonttype": "path",
        "axes.unicode_minus": True,
    }


# ---------------------------------------------------------------------------------------------
# ticks
# ---------------------------------------------------------------------------------------------
_TIER1 = (1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
_TIER2 = (0.25, 0.33, 0.4, 0.67, 0.8, 1.25, 1.5, 3, 4)
_TIER3 = (0.6, 0.7, 0.75, 0.85, 0.9, 0.95, 1.05, 1.1, 1.15, 1.2, 1.3, 1.4, 1.75)


def _fmt_tick(t: float) -> str:
    return f"{t:g}" if t >= 1e-3 else f"{t:.0e}"


def ratio_ticks(lo: float, hi: float, width_in: float = 3.0, fontsize: float = 8.0) -> list[float]:
    """Natural tick values for a ratio axis on a log scale, without overlapping labels.

    Prefers 0.1, 0.2, 0.5, 1, 2, 5, 10, ...; adds 0.25, 0.33, 0.67, 0.8, 1.25, 1.5, ... and
    then finer values on short ranges; drops any tick whose label would touch another
    (label widths estimated from ``fontsize``). 1 is kept whenever it is in range.

    Examples
    --------
    >>> ratio_ticks(0.05, 20)
    [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20]
    >>> ratio_ticks(0.8, 1.1)
    [0.8, 0.85, 0.9, 0.95, 1, 1.05, 1.1]
    >>> ratio_ticks(0.001, 1000, width_in=2)  # 6 decades in 2 inches: every other label
    [0.001, 0.1, 1, 10, 100]
    """
    llo, lhi = math.log(lo), math.log(hi)
    span = max(lhi - llo, 1e-12)
    inside = [t for t in _TIER1 if lo * 0.9999 <= t <= hi * 1.0001]
    cands = list(inside)
    if len(inside) < 5:
        cands += [t for t in _TIER2 if lo <= t <= hi]
    if len(cands) < 5:
        cands += [t for t in _TIER3 if lo <= t <= hi]
    if len(cands) < 3:  # a very short range: plain linear steps
        import matplotlib.ticker as mticker

        cands += [
            float(f"{t:.6g}") for t in mticker.MaxNLocator(5).tick_values(lo, hi) if lo <= t <= hi
        ]

    # priority: 1 first, then powers of ten, then the order above
    def priority(t: float) -> tuple[int, int]:
        if t == 1:
            return (0, 0)
        if abs(math.log10(t) - round(math.log10(t))) < 1e-9:
            return (1, round(abs(math.log10(t))))
        return (2, cands.index(t))

    char_in = 0.62 * fontsize / 72
    kept: list[float] = []
    for t in sorted(dict.fromkeys(cands), key=priority):
        x = (math.log(t) - llo) / span * width_in
        w = (len(_fmt_tick(t)) + 1.5) * char_in
        ok = all(
            abs(x - (math.log(u) - llo) / span * width_in)
            >= (w + (len(_fmt_tick(u)) + 1.5) * char_in) / 2
            for u in kept
        )
        if ok:
            kept.append(t)
    return sorted(kept)


def _linear_ticks(lo: float, hi: float, width_in: float, fontsize: float) -> list[float]:
    import matplotlib.ticker as mticker

    char_in = 0.62 * fontsize / 72
    for n in (7, 6, 5, 4, 3, 2):
        ticks = [
            float(f"{t:.10g}")
            for t in mticker.MaxNLocator(n, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
            if lo - 1e-12 * abs(hi - lo) <= t <= hi + 1e-12 * abs(hi - lo)
        ]
        if len(ticks) < 2:
            continue
        gap = (ticks[1] - ticks[0]) / (hi - lo) * width_in
        widest = max(len(_fmt_num(t)) for t in ticks) + 1.5
        if gap >= widest * char_in:
            return ticks
    return [lo, hi]


def _fmt_num(x: float, ratio: bool = False) -> str:
    """Format a number for the forest table (2 decimals, or 2 significant digits)."""
    if not np.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "NA")
    ax = abs(x)
    if ax >= 1e4 or (0 < x < 0.01 and ratio):
        return f"{x:.2g}".replace("-", "\u2212")
    return f"{x:.2f}".replace("-", "\u2212")


def _fmt_arm(x: float) -> str:
    if not np.isfinite(x):
        return "NA"
    if float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.3g}".replace("-", "\u2212")


def _fmt_weight(w: float) -> str:
    return f"{w:.1f}%" if w >= 0.095 else f"{w:.2g}%"


def _interval(est: float, lo: float, hi: float, ratio: bool = False) -> str:
    return f"{_fmt_num(est, ratio)} [{_fmt_num(lo, ratio)}, {_fmt_num(hi, ratio)}]"


# ---------------------------------------------------------------------------------------------
# forest plot
# ---------------------------------------------------------------------------------------------
@dataclass
class _Row:
    kind: str  # header | study | group | subtotal | total | pred | text | note
    label: str = ""
    cells: dict[str, str] = field(default_factory=dict)
    obs: tuple[float, float, float] | None = None
    shrunk: tuple[float, float, float] | None = None
    weight: float = float("nan")
    diamond: tuple[float, float, float] | None = None
    bar: tuple[float, float, float] | None = None
    bold: bool = False


def _weights(result: MetaResult) -> np.ndarray:
    """Posterior mean weights in percent (inverse-variance weights if unavailable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = np.asarray(result.weights().iloc[: result.k], dtype=float)
        if not np.all(np.isfinite(w)) or w.sum() <= 0:
            raise ValueError
    except (NotImplementedError, ValueError, KeyError, AttributeError, TypeError):
        w = 1.0 / result.data.vi
    w = np.clip(w, 0, None)
    return 100 * w / w.sum()


def _arm_cells(result: MetaResult) -> tuple[list[str], list[list[str]], list[str]]:
    """Arm column keys, per-study texts, and the totals row."""
    sd = result.data
    t = sd.table
    if sd.kind == "binary":
        cells = [
            [f"{_fmt_arm(a)}/{_fmt_arm(b)}", f"{_fmt_arm(c)}/{_fmt_arm(d)}"]
            for a, b, c, d in zip(t["events_t"], t["n_t"], t["events_c"], t["n_c"], strict=True)
        ]
        total = [
            f"{_fmt_arm(t['events_t'].sum())}/{_fmt_arm(t['n_t'].sum())}",
            f"{_fmt_arm(t['events_c'].sum())}/{_fmt_arm(t['n_c'].sum())}",
        ]
        return ["arm_t", "arm_c"], cells, total
    if sd.kind == "continuous":
        cells = [
            [
                f"{_fmt_arm(m1)} ({_fmt_arm(s1)}) {_fmt_arm(n1)}",
                f"{_fmt_arm(m2)} ({_fmt_arm(s2)}) {_fmt_arm(n2)}",
            ]
            for m1, s1, n1, m2, s2, n2 in zip(
                t["mean_t"], t["sd_t"], t["n_t"], t["mean_c"], t["sd_c"], t["n_c"], strict=True
            )
        ]
        return ["arm_t", "arm_c"], cells, [_fmt_arm(t["n_t"].sum()), _fmt_arm(t["n_c"].sum())]
    return [], [[] for _ in range(sd.k)], []


def _group_of(result: MetaResult, subgroups: str | Mapping[str, str] | None) -> list[str] | None:
    if subgroups is None:
        return None
    labels = result.data.labels
    if isinstance(subgroups, str):
        cov = result.data.covariates
        col = subgroups.strip().lower()
        if col not in cov.columns:
            raise ValueError(
                f"subgroups={subgroups!r} is not a covariate column of the data "
                f"(columns: {', '.join(map(str, cov.columns)) or 'none'})"
            )
        values = cov[col].tolist()
    else:
        missing = [s for s in labels if s not in subgroups]
        if missing:
            raise ValueError(f"subgroups gives no group for studies {missing[:5]}")
        values = [subgroups[s] for s in labels]
    return ["(no subgroup)" if v is None or v != v else str(v) for v in values]


def _subtotal(result: MetaResult, idx: np.ndarray, ci_prob: float) -> tuple[Any, list[str]]:
    """Fit the studies ``idx`` alone (same spec) for a subgroup's subtotal diamond."""
    from bayesmeta.fit import fit_spec

    sd = result.data
    sub = sd.table.iloc[idx].reset_index(drop=True)
    spec = result.spec.replace(
        data=sub, subgroup=None, moderators=None, sensitivity=(), mcid=(), mcid_labels=None
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_spec(spec)
    s = res.summary(ci_prob=ci_prob, scale="natural" if res.is_ratio else "analysis")
    return (res, s), [str(w.message) for w in caught]


def forest(
    result: MetaResult,
    *,
    mcid: Sequence[float] | None = None,
    mcid_labels: Sequence[str] | None = None,
    ci_prob: float = 0.95,
    title: str | None = None,
    favours: tuple[str, str] | None = None,
    groups: tuple[str, str] | None = None,
    subgroups: str | Mapping[str, str] | None = None,
    compact: bool | None = None,
    max_rows: int = MAX_ROWS,
    classical: bool = True,
) -> Any:
    """Publication-grade forest plot in the RevMan / metafor layout.

    Columns: study, per-arm data (events/n, or mean (SD) n), weight, the plot, the
    observed estimate [95% CI] and the shrunken estimate [95% CrI] (random effects).
    Squares are sized by the posterior weight of each study in the pooled mean; a diamond
    shows mu with its CrI; a bar the prediction interval for a new study; a line below
    gives tau and I² with their CrIs and the classical I² and Q.

    Parameters
    ----------
    result : MetaResult
    mcid : sequence of float, optional
        Candidate MCIDs on the natural scale (ratios for OR/RR/HR): labelled dashed lines.
    mcid_labels : sequence of str, optional
        One label per MCID (default ``MCID <value>``).
    ci_prob : float
        Interval probability for every interval drawn.
    title : str, optional
        Default: the analysis title (``[analysis] title`` of the analysis file).
    favours : (str, str), optional
        Labels under the axis, left and right of the line of no effect, e.g.
        ``("Favours aspirin", "Favours control")``.
    groups : (str, str), optional
        Names of the experimental and control arms (column headers); default
        ``("Experimental", "Control")``.
    subgroups : str or mapping, optional
        A covariate column of the data (e.g. ``"subgroup"``) or a mapping study -> group:
        studies are shown in blocks, each with a subtotal diamond from a fit of that
        group alone (same priors).
    compact : bool, optional
        Smaller type and rows; default when k > :data:`COMPACT_K`.
    max_rows : int
        At most this many studies are drawn (those with the largest weights, in input
        order); a note gives the number left out. The pooled rows always use all studies.
    classical : bool
        Add the classical I² and Q to the heterogeneity line.

    Returns
    -------
    matplotlib.figure.Figure
        Sized to its content (width from the columns, height from the rows); save it as
        SVG, or as PNG with ``dpi=300``.
    """
    plt = _plt()
    from matplotlib.transforms import blended_transform_factory

    natural = result.is_ratio
    k = result.k
    compact = k > COMPACT_K if compact is None else compact
    fs = 6.5 if compact else 8.0
    row_h = 0.135 if compact else 0.2
    scale = "natural" if natural else "analysis"
    s = result.summary(ci_prob=ci_prob, scale=scale)
    th = result.studies(ci_prob=ci_prob, scale=scale)
    w = _weights(result)
    arm_keys, arm_cells, arm_total = _arm_cells(result)
    grp = groups or ("Experimental", "Control")
    show_shrunk = not result.fixed
    pct = f"{100 * ci_prob:g}%"
    measure = result.measure

    # -- rows ----------------------------------------------------------------------------
    def study_row(i: int) -> _Row:
        r = th.iloc[i]
        cells = {"study": result.data.labels[i], "weight": _fmt_weight(w[i])}
        cells.update(dict(zip(arm_keys, arm_cells[i], strict=True)))
        cells["obs"] = _interval(r["observed"], r["observed_lower"], r["observed_upper"], natural)
        if show_shrunk:
            cells["shrunk"] = _interval(r["median"], r["lower"], r["upper"], natural)
        return _Row(
            "study",
            cells=cells,
            obs=(r["observed"], r["observed_lower"], r["observed_upper"]),
            shrunk=(r["median"], r["lower"], r["upper"]) if show_shrunk else None,
            weight=w[i],
        )

    shown = np.arange(k)
    hidden = 0
    if k > max_rows:
        shown = np.sort(np.argsort(-w, kind="stable")[:max_rows])
        hidden = k - max_rows
    shown_set = set(shown.tolist())
    rows: list[_Row] = []
    notes: list[str] = []
    group_of = _group_of(result, subgroups)
    if group_of is None:
        rows += [study_row(i) for i in shown]
    else:
        order = list(dict.fromkeys(group_of))
        for g in order:
            idx = np.array([i for i in range(k) if group_of[i] == g])
            rows.append(_Row("group", label=g, bold=True))
            rows += [study_row(i) for i in idx if i in shown_set]
            (sub_res, ss), caught = _subtotal(result, idx, ci_prob)
            notes += [f"subgroup {g}: {m}" for m in caught]
            mu = ss.loc["mu"]
            cells = {
                "study": f"Subtotal ({pct} CrI)",
                "weight": f"{w[idx].sum():.1f}%",
                "obs": _interval(mu["median"], mu["lower"], mu["upper"], natural),
            }
            if arm_keys:
                sub_arm = _arm_cells(sub_res)[2]
                cells.update(dict(zip(arm_keys, sub_arm, strict=True)))
            rows.append(
                _Row("subtotal", cells=cells, diamond=(mu["median"], mu["lower"], mu["upper"]))
            )
            if not sub_res.fixed and len(idx) >= 2:
                h = sub_res.heterogeneity(ci_prob=ci_prob)
                rows.append(
                    _Row(
                        "text",
                        label=(
                            f"Heterogeneity: \u03c4 = {_fmt_num(h.loc['tau', 'median'])} "
                            f"[{_fmt_num(h.loc['tau', 'lower'])}, "
                            f"{_fmt_num(h.loc['tau', 'upper'])}]; I\u00b2 = "
                            f"{100 * h.loc['I2', 'median']:.0f}%"
                        ),
                    )
                )
            rows.append(_Row("blank"))
    footer: list[str] = []
    if hidden:
        footer.append(
            f"{hidden} of {k} studies not drawn (the {max_rows} with the largest weights are "
            "shown); the pooled rows use all studies."
        )
    mu = s.loc["mu"]
    total_cells = {
        "study": f"Total ({pct} CrI)" + (", common effect" if result.fixed else ""),
        "weight": "100.0%",
        "obs": _interval(mu["median"], mu["lower"], mu["upper"], natural),
    }
    total_cells.update(dict(zip(arm_keys, arm_total, strict=True)))
    rows.append(
        _Row(
            "total", cells=total_cells, diamond=(mu["median"], mu["lower"], mu["upper"]), bold=True
        )
    )
    if not result.fixed:
        new = s.loc["theta_new"]
        rows.append(
            _Row(
                "pred",
                cells={
                    "study": f"Prediction interval ({pct})",
                    "obs": _interval(new["median"], new["lower"], new["upper"], natural),
                },
                bar=(new["median"], new["lower"], new["upper"]),
            )
        )
    footer = [_het_text(result, ci_prob, classical), _overall_text(result), *footer]

    # -- columns -------------------------------------------------------------------------
    cols: list[tuple[str, str, str]] = [("study", "Study", "left")]
    if arm_keys:
        unit = "events/total" if result.data.kind == "binary" else "mean (SD) n"
        cols += [("arm_t", f"{grp[0]}\n{unit}", "right"), ("arm_c", f"{grp[1]}\n{unit}", "right")]
    cols += [("weight", "Weight", "right"), ("plot", "", "center")]
    cols += [("obs", f"{measure} [{pct} CI]", "right")]
    if show_shrunk:
        cols += [("shrunk", f"Shrunken [{pct} CrI]", "right")]

    with plt.rc_context(_rc()):
        fig = plt.figure(figsize=(8, 4))
        renderer = fig.canvas.get_renderer()
        from matplotlib.font_manager import FontProperties

        props = {
            False: FontProperties(family=list(font_families()), size=fs),
            True: FontProperties(family=list(font_families()), size=fs, weight="bold"),
        }

        def width(text: str, bold: bool = False) -> float:
            if not text:
                return 0.0
            wpx = max(
                renderer.get_text_width_height_descent(line, props[bold], ismath=False)[0]
                for line in text.split("\n")
            )
            return wpx / fig.dpi

        pad = 0.12
        plot_w = 2.6 if compact else 3.0
        widths: dict[str, float] = {}
        footer = list(footer)
        for key, head, _ in cols:
            if key == "plot":
                widths[key] = plot_w
                continue
            texts = [r.cells.get(key, "") for r in rows] + [head]
            bold_rows = [r.bold for r in rows] + [True]
            if key == "study":
                texts += [r.label for r in rows if r.kind == "group"]
                bold_rows += [True for r in rows if r.kind == "group"]
            widths[key] = max(width(t, b) for t, b in zip(texts, bold_rows, strict=True)) + pad
        margin = 0.15
        table_w = sum(widths.values()) + 2 * margin
        span_texts = [r.label for r in rows if r.kind == "text"] + footer
        span_w = max([width(t) for t in span_texts] + [0]) + 2 * margin
        fig_w = max(table_w, span_w, 5.0)
        # title: wrap to the figure width
        ttl = title if title is not None else (result.spec.title or "")
        ttl_lines = _wrap(ttl, fig_w - 2 * margin, lambda t: width(t, True) * 1.15)
        n_rows = len(rows)
        head_rows = 2.2 if arm_keys else 1.4
        mcid_vals = [float(m) for m in (mcid or ())]
        lo, hi = _xrange(rows, natural, mcid_vals)
        plot_in = plot_w - 0.1
        mcid_placed = _place_labels(
            mcid_vals, mcid_labels, lo, hi, natural, plot_in, lambda t: width(t) * 0.9
        )
        levels = max((lv for _, _, lv in mcid_placed), default=-1) + 1
        mcid_rows = 0.8 * levels
        rule_y = 0.75 + mcid_rows
        y_top = rule_y + head_rows
        top_in = 0.1 + 0.22 * len(ttl_lines) * (fs / 8)
        line_in = fs * 1.5 / 72
        axis_in = (13 + (fs + 11 if favours else 3) + fs + 5) / 72
        footer_in = len(footer) * line_in + 0.04
        legend_in = 0.26
        bottom_in = 0.06 + legend_in + footer_in + axis_in
        body_in = (n_rows - 0.5 + y_top) * row_h
        fig_h = top_in + body_in + bottom_in
        fig.set_size_inches(fig_w, fig_h)
        # x positions (inches from the left edge) of each column
        xpos: dict[str, tuple[float, float]] = {}
        x = margin
        for key, _, _ in cols:
            xpos[key] = (x, x + widths[key])
            x += widths[key]
        px0, px1 = xpos["plot"]
        ax = fig.add_axes(
            (
                (px0 + 0.05) / fig_w,
                bottom_in / fig_h,
                (px1 - px0 - 0.1) / fig_w,
                body_in / fig_h,
            )
        )
        # y: row i at -i; MCID labels, the rule and the headers above 0
        ax.set_ylim(-(n_rows - 0.5), y_top)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        ax.tick_params(axis="y", left=False, labelleft=False)
        ax.tick_params(axis="x", labelsize=fs, length=3, pad=2)

        if natural:
            ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        import matplotlib.ticker as mticker

        ticks = ratio_ticks(lo, hi, plot_in, fs) if natural else _linear_ticks(lo, hi, plot_in, fs)
        ax.xaxis.set_major_locator(mticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(
            mticker.FixedFormatter(
                [_fmt_tick(t) if natural else f"{t:g}".replace("-", "\u2212") for t in ticks]
            )
        )
        ax.xaxis.set_minor_locator(mticker.NullLocator())
        ax.set_xlabel(
            f"{measure}" + (" (log scale)" if natural and not favours else ""),
            fontsize=fs,
            labelpad=fs + 6 if favours else 3,
        )
        null = 1.0 if natural else 0.0
        first, last = -0.5, -(n_rows - 1) - 0.5
        if lo < null < hi:
            ax.plot([null, null], [first + 0.5, last], color="#777777", lw=0.7, zorder=1)

        tf = blended_transform_factory(fig.dpi_scale_trans, ax.transData)

        def put(key: str, y: float, text: str, align: str, bold: bool = False) -> None:
            x0, x1 = xpos[key]
            xx = {"left": x0, "right": x1 - pad, "center": (x0 + x1) / 2}[align]
            ax.text(
                xx,
                y,
                text,
                transform=tf,
                ha=align,
                va="center",
                fontsize=fs,
                fontweight="bold" if bold else "normal",
                fontfamily=list(font_families()),
                clip_on=False,
                parse_math=False,
            )

        # headers
        hy = rule_y + head_rows / 2
        for key, head, align in cols:
            if key == "plot":
                continue
            put(key, hy, head, align, bold=True)
        ax.plot(
            [xpos["study"][0], xpos[cols[-1][0]][1]],
            [rule_y, rule_y],
            transform=tf,
            color="black",
            lw=0.6,
            clip_on=False,
        )
        # MCID lines and their labels (staggered so labels never touch)
        for m, name, level in mcid_placed:
            ax.plot([m, m], [0.2, last], color=_MCID, ls="--", lw=0.9, zorder=1.5)
            ax.text(
                m,
                0.55 + 0.8 * level,
                name,
                ha="center",
                va="bottom",
                fontsize=fs * 0.9,
                color=_MCID,
                clip_on=False,
                parse_math=False,
            )
        # rows
        wmax = max(w.max(), 1e-12)
        side_max = row_h * 72 * (0.8 if compact else 0.7)
        obs_lines = _Segments(lo, hi)
        shr_lines = _Segments(lo, hi)
        squares: list[tuple[float, float, float]] = []
        dots: list[tuple[float, float]] = []
        for i, r in enumerate(rows):
            y = -i
            if r.kind == "text":
                ax.text(
                    xpos["study"][0],
                    y,
                    r.label,
                    transform=tf,
                    ha="left",
                    va="center",
                    fontsize=fs * 0.95,
                    clip_on=False,
                    parse_math=False,
                )
                continue
            if r.kind == "group":
                put("study", y, r.label, "left", bold=True)
                continue
            for key, _, align in cols:
                if key != "plot" and key in r.cells:
                    put(key, y, r.cells[key], align, bold=r.bold)
            if r.obs is not None:
                dy = 0.14 if r.shrunk is not None and not compact else 0.0
                obs_lines.add(r.obs, y + dy)
                side = max(side_max * math.sqrt(r.weight / wmax), 2.2)
                if lo <= r.obs[0] <= hi:
                    squares.append((r.obs[0], y + dy, side**2))
                if r.shrunk is not None and not compact:
                    shr_lines.add(r.shrunk, y - 0.2)
                    if lo <= r.shrunk[0] <= hi:
                        dots.append((r.shrunk[0], y - 0.2))
            if r.diamond is not None:
                est, dlo, dhi = r.diamond
                hh = 0.36
                ax.fill(
                    [dlo, est, dhi, est],
                    [y, y + hh, y, y - hh],
                    color=_POOL if r.kind == "total" else "#555555",
                    zorder=3,
                    lw=0,
                )
            if r.bar is not None:
                est, blo, bhi = r.bar
                ax.plot([blo, bhi], [y, y], color=_PRED, lw=2.5, solid_capstyle="butt", zorder=2)
        obs_lines.draw(ax, _OBS, 0.9)
        shr_lines.draw(ax, _SHRUNK, 0.8)
        if squares:
            sx, sy, ss = zip(*squares, strict=True)
            ax.scatter(sx, sy, marker="s", s=ss, color=_OBS, zorder=3, lw=0)
        if dots:
            dx, dy_ = zip(*dots, strict=True)
            ax.plot(dx, dy_, "o", ls="none", ms=2.6, color=_SHRUNK, zorder=3)
        # favours labels
        if favours:
            for text, sign, ha in ((favours[0], -1, "right"), (favours[1], 1, "left")):
                if not text:
                    continue
                ax.annotate(
                    text,
                    xy=(null if lo < null < hi else (lo if sign < 0 else hi), 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(sign * 4, -fs * 1.9),
                    textcoords="offset points",
                    ha=ha,
                    va="top",
                    fontsize=fs,
                    annotation_clip=False,
                    parse_math=False,
                )
        # footer: heterogeneity, pooled effect, notes
        for j, line in enumerate(footer):
            fig.text(
                margin / fig_w,
                (0.06 + legend_in + footer_in - (j + 0.5) * line_in) / fig_h,
                line,
                ha="left",
                va="center",
                fontsize=fs * 0.95,
                parse_math=False,
            )
        # title
        for j, line in enumerate(ttl_lines):
            fig.text(
                margin / fig_w,
                1 - (0.1 + 0.22 * j * fs / 8) / fig_h,
                line,
                ha="left",
                va="top",
                fontsize=fs + 1.5,
                fontweight="bold",
                parse_math=False,
            )
        # legend
        from matplotlib.lines import Line2D
        from matplotlib.patches import Polygon

        handles = [
            Line2D([], [], color=_OBS, marker="s", ms=5, lw=0.9, label=f"observed [{pct} CI]"),
        ]
        if show_shrunk and not compact:
            handles.append(
                Line2D(
                    [], [], color=_SHRUNK, marker="o", ms=3, lw=0.8, label=f"shrunken [{pct} CrI]"
                )
            )
        handles.append(
            Polygon([[0, 0]], closed=True, color=_POOL, label=f"pooled effect mu [{pct} CrI]")
        )
        if not result.fixed:
            handles.append(Line2D([], [], color=_PRED, lw=2.5, label="prediction (new study)"))
        if mcid_vals:
            handles.append(Line2D([], [], color=_MCID, ls="--", lw=0.9, label="candidate MCID"))
        fig.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(margin / fig_w, 0.02 / fig_h),
            ncol=len(handles),
            fontsize=fs * 0.9,
            frameon=False,
            handlelength=1.6,
            columnspacing=1.2,
        )
    fig.bayesmeta_notes = notes  # type: ignore[attr-defined]
    return fig


def _place_labels(
    values: list[float],
    labels: Sequence[str] | None,
    lo: float,
    hi: float,
    natural: bool,
    plot_in: float,
    width: Any,
) -> list[tuple[float, str, int]]:
    """(value, label, level) for each MCID in range; labels that would touch go up a level."""
    names = list(labels) if labels else [f"MCID {m:g}" for m in values]
    span = (math.log(hi) - math.log(lo)) if natural else (hi - lo)
    placed: list[tuple[float, float, int]] = []
    out = []
    for m, name in sorted(zip(values, names, strict=True)):
        if not lo < m < hi:
            continue
        xin = ((math.log(m) - math.log(lo)) if natural else (m - lo)) / span * plot_in
        wlab = width(name) + 0.08
        level = 0
        while any(lv == level and abs(xin - xo) < (wlab + wo) / 2 for xo, wo, lv in placed):
            level += 1
        placed.append((xin, wlab, level))
        out.append((m, name, level))
    return out


def _wrap(text: str, width_in: float, measure: Any) -> list[str]:
    if not text:
        return []
    words, lines, cur = text.split(), [], ""
    for word in words:
        trial = f"{cur} {word}".strip()
        if cur and measure(trial) > width_in:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    lines.append(cur)
    return lines


class _Segments:
    """CI lines collected for one LineCollection, with arrows where they leave the axis."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi
        self.segs: list[list[tuple[float, float]]] = []
        self.left: list[float] = []
        self.right: list[float] = []

    def add(self, ci: tuple[float, float, float], y: float) -> None:
        _, a, b = ci
        if not (np.isfinite(a) and np.isfinite(b)):
            return
        a2, b2 = max(a, self.lo), min(b, self.hi)
        if a2 < b2:
            self.segs.append([(a2, y), (b2, y)])
        if a < self.lo:
            self.left.append(y)
        if b > self.hi:
            self.right.append(y)

    def draw(self, ax: Any, color: str, lw: float) -> None:
        from matplotlib.collections import LineCollection

        if self.segs:
            ax.add_collection(
                LineCollection(self.segs, colors=color, linewidths=lw, zorder=2, capstyle="butt"),
                autolim=False,
            )
        for ys, x, m in ((self.left, self.lo, "<"), (self.right, self.hi, ">")):
            if ys:
                ax.plot([x] * len(ys), ys, marker=m, ls="none", ms=3.5, color=color, clip_on=False)


def _xrange(rows: list[_Row], natural: bool, mcid: list[float]) -> tuple[float, float]:
    """Return the x range: every estimate, pooled interval and MCID; CIs where sensible."""
    pts, lims = [], []
    for r in rows:
        for t in (r.obs, r.shrunk):
            if t is not None:
                pts.append(t[0])
                lims += [t[1], t[2]]
        for t in (r.diamond, r.bar):
            if t is not None:
                pts += list(t)
    null = 1.0 if natural else 0.0
    pts = [p for p in [*pts, null, *mcid] if np.isfinite(p) and (p > 0 or not natural)]
    lims = [p for p in lims if np.isfinite(p) and (p > 0 or not natural)]
    f = np.log if natural else (lambda v: np.asarray(v, dtype=float))
    core = f(np.array(pts))
    clo, chi = core.min(), core.max()
    if lims:
        ll = f(np.array(lims))
        # extend to the CIs, but not beyond 3x the span of the estimates (arrows then)
        span = max(chi - clo, 0.2 if natural else 1e-9)
        lo_ = max(ll.min(), clo - 1.5 * span)
        hi_ = min(ll.max(), chi + 1.5 * span)
        clo, chi = min(clo, lo_), max(chi, hi_)
    if chi - clo <= 0:
        d = 0.1 if natural else max(abs(chi), 1.0) * 0.1
        clo, chi = clo - d, chi + d
    padv = 0.06 * (chi - clo)
    clo, chi = clo - padv, chi + padv
    if natural:
        clo, chi = max(clo, math.log(1e-4)), min(chi, math.log(1e4))
        return float(math.exp(clo)), float(math.exp(chi))
    return float(clo), float(chi)


def _het_text(result: MetaResult, ci_prob: float, classical: bool) -> str:
    parts = []
    if result.fixed:
        parts.append("Common-effect model (\u03c4 = 0)")
    else:
        h = result.heterogeneity(ci_prob=ci_prob)
        parts.append(
            f"Heterogeneity: \u03c4 = {_fmt_num(h.loc['tau', 'median'])} "
            f"[{_fmt_num(h.loc['tau', 'lower'])}, {_fmt_num(h.loc['tau', 'upper'])}]"
            + (" (log scale)" if result.is_ratio else "")
            + f"; I\u00b2 = {100 * h.loc['I2', 'median']:.0f}% "
            f"[{100 * h.loc['I2', 'lower']:.0f}%, {100 * h.loc['I2', 'upper']:.0f}%]"
        )
    if classical and result.k >= 2:
        try:
            from bayesmeta.classical import classical_table

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c = classical_table(result.data)
            row = c.loc["DerSimonian-Laird random effects"]
            parts.append(
                f"classical: I\u00b2 = {100 * row['I2']:.0f}%, Q = {row['Q']:.2f} "
                f"(df = {int(row['df'])}, p {_fmt_p(row['p_Q'])})"
            )
        except (KeyError, ValueError):
            pass
    elif result.k == 1:
        parts.append("one study: heterogeneity not estimable from the data")
    return "; ".join(parts)


def _fmt_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}" if p < 0.1 else f"= {p:.2f}"


def _overall_text(result: MetaResult) -> str:
    null = 1 if result.is_ratio else 0
    p_less = float(result.cdf("mu", 0.0)[0])
    sign, p = ("<", p_less) if p_less >= 0.5 else (">", 1 - p_less)
    pt = "> 0.999" if p > 0.999 else f"= {p:.3f}"
    return f"Pooled effect: P(\u03bc {sign} {null}) {pt} ({result.describe_model()})"


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

    Candidate MCIDs are marked on the curves; their labels (``label: probability``) sit
    in a band above the plot area, staggered, so they never overlap a curve or each other.
    The legend sits below the axes.

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
    from matplotlib.transforms import blended_transform_factory

    natural = result.is_ratio
    s = result.summary(ci_prob=0.99, scale="natural" if natural else "analysis")
    lo = min(s.loc["mu", "lower"], s.loc["theta_new", "lower"])
    hi = max(s.loc["mu", "upper"], s.loc["theta_new", "upper"])
    cand = list(candidates or ())
    if cand:
        lo, hi = min(lo, *cand), max(hi, *cand)
    grid = np.geomspace(lo, hi, n) if natural else np.linspace(lo, hi, n)
    pe = result.prob_exceeds(grid, direction=direction)
    with plt.rc_context(_rc()):
        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 4.6))
        else:
            fig = ax.figure
        sign = ">" if direction == "greater" else "<"
        ax.plot(grid, pe["p_mu"], color=_POOL, label=f"P(mu {sign} m)  pooled effect")
        if not result.fixed:
            ax.plot(
                grid, pe["p_new"], color=_PRED, ls="-.", label=f"P(theta_new {sign} m)  new study"
            )
        if natural:
            import matplotlib.ticker as mticker

            ax.set_xscale("log")
            ticks = ratio_ticks(lo, hi, 5.5, 10)
            ax.xaxis.set_major_locator(mticker.FixedLocator(ticks))
            ax.xaxis.set_major_formatter(mticker.FixedFormatter([_fmt_tick(t) for t in ticks]))
            ax.xaxis.set_minor_locator(mticker.NullLocator())
        ax.set_xlim(lo, hi)
        if cand:
            pc = result.prob_exceeds(cand, direction=direction)
            texts = [
                f"{labels[i]}: {p:.2f}" if labels else f"{p:.2f}" for i, p in enumerate(pc["p_mu"])
            ]
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            bbox = ax.get_window_extent(renderer)
            placed: list[tuple[float, float, int]] = []
            for i, (m, p) in enumerate(zip(cand, pc["p_mu"], strict=True)):
                ax.axvline(
                    m, color=_MCID, ls="--", lw=1, label="candidate MCID" if i == 0 else None
                )
                ax.plot([m], [p], "o", color=_MCID, ms=4)
                xpx = ax.transData.transform((m, 0.5))[0] - bbox.x0
                t = ax.text(m, 1.0, texts[i], fontsize="small", color=_MCID, parse_math=False)
                wpx = t.get_window_extent(renderer).width + 6
                level = 0
                while any(lv == level and abs(xpx - xo) < (wpx + wo) / 2 for xo, wo, lv in placed):
                    level += 1
                placed.append((xpx, wpx, level))
                t.set_transform(blended_transform_factory(ax.transData, ax.transAxes))
                t.set_position((m, 1.03 + 0.065 * level))
                t.set_ha("center")
                t.set_va("bottom")
                t.set_clip_on(False)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"threshold m ({result.measure})")
        ax.set_ylabel(f"posterior probability effect {sign} m")
        ax.legend(
            fontsize="small",
            frameon=False,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.14),
            ncol=3,
        )
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
        out[fname] = pc.viz.ds["figure"].item()
    return out


# ---------------------------------------------------------------------------------------------
# moderators
# ---------------------------------------------------------------------------------------------
def bubble(
    result: MetaResult,
    moderator: str | None = None,
    *,
    mcid: Sequence[float] | None = None,
    mcid_labels: Sequence[str] | None = None,
    ci_prob: float = 0.95,
    n: int = 120,
    title: str | None = None,
) -> Any:
    """Bubble plot of a meta-regression on a continuous moderator.

    Each study is a point at (moderator, observed effect), sized by its weight
    ``1 / (s_i^2 + tau^2)`` at the posterior median of tau; the posterior mean line with
    its credible band and the prediction band for a new study; labelled MCID lines.
    Other covariates of the formula are held at their mean (numeric) or at the first
    study's value (categorical).

    Parameters
    ----------
    moderator : str, optional
        The covariate on the x axis (default: the first numeric covariate in the formula).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import pandas as pd

    plt = _plt()
    d = result.design
    if d is None or d.subgroup is not None:
        raise ValueError("bubble() needs a meta-regression fit (moderators='~ x')")
    cov = result.data.covariates
    numeric = [c for c in cov.columns if pd.api.types.is_numeric_dtype(cov[c]) and c in d.formula]
    if moderator is None:
        if not numeric:
            raise ValueError("bubble() needs a numeric moderator in the formula")
        moderator = numeric[0]
    if moderator not in numeric:
        raise ValueError(f"{moderator!r} is not a numeric moderator of {d.formula!r}")
    x = cov[moderator].to_numpy(float)
    grid = np.linspace(x.min(), x.max(), n)
    base = {}
    for c in cov.columns:
        if c == moderator:
            continue
        col = cov[c]
        base[c] = float(col.mean()) if pd.api.types.is_numeric_dtype(col) else col.iloc[0]
    newdata = pd.DataFrame({moderator: grid, **{c: [v] * n for c, v in base.items()}})
    ratio = result.is_ratio
    tf = np.exp if ratio else (lambda v: v)
    mean = result.predict(newdata, kind="mean", ci_prob=ci_prob)
    new = result.predict(newdata, kind="new", ci_prob=ci_prob)
    tau_med = 0.0 if result.fixed else float(result.heterogeneity().loc["tau", "median"])
    w = 1.0 / (result.data.vi + tau_med**2)
    size = 30 + 600 * w / w.max()
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(7.0, 4.6))
        ax.fill_between(
            grid, tf(new["lower"]), tf(new["upper"]), color=_PRED, alpha=0.10,
            label=f"{100 * ci_prob:g}% prediction (new study)",
        )  # fmt: skip
        ax.fill_between(
            grid, tf(mean["lower"]), tf(mean["upper"]), color=_SHRUNK, alpha=0.25,
            label=f"{100 * ci_prob:g}% CrI of the mean effect",
        )  # fmt: skip
        ax.plot(grid, tf(mean["median"]), color=_SHRUNK, lw=1.8, label="posterior median")
        ax.scatter(
            x, tf(result.data.yi), s=size, facecolor="white", edgecolor=_OBS, zorder=3,
            label="studies (area ~ weight)",
        )  # fmt: skip
        ax.axhline(1.0 if ratio else 0.0, color="grey", lw=0.8)
        for i, m in enumerate(mcid or ()):
            ax.axhline(m, color=_MCID, ls="--", lw=1)
            lab = mcid_labels[i] if mcid_labels else f"MCID {m:g}"
            ax.annotate(
                lab, (1.0, m), xycoords=("axes fraction", "data"), xytext=(-4, 3),
                textcoords="offset points", ha="right", fontsize="small", color=_MCID,
            )  # fmt: skip
        if ratio:
            _natural_ratio_axis(ax, "y")
        ax.set_xlabel(moderator)
        ax.set_ylabel(f"{result.measure}" + (" (log scale)" if ratio else ""))
        ax.set_title(title or f"Meta-regression on {moderator} (k = {result.k})", fontsize=10)
        ax.legend(fontsize="small", frameon=False, loc="best")
        fig.tight_layout()
    return fig


def subgroup_forest(
    result: MetaResult,
    *,
    mcid: Sequence[float] | None = None,
    ci_prob: float = 0.95,
    title: str | None = None,
) -> Any:
    """Forest plot of a subgroup analysis: studies in blocks and one diamond per group.

    Below them, the differences between groups with P(difference > 0).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    d = result.design
    if d is None or d.subgroup is None:
        raise ValueError("subgroup_forest() needs a subgroup fit (subgroup='column')")
    ratio = result.is_ratio
    scale = "natural" if ratio else "analysis"
    st = result.studies(ci_prob=ci_prob, scale=scale)
    sg = result.subgroups(ci_prob=ci_prob, scale=scale)
    groups = list(d.names)
    rows: list[tuple[str, str, Any]] = []
    for g in groups:
        rows.append(("header", f"{d.subgroup} = {g}", None))
        for lab, grp in zip(st.index, d.groups, strict=True):
            if grp == g:
                rows.append(("study", f"  {lab}", st.loc[lab]))
        rows.append(("diamond", f"  {g}: mean", sg.loc[g]))
    diffs = [i for i in sg.index if i not in groups]
    if diffs:
        rows.append(("header", "Differences (P > 0)", None))
        for i in diffs:
            rows.append(("diff", f"  {i} (P = {sg.loc[i, 'P(>0)']:.2f})", sg.loc[i]))
    n = len(rows)
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.28 * n))
        for y, (kind, label, row) in zip(range(n, 0, -1), rows, strict=True):
            ax.text(
                -0.55,
                y,
                label,
                transform=ax.get_yaxis_transform(),
                ha="left",
                va="center",
                fontsize=8,
                fontweight="bold" if kind == "header" else None,
            )
            if row is None:
                continue
            if kind == "study":
                ax.plot([row["observed_lower"], row["observed_upper"]], [y, y], color=_OBS, lw=1)
                ax.plot([row["observed"]], [y], "s", color=_OBS, ms=4)
                ax.plot([row["lower"], row["upper"]], [y - 0.2] * 2, color=_SHRUNK, lw=1)
            else:
                color = _POOL if kind == "diamond" else _PRED
                ax.fill(
                    [row["lower"], row["median"], row["upper"], row["median"]],
                    [y, y + 0.3, y, y - 0.3], color=color,
                )  # fmt: skip
        ax.axvline(1.0 if ratio else 0.0, color="grey", lw=0.8)
        for m in mcid or ():
            ax.axvline(m, color=_MCID, ls="--", lw=1)
        if ratio:
            _natural_ratio_axis(ax, "x")
        ax.set_yticks([])
        ax.set_ylim(0.3, n + 0.7)
        ax.set_xlabel(
            f"{result.measure} ({100 * ci_prob:g}% intervals; differences in "
            f"{'ratios' if ratio else 'the same units'})"
        )
        bf = sg.attrs.get("bf_no_moderator", float("nan"))
        extra = f"; BF(no subgroup effect) = {bf:.3g}" if np.isfinite(bf) else ""
        ax.set_title(title or f"Subgroups by {d.subgroup} (common tau{extra})", fontsize=10)
        fig.subplots_adjust(
            left=0.36, right=0.97, top=1 - 0.5 / (1.2 + 0.28 * n), bottom=0.9 / (1.2 + 0.28 * n)
        )
    return fig


def _natural_ratio_axis(ax: Any, which: str) -> None:
    """Log scale with natural ratio ticks (0.1, 0.2, 0.5, 1, 2, ...), never 10^-1 labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    lo, hi = ax.get_xlim() if which == "x" else ax.get_ylim()
    ticks = ratio_ticks(lo, hi)
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda t, _: _fmt_tick(t)))
    axis.set_minor_locator(NullLocator())
