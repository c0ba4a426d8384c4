"""The exact engine: numerical integration over tau for the normal-normal model.

Wraps the quadrature of :mod:`bayesmeta.exact` in the :class:`~bayesmeta.engines.base.Posterior`
protocol: normal mixtures over the tau nodes for mu, theta_new and theta; the grid CDF for tau.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayesmeta.engines.base import Array

__all__ = ["DESCRIPTION", "ExactNormalPosterior", "MixtureMarginal", "applies", "fit"]

DESCRIPTION = "exact numerical integration"


class MixtureMarginal:
    """Normal mixture: weights, means, sds of shape (*shape, M)."""

    def __init__(self, p: Array, m: Array, s: Array, *, heavy: bool = False, seed: int = 0):
        self.p, self.m, self.s = np.broadcast_arrays(p, m, s)
        self.shape: tuple[int, ...] = self.m.shape[:-1]
        self._heavy = heavy
        self._seed = seed

    def cdf(self, x: ArrayLike) -> Array:
        from bayesmeta.exact import _normal_cdf

        x = np.atleast_1d(np.asarray(x, dtype=float))
        return (
            self.p[..., None, :]
            * _normal_cdf(x[:, None], self.m[..., None, :], self.s[..., None, :])
        ).sum(-1)

    def pdf(self, x: ArrayLike) -> Array:
        from bayesmeta.exact import _normal_pdf

        x = np.atleast_1d(np.asarray(x, dtype=float))
        return (
            self.p[..., None, :]
            * _normal_pdf(x[:, None], self.m[..., None, :], self.s[..., None, :])
        ).sum(-1)

    def quantile(self, q: ArrayLike) -> Array:
        from bayesmeta.exact import mixture_quantile

        q = np.atleast_1d(np.asarray(q, dtype=float))
        keep = self.p.reshape(-1, self.p.shape[-1]).max(0) > 1e-16
        return mixture_quantile(self.p[..., keep], self.m[..., keep], self.s[..., keep], q)

    def mean(self) -> Array:
        mean = (self.p * self.m).sum(-1)
        return np.where(self._heavy, np.inf, mean) if self._heavy else mean

    def sd(self) -> Array:
        mean = (self.p * self.m).sum(-1)
        var = (self.p * (self.s**2 + self.m**2)).sum(-1) - mean**2
        sd = np.sqrt(np.maximum(var, 0.0))
        return np.full_like(sd, np.inf) if self._heavy else sd

    def mean_sd_exp(self) -> tuple[Array, Array]:
        with np.errstate(over="ignore", invalid="ignore"):
            e1 = (self.p * np.exp(self.m + self.s**2 / 2)).sum(-1)
            e2 = (self.p * np.exp(2 * self.m + 2 * self.s**2)).sum(-1)
            sd = np.where(np.isinf(e2), np.inf, np.sqrt(np.maximum(e2 - e1**2, 0.0)))
        if self._heavy:
            return np.full_like(e1, np.inf), np.full_like(sd, np.inf)
        return e1, sd

    def draws(self, chains: int = 4, draws: int = 1000) -> Array:
        rng = np.random.default_rng(self._seed)
        n = chains * draws
        flat_p = self.p.reshape(-1, self.p.shape[-1])
        out = np.empty((flat_p.shape[0], n))
        for i, pi in enumerate(flat_p):
            j = rng.choice(pi.size, size=n, p=pi / pi.sum())
            out[i] = self.m.reshape(-1, pi.size)[i, j] + self.s.reshape(-1, pi.size)[
                i, j
            ] * rng.standard_normal(n)
        return np.moveaxis(out.reshape(*self.shape, chains, draws), (-2, -1), (0, 1))

    def mcse_cdf(self, x: ArrayLike) -> Array:
        return np.zeros((*self.shape, np.atleast_1d(x).size))


class _TauMarginal:
    """tau, tau^2 or I^2 from the grid CDF of log tau (monotone transforms of tau)."""

    shape: tuple[int, ...] = ()

    def __init__(self, post: Any, power: int = 1, s2: float | None = None) -> None:
        self.post, self.power, self.s2 = post, power, s2

    def _f(self, t: Array) -> Array:
        t2 = t**2
        if self.s2 is not None:
            return t2 / (t2 + self.s2)
        return t if self.power == 1 else t2

    def _finv(self, x: Array) -> Array:
        x = np.asarray(x, dtype=float)
        if self.s2 is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.sqrt(np.clip(x, 0, None) * self.s2 / np.clip(1 - x, 0, None))
        return x if self.power == 1 else np.sqrt(np.clip(x, 0, None))

    def cdf(self, x: ArrayLike) -> Array:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        out = self.post.tau_cdf(self._finv(x))[0]
        return np.where(x < 0, 0.0, out)

    def quantile(self, q: ArrayLike) -> Array:
        return self._f(self.post.tau_quantile(np.atleast_1d(q))[0])

    def _moments(self) -> tuple[float, float]:
        vals = self._f(self.post.tau[0])
        w = self.post.weight[0]
        m = float((w * vals).sum())
        return m, float(np.sqrt(max(float((w * vals**2).sum()) - m**2, 0.0)))

    def mean(self) -> Array:
        return np.asarray(self._moments()[0])

    def sd(self) -> Array:
        return np.asarray(self._moments()[1])

    def mean_sd_exp(self) -> tuple[Array, Array]:
        raise ValueError("exp() of tau has no meaning")

    def pdf(self, x: ArrayLike) -> Array:
        """Density of tau (only for ``tau`` itself)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        u, f = self.post.grid_u[0], self.post.grid_dens[0]
        with np.errstate(divide="ignore"):
            return np.interp(np.log(x), u, f, left=0.0, right=0.0) / np.where(x > 0, x, np.inf)

    def draws(self, chains: int = 4, draws: int = 1000) -> Array:
        rng = np.random.default_rng(0)
        return self._f(self.post.tau_draws(chains * draws, rng)[0]).reshape(chains, draws)

    def mcse_cdf(self, x: ArrayLike) -> Array:
        return np.zeros(np.atleast_1d(x).size)


