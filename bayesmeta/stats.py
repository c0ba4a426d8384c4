"""Small statistical helpers shared by engines, results and reports (numpy only)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["typical_variance"]


def typical_variance(vi: ArrayLike) -> float:
    """Higgins and Thompson's typical within-study variance, used for I^2.

    ``s^2 = (k - 1) sum(w) / (sum(w)^2 - sum(w^2))`` with ``w = 1/vi``; for k = 1 the
    study's own variance. Computed with weights scaled by their maximum, so a study with
    a tiny variance does not cancel the difference away.

    Examples
    --------
    >>> typical_variance([0.04, 0.04])
    0.04
    """
    v = np.asarray(vi, dtype=float)
    k = v.size
    if k == 1:
        return float(v[0])
    w = 1.0 / v
    scale = w.max()
    u = w / scale
    # sum(u)^2 - sum(u^2) = sum_i u_i * (sum of the others), without cancellation
    before = np.concatenate([[0.0], np.cumsum(u)[:-1]])
    after = np.concatenate([np.cumsum(u[::-1])[::-1][1:], [0.0]])
    denom = float((u * (before + after)).sum())
    if not denom > 0:
        return float("nan")
    return float((k - 1) * u.sum() / denom / scale)
