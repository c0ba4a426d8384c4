r"""Classical estimates a review would report beside the Bayesian result.

Inverse-variance fixed effect, DerSimonian-Laird random effects (Wald CIs) with Cochran's
Q test and I^2, and Mantel-Haenszel for arm-level binary data (odds ratio with the
Robins-Breslow-Greenland variance, as metafor's rma.mh; risk ratio with the
Greenland-Robins variance). Checked against R metafor ``rma(method="FE"/"DL")`` and
``rma.mh`` in the tests.

Notes
-----
The weights ``w_i = 1 / v_i`` can span many orders of magnitude (one study with SE
1e-12 beside SEs near 0.2 gives weights 1e24 and 25). The textbook formulas
``Q = sum w (y - mu_FE)^2`` and ``C = sum w - sum w^2 / sum w`` then cancel
catastrophically (R metafor 3.8-1 returns Q = 5.35 for an exact 5.64 in that case, with a
warning). Here the weights are scaled by the largest one, the estimates are centred on
the most precise study before averaging, and

.. math::

    C = \frac{1}{\sum_i w_i} \sum_i w_i \sum_{j \ne i} w_j,

whose sums of positive terms cannot cancel. A value that still cannot be computed is
reported as NaN with a ``note``; it is never replaced by a plausible-looking number.

References
----------
DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials
1986;7(3):177-188. https://doi.org/10.1016/0197-2456(86)90046-2
Greenland S, Robins JM. Estimation of a common effect parameter from sparse follow-up
data. Biometrics 1985;41(1):55-68. https://doi.org/10.2307/2530643
Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med
2002;21(11):1539-1558. https://doi.org/10.1002/sim.1186
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special

from bayesmeta.data import StudyData

__all__ = [
    "Heterogeneity",
    "classical_table",
    "dersimonian_laird",
    "heterogeneity",
    "inverse_variance",
    "mantel_haenszel",
]

_Z = 1.959963984540054  # scipy.stats.norm.ppf(0.975)

FE_ROW = "inverse-variance fixed effect"
DL_ROW = "DerSimonian-Laird random effects"
MH_ROW = "Mantel-Haenszel (fixed)"
COLUMNS = ["estimate", "lower", "upper", "tau2", "I2", "Q", "df", "p_Q", "note"]


class Heterogeneity(NamedTuple):
    """Cochran's Q test, the DerSimonian-Laird tau^2 and I^2 (Higgins-Thompson)."""

    Q: float
    df: int
    p_Q: float
    tau2: float
    I2: float
    C: float
    """``sum w - sum w^2 / sum w``, the scaling constant of the DL moment estimator."""
    s2: float
    """Typical within-study variance ``(k - 1) / C`` (Higgins-Thompson)."""


