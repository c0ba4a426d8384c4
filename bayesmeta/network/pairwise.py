r"""Pairwise binomial networks on the exact binomial-normal engine.

A network with two treatments in which every study compares exactly those two is a pairwise
meta-analysis. Under the binomial likelihood its posterior needs no MCMC:
:func:`bayesmeta.engines.grid.integrate_binomial` integrates the binomial-normal model
(experimental arm = the non-reference treatment, control = the reference; the basic
parameter d is the engine's mu, tau and the study baselines as in the NUTS model).

:class:`PairwisePosterior` adapts the engine's :class:`~bayesmeta.engines.grid.GridPosterior`
to what :class:`~bayesmeta.network.result.NetworkResult` asks of a posterior:
``linear(A, new=...)`` for rows ``A`` over the single basic parameter, ``marginal("beta")``
(independent inverse-CDF draws of d for ranks and SUCRA, seeded by the fit's seed) and
``marginal("tau")`` / ``marginal("tau2")``.

Examples
--------
>>> import pandas as pd
>>> from bayesmeta import priors
>>> from bayesmeta.network import fit_network
>>> df = pd.DataFrame({"study": ["a", "a", "b", "b"], "treatment": ["x", "c", "x", "c"],
...                    "events": [3, 8, 5, 9], "n": [20, 20, 30, 30]})
>>> res = fit_network(df, "OR", reference="c", likelihood="binomial",
...                   tau_prior=priors.HalfNormal(0.5))
>>> res.engine
'exact'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["PairwisePosterior", "pairwise_arms", "pairwise_posterior"]

Array = NDArray[np.float64]


def pairwise_arms(nd: Any, design: Any) -> dict[str, Array] | None:
    """Arm counts of a two-treatment, two-arm network as experimental vs control.

    Returns ``events_t, n_t, events_c, n_c`` (one entry per study; t = the non-reference
    treatment, c = the reference) and ``labels``, or None when the network is not pairwise
    or the design's single parameter is not "t vs c" in every study.
    """
    if nd.arms is None or len(design.treatments) != 2 or design.X.shape[1] != 1:
        return None
    ref, trt = design.treatments
    # every study: exactly one contrast, coefficient +1 for (t vs c), -1 for (c vs t)
    if len(design.rows) != len({r[0] for r in design.rows}):
        return None
    for (_, a, b), x in zip(design.rows, design.X[:, 0], strict=True):
        if (a, b) == (trt, ref):
            if x != 1.0:
                return None
        elif (a, b) == (ref, trt):
            if x != -1.0:
                return None
        else:
            return None
    arms = nd.arms
    out: dict[str, list[Any]] = {k: [] for k in ("events_t", "n_t", "events_c", "n_c", "labels")}
    for st, _, _ in design.rows:
        sub = arms[arms["study"] == st]
        if len(sub) != 2 or set(sub["treatment"]) != {ref, trt}:
            return None
        t = sub[sub["treatment"] == trt].iloc[0]
        c = sub[sub["treatment"] == ref].iloc[0]
        out["events_t"].append(float(t["events"]))
        out["n_t"].append(float(t["n"]))
        out["events_c"].append(float(c["events"]))
        out["n_c"].append(float(c["n"]))
        out["labels"].append(str(st))
    if len(out["labels"]) != arms["study"].nunique():
        return None
    return {k: (v if k == "labels" else np.asarray(v, dtype=float)) for k, v in out.items()}


def pairwise_posterior(
    counts: dict[str, Any],
    *,
    d_prior: Any,
    tau_prior: Any,
    baseline_prior: Any,
    seed: int,
    chains: int,
    draws: int,
) -> PairwisePosterior:
    """Fit the pairwise binomial-normal model exactly and wrap it for the network result."""
    from bayesmeta.engines.grid import integrate_binomial

    post = integrate_binomial(
        counts["events_t"],
        counts["n_t"],
        counts["events_c"],
        counts["n_c"],
        mu_prior=d_prior,
        tau_prior=tau_prior,
        baseline_prior=baseline_prior,
        study_labels=counts["labels"],
        seed=seed,
    )
    post.chains, post.n_draws = chains, draws
    return PairwisePosterior(post, fixed=tau_prior is None)


class _Zero:
    """X = 0 with probability 1 (a row of A that is all zeros)."""

    shape: tuple[int, ...] = ()

    def __init__(self, draws_shape: tuple[int, int]) -> None:
        self._shape = draws_shape

    def cdf(self, x: ArrayLike) -> Array:
        return (np.atleast_1d(np.asarray(x, dtype=float)) >= 0.0).astype(float)

    def quantile(self, q: ArrayLike) -> Array:
        return np.zeros(np.atleast_1d(np.asarray(q, dtype=float)).shape)

    def mean(self) -> Array:
        return np.asarray(0.0)

    def sd(self) -> Array:
        return np.asarray(0.0)

    def mean_sd_exp(self) -> tuple[Array, Array]:
        return np.asarray(1.0), np.asarray(0.0)

    def draws(self) -> Array:
        return np.zeros(self._shape)

    def mcse_cdf(self, x: ArrayLike) -> Array:
        return np.zeros(np.atleast_1d(np.asarray(x, dtype=float)).shape)


class ScaledMarginal:
    """The posterior of ``a * X`` for a scalar marginal X and a real ``a != 0``.

    For ``a < 0`` the map is decreasing: ``cdf(x) = 1 - F_X(x / a)`` (continuous X) and
    ``quantile(q) = a * Q_X(1 - q)``. The mean and SD of ``exp(a X)`` come from the
    base's own moments when ``a = 1``, otherwise by Simpson's rule on the base density
    (``pdf``) between its quantiles ``1e-13`` and ``1 - 1e-13``.
    """

    shape: tuple[int, ...] = ()

    def __init__(self, base: Any, a: float) -> None:
        if a == 0:
            raise ValueError("a must be nonzero")
        self.base, self.a = base, float(a)

    def cdf(self, x: ArrayLike) -> Array:
        """P(a X <= x)."""
        z = np.atleast_1d(np.asarray(x, dtype=float)) / self.a
        F = np.asarray(self.base.cdf(z), dtype=float)
        return F if self.a > 0 else 1.0 - F

    def quantile(self, q: ArrayLike) -> Array:
        """Quantiles of a X."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        if self.a > 0:
            return self.a * np.asarray(self.base.quantile(q), dtype=float)
        return self.a * np.asarray(self.base.quantile(1.0 - q), dtype=float)

    def mean(self) -> Array:
        """Mean of a X."""
        return self.a * np.asarray(self.base.mean(), dtype=float)

    def sd(self) -> Array:
        """SD of a X."""
        return abs(self.a) * np.asarray(self.base.sd(), dtype=float)

    def mean_sd_exp(self) -> tuple[Array, Array]:
        """Mean and SD of exp(a X) (``inf`` where they do not exist)."""
        if self.a == 1.0:
            return self.base.mean_sd_exp()
        if not np.all(np.isfinite(self.base.mean())):
            return np.asarray(math.inf), np.asarray(math.inf)
        if hasattr(self.base, "pdf"):
            lo, hi = np.asarray(self.base.quantile([1e-13, 1 - 1e-13]), dtype=float)
            x = np.linspace(lo, hi, 4001)
            dens = np.asarray(self.base.pdf(x), dtype=float)
            w = np.ones(x.size)
            w[1:-1:2], w[2:-1:2] = 4.0, 2.0
            w *= (x[1] - x[0]) / 3.0
            dens = dens / (w @ dens)
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.exp(self.a * x)
                m = float(w @ (dens * e))
                s = math.sqrt(max(float(w @ (dens * (e - m) ** 2)), 0.0))
        else:  # equal-probability cells
            u = (np.arange(4000) + 0.5) / 4000
            with np.errstate(over="ignore"):
                e = np.exp(self.a * np.asarray(self.base.quantile(u), dtype=float))
            m, s = float(e.mean()), float(e.std())
        if not (math.isfinite(m) and math.isfinite(s)):
            return np.asarray(math.inf), np.asarray(math.inf)
        return np.asarray(m), np.asarray(s)

    def draws(self) -> Array:
        """Return a times the draws of X."""
        return self.a * np.asarray(self.base.draws(), dtype=float)

    def mcse_cdf(self, x: ArrayLike) -> Array:
        """MCSE of the CDF (that of X at x / a)."""
        z = np.atleast_1d(np.asarray(x, dtype=float)) / self.a
        return np.asarray(self.base.mcse_cdf(z), dtype=float)