class ExactNormalPosterior:
    """The exact posterior of one normal-normal analysis (a batch of one)."""

    capabilities = frozenset({"log_evidence", "weights", "density"})

    def __init__(
        self, post: Any, labels: list[str], s2: float, draws: tuple[int, int, int] = (4, 1000, 0)
    ) -> None:
        self.post, self.labels, self.s2 = post, labels, s2
        self.names = ("mu", "tau", "tau2", "I2", "theta_new", "theta")
        self.shape = draws  # chains, draws, seed

    @property
    def log_evidence(self) -> float:
        return float(self.post.log_evidence[0])

    def marginal(self, name: str) -> Any:
        post = self.post
        if name in ("tau", "tau2", "I2"):
            if post.fixed:
                return MixtureMarginal(np.ones(1), np.zeros(1), np.zeros(1))
            return _TauMarginal(post, 1 if name == "tau" else 2, self.s2 if name == "I2" else None)
        if name in ("mu", "theta_new", "theta"):
            m, s = post.components(name)
            p = post.weight[:, None, :] if name == "theta" else post.weight
            return MixtureMarginal(p[0], m[0], s[0])
        raise KeyError(f"unknown parameter {name!r}; known: {', '.join(self.names)}")

    def weights(self) -> Array:
        t2 = self.post.tau[0] ** 2
        v = self.post.v[0]
        w = (1.0 / (v[:, None] + t2[None, :])) * self.post.mu_var[0][None, :]
        return (w * self.post.weight[0][None, :]).sum(1)

    def to_datatree(self) -> Any:
        import dataclasses

        import xarray as xr
        from arviz_base import from_dict

        chains, n, seed = self.shape
        rng = np.random.default_rng([seed, 2])
        post = self.post
        tau = post.tau_draws(chains * n, rng)[0] if not post.fixed else np.zeros(chains * n)
        mh, mv = post.conditional_mu(tau[None, :])
        mu = mh[0] + np.sqrt(mv[0]) * rng.standard_normal(tau.size)
        yi, vi = post.y[0], post.v[0]
        b = vi / (vi + tau[:, None] ** 2)
        theta = (
            (1 - b) * yi
            + b * mu[:, None]
            + np.sqrt((1 - b) * vi) * rng.standard_normal((tau.size, yi.size))
        )
        theta_new = mu + tau * rng.standard_normal(tau.size)
        d = {
            "mu": mu.reshape(chains, n),
            "theta": theta.reshape(chains, n, -1),
            "theta_new": theta_new.reshape(chains, n),
        }
        if not post.fixed:
            d["tau"] = tau.reshape(chains, n)
        dt = from_dict(
            {"posterior": d, "observed_data": {"yi": yi}, "constant_data": {"sei": np.sqrt(vi)}},
            dims={"theta": ["study"], "yi": ["study"], "sei": ["study"]},
            coords={"study": self.labels},
        )
        arrays = {
            f.name: (
                tuple(f"{f.name}_{i}" for i in range(np.ndim(getattr(post, f.name)))),
                np.asarray(getattr(post, f.name)),
            )
            for f in dataclasses.fields(post)
            if f.name not in ("fixed", "prior")
        }
        ds = xr.Dataset(arrays)
        ds.attrs.update(
            {
                "fixed": int(post.fixed),
                "m0": post.prior[0],
                "s02": post.prior[1],
                "s2": self.s2,
                "chains": chains,
                "draws": n,
                "seed": seed,
            }
        )
        dt["exact_quadrature"] = xr.DataTree(ds)
        dt.attrs["bayesmeta_posterior"] = "exact-normal"
        return dt

    @classmethod
    def from_datatree(cls, dt: Any) -> ExactNormalPosterior:
        from bayesmeta.exact import ExactPosterior

        ds = dt["exact_quadrature"].to_dataset()
        kw = {name: np.asarray(ds[name]) for name in ds.data_vars}
        if "mask" in kw:
            kw["mask"] = kw["mask"].astype(bool)
        a = ds.attrs
        post = ExactPosterior(**kw, fixed=bool(a["fixed"]), prior=(a["m0"], a["s02"]))
        labels = [str(s) for s in dt["posterior"]["study"].values]
        return cls(
            post, labels, float(a["s2"]), (int(a["chains"]), int(a["draws"]), int(a["seed"]))
        )


