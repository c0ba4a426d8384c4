r"""The NUTS engine: PyMC models sampled with nutpie (the only module that imports PyMC).

Normal-normal, sampled in its marginal form so the sampler never meets the funnel:

.. math::

    y_i \sim N(\mu, \sqrt{s_i^2 + \tau^2});

the study effects :math:`\theta_i` are drawn afterwards from their exact conditional
(see :func:`draw_theta`). Fixed effect: :math:`\tau = 0`.

Binomial-normal (Smith, Spiegelhalter and Thomas 1995), exact likelihood with no
continuity correction, non-centred:

.. math::

    r_{ci} \sim \mathrm{Bin}(n_{ci}, \mathrm{logit}^{-1}\alpha_i),\quad
    r_{ti} \sim \mathrm{Bin}(n_{ti}, \mathrm{logit}^{-1}(\alpha_i + \theta_i)),\quad
    \theta_i = \mu + \tau z_i,\ z_i \sim N(0, 1).

Ctrl-C during sampling raises :class:`KeyboardInterrupt` (nutpie on its own would return
the partial trace).

References
----------
Smith TC, Spiegelhalter DJ, Thomas A. Bayesian approaches to random-effects meta-analysis:
a comparative study. Stat Med 1995;14(24):2685-2699. https://doi.org/10.1002/sim.4780142408
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from typing import Any

import numpy as np

from bayesmeta.engines.base import DrawsMarginal

__all__ = ["DESCRIPTION", "DrawsPosterior", "applies", "draw_theta", "fit"]

DESCRIPTION = "NUTS (PyMC + nutpie)"


class DrawsPosterior:
    """A posterior held as MCMC draws (the DataTree's posterior group)."""

    def __init__(self, datatree: Any, s2: float | None = None) -> None:
        self.datatree = datatree
        self.s2 = s2
        post = datatree["posterior"]
        self.names = tuple(
            n
            for n in ("mu", "tau", "tau2", "I2", "theta_new", "theta", "beta")
            if n in post or n in ("tau", "tau2", "I2")
        )
        self.capabilities = frozenset({"linear"} if "beta" in post else ())

    def linear(self, A: Any, *, new: bool = False) -> DrawsMarginal:
        """Draws of ``A @ beta`` (and of a new study's effect with ``new=True``)."""
        post = self.datatree["posterior"]
        beta = np.asarray(post["beta"])  # (chain, draw, P)
        out = np.einsum("cdp,rp->cdr", beta, np.atleast_2d(np.asarray(A, dtype=float)))
        if new:
            tau = np.asarray(post["tau"]) if "tau" in post else np.zeros(beta.shape[:2])
            rng = np.random.default_rng(int(self.datatree.attrs.get("bayesmeta_seed", 0)))
            out = out + tau[..., None] * rng.standard_normal(out.shape)
        return DrawsMarginal(out)

    def marginal(self, name: str) -> DrawsMarginal:
        """Return the draws of ``name`` (tau2 and I2 derived from tau)."""
        post = self.datatree["posterior"]
        if name in ("tau", "tau2", "I2"):
            tau = (
                np.asarray(post["tau"]) if "tau" in post else np.zeros(np.asarray(post["mu"]).shape)
            )
            if name == "tau":
                return DrawsMarginal(tau)
            t2 = tau**2
            if name == "tau2":
                return DrawsMarginal(t2)
            return DrawsMarginal(t2 / (t2 + self.s2))
        if name not in post:
            raise KeyError(f"unknown parameter {name!r}; known: {', '.join(self.names)}")
        return DrawsMarginal(np.asarray(post[name]))

    def to_datatree(self) -> Any:
        """Return the DataTree of draws, marked for reloading."""
        dt = self.datatree.copy()
        dt.attrs["bayesmeta_posterior"] = "draws"
        if self.s2 is not None:
            dt.attrs["bayesmeta_s2"] = float(self.s2)
        return dt

    @classmethod
    def from_datatree(cls, dt: Any) -> DrawsPosterior:
        """Rebuild from a saved DataTree."""
        return cls(dt, dt.attrs.get("bayesmeta_s2"))


def applies(spec: Any, sd: Any) -> str | None:
    """None when NUTS can fit ``spec`` (it can fit every pairwise model)."""
    return None


# -- models ------------------------------------------------------------------------------------
def normal_normal(sd: Any, mu_prior: Any, tau_prior: Any) -> Any:
    """Marginal normal-normal model; ``tau_prior=None`` gives the fixed-effect model."""
    import pymc as pm

    with pm.Model(coords={"study": sd.labels}) as model:
        mu = mu_prior.to_pymc("mu")
        if tau_prior is None:
            sigma: Any = sd.sei
        else:
            tau = tau_prior.to_pymc("tau")
            sigma = pm.math.sqrt(sd.vi + tau**2)
        pm.Normal("yi", mu=mu, sigma=sigma, observed=sd.yi, dims="study")
    return model


def regression(
    sd: Any, X: np.ndarray, names: tuple[str, ...], beta_priors: list, tau_prior: Any
) -> Any:
    """Marginal normal-normal meta-regression ``y ~ N(X beta, s^2 + tau^2)``.

    ``beta_priors``: one prior per coefficient (None: flat, as R bayesmeta's bmr).
    """
    import pymc as pm

    with pm.Model(coords={"study": sd.labels, "coef": list(names)}) as model:
        parts = []
        for j, (name, prior) in enumerate(zip(names, beta_priors, strict=True)):
            label = f"beta_{j}"
            parts.append(pm.Flat(label) if prior is None else prior.to_pymc(label))
        beta = pm.Deterministic("beta", pm.math.stack(parts), dims="coef")
        if tau_prior is None:
            sigma: Any = sd.sei
        else:
            tau = tau_prior.to_pymc("tau")
            sigma = pm.math.sqrt(sd.vi + tau**2)
        pm.Normal("yi", mu=pm.math.dot(X, beta), sigma=sigma, observed=sd.yi, dims="study")
    return model


def binomial_normal(sd: Any, mu_prior: Any, tau_prior: Any, baseline_prior: Any) -> Any:
    """Binomial-normal model on the log odds ratio scale (arm-level binary data)."""
    import pymc as pm

    t = sd.table
    with pm.Model(coords={"study": sd.labels}) as model:
        mu = mu_prior.to_pymc("mu")
        alpha = baseline_prior.to_pymc("alpha", dims="study")
        if tau_prior is None:
            theta = pm.Deterministic("theta", mu + pm.math.zeros_like(alpha), dims="study")
        else:
            tau = tau_prior.to_pymc("tau")
            z = pm.Normal("z", 0.0, 1.0, dims="study")
            theta = pm.Deterministic("theta", mu + tau * z, dims="study")
        pm.Binomial(
            "events_c",
            n=t["n_c"].to_numpy(int),
            logit_p=alpha,
            observed=t["events_c"].to_numpy(int),
            dims="study",
        )
        pm.Binomial(
            "events_t",
            n=t["n_t"].to_numpy(int),
            logit_p=alpha + theta,
            observed=t["events_t"].to_numpy(int),
            dims="study",
        )
    return model


@contextmanager
def _quiet_pymc():
    loggers = [logging.getLogger(n) for n in ("pymc", "pymc.sampling", "nutpie")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lev in zip(loggers, levels, strict=True):
            lg.setLevel(lev)


@contextmanager
def _interruptible():
    """Make Ctrl-C during sampling raise KeyboardInterrupt after nutpie has stopped.

    nutpie catches KeyboardInterrupt and returns the partial trace; we note the signal,
    let nutpie abort, then raise.
    """
    hit = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield hit
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        hit.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield hit
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit.is_set():
        raise KeyboardInterrupt


def sample(
    model: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    target_accept: float,
    progressbar: bool,
) -> Any:
    """NUTS (nutpie) sampling; returns the DataTree with posterior and sample_stats."""
    import pymc as pm

    with model, _quiet_pymc(), _interruptible():
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            nuts_sampler="nutpie",
            nuts={"target_accept": target_accept},
            progressbar=progressbar,
            compute_convergence_checks=False,
        )


def draw_theta(
    mu: np.ndarray, tau: np.ndarray, yi: np.ndarray, vi: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw theta_i | mu, tau, y_i from its normal conditional (shape (..., k))."""
    t2 = np.asarray(tau)[..., None] ** 2
    b = vi / (vi + t2)
    mu = np.asarray(mu)
    mean = (1 - b) * yi + b * (mu if mu.ndim == t2.ndim else mu[..., None])
    var = (1 - b) * vi
    return mean + np.sqrt(var) * rng.standard_normal(mean.shape)


def fit(spec: Any, sd: Any) -> tuple[DrawsPosterior, Any]:
    """Sample the model of a resolved ``spec`` for data ``sd``."""
    from arviz_base import from_dict

    from bayesmeta.design import design_for
    from bayesmeta.diagnostics import Diagnostics
    from bayesmeta.stats import typical_variance

    tau_p = spec.tau_prior
    design = design_for(spec, sd)
    if design is not None:
        if spec.likelihood != "normal":
            from bayesmeta.spec import SpecError

            raise SpecError("meta-regression and subgroups need the normal likelihood")
        bp = spec.beta_prior
        priors = (
            [bp.get(n) for n in design.names] if isinstance(bp, dict) else [bp] * len(design.names)
        )
        pm_model = regression(sd, design.X, design.names, priors, tau_p)
    elif spec.likelihood == "binomial":
        pm_model = binomial_normal(sd, spec.mu_prior, tau_p, spec.baseline_prior)
    else:
        pm_model = normal_normal(sd, spec.mu_prior, tau_p)
    dt = sample(
        pm_model,
        draws=spec.draws,
        tune=spec.tune,
        chains=spec.chains,
        seed=spec.seed,
        target_accept=spec.target_accept,
        progressbar=spec.progressbar,
    )
    post = dt["posterior"].to_dataset()
    if design is not None:
        post = post.drop_vars([v for v in post.data_vars if str(v).startswith("beta_")])
    rng = np.random.default_rng([spec.seed, 1])
    if design is not None:
        mu = np.einsum("cdp,kp->cdk", np.asarray(post["beta"]), design.X)  # X beta per study
    else:
        mu = np.asarray(post["mu"])
    tau = np.asarray(post["tau"]) if tau_p is not None else np.zeros(mu.shape[:2])
    extra: dict[str, Any] = {}
    if spec.likelihood == "normal":
        extra["theta"] = draw_theta(mu, tau, sd.yi, sd.vi, rng)
    if design is None:
        extra["theta_new"] = mu + tau * rng.standard_normal(mu.shape)
    add = from_dict({"posterior": extra}, dims={"theta": ["study"]}, coords={"study": sd.labels})[
        "posterior"
    ].to_dataset()
    dt["posterior"] = post.assign({k: add[k] for k in extra}).assign_coords(
        chain=post["chain"], draw=post["draw"]
    )
    dt["observed_data"] = from_dict(
        {"observed_data": {"yi": sd.yi, "sei": sd.sei}},
        dims={"yi": ["study"], "sei": ["study"]},
        coords={"study": sd.labels},
    )["observed_data"]
    dt.attrs["bayesmeta_seed"] = int(spec.seed)
    names = (["beta", "theta"] if design is not None else ["mu", "theta", "theta_new"]) + (
        [] if tau_p is None else ["tau"]
    )
    diagnostics = Diagnostics.from_datatree(dt, names)
    diagnostics.warn_if_failed(stacklevel=5)
    return DrawsPosterior(dt, typical_variance(sd.vi)), diagnostics


CAPABILITIES: frozenset[str] = frozenset()


def owns(dt: Any) -> bool:
    """Tell whether a saved DataTree holds MCMC draws (the fallback)."""
    return "posterior" in dt.children


def load_posterior(dt: Any) -> DrawsPosterior:
    """Rebuild the saved posterior."""
    return DrawsPosterior.from_datatree(dt)
