"""Effect sizes and their sampling variances, as R metafor's ``escalc`` computes them.

Plain numpy functions on arrays, no validation (``bayesmeta.data`` validates first).
Each returns ``(yi, vi)``: the estimate on the analysis scale and its sampling variance.
Ratio measures are on the log scale.

References
----------
Viechtbauer W. Conducting meta-analyses in R with the metafor package. Journal of
Statistical Software 2010;36(3):1-48. https://doi.org/10.18637/jss.v036.i03
Hedges LV. Distribution theory for Glass's estimator of effect size and related
estimators. Journal of Educational Statistics 1981;6(2):107-128.
https://doi.org/10.3102/10769986006002107
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from bayesmeta._lazy import lazy

stats = lazy("scipy.stats")

__all__ = [
    "ZERO_CELL_ADD",
    "ci_from_se",
    "hedges_correction",
    "log_odds_ratio",
    "log_risk_ratio",
    "mean_difference",
    "risk_difference",
    "se_from_ci",
    "standardized_mean_difference",
    "zero_cell_studies",
]

#: Amount added to every cell of a 2x2 table that has a zero cell (metafor's
#: ``add=1/2, to="only0"``). Used for the normal approximation only; the exact
#: binomial-normal model uses the raw counts.
ZERO_CELL_ADD = 0.5

Array = NDArray[np.float64]


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=float)


def mean_difference(
    mean_t: ArrayLike,
    sd_t: ArrayLike,
    n_t: ArrayLike,
    mean_c: ArrayLike,
    sd_c: ArrayLike,
    n_c: ArrayLike,
) -> tuple[Array, Array]:
    """Raw mean difference (experimental minus control) and its variance.

    ``vi = sd_t^2/n_t + sd_c^2/n_c`` (metafor's default ``vtype="LS"``, no
    assumption of equal variances).

    Examples
    --------
    >>> yi, vi = mean_difference([10.0], [2.0], [20], [8.0], [2.0], [20])
    >>> float(yi[0]), float(vi[0])
    (2.0, 0.4)
    """
    yi = _f(mean_t) - _f(mean_c)
    vi = _f(sd_t) ** 2 / _f(n_t) + _f(sd_c) ** 2 / _f(n_c)
    return yi, vi


def hedges_correction(df: ArrayLike) -> Array:
    """Exact small-sample correction factor ``J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))``.

    Examples
    --------
    >>> round(float(hedges_correction(10)), 6)
    0.922746
    """
    m = _f(df)
    return np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))


def standardized_mean_difference(
    mean_t: ArrayLike,
    sd_t: ArrayLike,
    n_t: ArrayLike,
    mean_c: ArrayLike,
    sd_c: ArrayLike,
    n_c: ArrayLike,
) -> tuple[Array, Array]:
    """Hedges' g (bias-corrected SMD) and its large-sample variance.

    ``g = J(n_t + n_c - 2) (mean_t - mean_c) / s_pooled`` with the exact correction
    ``J``; ``vi = 1/n_t + 1/n_c + g^2 / (2 (n_t + n_c))`` (metafor's default). The pooled
    SD is computed with the SDs scaled by the larger one, so SDs near the floating-point
    limits do not overflow.

    Examples
    --------
    >>> g, v = standardized_mean_difference([1.0], [1.0], [10], [0.0], [1.0], [10])
    >>> round(float(g[0]), 6)
    0.957646
    """
    n1, n2 = _f(n_t), _f(n_c)
    m = n1 + n2 - 2
    s1, s2 = _f(sd_t), _f(sd_c)
    # scaled by the larger SD so that squaring cannot overflow (or underflow) for extreme SDs
    scale = np.maximum(s1, s2)
    s_pooled = scale * np.sqrt(((n1 - 1) * (s1 / scale) ** 2 + (n2 - 1) * (s2 / scale) ** 2) / m)
    yi = hedges_correction(m) * (_f(mean_t) - _f(mean_c)) / s_pooled
    vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    return yi, vi


def zero_cell_studies(
    events_t: ArrayLike, n_t: ArrayLike, events_c: ArrayLike, n_c: ArrayLike
) -> NDArray[np.bool_]:
    """Mask of 2x2 tables with at least one zero cell (events or non-events)."""
    a, c = _f(events_t), _f(events_c)
    b, d = _f(n_t) - a, _f(n_c) - c
    return (a == 0) | (b == 0) | (c == 0) | (d == 0)


def _cells(events_t, n_t, events_c, n_c) -> tuple[Array, Array, Array, Array]:
    """Return the four cells, ``ZERO_CELL_ADD`` added to every cell of a zero-cell table."""
    a, c = _f(events_t), _f(events_c)
    b, d = _f(n_t) - a, _f(n_c) - c
    add = np.where(zero_cell_studies(events_t, n_t, events_c, n_c), ZERO_CELL_ADD, 0.0)
    return a + add, b + add, c + add, d + add


def log_odds_ratio(
    events_t: ArrayLike, n_t: ArrayLike, events_c: ArrayLike, n_c: ArrayLike
) -> tuple[Array, Array]:
    """Log odds ratio (Woolf variance), 0.5 added to all cells of zero-cell tables.

    Examples
    --------
    >>> yi, vi = log_odds_ratio([10], [20], [5], [20])
    >>> round(float(yi[0]), 6), round(float(vi[0]), 6)
    (1.098612, 0.466667)
    """
    a, b, c, d = _cells(events_t, n_t, events_c, n_c)
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


def log_risk_ratio(
    events_t: ArrayLike, n_t: ArrayLike, events_c: ArrayLike, n_c: ArrayLike
) -> tuple[Array, Array]:
    """Log risk ratio and its delta-method variance (zero cells as for the odds ratio).

    Examples
    --------
    >>> yi, vi = log_risk_ratio([10], [20], [5], [20])
    >>> round(float(yi[0]), 6), round(float(vi[0]), 6)
    (0.693147, 0.2)
    """
    a, b, c, d = _cells(events_t, n_t, events_c, n_c)
    n1, n2 = a + b, c + d
    return np.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2


def risk_difference(
    events_t: ArrayLike, n_t: ArrayLike, events_c: ArrayLike, n_c: ArrayLike
) -> tuple[Array, Array]:
    """Risk difference and its variance (zero cells adjusted as metafor does by default).

    Examples
    --------
    >>> yi, vi = risk_difference([10], [20], [5], [20])
    >>> round(float(yi[0]), 6), round(float(vi[0]), 6)
    (0.25, 0.021875)
    """
    a, b, c, d = _cells(events_t, n_t, events_c, n_c)
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    return p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2


def _z(level: ArrayLike) -> Array:
    return stats.norm.ppf(0.5 + _f(level) / 2)


def se_from_ci(ci_lower: ArrayLike, ci_upper: ArrayLike, level: ArrayLike = 0.95) -> Array:
    """Compute the SE from a symmetric (Wald) confidence interval on the analysis scale.

    Examples
    --------
    >>> round(float(se_from_ci(-1.959964, 1.959964)), 6)
    1.0
    """
    return (_f(ci_upper) - _f(ci_lower)) / (2 * _z(level))


def ci_from_se(estimate: ArrayLike, se: ArrayLike, level: ArrayLike = 0.95) -> tuple[Array, Array]:
    """Wald confidence limits ``estimate -/+ z se`` on the analysis scale.

    Examples
    --------
    >>> lo, hi = ci_from_se(0.0, 1.0)
    >>> round(float(hi), 4)
    1.96
    """
    half = _z(level) * _f(se)
    return _f(estimate) - half, _f(estimate) + half
