r"""Exact posterior of the normal-normal model by one-dimensional quadrature over tau.

Model: :math:`y_i \mid \theta_i \sim N(\theta_i, s_i^2)`, :math:`\theta_i \sim N(\mu, \tau^2)`,
:math:`\mu \sim N(m_0, s_0^2)` (or flat), :math:`\tau \sim p(\tau)`.

Given :math:`\tau`, everything is normal (Röver 2020): with :math:`w_i = 1/(s_i^2+\tau^2)`,

.. math::

    \mu \mid \tau, y \sim N(\hat\mu(\tau), V(\tau)),\quad
    V = (1/s_0^2 + \textstyle\sum w_i)^{-1},\quad
    \hat\mu = V (m_0/s_0^2 + \textstyle\sum w_i y_i),

:math:`\theta_{new} \mid \tau, y \sim N(\hat\mu, V + \tau^2)` and, with
:math:`b_i = s_i^2/(s_i^2+\tau^2)`,
:math:`\theta_i \mid \tau, y \sim N((1-b_i) y_i + b_i\hat\mu,\ (1-b_i)s_i^2 + b_i^2 V)`.
The marginal posterior :math:`p(\tau\mid y) \propto p(\tau)\,p(y\mid\tau)` is one-dimensional;
it is integrated on :math:`u = \log\tau` over a range chosen from the posterior itself
(a coarse scan, then a bracket where the log density is within 40 of its maximum), with
a Simpson grid for the CDF and quantiles of :math:`\tau` and Gauss-Legendre nodes for the
normal mixtures of :math:`\mu`, :math:`\theta_i` and :math:`\theta_{new}`. Mass below the
smallest grid point (:math:`\tau \to 0`) is kept in a node at :math:`\tau = 0`.

All functions work on a batch of analyses at once (leading axis ``B``; studies padded
with ``mask``), so :func:`bayesmeta.fit_many` reuses them.

References
----------
Röver C. Bayesian random-effects meta-analysis using the bayesmeta R package. Journal of
Statistical Software 2020;93(6):1-51. https://doi.org/10.18637/jss.v093.i06
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special
from scipy.integrate import cumulative_simpson

from bayesmeta.priors import Flat, Normal, Prior

__all__ = ["ExactPosterior", "LOG_DROP", "N_GAUSS", "N_GRID", "integrate"]

Array = NDArray[np.float64]

#: Log-density drop that bounds the integration range (e^-40 ~ 4e-18 of the peak).
LOG_DROP = 40.0
#: Points of the uniform Simpson grid on log(tau) (odd).
N_GRID = 801
#: Gauss-Legendre nodes per panel, and the widest panel (in log tau), for the mixtures.
N_GAUSS = 20
PANEL_WIDTH = 2.0
#: Left-tail cut when p(tau | y) stays positive at tau = 0: below it the density in
#: log(tau) decays like e^u and its mass (< e^-LEFT_DROP of the peak) sits in the
#: tau = 0 node.
LEFT_DROP = 25.0
_N_COARSE = 161
_LOG2PI = np.log(2 * np.pi)

_GL_X, _GL_W = np.polynomial.legendre.leggauss(N_GAUSS)


def _mu_prior_params(mu_prior: Prior) -> tuple[float, float]:
    """(m0, s0^2); s0^2 = inf for a flat prior."""
    if isinstance(mu_prior, Flat):
        return 0.0, np.inf
    if isinstance(mu_prior, Normal):
        return float(mu_prior.mu), float(mu_prior.sigma) ** 2
    raise ValueError(f"the exact engine needs a Normal or Flat prior on mu, got {mu_prior!r}")


def conditional(
    tau: Array, y: Array, v: Array, mask: Array, m0: float, s02: float
) -> tuple[Array, Array, Array]:
    """Log p(y | tau), mu-hat(tau) and V(tau) for tau of shape (B, N); y, v, mask (B, K).

    With ``s02 = 0`` this is the model with mu fixed at ``m0``; with ``s02 = inf`` the
    improper flat prior (log p(y | tau) then up to a constant common to all tau).
    """
    vt = v[:, None, :] + (tau**2)[:, :, None]  # (B, N, K)
    w = np.where(mask[:, None, :], 1.0 / vt, 0.0)
    logdet = np.where(mask[:, None, :], np.log(vt), 0.0).sum(-1)
    W = w.sum(-1)
    k = mask.sum(-1)[:, None]
    if np.isinf(s02):
        ybar = (w * y[:, None, :]).sum(-1) / W
        r = np.where(mask[:, None, :], y[:, None, :] - ybar[..., None], 0.0)
        Q = (w * r**2).sum(-1)
        loglik = -0.5 * ((k - 1) * _LOG2PI + logdet + np.log(W) + Q)
        return loglik, ybar, 1.0 / W
    r = np.where(mask[:, None, :], y[:, None, :] - m0, 0.0)
    S = (w * r).sum(-1)
    Q = (w * r**2).sum(-1)
    denom = 1.0 + s02 * W
    loglik = -0.5 * (k * _LOG2PI + logdet + np.log(denom) + Q - s02 * S**2 / denom)
    return loglik, m0 + s02 * S / denom, s02 / denom


def _normal_cdf(x: Array, m: Array, s: Array) -> Array:
    if np.all(s > 0):
        return special.ndtr((x - m) / s)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - m) / s
    return np.where(s > 0, special.ndtr(z), (x >= m).astype(float))


def _normal_pdf(x: Array, m: Array, s: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - m) / s
        return np.where(s > 0, np.exp(-0.5 * z * z) / (s * np.sqrt(2 * np.pi)), 0.0)


def mixture_quantile(
    p: Array, m: Array, s: Array, q: Array, *, tol: float = 1e-12, max_iter: int = 100
) -> Array:
    """Quantiles of normal mixtures.

    ``p, m, s`` have shape (..., M) (weights, means, sds of the components); ``q`` has
    shape (Q,). Returns shape (..., Q). Newton's method safeguarded by bisection.
    """
    p, m, s = (a[..., None, :] for a in (p, m, s))  # (..., 1, M)
    q = np.asarray(q, dtype=float)
    live = p > 1e-300
    mean = (p * m).sum(-1)
    var = np.maximum((p * (s**2 + m**2)).sum(-1) - mean**2, 0.0)
    spread = np.where(live, 10 * s + np.abs(m - mean[..., None]), 0.0).max(-1)
    lo = mean - spread - 1.0
    hi = mean + spread + 1.0
    lo, hi = (
        np.broadcast_to(lo, lo.shape[:-1] + q.shape).copy(),
        np.broadcast_to(hi, hi.shape[:-1] + q.shape).copy(),
    )
    x = mean + np.sqrt(var) * special.ndtri(q)
    x = np.clip(np.broadcast_to(x, lo.shape), lo, hi).copy()
    positive = bool(np.all(s > 0))
    inv_s = 1.0 / s if positive else None
    for _ in range(max_iter):
        if positive:
            z = (x[..., None] - m) * inv_s
            F = (p * special.ndtr(z)).sum(-1) - q
            f = (p * np.exp(-0.5 * z * z) * inv_s).sum(-1) * 0.3989422804014327
        else:
            F = (p * _normal_cdf(x[..., None], m, s)).sum(-1) - q
            f = (p * _normal_pdf(x[..., None], m, s)).sum(-1)
        lo = np.where(F < 0, x, lo)
        hi = np.where(F >= 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = F / f
        done = np.abs(F) <= 1e-15
        x_new = x - step
        bad = ~np.isfinite(x_new) | (x_new < lo) | (x_new > hi)
        x_new = np.where(done, x, np.where(bad, 0.5 * (lo + hi), x_new))
        if np.all(done | (np.abs(x_new - x) <= tol * (1 + np.abs(x)))):
            return x_new
        x = x_new
    return x


def _hermite_invert(u: Array, F: Array, f: Array, q: Array) -> Array:
    """Invert a CDF known at grid points (value F, derivative f) by cubic Hermite pieces.

    u, F, f: (B, N) increasing grid; q: (Q,). Returns (B, Q) abscissae.
    """
    B, N = u.shape
    j = np.clip((F[:, None, :] <= q[None, :, None]).sum(-1) - 1, 0, N - 2)  # (B, Q)
    take = lambda a, jj: np.take_along_axis(a, jj, axis=1)  # noqa: E731
    u0, u1 = take(u, j), take(u, j + 1)
    F0, F1, f0, f1 = take(F, j), take(F, j + 1), take(f, j), take(f, j + 1)
    h = u1 - u0
    a, b = np.zeros_like(u0), np.ones_like(u0)
    for _ in range(50):
        t = 0.5 * (a + b)
        t2, t3 = t * t, t * t * t
        val = (
            (2 * t3 - 3 * t2 + 1) * F0
            + (t3 - 2 * t2 + t) * h * f0
            + (-2 * t3 + 3 * t2) * F1
            + (t3 - t2) * h * f1
        )
        below = val < q[None, :]
        a, b = np.where(below, t, a), np.where(below, b, t)
    return u0 + 0.5 * (a + b) * h


@dataclass
class ExactPosterior:
    """Quadrature representation of p(tau | y) for a batch of B analyses.

    Attributes
    ----------
    tau : (B, M) nodes in tau (first column is the tau = 0 tail node)
    weight : (B, M) normalised posterior weights of the nodes
    mu_hat, mu_var : (B, M) conditional mean and variance of mu at each node
    grid_u, grid_cdf, grid_dens : (B, N) log(tau) grid, posterior CDF and density in u
    tau_floor : (B,) tau at the start of the grid (mass below it sits in the tail node)
    log_evidence : (B,) log marginal likelihood (NaN under a flat mu prior)
    log_norm : (B,) log normalising constant; equals ``log_evidence`` under a proper prior,
        and under a flat prior is defined up to a constant shared by every tau prior
        (so ratios such as the Bayes factor for tau = 0 remain valid)
    """

    y: Array
    v: Array
    mask: Array
    tau: Array
    weight: Array
    mu_hat: Array
    mu_var: Array
    grid_u: Array
    grid_cdf: Array
    grid_dens: Array
    tau_floor: Array
    log_evidence: Array
    log_norm: Array
    fixed: bool
    prior: tuple[float, float] = (0.0, np.inf)  # (m0, s0^2) of mu, as used here

    # -- mixtures -----------------------------------------------------------------------
    def components(self, target: str) -> tuple[Array, Array]:
        """Means and sds of the normal components for ``mu``, ``theta_new`` or ``theta``.

        ``mu``/``theta_new``: (B, M); ``theta``: (B, K, M).
        """
        if target == "mu":
            return self.mu_hat, np.sqrt(self.mu_var)
        if target == "theta_new":
            return self.mu_hat, np.sqrt(self.mu_var + self.tau**2)
        if target == "theta":
            v = self.v[:, :, None]
            t2 = (self.tau**2)[:, None, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                b = np.where(np.isinf(v), 1.0, v / (v + t2))
            b = np.where(t2 == 0, 1.0, b)
            mean = (1 - b) * self.y[:, :, None] + b * self.mu_hat[:, None, :]
            var = (1 - b) * np.where(np.isinf(v), 0.0, v) + b**2 * self.mu_var[:, None, :]
            return mean, np.sqrt(np.maximum(var, 0.0))
        raise ValueError(f"unknown target {target!r}")

    def _weights_for(self, target: str) -> Array:
        return self.weight[:, None, :] if target == "theta" else self.weight

    def mean_sd(self, target: str) -> tuple[Array, Array]:
        """Posterior mean and sd (exact mixture moments)."""
        m, s = self.components(target)
        p = self._weights_for(target)
        mean = (p * m).sum(-1)
        var = (p * (s**2 + m**2)).sum(-1) - mean**2
        return mean, np.sqrt(np.maximum(var, 0.0))

    def quantile(self, target: str, q: Array) -> Array:
        """Posterior quantiles; shape (B, Q) or (B, K, Q) for ``theta``."""
        q = np.asarray(q, dtype=float)
        if target == "tau":
            return self.tau_quantile(q)
        m, s = self.components(target)
        p = np.broadcast_to(self._weights_for(target), m.shape)
        keep = p.max(axis=tuple(range(p.ndim - 1))) > 1e-16  # drop empty nodes
        return mixture_quantile(p[..., keep], m[..., keep], s[..., keep], q)

    def cdf(self, target: str, x: Array) -> Array:
        """P(target <= x) for x of shape (X,); returns (B, X) or (B, K, X)."""
        x = np.asarray(x, dtype=float)
        m, s = self.components(target)
        p = self._weights_for(target)
        return (p[..., None, :] * _normal_cdf(x[:, None], m[..., None, :], s[..., None, :])).sum(-1)

    # -- tau ------------------------------------------------------------------------------
    def tau_quantile(self, q: Array) -> Array:
        """Quantiles of tau (B, Q) by Hermite inversion of the grid CDF."""
        q = np.asarray(q, dtype=float)
        if self.fixed:
            return np.zeros((self.tau.shape[0], q.size))
        u = _hermite_invert(self.grid_u, self.grid_cdf, self.grid_dens, q)
        F0 = self.grid_cdf[:, :1]
        in_tail = q[None, :] < F0
        with np.errstate(divide="ignore", invalid="ignore"):
            tail_tau = self.tau_floor[:, None] * np.where(F0 > 0, q[None, :] / F0, 0.0)
        return np.where(in_tail, tail_tau, np.exp(u))

    def tau_moments(self, power: int = 1) -> tuple[Array, Array]:
        """Posterior mean and sd of tau**power."""
        x = self.tau**power
        mean = (self.weight * x).sum(-1)
        var = (self.weight * x**2).sum(-1) - mean**2
        return mean, np.sqrt(np.maximum(var, 0.0))

    def tau_cdf(self, x: Array) -> Array:
        """P(tau <= x) for x (X,), by interpolation of the grid CDF (B, X)."""
        x = np.asarray(x, dtype=float)
        out = np.empty((self.tau.shape[0], x.size))
        for b in range(out.shape[0]):
            with np.errstate(divide="ignore"):
                out[b] = np.interp(
                    np.log(np.maximum(x, 1e-300)),
                    self.grid_u[b],
                    self.grid_cdf[b],
                    left=0.0,
                    right=1.0,
                )
        if self.fixed:
            out[:] = (x >= 0).astype(float)
        return out

    def tau_draws(self, n: int, rng: np.random.Generator) -> Array:
        """Independent draws of tau (B, n) by inversion of the CDF."""
        return self.tau_quantile(rng.uniform(size=n))

    def conditional_mu(self, tau: Array) -> tuple[Array, Array]:
        """mu-hat and V at arbitrary tau values (B, n)."""
        _, mh, mv = conditional(tau, self.y, self.v, self.mask, *self.prior)
        return mh, mv


def _tau_range(y: Array, v: Array, mask: Array, tau_prior: Prior) -> tuple[Array, Array, bool]:
    """Search range for log(tau) per analysis; and whether tau can reach 0."""
    sei = np.sqrt(np.where(mask, v, np.nan))
    scale = np.nanmedian(sei, axis=1)
    spread = np.sqrt(np.nanvar(np.where(mask, y, np.nan), axis=1))
    ref = np.maximum(scale, spread)
    ref = np.where(np.isfinite(ref) & (ref > 0), ref, 1.0)
    lo_support = float(tau_prior.ppf(0.0))
    hi_support = float(tau_prior.ppf(1.0))
    reaches_zero = lo_support <= 0
    lo = np.full_like(ref, np.log(lo_support)) if not reaches_zero else np.log(ref * 1e-7)
    hi_prior = float(tau_prior.ppf(1 - 1e-10))
    hi = np.log(np.minimum(np.maximum(ref * 1e3, hi_prior), hi_support))
    return lo, hi, reaches_zero


def _log_post_u(u: Array, y, v, mask, m0, s02, tau_prior: Prior) -> tuple[Array, Array, Array]:
    tau = np.exp(u)
    ll, mh, mv = conditional(tau, y, v, mask, m0, s02)
    with np.errstate(divide="ignore"):
        lp = tau_prior.logpdf(tau) + ll + u
    return np.where(np.isnan(lp), -np.inf, lp), mh, mv


def integrate(
    y: Array,
    v: Array,
    mask: Array | None,
    mu_prior: Prior,
    tau_prior: Prior | None,
    *,
    mu_fixed_at: float | None = None,
) -> ExactPosterior:
    """Exact posterior for a batch of normal-normal meta-analyses.

    Parameters
    ----------
    y, v : array (B, K)
        Estimates and sampling variances; pad unequal k with any value and ``mask`` False.
    mask : array (B, K) of bool, optional
    mu_prior : Normal or Flat
    tau_prior : Prior or None
        None for the fixed-effect model (tau = 0).
    mu_fixed_at : float, optional
        Fix mu at this value (the null model of the Bayes factor for mu).

    Returns
    -------
    ExactPosterior
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    v = np.atleast_2d(np.asarray(v, dtype=float))
    mask = np.ones_like(y, dtype=bool) if mask is None else np.atleast_2d(mask).astype(bool)
    y = np.where(mask, y, 0.0)
    v = np.where(mask, v, 1.0)
    if mu_fixed_at is not None:
        m0, s02 = float(mu_fixed_at), 0.0
    else:
        m0, s02 = _mu_prior_params(mu_prior)
    B = y.shape[0]

    if tau_prior is None:
        zeros = np.zeros((B, 1))
        ll, mh, mv = conditional(zeros, y, v, mask, m0, s02)
        log_ev = ll[:, 0] if np.isfinite(s02) else np.full(B, np.nan)
        post = ExactPosterior(
            y,
            v,
            mask,
            zeros,
            np.ones((B, 1)),
            mh,
            mv,
            np.zeros((B, 2)),
            np.array([[1.0, 1.0]] * B),
            np.zeros((B, 2)),
            np.zeros(B),
            log_ev,
            ll[:, 0],
            fixed=True,
            prior=(m0, s02),
        )
        return post

    lo, hi, reaches_zero = _tau_range(y, v, mask, tau_prior)
    args = (y, v, mask, m0, s02, tau_prior)

    # 1. coarse scan on log(tau)
    t = np.linspace(0.0, 1.0, _N_COARSE)
    uc = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    lc, _, _ = _log_post_u(uc, *args)
    i_star = np.argmax(lc, axis=1)
    # 2. refine the peak value between the neighbours of the best coarse point
    cell = (hi - lo) / (_N_COARSE - 1)
    ur = (uc[np.arange(B), i_star] - cell)[:, None] + (2 * cell)[:, None] * np.linspace(0, 1, 65)
    ur = np.clip(ur, lo[:, None], hi[:, None])
    lr, _, _ = _log_post_u(ur, *args)
    lmax = np.maximum(lr.max(1), lc.max(1))
    if not np.all(np.isfinite(lmax)):
        raise FloatingPointError("the posterior of tau could not be evaluated (non-finite density)")
    # 3. bracket: coarse points within LOG_DROP of the peak, one cell of margin each side
    above = lc > (lmax - LOG_DROP)[:, None]
    above_left = lc > (lmax - (LEFT_DROP if reaches_zero else LOG_DROP))[:, None]
    idx = np.arange(_N_COARSE)[None, :]
    first = np.where(above_left.any(1), np.where(above_left, idx, _N_COARSE).min(1), i_star)
    last = np.where(above.any(1), np.where(above, idx, -1).max(1), i_star)
    first = np.minimum(first, i_star) - 1
    last = np.maximum(last, i_star) + 1
    ua = np.where(first < 0, lo, lo + np.maximum(first, 0) * cell)
    ub = np.where(last >= _N_COARSE, hi, lo + np.minimum(last, _N_COARSE - 1) * cell)
    at_floor = np.full(B, reaches_zero)

    # 4. Simpson grid on [ua, ub] for the CDF of tau
    tg = np.linspace(0.0, 1.0, N_GRID)
    ug = ua[:, None] + (ub - ua)[:, None] * tg[None, :]
    lg, _, _ = _log_post_u(ug, *args)
    # 5. composite Gauss-Legendre nodes on the same bracket for the mixtures
    n_panels = int(np.clip(np.ceil((ub - ua).max() / PANEL_WIDTH), 2, 24))
    edges = ua[:, None] + (ub - ua)[:, None] * np.linspace(0, 1, n_panels + 1)[None, :]
    half = 0.5 * np.diff(edges, axis=1)  # (B, P)
    un = ((edges[:, :-1] + half)[:, :, None] + half[:, :, None] * _GL_X).reshape(B, -1)
    ln, mh, mv = _log_post_u(un, *args)
    wn = (half[:, :, None] * _GL_W).reshape(B, -1) * np.exp(ln - lmax[:, None])
    # tail below the grid: p(tau|y) ~ constant as tau -> 0, i.e. exp(l(u)) ~ e^u there
    tail = np.where(at_floor, np.exp(lg[:, 0] - lmax), 0.0)
    _, mh0, mv0 = conditional(np.zeros((B, 1)), y, v, mask, m0, s02)

    total = wn.sum(1) + tail
    tau_nodes = np.concatenate([np.zeros((B, 1)), np.exp(un)], axis=1)
    weight = np.concatenate([tail[:, None], wn], axis=1) / total[:, None]
    mu_hat = np.concatenate([mh0, mh], axis=1)
    mu_var = np.concatenate([mv0, mv], axis=1)

    dens = np.exp(lg - lmax[:, None])
    cdf = tail[:, None] + cumulative_simpson(dens, x=ug, axis=1, initial=0.0)
    norm = cdf[:, -1:]
    cdf, dens = cdf / norm, dens / norm
    log_norm = lmax + np.log(total)
    log_ev = log_norm if np.isfinite(s02) else np.full(B, np.nan)
    post = ExactPosterior(
        y,
        v,
        mask,
        tau_nodes,
        weight,
        mu_hat,
        mu_var,
        ug,
        cdf,
        dens,
        np.where(at_floor, np.exp(ua), 0.0),
        log_ev,
        log_norm,
        fixed=False,
        prior=(m0, s02),
    )
    return post