def _as_arrays(yi: np.ndarray, vi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, v = np.asarray(yi, dtype=float).ravel(), np.asarray(vi, dtype=float).ravel()
    if y.size != v.size or y.size == 0:
        raise ValueError(f"yi and vi need the same, non-zero length (got {y.size}, {v.size})")
    if not (np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all()):
        raise ValueError("yi must be finite and vi finite and > 0")
    return y, v


def _pooled(y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """Weighted mean with weights ``1/v`` and its SE, without overflow or cancellation.

    Weights are scaled by the largest (``u = v_min / v`` in (0, 1]) and the estimates
    centred on the most precise study, so the mean of the small differences is exact to
    rounding even when one weight dwarfs the rest.
    """
    i0 = int(np.argmin(v))
    vmin, ref = v[i0], y[i0]
    with np.errstate(all="ignore"):
        u = vmin / v
        total = u.sum()
        est = ref + (u * (y - ref)).sum() / total
        se = np.sqrt(vmin / total)
    return float(est), float(se)


def _others_sum(u: np.ndarray) -> np.ndarray:
    """``sum_{j != i} u_j`` for each i from prefix and suffix sums (no subtraction)."""
    before = np.concatenate([[0.0], np.cumsum(u)[:-1]])
    after = np.concatenate([np.cumsum(u[::-1])[::-1][1:], [0.0]])
    return before + after


def heterogeneity(yi: np.ndarray, vi: np.ndarray) -> Heterogeneity:
    """Cochran's Q with its df and p-value, the DerSimonian-Laird tau^2 and I^2.

    Computed without catastrophic cancellation (see the module notes); needs k >= 2.

    Parameters
    ----------
    yi, vi : numpy.ndarray
        Estimates on the analysis scale and their sampling variances (finite, ``vi > 0``).

    Returns
    -------
    Heterogeneity
        ``Q``, ``df = k - 1``, ``p_Q`` (chi-squared upper tail), ``tau2`` (DL, truncated
        at 0), ``I2`` as a fraction (``max(0, (Q - df) / Q)``), ``C`` and ``s2``. Values
        that overflow are NaN.

    Raises
    ------
    ValueError
        For k < 2, or non-finite input.

    Examples
    --------
    >>> h = heterogeneity(np.array([0.1, 0.5, -0.2, 0.3]),
    ...                   np.array([1e-24, 0.04, 0.09, 0.0625]))
    >>> round(h.Q, 10), h.df
    (5.64, 3)
    """
    y, v = _as_arrays(yi, vi)
    k = y.size
    if k < 2:
        raise ValueError("heterogeneity needs at least 2 studies")
    i0 = int(np.argmin(v))
    vmin = v[i0]
    with np.errstate(all="ignore"):
        u = vmin / v
        total = u.sum()
        d = y - y[i0]
        r = d - (u * d).sum() / total
        q = float((u * r**2).sum() / vmin)
        c = float((u * _others_sum(u)).sum() / total / vmin)
    df = k - 1
    if not (np.isfinite(q) and np.isfinite(c) and c > 0):
        nan = float("nan")
        return Heterogeneity(q if np.isfinite(q) else nan, df, nan, nan, nan, nan, nan)
    p = float(special.chdtrc(df, q))
    tau2 = max(0.0, (q - df) / c)
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    return Heterogeneity(q, df, p, float(tau2), float(i2), c, df / c)


def inverse_variance(yi: np.ndarray, vi: np.ndarray) -> tuple[float, float]:
    """Fixed-effect (common-effect) estimate and its SE.

    Examples
    --------
    >>> est, se = inverse_variance(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    >>> est, round(se, 6)
    (0.5, 0.707107)
    """
    return _pooled(*_as_arrays(yi, vi))


def dersimonian_laird(yi: np.ndarray, vi: np.ndarray) -> tuple[float, float, float, float]:
    """DerSimonian-Laird random-effects estimate, SE, tau^2 and I^2 (k >= 2).

    I^2 is a fraction; see :func:`heterogeneity` for Q, its df and p-value. NaN when the
    heterogeneity statistics overflow.
    """
    y, v = _as_arrays(yi, vi)
    if y.size < 2:
        raise ValueError("DerSimonian-Laird needs at least 2 studies")
    h = heterogeneity(y, v)
    if not np.isfinite(h.tau2):
        nan = float("nan")
        return nan, nan, nan, nan
    est, se = _pooled(y, v + h.tau2)
    return est, se, h.tau2, h.I2


def mantel_haenszel(table: pd.DataFrame, measure: str) -> tuple[float, float]:
    """Mantel-Haenszel log OR or log RR and its SE from arm-level counts.

    NaN when the estimate is 0 or infinite (no events, or only events, in one arm of
    every informative table) or cannot be computed in floating point.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est, se = _mantel_haenszel(table, measure)
    if not (np.isfinite(est) and np.isfinite(se)):
        return float("nan"), float("nan")
    return est, se


def _mantel_haenszel(table: pd.DataFrame, measure: str) -> tuple[float, float]:
    a, n1 = table["events_t"].to_numpy(float), table["n_t"].to_numpy(float)
    c, n2 = table["events_c"].to_numpy(float), table["n_c"].to_numpy(float)
    b, d, n = n1 - a, n2 - c, n1 + n2
    if measure == "OR":
        # Robins-Breslow-Greenland variance, written out: statsmodels' StratifiedTable
        # gives the same numbers but its import (with scipy.stats) costs over a second at
        # every start of the command line. Uninformative tables add 0 to every sum.
        R, S = a * d / n, b * c / n
        P, Q = (a + d) / n, (b + c) / n
        sr, ss = R.sum(), S.sum()
        if not (sr > 0 and ss > 0):
            return float("nan"), float("nan")  # MH OR is 0 or infinite
        var = (
            (P * R).sum() / (2 * sr**2)
            + (P * S + Q * R).sum() / (2 * sr * ss)
            + (Q * S).sum() / (2 * ss**2)
        )
        return float(np.log(sr / ss)), float(np.sqrt(var))
    if measure == "RR":
        r, s = (a * n2 / n).sum(), (c * n1 / n).sum()
        if r == 0 or s == 0:
            return float("nan"), float("nan")  # MH RR is 0 or infinite
        var = ((n1 * n2 * (a + c) - a * c * n) / n**2).sum() / (r * s)
        return float(np.log(r / s)), float(np.sqrt(var))
    raise ValueError(f"Mantel-Haenszel applies to OR and RR, not {measure}")


def _row(est: float, se: float, **extra: object) -> dict[str, object]:
    return {"est": est, "se": se, "tau2": np.nan, "I2": np.nan, "Q": np.nan, "df": np.nan,
            "p_Q": np.nan, "note": ""} | extra  # fmt: skip


def classical_table(sd: StudyData) -> pd.DataFrame:
    """Classical pooled estimates with 95% CIs on the natural scale.

    Rows: ``inverse-variance fixed effect``, ``DerSimonian-Laird random effects``
    (k >= 2 only) and ``Mantel-Haenszel (fixed)`` (arm-level OR/RR). Columns
    ``estimate``, ``lower``, ``upper`` (ratios for OR/RR/HR); for DL ``tau2``, ``I2`` (a
    fraction, Higgins-Thompson), Cochran's ``Q``, its ``df`` (k - 1) and ``p_Q``; and
    ``note``, empty unless a value is NaN or needs a remark.

    With one study there is no DL row (between-study heterogeneity cannot be estimated
    from one study) and the fixed-effect row's note says so. A Mantel-Haenszel estimate
    that is 0 or infinite (e.g. no events in one arm of every table) is NaN with a note.

    Examples
    --------
    >>> import pandas as pd, bayesmeta
    >>> df = pd.DataFrame({"study": ["ProDERM"], "events_t": [37], "n_t": [47],
    ...                    "events_c": [21], "n_c": [48]})
    >>> t = classical_table(bayesmeta.study_data(df, "RR"))
    >>> t[["estimate", "lower", "upper"]].round(2).iloc[0].tolist()
    [1.8, 1.26, 2.56]
    >>> t.loc["inverse-variance fixed effect", "note"]
    'k = 1: no DerSimonian-Laird row (heterogeneity cannot be estimated from one study)'
    """
    rows: dict[str, dict[str, object]] = {}
    est, se = inverse_variance(sd.yi, sd.vi)
    note = ""
    if not (np.isfinite(est) and np.isfinite(se)):
        est, se, note = np.nan, np.nan, "not computable in floating point (overflow)"
    elif sd.k == 1:
        note = "k = 1: no DerSimonian-Laird row (heterogeneity cannot be estimated from one study)"
    rows[FE_ROW] = _row(est, se, note=note)
    if sd.k >= 2:
        h = heterogeneity(sd.yi, sd.vi)
        if np.isfinite(h.tau2):
            est, se = _pooled(sd.yi, sd.vi + h.tau2)
            note = ""
        else:
            est = se = np.nan
            note = "Q or the DL scaling constant overflows: tau2 not computable"
        rows[DL_ROW] = _row(
            est, se, tau2=h.tau2, I2=h.I2, Q=h.Q, df=float(h.df), p_Q=h.p_Q, note=note
        )
    if sd.kind == "binary" and sd.measure in ("OR", "RR"):
        est, se = mantel_haenszel(sd.table, sd.measure)
        note = (
            ""
            if np.isfinite(est)
            else f"MH {sd.measure} is 0 or infinite (no events, or only events, in one arm "
            "of every informative table)"
        )
        rows[MH_ROW] = _row(est, se, note=note)
    out = pd.DataFrame.from_dict(rows, orient="index")
    with np.errstate(over="ignore"):
        centre = out["est"].to_numpy(float)
        half = _Z * out["se"].to_numpy(float)
        lims = np.stack([centre, centre - half, centre + half], axis=1)
        nat = np.exp(lims) if sd.is_ratio else lims
    overflow = np.isfinite(lims).all(axis=1) & ~np.isfinite(nat).all(axis=1)
    notes = out["note"].where(~overflow, "the CI overflows on the ratio scale")
    table = pd.DataFrame(
        {
            "estimate": nat[:, 0],
            "lower": nat[:, 1],
            "upper": nat[:, 2],
            "tau2": out["tau2"].astype(float),
            "I2": out["I2"].astype(float),
            "Q": out["Q"].astype(float),
            "df": out["df"].astype(float),
            "p_Q": out["p_Q"].astype(float),
            "note": notes.astype(str),
        },
        index=out.index,
    )
    table.attrs["measure"] = sd.measure
    return table
