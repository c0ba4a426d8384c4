r"""NUTS models for network meta-analysis (PyMC imported inside the functions only).

Normal likelihood on contrasts, sampled in marginal form (no study effects, no funnel):

.. math::

    y \sim N(X d,\ S + \tau^2 W).

Binomial likelihood on arms (logit link, study baselines :math:`\mu_i`), random effects
with correlation 0.5 inside multi-arm studies (Dias et al. 2013):

.. math::

    r_{ik} \sim \mathrm{Bin}(n_{ik}, \mathrm{logit}^{-1}(\mu_i + \delta_{ik})),\quad
    \delta_{ib} = 0,\quad
    \delta_{i,\cdot} \sim N(d_{\cdot} - d_b,\ \tau^2 W_i),\quad
    W_i = \tfrac12 (I + J),

b the study's baseline arm; fixed effect: :math:`\tau = 0`. Sampled in a form chosen for
NUTS (the model is the same):

* **random effects over the non-baseline arms only**, non-centred
  :math:`\delta_{i,\cdot} = d_{\cdot} - d_b + \tau L_i z_i`, :math:`z_i \sim N(0, I)`,
  :math:`L_i` the Cholesky factor of :math:`W_i` (as multinma), or centred (the
  :math:`\delta_{i,\cdot}` themselves, with density :math:`N(d_\cdot - d_b, \tau^2 W_i)`)
  for a study whose log odds ratios all have normal-approximation SEs below the REML
  estimate of tau (0.5 added to every cell): the data then pin the effect down better than
  the random-effects distribution does, where the non-centred form couples z with tau and d.
  Studies with little information stay non-centred (the centred form would make a funnel as
  tau approaches 0). Giving every arm a ``z``, as :math:`\tau (z_k - z_b)/\sqrt2`, has the
  same law but adds a direction per study that only the prior identifies;
* **centred intercepts**: the free parameter of study i is
  :math:`\alpha_i = \mu_i + \sum_k w_{ik}\delta_{ik}`, its log odds averaged over its arms
  with weights :math:`w_{ik} \propto 1/(1/(r_{ik} + 0.5) + 1/(n_{ik} - r_{ik} + 0.5))` (the
  information of each arm's log odds, summing to 1 in the study), and the baseline prior is
  put on :math:`\mu_i = \alpha_i - \sum_k w_{ik}\delta_{ik}` (a shift: no Jacobian). The
  data fix each arm's log odds, so :math:`\mu_i` (the baseline arm alone) is correlated
  with the :math:`\delta_{ik}`, more or less strongly as tau moves; the weighted average is
  nearly uncorrelated with them. A baseline prior with finite bounds keeps :math:`\mu_i`
  as the free parameter.

On simulated networks of 10-25 studies this takes half the leapfrog steps per draw of the
earlier form (a z for every arm and :math:`\mu_i` free), with at least as large an
effective sample size per draw (twice as large for tau at ``target_accept=0.9``, where the
earlier form failed R-hat or ESS of tau in three fits of four on one network).

A study with no events in any arm (or only events) leaves its baseline log odds with the
prior's spread below about :math:`-\log n`; under a Normal(0, 100) baseline prior the
sampler then meets a steep likelihood wall after a plateau 100 units wide and reports
divergent transitions, whatever the parametrisation. A Normal(0, 10) baseline prior
(:data:`bayesmeta.priors.BASELINE`, the default for every binomial model) removes them.

References
----------
Dias S, Sutton AJ, Ades AE, Welton NJ. Evidence synthesis for decision making 2: a
generalized linear modeling framework for pairwise and network meta-analysis of randomized
controlled trials. Med Decis Making 2013;33(5):607-617.
https://doi.org/10.1177/0272989X12458724

Papaspiliopoulos O, Roberts GO, Sköld M. A general framework for the parametrization of
hierarchical models. Statistical Science 2007;22(1):59-73.
https://doi.org/10.1214/088342307000000014
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


def _blocks(s_idx: np.ndarray, inverse: bool = False) -> tuple[np.ndarray, ...]:
    """Non-zeros ``(row, col, value)`` of the block-diagonal Cholesky factor of W.

    ``s_idx`` gives the study of each non-baseline arm (arms of a study adjacent); W has
    one block per study, 1 on its diagonal and 0.5 off it. With ``inverse`` the
    non-zeros of the factor's inverse instead.
    """
    rows, cols, vals = [np.zeros(0, int)], [np.zeros(0, int)], [np.zeros(0)]
    for s in np.unique(s_idx):
        ii = np.flatnonzero(s_idx == s)
        k = ii.size
        L = np.linalg.cholesky(0.5 * (np.eye(k) + np.ones((k, k))))
        if inverse:
            L = np.linalg.inv(L)
        r, c = np.tril_indices(k)
        rows.append(ii[r])
        cols.append(ii[c])
        vals.append(L[r, c])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


#: Grid of tau (log odds ratio scale) for the REML estimate that chooses the parametrisation.
_TAU_GRID = np.r_[0.0, np.geomspace(0.01, 5.0, 60)]


def _reml_tau(
    r: np.ndarray, n: np.ndarray, s_idx: np.ndarray, nb: np.ndarray, X: np.ndarray
) -> tuple[float, np.ndarray]:
    """REML estimate of tau from the normal approximation, and each study's largest SE.

    Log odds ratios of each non-baseline arm against its study's baseline (0.5 added to
    every cell), covariance ``V_i + tau^2 W_i``, mean ``X d``; maximised on a grid. Used
    only to choose between the centred and non-centred forms (it changes no result).
    """
    logit = np.log((r + 0.5) / (n - r + 0.5))
    v = 1.0 / (r + 0.5) + 1.0 / (n - r + 0.5)
    first = np.searchsorted(s_idx, s_idx)  # each arm's study baseline row
    G, P = _TAU_GRID.size, X.shape[1]
    A = np.zeros((G, P, P))
    b = np.zeros((G, P))
    yy = np.zeros(G)
    logdet = np.zeros(G)
    se_max = np.zeros(int(s_idx.max()) + 1)
    for s in np.unique(s_idx[nb]):
        ii = nb[s_idx[nb] == s]
        k = ii.size
        y = logit[ii] - logit[first[ii]]
        V = np.diag(v[ii]) + v[first[ii][0]]
        se_max[s] = float(np.sqrt(np.diag(V)).max())
        W = 0.5 * (np.eye(k) + np.ones((k, k)))
        Si = np.linalg.inv(V + _TAU_GRID[:, None, None] ** 2 * W)  # (G, k, k)
        Xi = X[ii]
        A += np.einsum("kp,gkl,lq->gpq", Xi, Si, Xi)
        b += np.einsum("kp,gkl,l->gp", Xi, Si, y)
        yy += np.einsum("k,gkl,l->g", y, Si, y)
        logdet -= np.linalg.slogdet(Si)[1]
    sign, logdet_A = np.linalg.slogdet(A)
    if np.any(sign <= 0):  # a coefficient without data: REML undefined
        return 0.0, se_max
    beta = np.linalg.solve(A, b[..., None])[..., 0]
    ll = -0.5 * (logdet + logdet_A + yy - np.einsum("gp,gp->g", b, beta))
    return float(_TAU_GRID[int(np.argmax(ll))]), se_max


def _log_density(prior: Any, n: int) -> Any:
    """Return ``f(value)``, the PyMC log density of ``n`` copies of ``prior``, or None.

    None when the prior has finite bounds or PyMC cannot evaluate it at an expression (the
    caller then makes the variable itself a free parameter).
    """
    import pymc as pm

    if tuple(prior.bounds) != (-np.inf, np.inf):
        return None
    with pm.Model():  # a scratch model: only the distribution is used
        rv = prior.to_pymc("x", shape=n)
    try:
        pm.logp(rv, np.zeros(n))
    except (NotImplementedError, RuntimeError, TypeError, ValueError):
        return None
    return lambda value: pm.logp(rv, value).sum()


def binomial_model(
    arms: Any,
    X_arm: np.ndarray,
    names: tuple[str, ...],
    d_prior: Any,
    tau_prior: Any,
    baseline_prior: Any,
) -> Any:
    """Binomial-logit model on arm counts (see the module docstring for its parametrisation).

    ``arms`` has ``study, treatment, events, n`` with each study's baseline arm first;
    ``X_arm`` (arms x coefficients) gives each arm's mean effect against its study's
    baseline (zero rows for the baselines), so one model serves the consistency,
    unrelated-mean-effects and node-splitting designs.
    """
    import pymc as pm
    import pytensor.tensor as pt

    studies = list(dict.fromkeys(arms["study"]))
    s_idx = np.array([studies.index(s) for s in arms["study"]])
    is_base = np.r_[True, s_idx[1:] != s_idx[:-1]]
    if is_base.sum() != len(studies):
        raise ValueError("arms must be grouped by study, each study's baseline arm first")
    nb = np.flatnonzero(~is_base)  # the non-baseline arms, one random effect each
    r = arms["events"].to_numpy(int)
    n = arms["n"].to_numpy(int)
    # weight of each arm's log odds in its study's average (inverse approximate variance)
    info = 1.0 / (1.0 / (r + 0.5) + 1.0 / (n - r + 0.5))
    w = info / np.bincount(s_idx, weights=info)[s_idx]
    with pm.Model(
        coords={"coef": list(names), "study": studies, "arm": np.arange(len(arms))}
    ) as model:
        beta = _prior_var(d_prior, "beta", dims="coef")
        mean = pt.dot(X_arm[nb], beta)
        effect: Any = mean
        if tau_prior is not None:
            tau = tau_prior.to_pymc("tau")
            tau_hat, se_max = _reml_tau(r, n, s_idx, nb, X_arm)
            centred = se_max[s_idx[nb]] < tau_hat
            c, u = np.flatnonzero(centred), np.flatnonzero(~centred)
            effect = pt.zeros(nb.size)
            if u.size:  # non-centred: delta = mean + tau L z
                z = pm.Normal("z", 0.0, 1.0, shape=u.size)
                rows, cols, vals = _blocks(s_idx[nb][u])
                Lz = pt.inc_subtensor(pt.zeros(u.size)[rows], vals * z[cols])
                effect = pt.set_subtensor(effect[u], mean[u] + tau * Lz)
            if c.size:  # centred: delta free, N(mean, tau^2 W) through L^-1
                dc = pm.Flat("delta_centred", shape=c.size)
                rows, cols, vals = _blocks(s_idx[nb][c], inverse=True)
                e = pt.inc_subtensor(pt.zeros(c.size)[rows], vals * (dc - mean[c])[cols])
                pm.Potential("delta_prior", -0.5 * pt.sum(e**2) / tau**2 - c.size * pt.log(tau))
                effect = pt.set_subtensor(effect[c], dc)
        delta = pt.set_subtensor(pt.zeros(len(arms))[nb], effect)
        flat = baseline_prior is None or type(baseline_prior).__name__ == "Flat"
        logp = None if flat else _log_density(baseline_prior, len(studies))
        mu: Any
        if not flat and logp is None:
            mu = _prior_var(baseline_prior, "mu", dims="study")
        else:
            alpha = pm.Flat("alpha", dims="study")
            mu = alpha - pt.inc_subtensor(pt.zeros(len(studies))[s_idx], w * delta)
            if logp is not None:
                pm.Potential("mu_prior", logp(mu))
        pm.Binomial("events", n=n, logit_p=mu[s_idx] + delta, observed=r, dims="arm")
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