def applies(spec: Any, sd: Any) -> str | None:
    """None when this engine can fit ``spec``; otherwise the reason it cannot."""
    from bayesmeta import priors as P

    if spec.likelihood != "normal":
        return "the exact normal engine needs the normal likelihood"
    if not isinstance(spec.mu_prior, P.Normal | P.Flat):
        return f"the exact engine needs a Normal or Flat prior on mu (got {spec.mu_prior!r})"
    return None


def fit(spec: Any, sd: Any) -> tuple[Any, Any]:
    """Fit ``spec`` to ``sd`` (a resolved spec: priors filled in)."""
    from bayesmeta.diagnostics import Diagnostics
    from bayesmeta.exact import integrate
    from bayesmeta.stats import typical_variance

    post = integrate(sd.yi[None], sd.vi[None], None, spec.mu_prior, spec.tau_prior)
    shape = (spec.chains, spec.draws, spec.seed)
    return ExactNormalPosterior(
        post, sd.labels, typical_variance(sd.vi), shape
    ), Diagnostics.exact()


CAPABILITIES = frozenset({"log_evidence", "weights", "density"})


class Evidence:
    """Log marginal likelihood and the normalising constant valid for ratios."""

    def __init__(self, log_evidence: float, log_norm: float) -> None:
        self.log_evidence, self.log_norm = log_evidence, log_norm


def evidence(spec: Any, sd: Any, *, tau_zero: bool = False, mu_zero: bool = False) -> Evidence:
    """Marginal likelihood of ``spec``, or of its tau = 0 / mu = 0 sub-model."""
    from bayesmeta.exact import integrate

    post = integrate(
        sd.yi[None],
        sd.vi[None],
        None,
        spec.mu_prior,
        None if (tau_zero or spec.fixed) else spec.tau_prior,
        mu_fixed_at=0.0 if mu_zero else None,
    )
    return Evidence(float(post.log_evidence[0]), float(post.log_norm[0]))


POSTERIOR_KINDS: dict[str, Any] = {"exact-normal": ExactNormalPosterior}
