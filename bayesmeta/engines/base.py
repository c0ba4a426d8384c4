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

__all__ = ["DrawsMarginal", "Marginal", "Posterior", "TransformedMarginal", "shortest_interval"]

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
        """Return the posterior of ``name`` (see the module docstring for the names)."""
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
    """quantile() at a different probability for each element of a vector quantity.

    One call evaluates every probability for every element; the diagonal is the answer.
    """
    p = np.atleast_1d(p)
    if p.size == 1:
        return quantile(p)[..., 0]
    return np.diagonal(quantile(p), axis1=-2, axis2=-1).copy()


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
        """P(X <= x) from the draws."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return (self._flat[..., None, :] <= x[:, None]).mean(-1)

    def quantile(self, q: ArrayLike) -> Array:
        """Sample quantiles."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        return np.moveaxis(np.quantile(self._flat, q, axis=-1), 0, -1)

    def mean(self) -> Array:
        """Sample mean."""
        return self._flat.mean(-1)

    def sd(self) -> Array:
        """Sample SD."""
        return self._flat.std(-1, ddof=1)

    def mean_sd_exp(self) -> tuple[Array, Array]:
        """Sample mean and SD of exp(X)."""
        with np.errstate(over="ignore"):
            e = np.exp(self._flat)
        return e.mean(-1), e.std(-1, ddof=1)

    def draws(self) -> Array:
        """Return the draws (chain, draw, *shape)."""
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


class TransformedMarginal:
    """The posterior of ``f(X)`` for an increasing ``f`` (e.g. tau -> tau^2 or I^2).

    Quantiles and the CDF are exact transforms; the mean and SD are expectations over
    equal-probability cells of X (``n`` cells), or exact from draws.

    Examples
    --------
    >>> import numpy as np
    >>> m = DrawsMarginal(np.abs(np.random.default_rng(1).normal(size=(2, 500))))
    >>> t2 = TransformedMarginal(m, np.square, np.sqrt)
    >>> bool(np.isclose(t2.quantile([0.5])[0], m.quantile([0.5])[0] ** 2))
    True
    """

    def __init__(self, base: Marginal, f: Any, finv: Any, n: int = 4000) -> None:
        self.base, self.f, self.finv, self.n = base, f, finv, n
        self.shape = base.shape

    def cdf(self, x: ArrayLike) -> Array:
        """P(f(X) <= x)."""
        return self.base.cdf(self.finv(np.atleast_1d(np.asarray(x, dtype=float))))

    def quantile(self, q: ArrayLike) -> Array:
        """Return f of the quantiles of X."""
        return self.f(self.base.quantile(q))

    def _cells(self) -> Array:
        u = (np.arange(self.n) + 0.5) / self.n
        return self.f(self.base.quantile(u))

    def mean(self) -> Array:
        """Mean of f(X) over equal-probability cells."""
        return self._cells().mean(-1)

    def sd(self) -> Array:
        """SD of f(X) over equal-probability cells."""
        return self._cells().std(-1)

    def mean_sd_exp(self) -> tuple[Array, Array]:
        """Mean and SD of exp(f(X))."""
        with np.errstate(over="ignore"):
            e = np.exp(self._cells())
        return e.mean(-1), e.std(-1)

    def draws(self) -> Array:
        """Return f of the draws of X."""
        return self.f(self.base.draws())

    def mcse_cdf(self, x: ArrayLike) -> Array:
        """MCSE of the CDF (that of X at finv(x))."""
        return self.base.mcse_cdf(self.finv(np.atleast_1d(np.asarray(x, dtype=float))))
