r"""The posterior protocol every engine returns, and the draws-backed implementation.

An engine turns (spec, data) into a :class:`Posterior`. Results, reports and plots talk
to it only through this protocol; nothing outside :mod:`bayesmeta.engines` asks which
engine ran.

* :meth:`Posterior.marginal` gives the posterior of one named quantity as a
  :class:`Marginal`: ``cdf``, ``quantile``, ``mean``/``sd`` (``inf`` where the moment does
  not exist), ``draws`` and the Monte Carlo error of a tail probability (0 for
  deterministic engines). Names: ``mu``, ``tau``, ``tau2``, ``I2``, ``theta_new`` (scalars)
  and ``theta`` (one per study, leading axis ``study``); models with moderators add
  ``beta`` (one per coefficient).
* Extras are *capabilities*, declared in :attr:`Posterior.capabilities` rather than
  methods that raise: ``"log_evidence"`` (:attr:`Posterior.log_evidence`),
  ``"weights"`` (:meth:`Posterior.weights`), ``"density"`` (:meth:`Marginal.pdf`),
  ``"linear"`` (:meth:`Posterior.linear`).
* :meth:`Posterior.to_datatree` and :func:`bayesmeta.engines.posterior_from_datatree`
  make a saved result a true round trip.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DrawsMarginal", "Marginal", "Posterior", "shortest_interval"]

Array = NDArray[np.float64]


@runtime_checkable
class Marginal(Protocol):
    """Posterior of a scalar quantity, or of ``shape[0]`` of them (one per study).

    Array results have the quantity's ``shape`` as leading axes.
    """

    shape: tuple[int, ...]

    def cdf(self, x: ArrayLike) -> Array:
        """P(X <= x) for x of shape (X,); returns (*shape, X)."""
        ...

    def quantile(self, q: ArrayLike) -> Array:
        """Quantiles at probabilities q (Q,); returns (*shape, Q)."""
        ...

    def mean(self) -> Array:
        """Posterior mean (*shape); ``inf`` where it does not exist."""
        ...

    def sd(self) -> Array:
        """Posterior SD (*shape); ``inf`` where it does not exist."""
        ...

    def mean_sd_exp(self) -> tuple[Array, Array]:
        """Mean and SD of exp(X) (ratios from log ratios); ``inf`` where they do not exist."""
        ...

    def draws(self) -> Array:
        """Draws shaped (chain, draw, *shape)."""
        ...

    def mcse_cdf(self, x: ArrayLike) -> Array:
        """Monte Carlo SE of :meth:`cdf` (zeros for deterministic engines)."""
        ...


@runtime_checkable
class Posterior(Protocol):
    """What every engine returns."""

    capabilities: frozenset[str]
    #: Names :meth:`marginal` accepts.
    names: tuple[str, ...]

    def marginal(self, name: str) -> Marginal:
        """The posterior of ``name`` (see the module docstring for the names)."""
        ...

    def to_datatree(self) -> Any:
        """DataTree with ``posterior`` draws and whatever the engine needs to reload itself."""
        ...


def shortest_interval(m: Marginal, prob: float, *, n: int = 201) -> Array:
    """Shortest (highest-density for unimodal posteriors) interval of probability ``prob``.

    Minimises ``Q(p + prob) - Q(p)`` over the lower tail probability ``p`` on a grid, then
    refines by golden-section search. Works for any :class:`Marginal`.

    Returns
    -------
    numpy.ndarray
        Shape (*shape, 2): lower and upper limits.
    """
    p = np.linspace(0.0, 1.0 - prob, n)
    p[0], p[-1] = 1e-12, 1.0 - prob - 1e-12
    lo = m.quantile(p)
    hi = m.quantile(p + prob)
    width = hi - lo
    j = np.argmin(width, axis=-1)
    a = p[np.maximum(j - 1, 0)]
    b = p[np.minimum(j + 1, n - 1)]
    g = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        c = b - g * (b - a)
        d = a + g * (b - a)
        wc = _diag(m.quantile, c + prob) - _diag(m.quantile, c)
        wd = _diag(m.quantile, d + prob) - _diag(m.quantile, d)
        left = wc < wd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
    pm = 0.5 * (a + b)
    return np.stack([_diag(m.quantile, pm), _diag(m.quantile, pm + prob)], axis=-1)


def _diag(quantile: Any, p: Array) -> Array:
    """quantile() at a different probability for each element of a vector quantity."""
    p = np.atleast_1d(p)
    if p.size == 1:
        return quantile(p)[..., 0]
    return np.array([quantile(np.array([pi]))[i, 0] for i, pi in enumerate(p)])


class DrawsMarginal:
    """A :class:`Marginal` from posterior draws shaped (chain, draw, *shape).

    Examples
    --------
    >>> import numpy as np
    >>> m = DrawsMarginal(np.random.default_rng(1).normal(size=(4, 1000)))
    >>> m.shape, bool(abs(m.quantile([0.5])[0]) < 0.1)
    ((), True)
    """

    def __init__(self, draws: ArrayLike) -> None:
        arr = np.asarray(draws, dtype=float)
        self._draws = arr
        self.shape: tuple[int, ...] = arr.shape[2:]
        flat = arr.reshape(arr.shape[0] * arr.shape[1], *self.shape)
        self._flat = np.moveaxis(flat, 0, -1)  # (*shape, n)

    def cdf(self, x: ArrayLike) -> Array:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return (self._flat[..., None, :] <= x[:, None]).mean(-1)

    def quantile(self, q: ArrayLike) -> Array:
        q = np.atleast_1d(np.asarray(q, dtype=float))
        return np.moveaxis(np.quantile(self._flat, q, axis=-1), 0, -1)

    def mean(self) -> Array:
        return self._flat.mean(-1)

    def sd(self) -> Array:
        return self._flat.std(-1, ddof=1)

    def mean_sd_exp(self) -> tuple[Array, Array]:
        with np.errstate(over="ignore"):
            e = np.exp(self._flat)
        return e.mean(-1), e.std(-1, ddof=1)

    def draws(self) -> Array:
        return self._draws

    def mcse_cdf(self, x: ArrayLike) -> Array:
        """MCSE of P(X <= x) from the ESS of the indicator (arviz_stats)."""
        import arviz_stats as azs

        x = np.atleast_1d(np.asarray(x, dtype=float))
        out = np.zeros((*self.shape, x.size))
        for j, xj in enumerate(x):
            ind = (self._draws <= xj).astype(float)
            p = ind.mean(axis=(0, 1))
            with np.errstate(invalid="ignore", divide="ignore"):
                ess = np.asarray(azs.ess(ind, method="mean", chain_axis=0, draw_axis=1))
                se = np.sqrt(p * (1 - p) / ess)
            out[..., j] = np.where((p > 0) & (p < 1), se, 0.0)
        return out
