r"""NUTS models for network meta-analysis (PyMC imported inside the functions only).

Normal likelihood on contrasts, sampled in marginal form (no study effects, no funnel):

.. math::

    y \sim N(X d,\ S + \tau^2 W).

Binomial likelihood on arms (logit link, study baselines :math:`\mu_i`), non-centred
random effects with correlation 0.5 inside multi-arm studies:

.. math::

    r_{ik} \sim \mathrm{Bin}(n_{ik}, \mathrm{logit}^{-1}(\mu_i + \delta_{ik})),\quad
    \delta_{ib} = 0,\quad
    \delta_{ik} = d_k - d_b + \tau\,(z_{ik} - z_{ib})/\sqrt2,\quad z \sim N(0, 1),

so :math:`\mathrm{var}\,\delta_{ik} = \tau^2` and :math:`\mathrm{cov}(\delta_{ik},
\delta_{il}) = \tau^2/2` (b the study's baseline arm). Fixed effect: :math:`\tau = 0`.

References
----------
Dias S, Sutton AJ, Ades AE, Welton NJ. Evidence synthesis for decision making 2: a
generalized linear modeling framework for pairwise and network meta-analysis of randomized
controlled trials. Med Decis Making 2013;33(5):607-617.
https://doi.org/10.1177/0272989X12458724
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["binomial_model", "fit", "normal_model"]


def _prior_var(prior: Any, name: str, **kwargs: Any) -> Any:
    import pymc as pm

    if prior is None or type(prior).__name__ == "Flat":
        return pm.Flat(name, **kwargs)
    return prior.to_pymc(name, **kwargs)


def normal_model(design: Any, d_prior: Any, tau_prior: Any) -> Any:
    """Marginal normal model on the stacked contrasts of a :class:`~.network.model.Design`."""
    import pymc as pm
    import pytensor.tensor as pt

    K = design.y.size
    with pm.Model(coords={"coef": list(design.names), "contrast": np.arange(K)}) as model:
        beta = _prior_var(d_prior, "beta", dims="coef")
        mean = pt.dot(design.X, beta)
        if tau_prior is None:
            cov: Any = design.S
        else:
            tau = tau_prior.to_pymc("tau")
            cov = design.S + tau**2 * design.W
        pm.MvNormal("y", mu=mean, cov=cov, observed=design.y, dims="contrast")
    return model


def binomial_model(
    arms: Any,
    X_arm: np.ndarray,
    names: tuple[str, ...],
    d_prior: Any,
    tau_prior: Any,
    baseline_prior: Any,
) -> Any:
    """Binomial-logit model on arm counts.

    ``arms`` has ``study, treatment, events, n`` with each study's baseline arm first;
    ``X_arm`` (arms x coefficients) gives each arm's mean effect against its study's
    baseline (zero rows for the baselines), so one model serves the consistency,
    unrelated-mean-effects and node-splitting designs.
    """
    import pymc as pm
    import pytensor.tensor as pt

    studies = list(dict.fromkeys(arms["study"]))
    s_idx = np.array([studies.index(s) for s in arms["study"]])
    first = np.zeros(len(arms), dtype=int)
    seen: dict[int, int] = {}
    for i, s in enumerate(s_idx):
        seen.setdefault(int(s), i)
        first[i] = seen[int(s)]
    is_base = first == np.arange(len(arms))
    with pm.Model(
        coords={"coef": list(names), "study": studies, "arm": np.arange(len(arms))}
    ) as model:
        beta = _prior_var(d_prior, "beta", dims="coef")
        mu = _prior_var(baseline_prior, "mu", dims="study")
        delta = pt.dot(X_arm, beta)
        if tau_prior is not None:
            tau = tau_prior.to_pymc("tau")
            z = pm.Normal("z", 0.0, 1.0, dims="arm")
            delta = delta + tau * (z - z[first]) / np.sqrt(2.0)
        delta = pt.where(is_base, 0.0, delta)
        pm.Binomial(
            "events",
            n=arms["n"].to_numpy(int),
            logit_p=mu[s_idx] + delta,
            observed=arms["events"].to_numpy(int),
            dims="arm",
        )
    return model


def fit(
    model: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    target_accept: float,
    progressbar: bool = False,
) -> tuple[Any, Any]:
    """Sample a network model; returns a draws posterior (``beta``, ``tau``) and diagnostics."""
    from bayesmeta.diagnostics import Diagnostics
    from bayesmeta.engines.nuts import DrawsPosterior, sample

    dt = sample(
        model,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
        progressbar=progressbar,
    )
    post = dt["posterior"].to_dataset()
    keep = [v for v in ("beta", "tau") if v in post]
    dt["posterior"] = post[keep]
    dt.attrs["bayesmeta_seed"] = int(seed)
    diagnostics = Diagnostics.from_datatree(dt, keep)
    diagnostics.warn_if_failed(stacklevel=5)
    return DrawsPosterior(dt, None), diagnostics