class StackedMarginal:
    """Scalar marginals stacked into one of shape (R,) (rows of ``A @ d``)."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts
        self.shape: tuple[int, ...] = (len(parts),)

    def _stack(self, fn: str, *args: Any) -> Array:
        return np.stack([np.asarray(getattr(p, fn)(*args), dtype=float) for p in self.parts])

    def cdf(self, x: ArrayLike) -> Array:
        """P(X_r <= x); shape (R, X)."""
        return self._stack("cdf", x)

    def quantile(self, q: ArrayLike) -> Array:
        """Quantiles; shape (R, Q)."""
        return self._stack("quantile", q)

    def mean(self) -> Array:
        """Means (R,)."""
        return self._stack("mean")

    def sd(self) -> Array:
        """SDs (R,)."""
        return self._stack("sd")

    def mean_sd_exp(self) -> tuple[Array, Array]:
        """Means and SDs of exp(X_r)."""
        ms = [p.mean_sd_exp() for p in self.parts]
        return (
            np.array([float(m) for m, _ in ms]),
            np.array([float(s) for _, s in ms]),
        )

    def draws(self) -> Array:
        """Draws (chain, draw, R)."""
        return np.stack([np.asarray(p.draws(), dtype=float) for p in self.parts], axis=-1)

    def mcse_cdf(self, x: ArrayLike) -> Array:
        """Zeros for the deterministic parts; shape (R, X)."""
        return self._stack("mcse_cdf", x)


class _InverseCdfDraws:
    """A scalar marginal whose draws are ``quantile(u)`` for fixed uniforms ``u``.

    Independent exact draws in milliseconds (the engine's joint draws also draw every
    study's theta_i, which the network result never needs). Everything else is the base's.
    """

    def __init__(self, base: Any, u: Array) -> None:
        self.base, self._u = base, u
        self.shape = base.shape

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def draws(self) -> Array:
        q = np.asarray(self.base.quantile(self._u.ravel()), dtype=float)
        return q.reshape(self._u.shape)


class _BetaDraws:
    """``marginal("beta")``: the draws of d as (chain, draw, 1)."""

    def __init__(self, mu: Any) -> None:
        self.mu = mu
        self.shape = (1,)

    def draws(self) -> Array:
        return np.asarray(self.mu.draws(), dtype=float)[..., None]


class PairwisePosterior:
    """A :class:`~bayesmeta.engines.grid.GridPosterior` seen as a one-parameter network.

    Attributes
    ----------
    grid : GridPosterior
        The exact binomial-normal posterior (mu = d, the effect of the non-reference
        treatment against the reference).
    capabilities : frozenset of str
        ``{"linear", "log_evidence"}``.
    log_evidence : float
    """

    capabilities: frozenset[str] = frozenset({"linear", "log_evidence"})
    names: tuple[str, ...] = ("beta", "tau", "tau2")

    def __init__(self, grid: Any, *, fixed: bool) -> None:
        self.grid = grid
        self.fixed = fixed
        self.log_evidence = float(grid.log_evidence)
        rng = np.random.default_rng(grid.seed)
        self._u = rng.uniform(size=(grid.chains, grid.n_draws))
        self._marg: dict[str, Any] = {}

    def _base(self, name: str) -> Any:
        """Return the engine's marginal of ``mu`` or ``theta_new`` with inverse-CDF draws."""
        if name not in self._marg:
            self._marg[name] = _InverseCdfDraws(self.grid.marginal(name), self._u)
        return self._marg[name]

    @property
    def accuracy(self) -> dict[str, float]:
        """The engine's estimated errors (see :attr:`GridPosterior.accuracy`)."""
        return self.grid.accuracy

    def linear(self, A: Any, *, new: bool = False) -> StackedMarginal:
        """Posterior of ``A @ d`` (rows of A with one column), or of a new study's effect.

        ``new=True`` gives ``a * theta_new`` per row (the effect in a new study; equal to
        ``a * mu`` under the fixed-effect model).
        """
        A = np.atleast_2d(np.asarray(A, dtype=float))
        if A.shape[1] != 1:
            raise ValueError(f"A must have 1 column (one basic parameter), got {A.shape[1]}")
        base = self._base("theta_new" if new and not self.fixed else "mu")
        parts: list[Any] = []
        shape = (self.grid.chains, self.grid.n_draws)
        for a in A[:, 0]:
            parts.append(_Zero(shape) if a == 0 else ScaledMarginal(base, float(a)))
        return StackedMarginal(parts)

    def marginal(self, name: str) -> Any:
        """``beta`` (draws of d, shape (1,)), ``tau`` or ``tau2``."""
        if name == "beta":
            return _BetaDraws(self._base("mu"))
        if name in ("tau", "tau2"):
            return self.grid.marginal(name)
        raise ValueError(f"unknown quantity {name!r}; names: {', '.join(self.names)}")

    def to_datatree(self) -> Any:
        """Return the engine's DataTree (mu is the basic parameter d)."""
        return self.grid.to_datatree()
