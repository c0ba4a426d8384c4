r"""PyMC models (the only module that builds them; imports PyMC on import).

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

References
----------
Smith TC, Spiegelhalter DJ, Thomas A. Bayesian approaches to random-effects meta-analysis:
a comparative study. Stat Med 1995;14(24):2685-2699. https://doi.org/10.1002/sim.4780142408
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any

import numpy as np
import pymc as pm

from bayesmeta.data import StudyData
from bayesmeta.priors import Prior

__all__ = ["binomial_normal", "draw_theta", "normal_normal", "sample"]


def normal_normal(sd: StudyData, mu_prior: Prior, tau_prior: Prior | None) -> pm.Model:
    """Marginal normal-normal model; ``tau_prior=None`` gives the fixed-effect model."""
    with pm.Model(coords={"study": sd.labels}) as model:
        mu = mu_prior.to_pymc("mu")
        if tau_prior is None:
            sigma: Any = sd.sei
        else:
            tau = tau_prior.to_pymc("tau")
            sigma = pm.math.sqrt(sd.vi + tau**2)
        pm.Normal("yi", mu=mu, sigma=sigma, observed=sd.yi, dims="study")
    return model


def binomial_normal(
    sd: StudyData, mu_prior: Prior, tau_prior: Prior | None, baseline_prior: Prior
) -> pm.Model:
    """Binomial-normal model on the log odds ratio scale (arm-level binary data)."""
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


def sample(
    model: pm.Model,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    target_accept: float,
    progressbar: bool,
) -> Any:
    """NUTS (nutpie) sampling; returns the DataTree with posterior and sample_stats."""
    with model, _quiet_pymc():
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
    r"""Draw :math:`\theta_i` from its exact conditional given :math:`(\mu, \tau, y)`.

    :math:`\theta_i \mid \mu,\tau,y \sim N((1-b_i) y_i + b_i\mu, (1-b_i) s_i^2)` with
    :math:`b_i = s_i^2/(s_i^2+\tau^2)`. ``mu, tau``: (chain, draw); returns
    (chain, draw, study).
    """
    t2 = (tau**2)[..., None]
    b = vi / (vi + t2)
    mean = (1 - b) * yi + b * mu[..., None]
    sd = np.sqrt((1 - b) * vi)
    return mean + sd * rng.standard_normal(mean.shape)
