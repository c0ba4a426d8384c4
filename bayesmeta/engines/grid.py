r"""Exact (deterministic) engine on a two-dimensional (mu, tau) grid, for any mu prior.

Two likelihoods share one integration scheme:

* **normal-normal** (:func:`integrate_normal`): :math:`y_i \mid \theta_i \sim N(\theta_i, v_i)`;
  integrating :math:`\theta_i` out gives :math:`p(y_i \mid \mu, \tau) = N(y_i \mid \mu,
  v_i + \tau^2)` in closed form. With a Normal or flat mu prior
  :mod:`bayesmeta.engines.linear` is faster; this engine also takes TruncatedNormal, StudentT and
  any other prior with a ``logpdf``.
* **binomial-normal** (:func:`integrate_binomial`): :math:`r_{ci} \sim
  \mathrm{Bin}(n_{ci}, \mathrm{expit}\,\alpha_i)`, :math:`r_{ti} \sim \mathrm{Bin}(n_{ti},
  \mathrm{expit}(\alpha_i + \theta_i))`, :math:`\theta_i \sim N(\mu, \tau^2)`,
  :math:`\alpha_i \sim p(\alpha)` (a baseline prior, e.g. Normal(0, 10)). Each study's
  likelihood involves only its own :math:`(\alpha_i, \theta_i)`, so

  .. math::

      p(y \mid \mu, \tau) = \prod_i \int L_i(\theta)\, N(\theta \mid \mu, \tau^2)\,d\theta,
      \qquad L_i(\theta) = \int \mathrm{Bin}(r_{ci} \mid \mathrm{expit}\,\alpha)\,
      \mathrm{Bin}(r_{ti} \mid \mathrm{expit}(\alpha+\theta))\, p(\alpha)\, d\alpha.

Algorithm (all steps vectorised, all in logs where it matters):

1. :math:`\log L_i(\theta)` and its first two derivatives are tabulated on a uniform
   :math:`\theta` grid (spacing at most a quarter of the smallest standard error). For each
   :math:`(i, \theta)` the :math:`\alpha` integrand is log-concave: its mode is found by
   Newton's method, the points where it has dropped by ``ALPHA_DROP`` on either side by
   Newton's method on the concave log integrand, and each side is integrated with
   ``n_alpha``-point Gauss-Legendre. :math:`L_i` is log-concave in :math:`\theta`
   (Prékopa), so beyond the table it is extended by its tangent in logs (an upper bound
   that is exact where :math:`L_i` flattens, as for zero cells).
2. :math:`p_i(\mu, \tau)`: for :math:`\tau` above 1.5 table spacings, the trapezoid rule on
   the table (spectrally accurate for smooth integrands) with Euler-Maclaurin end terms
   and closed-form tail integrals of the tangent extension; below it, 20-point
   Gauss-Hermite on the quintic Hermite interpolant of :math:`\log L_i`; at the smallest
   :math:`\tau`, :math:`p_i \to L_i(\mu)`.
3. :math:`(\mu, u=\log\tau)`: a coarse scan finds where the joint log density is within
   ``LOG_DROP`` of its maximum (two passes); uniform grids on that box (Simpson in
   :math:`\mu` when the prior's support cuts the box, trapezoid otherwise; trapezoid in
   :math:`u`). When :math:`\tau` can reach 0 the density in :math:`u` decays like
   :math:`e^{bu}` below the grid; that tail mass, :math:`e^{J(u_0)}/b`, is added to the
   first column. The prior's support ends are grid ends (exact handling of truncation).
   The grid is refined (intervals doubled) until the difference from the half grid,
   divided by 15, is below ``tol``; that estimate is stored in :attr:`GridPosterior.accuracy`.

Marginals (``mu``, ``tau``, ``tau2``, ``theta_new``, ``theta``) are densities on uniform
grids with cumulative-Simpson CDFs inverted by cubic Hermite interpolation.
``theta_new`` and ``theta`` mix :math:`N(\mu, \tau^2)` over the grid; where :math:`\tau` is
below the mu spacing the mixture is evaluated by Gauss-Hermite on the interpolated
conditional instead.

Double-zero studies (no events in either arm) stay in the binomial-normal model. Their
:math:`L_i(\theta)` is nearly flat over the range of plausible :math:`\theta` (both arms
are compatible with any odds ratio when the risk is tiny), so they inform mostly
:math:`\alpha_i` and only slightly :math:`\mu` and :math:`\tau`. In the sparse example of
``tests/test_grid_engine.py`` (four studies plus one 0/40 vs 0/40 study; mu ~ N(0, 2^2),
tau ~ HalfNormal(0.5)) dropping the double-zero study moves the posterior median of mu
from -1.2938 to -1.2876 and its 97.5% quantile from -0.3450 to -0.3360 (log OR), and the
97.5% quantile of tau from 1.0001 to 1.0017 (see ``test_double_zero_contribution``): small
but not zero, which is why the study is kept rather than discarded.

References
----------
Smith TC, Spiegelhalter DJ, Thomas A. Bayesian approaches to random-effects meta-analysis:
a comparative study. Stat Med 1995;14(24):2685-2699. https://doi.org/10.1002/sim.4780142408

Gronau QF, Heck DW, Berkhout SW, Haaf JM, Wagenmakers E-J. A primer on Bayesian
model-averaged meta-analysis. AMPPS 2021;4(3). https://doi.org/10.1177/25152459211031256

Examples
--------
>>> import numpy as np
>>> from bayesmeta import priors
>>> post = integrate_normal([0.2, 0.5, -0.1], [0.04, 0.09, 0.05],
...                         mu_prior=priors.Normal(0, 1), tau_prior=priors.HalfNormal(0.5))
>>> m = post.marginal("mu")
>>> bool(abs(m.cdf([m.quantile([0.5])[0]])[0] - 0.5) < 1e-8)
True
>>> bool(np.isfinite(post.log_evidence))
True
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy.integrate import cumulative_simpson

__all__ = [
    "GridPosterior",
    "GridMarginal",
    "integrate_binomial",
    "integrate_normal",
]

Array = NDArray[np.float64]

#: Log-density drop that bounds the (mu, log tau) integration box.
LOG_DROP = 30.0
#: Left-tail cut in log tau when tau can reach 0 (mass below it handled analytically).
LEFT_DROP = 8.0
#: Log drop that bounds the alpha integral of each study.
ALPHA_DROP = 45.0
#: Table spacing of log L_i(theta): the sharpest L_i's sd (log odds ratio se) over this.
H_DIV = 2.5
#: Gauss-Hermite nodes for the small-tau convolutions.
N_HERMITE = 20
#: Largest grid (points per axis) the refinement may reach.
MAX_GRID = 1025
#: Largest grid of exact log-likelihood evaluations (binomial; splined onto the fine grid).
MAX_EXACT = 257
_LOG2PI = math.log(2 * math.pi)
_GH_X, _GH_W = np.polynomial.hermite.hermgauss(N_HERMITE)
_GH_Z = math.sqrt(2.0) * _GH_X  # standard-normal nodes
_GH_P = _GH_W / math.sqrt(math.pi)  # and weights
# fewer nodes where the integrand is known to be smooth on the node scale (tau < 1.5 h)
_GH10_X, _GH10_W = np.polynomial.hermite.hermgauss(10)
_GH10_Z, _GH10_P = math.sqrt(2.0) * _GH10_X, _GH10_W / math.sqrt(math.pi)
_NAMES = ("mu", "tau", "tau2", "theta_new", "theta")


# --------------------------------------------------------------------------------------
# prior helpers (shims until priors.py has ``bounds``/``proper`` everywhere)
# --------------------------------------------------------------------------------------
def _bounds(prior: Any) -> tuple[float, float]:
    """Support (lo, hi) of a prior: ``prior.bounds`` or its ppf at 0 and 1."""
    b = getattr(prior, "bounds", None)
    if b is not None:
        lo, hi = b() if callable(b) else b
        return float(lo), float(hi)
    try:
        lo, hi = float(prior.ppf(0.0)), float(prior.ppf(1.0))
    except Exception:  # improper priors have no ppf
        return (
            (0.0, math.inf)
            if getattr(prior, "support", "real") == "positive"
            else (
                -math.inf,
                math.inf,
            )
        )
    return lo, hi


def _proper(prior: Any) -> bool:
    p = getattr(prior, "proper", None)
    if p is not None:
        return bool(p() if callable(p) else p)
    try:
        prior.ppf(0.5)
    except Exception:
        return False
    return True


def _logpdf(prior: Any, x: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.asarray(prior.logpdf(x), dtype=float)
    return np.where(np.isnan(out), -np.inf, out)


def _quantile_or(prior: Any, q: float, default: float) -> float:
    try:
        v = float(prior.ppf(q))
    except Exception:
        return default
    return v if math.isfinite(v) else default


# --------------------------------------------------------------------------------------
# small numerical tools
# --------------------------------------------------------------------------------------
def _simpson_weights(n: int, h: float) -> Array:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * h / 3.0


def _trap_weights(n: int, h: float) -> Array:
    w = np.full(n, h)
    w[0] = w[-1] = h / 2
    return w


def _cumulate(f: Array, x: Array) -> Array:
    """Cumulative Simpson integral along the last axis (starts at 0)."""
    return cumulative_simpson(f, x=x, axis=-1, initial=0.0)


def _hermite_cubic(x0: float, h: float, F: Array, f: Array, x: Array) -> Array:
    """Evaluate the C1 cubic with values F and slopes f on a uniform grid (last axis)."""
    n = F.shape[-1]
    s = (np.asarray(x, dtype=float) - x0) / h
    j = np.clip(np.floor(s).astype(int), 0, n - 2)
    t = np.clip(s - j, 0.0, 1.0)
    F0, F1 = F[..., j], F[..., j + 1]
    f0, f1 = f[..., j], f[..., j + 1]
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * F0
        + (t3 - 2 * t2 + t) * h * f0
        + (-2 * t3 + 3 * t2) * F1
        + (t3 - t2) * h * f1
    )


def _invert_cdf(x0: float, h: float, F: Array, f: Array, q: Array) -> Array:
    """Invert a CDF known on a uniform grid (values F, density f) by Hermite bisection."""
    n = F.shape[-1]
    q = np.asarray(q, dtype=float)
    j = np.clip(np.searchsorted(F, q, side="right") - 1, 0, n - 2)
    F0, F1, f0, f1 = F[j], F[j + 1], f[j], f[j + 1]
    a, b = np.zeros_like(q), np.ones_like(q)
    # cubic in t: c0 + c1 t + c2 t^2 + c3 t^3
    c0, c1 = F0, h * f0
    c2 = 3 * (F1 - F0) - h * (2 * f0 + f1)
    c3 = 2 * (F0 - F1) + h * (f0 + f1)
    # bisection to a bracket of width 1/64, then Newton kept inside the bracket
    for _ in range(6):
        t = 0.5 * (a + b)
        below = c0 + t * (c1 + t * (c2 + t * c3)) < q
        a, b = np.where(below, t, a), np.where(below, b, t)
    t = 0.5 * (a + b)
    for _ in range(40):
        val = c0 + t * (c1 + t * (c2 + t * c3)) - q
        der = c1 + t * (2 * c2 + 3 * t * c3)
        with np.errstate(divide="ignore", invalid="ignore"):
            tn = t - val / der
        tn = np.where(np.isfinite(tn) & (tn > a) & (tn < b), tn, 0.5 * (a + b))
        a, b = np.where(val < 0, np.maximum(a, t), a), np.where(val > 0, np.minimum(b, t), b)
        done = np.max(np.abs(tn - t)) < 1e-14
        t = tn
        if done:
            break
    return x0 + (j + t) * h


def _quintic(x0: float, h: float, y: Array, d1: Array, d2: Array, x: Array) -> tuple[Array, ...]:
    """Quintic Hermite interpolation of (y, y', y'') on a uniform grid, tangent outside.

    ``y, d1, d2``: (k, N); ``x``: any shape (broadcast against k). Returns value, first and
    second derivative, each (k, *x.shape).
    """
    n = y.shape[-1]
    x = np.asarray(x, dtype=float)
    s = (x - x0) / h
    j = np.clip(np.floor(s).astype(int), 0, n - 2)
    t = s - j
    left, right = s < 0, s > n - 1
    tc = np.clip(t, 0.0, 1.0)
    jj = j.reshape(-1)
    shp = (y.shape[0], *x.shape)
    y0, y1 = y[:, jj].reshape(shp), y[:, jj + 1].reshape(shp)
    a0, a1 = d1[:, jj].reshape(shp) * h, d1[:, jj + 1].reshape(shp) * h
    b0, b1 = d2[:, jj].reshape(shp) * h * h, d2[:, jj + 1].reshape(shp) * h * h
    t1, t2, t3, t4, t5 = tc, tc**2, tc**3, tc**4, tc**5
    H0 = 1 - 10 * t3 + 15 * t4 - 6 * t5
    H1 = t1 - 6 * t3 + 8 * t4 - 3 * t5
    H2 = 0.5 * (t2 - 3 * t3 + 3 * t4 - t5)
    H3 = 0.5 * (t3 - 2 * t4 + t5)
    H4 = -4 * t3 + 7 * t4 - 3 * t5
    H5 = 10 * t3 - 15 * t4 + 6 * t5
    val = y0 * H0 + a0 * H1 + b0 * H2 + b1 * H3 + a1 * H4 + y1 * H5
    dH0 = -30 * t2 + 60 * t3 - 30 * t4
    dH1 = 1 - 18 * t2 + 32 * t3 - 15 * t4
    dH2 = 0.5 * (2 * t1 - 9 * t2 + 12 * t3 - 5 * t4)
    dH3 = 0.5 * (3 * t2 - 8 * t3 + 5 * t4)
    dH4 = -12 * t2 + 28 * t3 - 15 * t4
    dH5 = -dH0
    der = (y0 * dH0 + a0 * dH1 + b0 * dH2 + b1 * dH3 + a1 * dH4 + y1 * dH5) / h
    ddH0 = -60 * t1 + 180 * t2 - 120 * t3
    ddH1 = -36 * t1 + 96 * t2 - 60 * t3
    ddH2 = 0.5 * (2 - 18 * t1 + 36 * t2 - 20 * t3)
    ddH3 = 0.5 * (6 * t1 - 24 * t2 + 20 * t3)
    ddH4 = -24 * t1 + 84 * t2 - 60 * t3
    ddH5 = -ddH0
    der2 = (y0 * ddH0 + a0 * ddH1 + b0 * ddH2 + b1 * ddH3 + a1 * ddH4 + y1 * ddH5) / (h * h)
    # tangent (linear in logs) outside the table
    xl, xr = x0, x0 + (n - 1) * h
    lin_l = y[:, :1].reshape(-1, *([1] * x.ndim)) + d1[:, :1].reshape(-1, *([1] * x.ndim)) * (
        x - xl
    )
    lin_r = y[:, -1:].reshape(-1, *([1] * x.ndim)) + d1[:, -1:].reshape(-1, *([1] * x.ndim)) * (
        x - xr
    )
    val = np.where(left, lin_l, np.where(right, lin_r, val))
    sl = d1[:, :1].reshape(-1, *([1] * x.ndim))
    sr = d1[:, -1:].reshape(-1, *([1] * x.ndim))
    der = np.where(left, sl, np.where(right, sr, der))
    der2 = np.where(left | right, 0.0, der2)
    return val, der, der2


# --------------------------------------------------------------------------------------
# likelihoods: p_i(mu, tau) on a grid and log L_i(theta)
# --------------------------------------------------------------------------------------
class _NormalLik:
    """Normal likelihood y_i ~ N(theta_i, v_i)."""

    kind = "normal"

    def __init__(self, y: Array, v: Array) -> None:
        self.y, self.v = y, v
        self.k = y.size
        se = np.sqrt(v)
        self.center = float(np.median(y))
        self.lo = float(np.min(y - 12 * se))
        self.hi = float(np.max(y + 12 * se))
        self.h_theta = float(min(0.1, se.min() / 4))
        self.se = se
        self.accuracy_alpha = 0.0

    def logp(self, mu: Array, tau: Array) -> Array:
        """Log p(y_i | mu, tau): (M, T, k)."""
        s2 = self.v[None, None, :] + (tau**2)[None, :, None]
        r = self.y[None, None, :] - mu[:, None, None]
        return -0.5 * (_LOG2PI + np.log(s2) + r * r / s2)

    def logL(self, theta: Array) -> tuple[Array, Array, Array]:
        """Log L_i(theta) and two derivatives; (k, *theta.shape)."""
        th = np.asarray(theta, dtype=float)
        ex = (slice(None),) + (None,) * th.ndim
        y, v = self.y[ex], self.v[ex]
        r = y - th
        return -0.5 * (_LOG2PI + np.log(v) + r * r / v), r / v, np.broadcast_to(-1.0 / v, r.shape)


class _BinomialLik:
    """Binomial-normal likelihood, alpha integrated out and tabulated in theta."""

    kind = "binomial"

    def __init__(self, et, nt, ec, nc, baseline: Any, *, n_alpha: int, h_theta: float | None):
        self.et, self.nt, self.ec, self.nc = (np.asarray(a, dtype=float) for a in (et, nt, ec, nc))
        self.k = self.et.size
        self.baseline = baseline
        self.n_alpha = n_alpha
        # rough normal approximation (0.5 added to every cell) only to place the table
        a, b, c, d = self.et + 0.5, self.nt - self.et + 0.5, self.ec + 0.5, self.nc - self.ec + 0.5
        y = np.log(a * d / (b * c))
        se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        self.se = se
        self.center = float(np.median(y))
        span = np.clip(np.abs(y - self.center) + 10 * se, 12.0, 40.0)
        self.lo = float(self.center - span.max())
        self.hi = float(self.center + span.max())
        if h_theta is None:
            # the sharpest L_i has sd ~ its log odds ratio se; the quintic interpolant of
            # log L_i and the trapezoid convolutions are spectrally accurate at sd / 2.5
            h_theta = min(0.1, float(se.min()) / H_DIV)
        self.h_theta = float(h_theta)
        n = int(np.ceil((self.hi - self.lo) / self.h_theta)) + 1
        n += (n + 1) % 2
        self.theta = self.lo + self.h_theta * np.arange(n)
        self.logL_tab, self.d1_tab, self.d2_tab = _alpha_table(
            self.theta, self.et, self.nt, self.ec, self.nc, baseline, n_alpha
        )
        # accuracy of the alpha integrals: compare with a lower-order rule on a subsample
        sub = self.theta[:: max(1, n // 40)]
        lo_order, _, _ = _alpha_table(
            sub, self.et, self.nt, self.ec, self.nc, baseline, (3 * n_alpha) // 2
        )
        hi_order = self.logL_tab[:, :: max(1, n // 40)]
        rel = np.abs(np.expm1(lo_order - hi_order))
        self.accuracy_alpha = float(np.nanmax(rel))
        self.lmax = self.logL_tab.max(axis=1)
        self.Lnorm = np.exp(self.logL_tab - self.lmax[:, None])  # (k, N)
        # narrowest L_i (its sd where it is most curved): limits the convolution stride
        self.width = float(1.0 / np.sqrt(max(float(np.max(-self.d2_tab)), 1e-12)))

    def logL(self, theta: Array) -> tuple[Array, Array, Array]:
        return _quintic(
            self.lo, self.h_theta, self.logL_tab, self.d1_tab, self.d2_tab, np.asarray(theta)
        )

    def logp(self, mu: Array, tau: Array) -> Array:
        """Log p_i(mu, tau) = log int L_i(theta) N(theta | mu, tau^2) dtheta: (M, T, k)."""
        M, T, k = mu.size, tau.size, self.k
        out = np.empty((M, T, k))
        h = self.h_theta
        small = tau < 1.5 * h
        tiny = tau <= 0.02 * h
        if np.any(tiny):
            # second-order expansion: log p = l + tau^2/2 (l'' + l'^2) + O(tau^4)
            l0, l1, l2 = self.logL(mu)  # (k, M)
            corr = (l2 + l1 * l1).T  # (M, k)
            for t in np.flatnonzero(tiny):
                out[:, t, :] = l0.T + 0.5 * tau[t] ** 2 * corr
        mid = np.flatnonzero(small & ~tiny)
        if mid.size:  # all such rows in one vectorised evaluation
            pts = mu[:, None, None] + tau[mid][None, :, None] * _GH10_Z  # (M, S, Q)
            lv = self.logL(pts)[0]  # (k, M, S, Q)
            out[:, mid, :] = special.logsumexp(lv, b=_GH10_P, axis=-1).transpose(1, 2, 0)
        big = np.flatnonzero(~small)
        th_all = self.theta
        N = th_all.size
        l0, lN = self.logL_tab[:, 0] - self.lmax, self.logL_tab[:, -1] - self.lmax
        s0, sN = self.d1_tab[:, 0], self.d1_tab[:, -1]
        m = mu[:, None]
        with np.errstate(under="ignore", divide="ignore"):
            for t in big:
                tt = tau[t]
                # theta window where the kernel matters, and a stride the integrand allows
                stride = int(max(1, np.floor(min(tt, self.width) / (1.5 * h))))
                j0 = int(max(0, np.floor((mu[0] - 12 * tt - self.lo) / h)))
                j1 = int(min(N - 1, np.ceil((mu[-1] + 12 * tt - self.lo) / h)))
                j0 = j0 - (j0 % stride)
                jj = np.arange(j0, j1 + 1, stride)
                th = th_all[jj]
                hs = h * stride
                wtrap = _trap_weights(th.size, hs)
                d = th[None, :] - m  # (M, n)
                kern = np.exp(-0.5 * (d / tt) ** 2) / (tt * math.sqrt(2 * math.pi))
                Ln = self.Lnorm[:, jj]
                P = (kern * wtrap) @ Ln.T  # (M, k)
                # Euler-Maclaurin end correction -hs^2/12 (g'(b) - g'(a)), g = L N
                sa, sb = self.d1_tab[:, jj[0]], self.d1_tab[:, jj[-1]]
                ga = kern[:, :1] * Ln[:, 0][None, :] * (sa[None, :] - d[:, :1] / tt**2)
                gb = kern[:, -1:] * Ln[:, -1][None, :] * (sb[None, :] - d[:, -1:] / tt**2)
                P -= hs * hs / 12 * (gb - ga)
                if jj[0] == 0:  # tangent tail below the table, closed form
                    lt = (
                        l0[None, :]
                        + s0[None, :] * (m - th_all[0])
                        + 0.5 * (s0 * tt) ** 2
                        + special.log_ndtr((th_all[0] - m - s0[None, :] * tt**2) / tt)
                    )
                    P = P + np.exp(lt)
                if jj[-1] == N - 1:
                    rt = (
                        lN[None, :]
                        + sN[None, :] * (m - th_all[-1])
                        + 0.5 * (sN * tt) ** 2
                        + special.log_ndtr((m + sN[None, :] * tt**2 - th_all[-1]) / tt)
                    )
                    P = P + np.exp(rt)
                out[:, t, :] = np.log(np.maximum(P, 1e-300)) + self.lmax[None, :]
        return out


def _alpha_table(theta, et, nt, ec, nc, baseline, n_alpha: int):
    """Log L_i(theta), d/dtheta, d2/dtheta2 on the theta grid: each (k, N)."""
    th = np.asarray(theta, dtype=float)[None, :]
    et, nt, ec, nc = (a[:, None] for a in (et, nt, ec, nc))
    logc = (
        special.gammaln(nt + 1)
        - special.gammaln(et + 1)
        - special.gammaln(nt - et + 1)
        + special.gammaln(nc + 1)
        - special.gammaln(ec + 1)
        - special.gammaln(nc - ec + 1)
    )
    if type(baseline).__name__ == "Normal":
        m0, s0 = float(baseline.mu), float(baseline.sigma)

        def lp(a):
            return -0.5 * ((a - m0) / s0) ** 2 - math.log(s0) - 0.5 * _LOG2PI

        def dlp(a):
            return -(a - m0) / s0**2

        def d2lp(a):
            return np.full_like(a, -1 / s0**2)

    else:
        eps = 1e-4

        def lp(a):
            return _logpdf(baseline, a)

        def dlp(a):
            return (lp(a + eps) - lp(a - eps)) / (2 * eps)

        def d2lp(a):
            return np.minimum((lp(a + eps) - 2 * lp(a) + lp(a - eps)) / eps**2, -1e-8)

    def f(a):
        return (
            ec * a - nc * np.logaddexp(0, a) + et * (a + th) - nt * np.logaddexp(0, a + th) + lp(a)
        )

    def grad(a):
        sc, st = special.expit(a), special.expit(a + th)
        g1 = ec - nc * sc + et - nt * st + dlp(a)
        g2 = -nc * sc * (1 - sc) - nt * st * (1 - st) + d2lp(a)
        return g1, g2

    shape = np.broadcast_shapes(th.shape, ec.shape)
    a = np.broadcast_to(special.logit((ec + 0.5) / (nc + 1)), shape).copy()
    for _ in range(100):
        g1, g2 = grad(a)
        step = np.clip(-g1 / g2, -4.0, 4.0)
        a = a + step
        if np.max(np.abs(step)) < 1e-11:
            break
    fmax = f(a)
    _, g2 = grad(a)
    width = np.sqrt(2 * ALPHA_DROP / -g2)
    target = fmax - ALPHA_DROP
    ends = []
    for sign in (-1.0, 1.0):
        b = a + sign * width
        for _ in range(60):
            g1, _ = grad(b)
            fb = f(b)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = -(fb - target) / g1
            step = np.where(np.isfinite(step), step, sign * width)
            step = np.clip(step, -3 * width, 3 * width)
            b_new = b + step
            # stay on the correct side of the mode
            b_new = np.where(sign * (b_new - a) > 0, b_new, 0.5 * (a + b))
            done = np.max(np.abs(b_new - b)) < 1e-9
            b = b_new
            if done:
                break
        ends.append(b)
    x, w = np.polynomial.legendre.leggauss(n_alpha)
    logs, vals = [], []
    for lo, hi in ((ends[0], a), (a, ends[1])):
        half = 0.5 * (hi - lo)
        nodes = (0.5 * (hi + lo))[..., None] + half[..., None] * x  # (k, N, n)
        fa = f_nodes = (
            ec[..., None] * nodes
            - nc[..., None] * np.logaddexp(0, nodes)
            + et[..., None] * (nodes + th[..., None])
            - nt[..., None] * np.logaddexp(0, nodes + th[..., None])
            + lp(nodes)
        )
        del f_nodes
        logs.append(fa - fmax[..., None] + np.log(w * half[..., None]))
        st = special.expit(nodes + th[..., None])
        vals.append(st)
    lw = np.concatenate(logs, axis=-1)
    st = np.concatenate(vals, axis=-1)
    mx = lw.max(-1, keepdims=True)
    wgt = np.exp(lw - mx)
    tot = wgt.sum(-1)
    logL = fmax + mx[..., 0] + np.log(tot) + logc
    p = wgt / tot[..., None]
    score = et[..., None] - nt[..., None] * st
    e1 = (p * score).sum(-1)
    var = (p * (score - e1[..., None]) ** 2).sum(-1)
    e2 = (p * nt[..., None] * st * (1 - st)).sum(-1)
    return logL, e1, var - e2


# --------------------------------------------------------------------------------------
# marginals
# --------------------------------------------------------------------------------------
class GridMarginal:
    """A deterministic :class:`~bayesmeta.engines.base.Marginal` from densities on grids.

    Holds, for each of ``prod(shape)`` scalar quantities, a uniform grid in a working
    variable ``w`` (``x = exp(w)`` when ``log_scale``), the CDF and the density in ``w``
    there, optionally a lower tail below the grid with density proportional to
    ``exp(b w)``, and a point mass at ``atom`` (``tau = 0`` under the fixed-effect model).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> w = np.linspace(-8, 8, 401)
    >>> m = GridMarginal.from_density(w, stats.norm.pdf(w))
    >>> np.round(m.quantile([0.975]), 6)
    array([1.959964])
    """

    def __init__(
        self,
        w0: Array,
        h: Array,
        F: Array,
        f: Array,
        *,
        mean: Array,
        sd: Array,
        mean_exp: Array,
        sd_exp: Array,
        draws: Any = None,
        log_scale: bool = False,
        tail_b: float = 0.0,
        square: bool = False,
    ) -> None:
        self._w0 = np.atleast_1d(np.asarray(w0, dtype=float))
        self._h = np.atleast_1d(np.asarray(h, dtype=float))
        self._F = np.atleast_2d(F)
        self._f = np.atleast_2d(f)
        self._mean, self._sd = np.asarray(mean, float), np.asarray(sd, float)
        self._mean_exp, self._sd_exp = np.asarray(mean_exp, float), np.asarray(sd_exp, float)
        self._draws_fn = draws
        self.log_scale = log_scale
        self.square = square
        self.tail_b = tail_b
        self.shape: tuple[int, ...] = self._mean.shape

    @classmethod
    def from_density(cls, w: Array, dens: Array, **kw: Any) -> GridMarginal:
        """Build from a density on a uniform grid (normalised here; moments by quadrature)."""
        w = np.asarray(w, dtype=float)
        dens = np.atleast_2d(dens)
        F = _cumulate(dens, w)
        tot = F[:, -1:]
        F, dens = F / tot, dens / tot
        wts = (
            _simpson_weights(w.size, w[1] - w[0])
            if w.size % 2
            else _trap_weights(w.size, w[1] - w[0])
        )
        mean = (dens * w * wts).sum(-1)
        sd = np.sqrt(np.maximum((dens * (w - mean[:, None]) ** 2 * wts).sum(-1), 0))
        with np.errstate(over="ignore", invalid="ignore"):
            ew = np.exp(w)
            me = (dens * ew * wts).sum(-1)
            se = np.sqrt(np.maximum((dens * (ew - me[:, None]) ** 2 * wts).sum(-1), 0))
        # exp(X) overflows on the grid: its moments are infinite for practical purposes
        me = np.where(np.isfinite(me), me, np.inf)
        se = np.where(np.isfinite(se) & np.isfinite(me), se, np.inf)
        shape = kw.pop("shape", ())
        r = lambda a: a.reshape(shape) if shape else a[0]  # noqa: E731
        return cls(
            np.full(dens.shape[0], w[0]),
            np.full(dens.shape[0], w[1] - w[0]),
            F,
            dens,
            mean=r(mean),
            sd=r(sd),
            mean_exp=r(me),
            sd_exp=r(se),
            **kw,
        )

    # -- protocol -----------------------------------------------------------------------
    def _to_w(self, x: Array) -> Array:
        if self.square:
            x = np.sqrt(np.maximum(x, 0.0))
        if self.log_scale:
            with np.errstate(divide="ignore"):
                return np.log(np.maximum(x, 0.0))
        return x

    def _from_w(self, w: Array) -> Array:
        x = np.exp(w) if self.log_scale else w
        return x * x if self.square else x

    def cdf(self, x: ArrayLike) -> Array:
        """P(X <= x); shape (*shape, X)."""
        w = self._to_w(np.atleast_1d(np.asarray(x, dtype=float)))
        out = np.empty((self._F.shape[0], w.size))
        for r in range(self._F.shape[0]):
            w0, h, F, f = self._w0[r], self._h[r], self._F[r], self._f[r]
            hi = w0 + h * (F.size - 1)
            val = _hermite_cubic(w0, h, F, f, np.clip(w, w0, hi))
            val = np.clip(val, 0.0, 1.0)
            below = w < w0
            if self.tail_b > 0:
                with np.errstate(over="ignore", invalid="ignore"):
                    tail = F[0] * np.exp(self.tail_b * (np.minimum(w, w0) - w0))
                val = np.where(below, tail, val)
            else:
                val = np.where(below, 0.0, val)
            out[r] = np.where(w > hi, 1.0, val)
        return out.reshape(*self.shape, w.size)

    def quantile(self, q: ArrayLike) -> Array:
        """Quantiles at probabilities q; shape (*shape, Q)."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        out = np.empty((self._F.shape[0], q.size))
        for r in range(self._F.shape[0]):
            w0, h, F, f = self._w0[r], self._h[r], self._F[r], self._f[r]
            w = _invert_cdf(w0, h, F, f, np.clip(q, F[0], 1.0))
            if self.tail_b > 0 and F[0] > 0:
                with np.errstate(divide="ignore"):
                    wt = w0 + np.log(np.maximum(q, 1e-300) / F[0]) / self.tail_b
                w = np.where(q < F[0], wt, w)
            out[r] = self._from_w(w)
        return out.reshape(*self.shape, q.size)

    def pdf(self, x: ArrayLike) -> Array:
        """Density at x (on the natural scale of X); shape (*shape, X)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        w = self._to_w(x)
        out = np.empty((self._F.shape[0], x.size))
        for r in range(self._F.shape[0]):
            w0, h, f = self._w0[r], self._h[r], self._f[r]
            s = (w - w0) / h
            j = np.clip(np.floor(s).astype(int), 1, f.size - 3)
            t = s - j
            # cubic Lagrange through 4 neighbours
            fm, f0, f1, f2 = f[j - 1], f[j], f[j + 1], f[j + 2]
            val = (
                -t * (t - 1) * (t - 2) / 6 * fm
                + (t + 1) * (t - 1) * (t - 2) / 2 * f0
                - (t + 1) * t * (t - 2) / 2 * f1
                + (t + 1) * t * (t - 1) / 6 * f2
            )
            inside = (s >= 0) & (s <= f.size - 1)
            if self.tail_b > 0:
                tail = f[0] * np.exp(self.tail_b * (np.minimum(w, w0) - w0))
                val = np.where(s < 0, tail, np.where(inside, val, 0.0))
            else:
                val = np.where(inside, val, 0.0)
            val = np.maximum(val, 0.0)
            if self.log_scale:  # density in w -> density in x
                with np.errstate(divide="ignore", invalid="ignore"):
                    val = np.where(x > 0, val / (x * (2.0 if self.square else 1.0)), 0.0)
            out[r] = val
        return out.reshape(*self.shape, x.size)

    def mean(self) -> Array:
        """Posterior mean (``inf`` where it does not exist)."""
        return self._mean

    def sd(self) -> Array:
        """Posterior SD (``inf`` where it does not exist)."""
        return self._sd

    def mean_sd_exp(self) -> tuple[Array, Array]:
        """Mean and SD of exp(X)."""
        return self._mean_exp, self._sd_exp

    def draws(self) -> Array:
        """Independent draws (chain, draw, *shape), from the posterior's joint draws."""
        return self._draws_fn()

    def mcse_cdf(self, x: ArrayLike) -> Array:
        """Zeros: the engine is deterministic."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return np.zeros((*self.shape, x.size))


class _PointMass:
    """X = value with probability 1 (tau under the fixed-effect model)."""

    def __init__(self, value: float, draws: Any) -> None:
        self.value = float(value)
        self.shape: tuple[int, ...] = ()
        self._draws_fn = draws

    def cdf(self, x: ArrayLike) -> Array:
        return (np.atleast_1d(np.asarray(x, dtype=float)) >= self.value).astype(float)

    def quantile(self, q: ArrayLike) -> Array:
        return np.full(np.atleast_1d(q).shape, self.value)

    def pdf(self, x: ArrayLike) -> Array:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return np.where(x == self.value, np.inf, 0.0)

    def mean(self) -> Array:
        return np.asarray(self.value)

    def sd(self) -> Array:
        return np.asarray(0.0)

    def mean_sd_exp(self) -> tuple[Array, Array]:
        return np.asarray(math.exp(self.value)), np.asarray(0.0)

    def draws(self) -> Array:
        return self._draws_fn()

    def mcse_cdf(self, x: ArrayLike) -> Array:
        return np.zeros(np.atleast_1d(x).shape)


@functools.cache
def _gl_unit(n: int = 200) -> tuple[Array, Array]:
    """Gauss-Legendre nodes and weights on (0, 1) (cached)."""
    p, wp = np.polynomial.legendre.leggauss(n)
    return 0.5 * (p + 1), 0.5 * wp


class _Transformed:
    """Marginal of g(X) for an increasing g (implied RR and RD)."""

    def __init__(self, base: Any, g: Any, ginv: Any) -> None:
        self.base, self.g, self.ginv = base, g, ginv
        self.shape = base.shape
        self._p, self._wp = _gl_unit()

    def cdf(self, x: ArrayLike) -> Array:
        return self.base.cdf(self.ginv(np.atleast_1d(np.asarray(x, dtype=float))))

    def quantile(self, q: ArrayLike) -> Array:
        return self.g(self.base.quantile(q))

    def mean(self) -> Array:
        return (self.g(self.base.quantile(self._p)) * self._wp).sum(-1)

    def sd(self) -> Array:
        v = self.g(self.base.quantile(self._p))
        m = (v * self._wp).sum(-1)
        return np.sqrt(np.maximum(((v - m[..., None]) ** 2 * self._wp).sum(-1), 0.0))

    def mean_sd_exp(self) -> tuple[Array, Array]:
        with np.errstate(over="ignore"):
            v = np.exp(self.g(self.base.quantile(self._p)))
        m = (v * self._wp).sum(-1)
        return m, np.sqrt(np.maximum(((v - m[..., None]) ** 2 * self._wp).sum(-1), 0.0))

    def draws(self) -> Array:
        return self.g(self.base.draws())

    def mcse_cdf(self, x: ArrayLike) -> Array:
        return self.base.mcse_cdf(self.ginv(np.atleast_1d(np.asarray(x, dtype=float))))


# --------------------------------------------------------------------------------------
# the 2-D core
# --------------------------------------------------------------------------------------
@dataclass
class _Core:
    """Joint log density J on a (mu, u = log tau) grid and derived marginals."""

    mu: Array  # (M,)
    u: Array  # (T,) (empty for the fixed-effect model)
    J: Array  # (M, T) log joint in (mu, u); (M, 1) for fixed effect
    tail_b: float  # density in u ~ exp(b u) below the grid (0: no tail)
    simpson_mu: bool
    fixed: bool

    def __post_init__(self) -> None:
        M = self.mu.size
        hm = self.mu[1] - self.mu[0]
        self.wm = _simpson_weights(M, hm) if self.simpson_mu else _trap_weights(M, hm)
        if self.fixed:
            self.wu = np.ones(1)
        else:
            hu = self.u[1] - self.u[0]
            self.wu = _trap_weights(self.u.size, hu)
            if self.tail_b > 0:
                self.wu[0] += 1.0 / self.tail_b
        self.Jmax = float(np.max(self.J))
        E = np.exp(self.J - self.Jmax)
        Z = float(self.wm @ E @ self.wu)
        self.log_norm = self.Jmax + math.log(Z)
        self.P = E / Z  # joint density on the grid
        self.f_mu = self.P @ self.wu
        self.g_u = self.wm @ self.P

    def mu_marginal(self) -> tuple[Array, Array]:
        F = _cumulate(self.f_mu, self.mu)
        return F / F[-1], self.f_mu / F[-1]

    def u_marginal(self) -> tuple[Array, Array]:
        g = self.g_u
        tail = g[0] / self.tail_b if self.tail_b > 0 else 0.0
        F = tail + _cumulate(g, self.u)
        return F / F[-1], g / F[-1]

    def summary(self) -> Array:
        """Quantities compared between grids for the error estimate."""
        Fm, fm = self.mu_marginal()
        hm = self.mu[1] - self.mu[0]
        qm = _invert_cdf(self.mu[0], hm, Fm, fm, np.array([0.025, 0.5, 0.975]))
        out = [self.log_norm, *qm]
        if not self.fixed:
            Fu, gu = self.u_marginal()
            hu = self.u[1] - self.u[0]
            q = np.array([0.025, 0.5, 0.975])
            q = q[q > Fu[0]]
            out += list(np.exp(_invert_cdf(self.u[0], hu, Fu, gu, q)))
        return np.array(out)


def _subgrid(core: _Core) -> _Core:
    sl_u = slice(None) if core.fixed else slice(None, None, 2)
    return _Core(
        core.mu[::2],
        core.u[sl_u] if not core.fixed else core.u,
        core.J[::2, sl_u],
        core.tail_b,
        core.simpson_mu,
        core.fixed,
    )


def _joint(lik, mu, tau, u, mu_prior, tau_prior, fixed_mu):
    """J(mu, u) on a grid: log p(mu) + log p(tau) + u + sum_i log p_i."""
    ll = lik.logp(mu, tau).sum(-1)  # (M, T)
    lpm = np.zeros_like(mu) if fixed_mu is not None else _logpdf(mu_prior, mu)
    if tau_prior is None:
        return lpm[:, None] + ll
    lpt = _logpdf(tau_prior, tau) + u
    return lpm[:, None] + lpt[None, :] + ll


def _bracket(vals: Array, drop: float, drop_left: float | None = None) -> tuple[int, int]:
    """First/last index where vals > max - drop (one point of margin)."""
    mx = np.max(vals)
    idx = np.flatnonzero(vals > mx - drop)
    first = idx[0]
    if drop_left is not None:
        idx2 = np.flatnonzero(vals > mx - drop_left)
        first = idx2[0]
    return max(first - 1, 0), min(idx[-1] + 1, vals.size - 1)


def _fit(
    lik: Any,
    mu_prior: Any,
    tau_prior: Any,
    *,
    mu_fixed_at: float | None,
    tol: float,
    n_start: int = 65,
) -> tuple[_Core, dict[str, float], tuple[float, float]]:
    """Choose the box, build and refine the grid; returns the core and the accuracy."""
    fixed = tau_prior is None
    if mu_fixed_at is None and not _proper(mu_prior) and lik.kind == "binomial":
        # a flat mu prior with one-sided flat likelihoods gives an improper posterior
        pass
    # -- mu search range
    if mu_fixed_at is not None:
        mlo = mhi = float(mu_fixed_at)
    else:
        blo, bhi = _bounds(mu_prior)
        span = lik.hi - lik.lo
        mlo = max(blo, lik.lo - (span if lik.kind == "binomial" else 0.0))
        mhi = min(bhi, lik.hi + (span if lik.kind == "binomial" else 0.0))
        if _proper(mu_prior):
            mlo = max(
                mlo, _quantile_or(mu_prior, 1e-13, mlo) if math.isfinite(blo) is False else mlo
            )
            mhi = min(
                mhi, _quantile_or(mu_prior, 1 - 1e-13, mhi) if math.isfinite(bhi) is False else mhi
            )
        if not mhi > mlo:
            raise ValueError("the mu prior's support does not overlap the data's range")
    # -- tau search range
    ref = float(max(np.median(lik.se), 0.05))
    if not fixed:
        tlo, thi = _bounds(tau_prior)
        reaches_zero = tlo <= 0
        ulo = math.log(ref * 1e-7) if reaches_zero else math.log(tlo)
        up = _quantile_or(tau_prior, 1 - 1e-12, ref * 1e3)
        uhi = math.log(min(max(ref * 30, min(up, ref * 1e3)), thi))
        if not uhi > ulo:
            raise ValueError("the tau prior's support is empty on the data's scale")
    # -- two passes of a coarse scan
    nm, nu = 33, 1 if fixed else 25
    box_m = (mlo, mhi)
    box_u = (0.0, 0.0) if fixed else (ulo, uhi)
    lo_open = not fixed and reaches_zero
    use_tail = False
    for _pass in range(2):
        mu_c = np.linspace(*box_m, nm) if mu_fixed_at is None else np.array([mlo])
        if fixed:
            u_c, tau_c = np.zeros(1), np.zeros(1)
        else:
            u_c = np.linspace(*box_u, nu)
            tau_c = np.exp(u_c)
        Jc = _joint(lik, mu_c, tau_c, u_c, mu_prior, tau_prior, mu_fixed_at)
        if not np.isfinite(Jc).any():
            raise FloatingPointError("the posterior could not be evaluated (non-finite density)")
        Jc = np.where(np.isfinite(Jc), Jc, -np.inf)
        if mu_fixed_at is None:
            prof_m = special.logsumexp(Jc, axis=1)
            a, b = _bracket(prof_m, LOG_DROP)
            box_m = (mu_c[a], mu_c[b])
        if not fixed:
            prof_u = special.logsumexp(Jc, axis=0)
            a, b = _bracket(prof_u, LOG_DROP)
            use_tail = False
            if lo_open:
                # below the mode the density in u decays like exp(b u) when p(tau) is
                # finite and positive at 0: cut at LEFT_DROP and add the tail analytically
                a2, _ = _bracket(prof_u, LOG_DROP, LEFT_DROP)
                if a2 + 1 < prof_u.size:
                    slope = (prof_u[a2 + 1] - prof_u[a2]) / (u_c[1] - u_c[0])
                    if 0.5 < slope < 3.0 or a2 == 0:
                        a, use_tail = a2, True
            box_u = (u_c[a], u_c[b])
    # -- fine grids, refined until the estimated error is below tol
    simpson_mu = mu_fixed_at is None and (
        (math.isfinite(_bounds(mu_prior)[0]) and box_m[0] <= _bounds(mu_prior)[0])
        or (math.isfinite(_bounds(mu_prior)[1]) and box_m[1] >= _bounds(mu_prior)[1])
    )
    mu_axis, u_axis = mu_fixed_at is None, not fixed

    def nodes(n: int) -> tuple[Array, Array]:
        mu = np.linspace(*box_m, n) if mu_axis else np.array([mlo])
        u = np.linspace(*box_u, n) if u_axis else np.zeros(1)
        return mu, u

    def loglik(mu: Array, u: Array) -> Array:
        return lik.logp(mu, np.exp(u) if u_axis else np.zeros(1)).sum(-1)

    def prior_part(mu: Array, u: Array) -> Array:
        lpm = _logpdf(mu_prior, mu) if mu_axis else np.zeros(1)
        if not u_axis:
            return lpm[:, None]
        return lpm[:, None] + (_logpdf(tau_prior, np.exp(u)) + u)[None, :]

    exact: dict[int, tuple[Array, Array, Array]] = {}

    def exact_ll(n: int) -> tuple[Array, Array, Array]:
        """Sum of log p_i on the n-point grid, reusing the (n+1)/2-point grid's values."""
        if n not in exact:
            mu, u = nodes(n)
            old = exact.get((n + 1) // 2)
            if old is None:
                exact[n] = (mu, u, loglik(mu, u))
            else:
                ll = np.empty((mu.size, u.size))
                sm = slice(None, None, 2) if mu_axis else slice(None)
                su = slice(None, None, 2) if u_axis else slice(None)
                ll[sm, su] = old[2]
                if mu_axis:
                    ll[1::2, :] = loglik(mu[1::2], u)
                if u_axis:
                    ll[sm, 1::2] = loglik(mu[sm], u[1::2])
                exact[n] = (mu, u, ll)
        return exact[n]

    def make_core(mu: Array, u: Array, J: Array) -> _Core:
        if not np.all(np.isfinite(J) | (J == -np.inf)) or not np.isfinite(J).any():
            raise FloatingPointError("non-finite joint density on the integration grid")
        tail_b = 0.0
        if u_axis and use_tail:
            # density in u ~ exp(b u) at the floor
            gu = special.logsumexp(J, axis=0)
            tail_b = float((gu[1] - gu[0]) / (u[1] - u[0]))
            if not tail_b > 0.05:
                raise ValueError(
                    "the posterior of tau does not vanish as tau -> 0 (improper tau prior?)"
                )
        if not mu_axis:
            return _FixedMuCore(mu, u, J, tail_b, fixed)
        return _Core(mu, u, J, tail_b, simpson_mu, fixed)

    def half(core: _Core) -> _Core:
        if mu_axis:
            return _subgrid(core)
        return _FixedMuCore(core.mu, core.u[::2], core.J[:, ::2], core.tail_b, fixed)

    def errors(a: Array, b: Array) -> tuple[float, float]:
        m = min(a.size, b.size)
        e = np.abs(a[:m] - b[:m]) / 15.0
        return float(e[0]), float(e[1:].max()) if m > 1 else 0.0

    # Binomial: sum_i log p_i is smooth in (mu, u) and costly, so it is computed exactly on
    # an ne-point grid and carried to the nf-point quadrature grid by a cubic spline (in
    # logs, where the near-quadratic shape makes the spline very accurate). Two estimates:
    # quadrature (nf vs (nf+1)/2 grid) and interpolation (spline from ne vs (ne+1)/2 exact
    # points), each Richardson-scaled (h^4) and added.
    interp = lik.kind == "binomial" and (mu_axis or u_axis)
    nf = 129 if interp else n_start
    ne = 33 if interp else nf
    prev = None
    while True:
        mu, u = nodes(nf)
        pr = prior_part(mu, u)
        if interp:
            mue, ue, lle = exact_ll(ne)
            J = pr + _spline_grid((mue, ue), lle, (mu, u))
        else:
            J = pr + (exact_ll(nf)[2] if not u_axis and not mu_axis else loglik(mu, u))
        core = make_core(mu, u, J)
        s_fine = core.summary()
        e_quad = errors(s_fine, half(core).summary())
        e_int = (0.0, 0.0)
        if interp:
            sl = (slice(None, None, 2) if mu_axis else slice(None),) + (
                slice(None, None, 2) if u_axis else slice(None),
            )
            Jh = pr + _spline_grid((mue[sl[0]], ue[sl[1]]), lle[sl], (mu, u))
            e_int = errors(s_fine, make_core(mu, u, Jh).summary())
        est = {"log_evidence": e_quad[0] + e_int[0], "quantile": e_quad[1] + e_int[1]}
        total = max(est.values())
        if total <= tol or (nf >= MAX_GRID and (not interp or ne >= MAX_EXACT)):
            break
        if prev is not None and total >= prev:
            break  # no longer improving: error set by the table, not by the grid
        prev = total
        # Simpson/Hermite/spline errors fall like h^4: grow what the estimates ask for
        grow_f, grow_e = max(e_quad) > 0.5 * tol, max(e_int) > 0.5 * tol
        if not (grow_f or grow_e):
            grow_f = grow_e = True
        if grow_f and nf < MAX_GRID:
            factor = (max(e_quad) / (0.5 * tol)) ** 0.25
            nf = min(2 * nf - 1 if factor < 2.5 else 4 * nf - 3, MAX_GRID)
        if interp and grow_e and ne < MAX_EXACT:
            ne = 2 * ne - 1
            nf = max(nf, 4 * ne - 3) if nf < 4 * ne - 3 else nf
            nf = min(nf, MAX_GRID)
    n = nf
    Fm = core.mu_marginal()[0] if mu_fixed_at is None else None
    est["tail_prob"] = est["quantile"] * (float(np.max(core.f_mu)) if Fm is not None else 0.0)
    est["tail_prob"] = max(est["tail_prob"], est["quantile"] * 0.0)
    est["alpha_integral"] = float(lik.accuracy_alpha)
    est["log_evidence"] += float(lik.accuracy_alpha) * lik.k
    est["grid_points"] = float(n)
    est["exact_points"] = float(ne)
    if est["quantile"] > 100 * tol or not np.isfinite(core.log_norm):
        raise FloatingPointError(
            "the 2-D grid did not reach its accuracy on this posterior (estimated errors: "
            f"quantiles {est['quantile']:.2g}, log evidence {est['log_evidence']:.2g}, with "
            f"{n} x {ne} points); use engine='nuts' ('auto' falls back to it)"
        )
    return core, est, (mlo, mhi)


class _FixedMuCore(_Core):
    """Core with mu fixed (the H0 model): only tau is integrated."""

    def __init__(self, mu, u, J, tail_b, fixed):
        self.mu, self.u, self.J, self.tail_b, self.fixed = mu, u, J, tail_b, fixed
        self.simpson_mu = False
        self.wm = np.ones(1)
        if fixed:
            self.wu = np.ones(1)
        else:
            self.wu = _trap_weights(u.size, u[1] - u[0])
            if tail_b > 0:
                self.wu[0] += 1.0 / tail_b
        self.Jmax = float(np.max(J))
        E = np.exp(J - self.Jmax)
        Z = float(self.wm @ E @ self.wu)
        self.log_norm = self.Jmax + math.log(Z)
        self.P = E / Z
        self.f_mu = self.P @ self.wu
        self.g_u = self.wm @ self.P

    def summary(self) -> Array:
        out = [self.log_norm]
        if not self.fixed:
            Fu, gu = self.u_marginal()
            q = np.array([0.025, 0.5, 0.975])
            q = q[q > Fu[0]]
            out += list(np.exp(_invert_cdf(self.u[0], self.u[1] - self.u[0], Fu, gu, q)))
        return np.array(out)


# --------------------------------------------------------------------------------------
# the posterior
# --------------------------------------------------------------------------------------
@dataclass
class GridPosterior:
    r"""Posterior of a pairwise meta-analysis on a (mu, log tau) grid.

    Implements :class:`bayesmeta.engines.base.Posterior`. Build it with
    :func:`integrate_normal` or :func:`integrate_binomial`; rebuild a saved one with
    :meth:`from_datatree`.

    Attributes
    ----------
    capabilities : frozenset of str
        ``{"log_evidence", "density"}``.
    names : tuple of str
        ``mu, tau, tau2, theta_new, theta``.
    log_evidence : float
        log p(y) (binomial coefficients included); NaN under an improper mu prior.
    log_norm : float
        log of the normalising constant; equals ``log_evidence`` under proper priors and is
        otherwise valid for ratios between models sharing the same improper mu prior.
    accuracy : dict
        Estimated absolute errors: ``quantile`` (of mu and tau quantiles), ``tail_prob``,
        ``log_evidence``, ``alpha_integral`` (relative, binomial only), ``grid_points``.
    study_labels : list of str
    """

    mu: Array
    u: Array
    J: Array
    tail_b: float
    simpson_mu: bool
    fixed: bool
    mu_fixed_at: float | None
    log_evidence: float
    log_norm: float
    accuracy: dict[str, float]
    study_labels: list[str]
    likelihood: str
    lik_data: dict[str, Array]
    priors: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    chains: int = 4
    n_draws: int = 1000
    _lik: Any = field(default=None, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Power-law tail indices a (density ~ |x|^-a) of the posterior: ``mu_lo``, ``mu_hi``,
    #: ``tau`` (inf: lighter than any power; moment r exists iff a > r + 1).
    tail_index: dict[str, float] = field(default_factory=dict)
    #: Notes on the summaries, e.g. moments reported as inf because they do not exist.
    notes: tuple[str, ...] = ()

    capabilities: frozenset[str] = frozenset({"log_evidence", "density"})
    names: tuple[str, ...] = _NAMES

    # -- internals ----------------------------------------------------------------------
    @property
    def _core(self) -> _Core:
        if "core" not in self._cache:
            if self.mu_fixed_at is not None:
                self._cache["core"] = _FixedMuCore(self.mu, self.u, self.J, self.tail_b, self.fixed)
            else:
                self._cache["core"] = _Core(
                    self.mu, self.u, self.J, self.tail_b, self.simpson_mu, self.fixed
                )
        return self._cache["core"]

    @property
    def tau_nodes(self) -> Array:
        """Tau at the grid columns (0 for the fixed-effect model)."""
        return np.zeros(1) if self.fixed else np.exp(self.u)

    def _draw_fn(self, name: str):
        return lambda: self.joint_draws()[name]

    # -- Posterior protocol ---------------------------------------------------------------
    def marginal(self, name: str) -> Any:
        """Posterior of ``mu``, ``tau``, ``tau2``, ``theta_new`` or ``theta`` (K,)."""
        if name not in _NAMES:
            raise ValueError(f"unknown quantity {name!r}; names: {', '.join(_NAMES)}")
        if name not in self._cache:
            self._cache[name] = getattr(self, f"_marginal_{name}")()
        return self._cache[name]

    def _marginal_mu(self) -> Any:
        core = self._core
        if self.mu_fixed_at is not None:
            return _PointMass(self.mu_fixed_at, self._draw_fn("mu"))
        F, f = core.mu_marginal()
        return self._grid_marginal(self.mu, F, f, "mu")

    def _grid_marginal(self, w: Array, F: Array, f: Array, name: str, **kw: Any) -> GridMarginal:
        h = w[1] - w[0]
        wts = _simpson_weights(w.size, h) if w.size % 2 else _trap_weights(w.size, h)
        wts = wts / (wts @ f)
        mean = (wts * f * w).sum()
        sd = math.sqrt(max(((wts * f) * (w - mean) ** 2).sum(), 0.0))
        with np.errstate(over="ignore"):
            e = np.exp(w)
            me = (wts * f * e).sum()
            se = math.sqrt(max(((wts * f) * (e - me) ** 2).sum(), 0.0))
        mean, sd, me, se = self._moment_guard(name, mean, sd, me, se)
        return GridMarginal(
            np.array([w[0]]),
            np.array([h]),
            F[None, :],
            f[None, :],
            mean=np.asarray(mean),
            sd=np.asarray(sd),
            mean_exp=np.asarray(me),
            sd_exp=np.asarray(se),
            draws=self._draw_fn(name),
            **kw,
        )

    def _moment_guard(self, name, mean, sd, me, se):
        """Moments of heavy-tailed posteriors that do not exist are reported as inf."""
        ti = self.tail_index
        if name in ("mu", "theta_new"):
            a = min(ti.get("mu_lo", math.inf), ti.get("mu_hi", math.inf))
            if name == "theta_new":
                a = min(a, ti.get("tau", math.inf))
            a_hi = ti.get("mu_hi", math.inf) if name == "mu" else a
        elif name in ("tau", "tau2"):
            a = a_hi = ti.get("tau", math.inf)
            if name == "tau2":  # density of tau^2 ~ x^-((a + 1) / 2)
                a = a_hi = (a + 1) / 2
        else:
            return mean, sd, me, se
        inf = math.inf
        if not _has_moment(a, 1):
            mean = inf
        if not _has_moment(a, 2):
            sd = inf
        if math.isfinite(a_hi):  # a power-law upper tail: E exp(X) diverges
            me = se = inf
        return mean, sd, me, se

    def _marginal_tau(self, square: bool = False) -> Any:
        if self.fixed:
            return _PointMass(0.0, self._draw_fn("tau2" if square else "tau"))
        core = self._core
        Fu, gu = core.u_marginal()
        tau = np.exp(self.u)
        x = tau**2 if square else tau
        wts = core.wu * gu
        wts = wts / wts.sum()
        mean = float((wts * x).sum())
        sd = math.sqrt(max(float((wts * (x - mean) ** 2).sum()), 0.0))
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(x)
            me = float((wts * e).sum())
            se = math.sqrt(max(float((wts * (e - me) ** 2).sum()), 0.0))
        if not math.isfinite(me):  # exp(tau) overflows on the grid: no finite moment
            me, se = math.inf, math.inf
        mean, sd, me, se = self._moment_guard("tau2" if square else "tau", mean, sd, me, se)
        return GridMarginal(
            np.array([self.u[0]]),
            np.array([self.u[1] - self.u[0]]),
            Fu[None, :],
            gu[None, :],
            mean=np.asarray(mean),
            sd=np.asarray(sd),
            mean_exp=np.asarray(me),
            sd_exp=np.asarray(se),
            draws=self._draw_fn("tau2" if square else "tau"),
            log_scale=True,
            square=square,
            tail_b=self.tail_b,
        )

    def _marginal_tau2(self) -> Any:
        return self._marginal_tau(square=True)

    def _mixture_x(self, extra: Array | None = None) -> Array:
        """Return the evaluation grid for theta_new and theta."""
        hm = self.mu[1] - self.mu[0] if self.mu.size > 1 else 0.05
        taus = self.tau_nodes
        core = self._core
        wt = core.g_u * core.wu
        cw = np.cumsum(wt) / wt.sum()
        t_hi = taus[min(np.searchsorted(cw, 1 - 1e-12), taus.size - 1)]
        lo, hi = self.mu[0] - 9 * t_hi, self.mu[-1] + 9 * t_hi
        if extra is not None:
            lo, hi = min(lo, extra[0]), max(hi, extra[1])
        h = min(hm, self._lik.h_theta if self._lik is not None else hm)
        n = int(min(np.ceil((hi - lo) / h), 4000)) // 2 * 2 + 1
        return np.linspace(lo, hi, max(n, 201))

    def _mixture_density(self, x: Array, per_study: bool) -> Array:
        """Density of theta_new (per_study False) or theta_i on x: (X,) or (k, X)."""
        core = self._core
        mu = self.mu
        taus = self.tau_nodes
        P = core.P  # (M, T)
        wm, wu = core.wm, core.wu
        if self.mu_fixed_at is not None:
            mu = np.array([self.mu_fixed_at])
            wm = np.ones(1)
        hm = mu[1] - mu[0] if mu.size > 1 else np.inf
        lik = self._lik
        if per_study:
            lp = lik.logp(mu, taus) if taus.size <= 129 else None  # (M, T, k)
            lL = lik.logL(x)[0]  # (k, X)
            k = lik.k
            out = np.zeros((k, x.size))
        else:
            out = np.zeros(x.size)
        # the u-direction sum is spectrally accurate: every 4th column is plenty here
        if taus.size > 129:
            keep = np.arange(0, taus.size, 4)
            if keep[-1] != taus.size - 1:
                keep = np.append(keep, taus.size - 1)
            uu = np.log(taus[keep])
            wsub = np.zeros(keep.size)
            du = np.diff(uu)
            wsub[:-1] += 0.5 * du
            wsub[1:] += 0.5 * du
            if self.tail_b > 0:
                wsub[0] += 1.0 / self.tail_b
            taus, P, wu = taus[keep], P[:, keep], wsub
            if per_study:
                lp = lik.logp(mu, taus)
        colw = wu * (wm @ P)
        live = colw > 1e-15 * colw.max()
        for t, tt in enumerate(taus):
            if not live[t]:
                continue
            col = P[:, t] * wm  # (M,)
            if per_study:
                # g(mu) = P / p_i ; density L_i(x) * int g(mu) N(x | mu, tt^2) dmu
                with np.errstate(under="ignore", divide="ignore"):
                    lg = (np.log(np.maximum(P[:, t], 1e-320))[:, None] - lp[:, t, :]).T  # (k,M)
                if tt == 0 or tt < 1.5 * hm:
                    if tt == 0:
                        conv = np.exp(_interp_log(mu, lg, x))  # (k, X)
                    else:
                        pts = x[:, None] + tt * _GH10_Z[None, :]  # (X, Q)
                        conv = (np.exp(_interp_log(mu, lg, pts)) * _GH10_P).sum(-1)
                    out += wu[t] * conv * np.exp(lL)
                else:
                    sl, ws = _stride(mu, tt, hm)
                    kern = np.exp(-0.5 * ((x[None, :] - mu[sl, None]) / tt) ** 2) / (
                        tt * math.sqrt(2 * math.pi)
                    )  # (M', X)
                    g = np.exp(lg[:, sl]) * ws[None, :]  # (k, M')
                    out += wu[t] * (g @ kern) * np.exp(lL)
            else:
                if mu.size == 1:
                    if tt > 0:
                        out += (
                            wu[t]
                            * col[0]
                            * np.exp(-0.5 * ((x - mu[0]) / tt) ** 2)
                            / (tt * math.sqrt(2 * math.pi))
                        )
                    continue
                if tt < 1.5 * hm:
                    pts = x[:, None] + tt * _GH10_Z[None, :]
                    cub = _interp_cubic(mu, P[:, t], pts)
                    dens = np.where((pts >= mu[0]) & (pts <= mu[-1]), cub, 0.0)
                    out += wu[t] * (np.maximum(dens, 0.0) * _GH10_P).sum(-1)
                else:
                    sl, ws = _stride(mu, tt, hm)
                    kern = np.exp(-0.5 * ((x[None, :] - mu[sl, None]) / tt) ** 2) / (
                        tt * math.sqrt(2 * math.pi)
                    )
                    out += wu[t] * ((P[sl, t] * ws) @ kern)
        return out

    def _marginal_theta_new(self) -> Any:
        if self.fixed:
            return self.marginal("mu")
        if self.mu_fixed_at is None and self.mu.size > 1:
            x, dens = self._theta_new_fft()
        else:
            x = self._mixture_x()
            dens = self._mixture_density(x, per_study=False)
        m = GridMarginal.from_density(x, dens, draws=self._draw_fn("theta_new"))
        g = self._moment_guard("theta_new", m._mean, m._sd, m._mean_exp, m._sd_exp)
        m._mean, m._sd, m._mean_exp, m._sd_exp = (np.asarray(v, float) for v in g)
        return m

    def _fft_setup(self, extra: tuple[float, float] | None = None) -> tuple:
        """Shared set-up of the Fourier-space mixtures (theta_new and each theta_i).

        x shares the mu spacing and nodes, extended by 9 tau (the tau quantile at 1 - 1e-12)
        past the mu grid and over ``extra``; the tau columns are subsampled to every 4th
        when there are more than 129 (the u-direction sum is spectrally accurate).
        Returns ``x, ext_lo, taus, P, wu, live``.
        """
        core = self._core
        mu, taus, P, wu = self.mu, self.tau_nodes, core.P, core.wu
        hm = float(mu[1] - mu[0])
        wt = core.g_u * wu
        cw = np.cumsum(wt) / wt.sum()
        t_hi = taus[min(np.searchsorted(cw, 1 - 1e-12), taus.size - 1)]
        lo, hi = mu[0] - 9 * t_hi, mu[-1] + 9 * t_hi
        if extra is not None:
            lo, hi = min(lo, extra[0]), max(hi, extra[1])
        ext_lo = int(min(np.ceil((mu[0] - lo) / hm), 2000))
        ext_hi = int(min(np.ceil((hi - mu[-1]) / hm), 2000))
        x = mu[0] + hm * np.arange(-ext_lo, mu.size + ext_hi)
        if taus.size > 129:
            keep = np.arange(0, taus.size, 4)
            if keep[-1] != taus.size - 1:
                keep = np.append(keep, taus.size - 1)
            du = np.diff(np.log(taus[keep]))
            wu = np.zeros(keep.size)
            wu[:-1] += 0.5 * du
            wu[1:] += 0.5 * du
            if self.tail_b > 0:
                wu[0] += 1.0 / self.tail_b
            taus, P = taus[keep], P[:, keep]
        colw = wu * (core.wm @ P)
        live = colw > 1e-15 * colw.max()
        return x, ext_lo, taus, P, wu, live

    def _kernels(self, x: Array, ext_lo: int, tt: Array) -> tuple[Array, int]:
        """Gaussian kernels N(lag; 0, tt^2) on every lag x_j - mu_m, and the FFT length."""
        from scipy import fft as _fft

        hm, M, X = float(self.mu[1] - self.mu[0]), self.mu.size, x.size
        # lags (x_j - mu_m) / hm from -ext_lo - (M - 1) to X - 1 - ext_lo
        lag = hm * (np.arange(X + M - 1) - (M - 1) - ext_lo)
        kern = np.exp(-0.5 * (lag[None, :] / tt[:, None]) ** 2) / (
            tt[:, None] * math.sqrt(2 * math.pi)
        )
        return kern, _fft.next_fast_len(X + 2 * M - 2, real=True)

    def _theta_new_fft(self) -> tuple[Array, Array]:
        """Density of theta_new on the mu spacing, extended past the mu grid.

        Without the per-study factor L_i(x) the mixture is as smooth as the mu marginal, so
        x shares the mu spacing and its nodes: each column's convolution of P(., tau) with
        N(0, tau^2) is then a discrete convolution, summed over tau in Fourier space. Columns
        with tau below 1.5 mu spacings use Gauss-Hermite on the interpolated conditional.
        """
        mu, wm = self.mu, self._core.wm
        hm = float(mu[1] - mu[0])
        M = mu.size
        x, ext_lo, taus, P, wu, live = self._fft_setup()
        X = x.size
        out = np.zeros(X)
        small = np.flatnonzero(live & (taus < 1.5 * hm))
        for t in small:
            pts = x[:, None] + taus[t] * _GH10_Z[None, :]
            cub = _interp_cubic(mu, P[:, t], pts)
            dens = np.where((pts >= mu[0]) & (pts <= mu[-1]), cub, 0.0)
            out += wu[t] * (np.maximum(dens, 0.0) * _GH10_P).sum(-1)
        big = np.flatnonzero(live & (taus >= 1.5 * hm))
        if big.size:
            from scipy import fft as _fft

            kern, nfft = self._kernels(x, ext_lo, taus[big])
            A = (P[:, big] * wm[:, None]).T * wu[big][:, None]  # (T', M)
            F = (_fft.rfft(A, nfft, axis=1) * _fft.rfft(kern, nfft, axis=1)).sum(0)
            conv = _fft.irfft(F, nfft)[M - 1 : M - 1 + X]
            out += np.maximum(conv, 0.0)
        return x, out

    def _theta_fft(self, extra: tuple[float, float]) -> tuple[Array, Array]:
        """Density of every theta_i (k, X) on the mu spacing, as :meth:`_theta_new_fft`.

        theta_i's density is L_i(x) times the mixture over tau of
        ``int g_i(mu, tau) N(x | mu, tau^2) dmu`` with ``g_i = P / p_i`` (the posterior
        without study i's likelihood): for each tau column a discrete convolution in mu,
        summed over the columns in Fourier space (small tau: Gauss-Hermite as there).
        """
        from scipy import fft as _fft

        mu, wm, lik = self.mu, self._core.wm, self._lik
        hm = float(mu[1] - mu[0])
        M = mu.size
        x, ext_lo, taus, P, wu, live = self._fft_setup(extra)
        X = x.size
        lp = lik.logp(mu, taus)  # (M, T, k)
        with np.errstate(under="ignore", divide="ignore"):
            lg = np.log(np.maximum(P, 1e-320))[:, :, None] - lp  # (M, T, k)
        out = np.zeros((lik.k, X))
        for t in np.flatnonzero(live & (taus < 1.5 * hm)):
            lgt = lg[:, t, :].T  # (k, M)
            if taus[t] == 0:
                out += wu[t] * np.exp(_interp_log(mu, lgt, x))
            else:
                pts = x[:, None] + taus[t] * _GH10_Z[None, :]  # (X, Q)
                out += wu[t] * (np.exp(_interp_log(mu, lgt, pts)) * _GH10_P).sum(-1)
        big = np.flatnonzero(live & (taus >= 1.5 * hm))
        if big.size:
            kern, nfft = self._kernels(x, ext_lo, taus[big])
            K = _fft.rfft(kern, nfft, axis=1)  # (T', F)
            acc = np.zeros((lik.k, nfft // 2 + 1), complex)
            for j, t in enumerate(big):
                A = np.exp(lg[:, t, :].T) * (wm * wu[t])  # (k, M)
                acc += _fft.rfft(A, nfft, axis=1) * K[j]
            out += np.maximum(_fft.irfft(acc, nfft, axis=1)[:, M - 1 : M - 1 + X], 0.0)
        return x, out * np.exp(lik.logL(x)[0])

    def _marginal_theta(self) -> Any:
        lik = self._lik
        ylo = float(np.min(lik.center - 0 * lik.se) - 12 * np.max(lik.se))
        yhi = float(np.max(lik.center + 0 * lik.se) + 12 * np.max(lik.se))
        if lik.kind == "normal":
            ylo, yhi = float(np.min(lik.y - 10 * lik.se)), float(np.max(lik.y + 10 * lik.se))
        if self.mu_fixed_at is None and self.mu.size > 1 and not self.fixed:
            x, dens = self._theta_fft((ylo, yhi))
        else:
            x = self._mixture_x((ylo, yhi))
            dens = self._mixture_density(x, per_study=True)
        # drop the far tails where the density is negligible
        return GridMarginal.from_density(
            x, dens, draws=self._draw_fn("theta"), shape=(dens.shape[0],)
        )

    # -- draws ----------------------------------------------------------------------------
    def joint_draws(self) -> dict[str, Array]:
        """Independent joint draws of mu, tau, tau2, theta_new, theta (chain, draw, ...)."""
        if "draws" in self._cache:
            return self._cache["draws"]
        rng = np.random.default_rng(self.seed)
        S = self.chains * self.n_draws
        core = self._core
        if self.mu_fixed_at is not None:
            mu_d = np.full(S, self.mu_fixed_at)
            row = np.zeros(S, dtype=int)
            frac = np.zeros(S)
        else:
            F, f = core.mu_marginal()
            mu_d = _invert_cdf(self.mu[0], self.mu[1] - self.mu[0], F, f, rng.uniform(size=S))
            s = (mu_d - self.mu[0]) / (self.mu[1] - self.mu[0])
            row = np.clip(np.floor(s).astype(int), 0, self.mu.size - 2)
            frac = np.clip(s - row, 0, 1)
        if self.fixed:
            tau_d = np.zeros(S)
        else:
            P = core.P
            r1 = np.minimum(row + 1, P.shape[0] - 1)
            cond = (1 - frac)[:, None] * P[row] + frac[:, None] * P[r1]  # (S, T)
            cond = cond * core.wu[None, :]
            cw = np.cumsum(cond, axis=1)
            cw /= cw[:, -1:]
            v = rng.uniform(size=S)
            j = (cw < v[:, None]).sum(1)
            j = np.minimum(j, self.u.size - 1)
            # uniform jitter within the node's cell
            hu = self.u[1] - self.u[0]
            ud = self.u[j] + (rng.uniform(size=S) - 0.5) * hu
            ud = np.clip(ud, self.u[0], self.u[-1])
            tau_d = np.exp(ud)
        theta_new = mu_d + tau_d * rng.standard_normal(S)
        theta = self._draw_theta(mu_d, tau_d, rng)
        shape = (self.chains, self.n_draws)
        out = {
            "mu": mu_d.reshape(shape),
            "tau": tau_d.reshape(shape),
            "tau2": (tau_d**2).reshape(shape),
            "theta_new": theta_new.reshape(shape),
            "theta": theta.reshape(*shape, -1),
        }
        self._cache["draws"] = out
        return out

    def _draw_theta(self, mu: Array, tau: Array, rng: np.random.Generator) -> Array:
        """theta_i | mu, tau, y_i  proportional to L_i(theta) N(theta | mu, tau^2)."""
        lik = self._lik
        S, k = mu.size, lik.k
        if self.fixed:
            return np.repeat(mu[:, None], k, axis=1)
        c = np.repeat(mu[None, :], k, axis=0)  # (k, S) Newton for the mode
        t2 = np.maximum(tau, 1e-12)[None, :] ** 2
        for _ in range(30):
            _, d1, d2 = lik.logL(c)
            d1 = np.diagonal(d1, axis1=0, axis2=1).T if d1.ndim == 3 else d1
            d2 = np.diagonal(d2, axis1=0, axis2=1).T if d2.ndim == 3 else d2
            g1 = d1 - (c - mu[None, :]) / t2
            g2 = np.minimum(d2, 0.0) - 1 / t2
            step = np.clip(-g1 / g2, -2.0, 2.0)
            c = c + step
            if np.max(np.abs(step)) < 1e-8:
                break
        s = 1 / np.sqrt(-g2)
        z = np.linspace(-10, 10, 161)
        pts = c[..., None] + s[..., None] * z  # (k, S, Z)
        ll = np.stack([lik.logL(pts[i])[0][i] for i in range(k)])  # (k, S, Z)
        lw = ll - 0.5 * (pts - mu[None, :, None]) ** 2 / t2[..., None]
        w = np.exp(lw - lw.max(-1, keepdims=True))
        cw = np.cumsum(0.5 * (w[..., 1:] + w[..., :-1]), axis=-1)
        cw = np.concatenate([np.zeros((*cw.shape[:-1], 1)), cw], axis=-1)
        cw /= cw[..., -1:]
        v = rng.uniform(size=(k, S))
        j = np.clip((cw < v[..., None]).sum(-1) - 1, 0, z.size - 2)
        c0 = np.take_along_axis(cw, j[..., None], -1)[..., 0]
        c1 = np.take_along_axis(cw, j[..., None] + 1, -1)[..., 0]
        fr = np.where(c1 > c0, (v - c0) / np.maximum(c1 - c0, 1e-300), 0.5)
        zz = z[j] + fr * (z[1] - z[0])
        return (c + s * zz).T

    # -- extras -----------------------------------------------------------------------------
    def implied(self, p0: float) -> dict[str, Any]:
        r"""Implied risk ratio and risk difference at control risk ``p0``.

        With :math:`\mathrm{RR}(x) = \mathrm{expit}(\mathrm{logit}\,p_0 + x)/p_0` and
        :math:`\mathrm{RD}(x) = \mathrm{expit}(\mathrm{logit}\,p_0 + x) - p_0` (both
        increasing in the log odds ratio x), returns Marginals under the keys
        ``RR_mu``, ``RR_theta_new``, ``RD_mu``, ``RD_theta_new``.
        """
        if not 0 < p0 < 1:
            raise ValueError(f"p0 must be a risk strictly between 0 and 1, got {p0!r}")
        lp0 = special.logit(p0)

        def rr(x):
            return special.expit(lp0 + x) / p0

        def rr_inv(r):
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(
                    r <= 0, -np.inf, np.where(r * p0 >= 1, np.inf, special.logit(r * p0) - lp0)
                )

        def rd(x):
            return special.expit(lp0 + x) - p0

        def rd_inv(d):
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(
                    d <= -p0,
                    -np.inf,
                    np.where(d >= 1 - p0, np.inf, special.logit(np.clip(d + p0, 0, 1)) - lp0),
                )

        out = {}
        for name in ("mu", "theta_new"):
            out[f"RR_{name}"] = _Transformed(self.marginal(name), rr, rr_inv)
            out[f"RD_{name}"] = _Transformed(self.marginal(name), rd, rd_inv)
        return out

    # -- persistence --------------------------------------------------------------------------
    def to_datatree(
        self, chains: int | None = None, draws: int | None = None, seed: int | None = None
    ) -> Any:
        """DataTree: ``posterior`` (independent draws) and ``grid`` (the representation)."""
        import xarray as xr

        saved = (self.chains, self.n_draws, self.seed, self._cache.pop("draws", None))
        self.chains = chains or self.chains
        self.n_draws = draws or self.n_draws
        self.seed = self.seed if seed is None else seed
        d = self.joint_draws()
        n_chains, n_draws, used_seed = self.chains, self.n_draws, self.seed
        self.chains, self.n_draws, self.seed = saved[:3]
        self._cache.pop("draws", None)
        if saved[3] is not None:
            self._cache["draws"] = saved[3]
        post = xr.Dataset(
            {
                "mu": (("chain", "draw"), d["mu"]),
                "tau": (("chain", "draw"), d["tau"]),
                "theta_new": (("chain", "draw"), d["theta_new"]),
                "theta": (("chain", "draw", "study"), d["theta"]),
            },
            coords={
                "chain": np.arange(n_chains),
                "draw": np.arange(n_draws),
                "study": list(self.study_labels),
            },
        )
        grid_vars = {
            "J": (("grid_mu", "grid_u"), self.J),
            "mu_nodes": (("grid_mu",), self.mu),
            "u_nodes": (("grid_u",), self.u if not self.fixed else np.zeros(1)),
        }
        for key, val in self.lik_data.items():
            grid_vars[f"data_{key}"] = (("study",), np.asarray(val, dtype=float))
        attrs = {
            "engine": "grid",
            "likelihood": self.likelihood,
            "tail_b": self.tail_b,
            "simpson_mu": int(self.simpson_mu),
            "fixed": int(self.fixed),
            "mu_fixed_at": np.nan if self.mu_fixed_at is None else self.mu_fixed_at,
            "log_evidence": self.log_evidence,
            "log_norm": self.log_norm,
            "seed": used_seed,
            **{f"accuracy_{k}": v for k, v in self.accuracy.items()},
            **{f"tailindex_{k}": v for k, v in self.tail_index.items()},
            "notes": "\n".join(self.notes),
            **{f"prior_{k}": v for k, v in self.priors.items()},
            **{f"lik_{k}": v for k, v in self._lik_params().items()},
        }
        grid = xr.Dataset(grid_vars, coords={"study": list(self.study_labels)}, attrs=attrs)
        return xr.DataTree.from_dict({"posterior": post, "grid": grid})

    def _lik_params(self) -> dict[str, Any]:
        if self.likelihood == "binomial":
            return {
                "h_theta": self._lik.h_theta,
                "n_alpha": self._lik.n_alpha,
                "baseline": repr(self._lik.baseline),
                "baseline_json": _prior_json(self._lik.baseline),
            }
        return {}

    @classmethod
    def from_datatree(cls, dt: Any) -> GridPosterior:
        """Rebuild from :meth:`to_datatree` output without refitting the grid."""
        g = dt["grid"].to_dataset() if hasattr(dt["grid"], "to_dataset") else dt["grid"]
        a = dict(g.attrs)
        labels = [str(s) for s in g["study"].values]
        data = {k[5:]: g[k].values for k in g.data_vars if k.startswith("data_")}
        likelihood = a["likelihood"]
        if likelihood == "normal":
            lik = _NormalLik(data["y"], data["v"])
        else:
            baseline = _prior_from_json(a["lik_baseline_json"])
            lik = _BinomialLik(
                data["events_t"],
                data["n_t"],
                data["events_c"],
                data["n_c"],
                baseline,
                n_alpha=int(a["lik_n_alpha"]),
                h_theta=float(a["lik_h_theta"]),
            )
        fixed = bool(a["fixed"])
        mfa = float(a["mu_fixed_at"])
        post = dt["posterior"]
        return cls(
            mu=g["mu_nodes"].values,
            u=np.zeros(0) if fixed else g["u_nodes"].values,
            J=g["J"].values,
            tail_b=float(a["tail_b"]),
            simpson_mu=bool(a["simpson_mu"]),
            fixed=fixed,
            mu_fixed_at=None if math.isnan(mfa) else mfa,
            log_evidence=float(a["log_evidence"]),
            log_norm=float(a["log_norm"]),
            accuracy={k[9:]: float(v) for k, v in a.items() if k.startswith("accuracy_")},
            study_labels=labels,
            likelihood=likelihood,
            lik_data=data,
            priors={k[6:]: str(v) for k, v in a.items() if k.startswith("prior_")},
            seed=int(a["seed"]),
            chains=int(post.sizes["chain"]),
            n_draws=int(post.sizes["draw"]),
            _lik=lik,
            tail_index={k[10:]: float(v) for k, v in a.items() if k.startswith("tailindex_")},
            notes=tuple(n for n in str(a.get("notes", "")).split("\n") if n),
        )


def _prior_json(p: Any) -> str:
    import json

    try:
        return json.dumps({"dist": type(p).__name__, **{k: float(v) for k, v in p.params.items()}})
    except Exception:
        return json.dumps({"dist": type(p).__name__})


def _prior_from_json(text: str) -> Any:
    import json

    from bayesmeta import priors

    spec = json.loads(text)
    cls = getattr(priors, spec.pop("dist"))
    return cls(**spec)


def _interp_cubic(x: Array, y: Array, pts: Array) -> Array:
    """Cubic Lagrange interpolation on a uniform grid (4 neighbours)."""
    h = x[1] - x[0]
    s = (pts - x[0]) / h
    j = np.clip(np.floor(s).astype(int), 1, x.size - 3)
    t = s - j
    return (
        -t * (t - 1) * (t - 2) / 6 * y[..., j - 1]
        + (t + 1) * (t - 1) * (t - 2) / 2 * y[..., j]
        - (t + 1) * t * (t - 2) / 2 * y[..., j + 1]
        + (t + 1) * t * (t - 1) / 6 * y[..., j + 2]
    )


def _spline_grid(xs_e: tuple[Array, ...], ll: Array, xs_f: tuple[Array, ...]) -> Array:
    """Tensor cubic-spline interpolation of ``ll`` from the grid ``xs_e`` to ``xs_f``."""
    from scipy.interpolate import make_interp_spline

    out = ll
    for ax, (xe, xf) in enumerate(zip(xs_e, xs_f, strict=True)):
        if xe.size > 1 and not (xe.size == xf.size and np.array_equal(xe, xf)):
            out = make_interp_spline(xe, out, k=3, axis=ax)(xf)
    return out


def _stride(mu: Array, tau: float, hm: float) -> tuple[Array, Array]:
    """Every s-th mu node (trapezoid weights) when the N(., tau^2) kernel allows it."""
    s = int(max(1, np.floor(tau / (2.0 * hm))))
    idx = np.arange(0, mu.size, s)
    if idx[-1] != mu.size - 1:
        idx = np.append(idx, mu.size - 1)
    w = np.diff(mu[idx])
    ws = np.zeros(idx.size)
    ws[:-1] += 0.5 * w
    ws[1:] += 0.5 * w
    return idx, ws


def _interp_log(x: Array, ly: Array, pts: Array) -> Array:
    """Cubic interpolation of log densities ``ly`` (..., M) at ``pts``; -inf outside."""
    with np.errstate(invalid="ignore"):
        val = _interp_cubic(x, ly, pts)
    inside = (pts >= x[0]) & (pts <= x[-1])
    return np.where(inside & np.isfinite(val), val, -np.inf)


# --------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------
def _labels(study_labels: Any, k: int) -> list[str]:
    if study_labels is None:
        return [f"study {i + 1}" for i in range(k)]
    labels = [str(s) for s in study_labels]
    if len(labels) != k:
        raise ValueError(f"study_labels has {len(labels)} entries for {k} studies")
    return labels


def _finish(lik, core, est, mu_prior, tau_prior, mu_fixed_at, labels, data, seed) -> GridPosterior:
    proper_mu = mu_fixed_at is not None or _proper(mu_prior)
    post = GridPosterior(
        mu=core.mu,
        u=core.u if tau_prior is not None else np.zeros(0),
        J=core.J,
        tail_b=core.tail_b,
        simpson_mu=core.simpson_mu,
        fixed=tau_prior is None,
        mu_fixed_at=mu_fixed_at,
        log_evidence=core.log_norm if proper_mu else math.nan,
        log_norm=core.log_norm,
        accuracy=est,
        study_labels=labels,
        likelihood=lik.kind,
        lik_data=data,
        priors={
            "mu": repr(mu_prior) if mu_fixed_at is None else f"fixed at {mu_fixed_at:g}",
            "tau": "tau = 0 (fixed effect)" if tau_prior is None else repr(tau_prior),
        },
        seed=seed,
        _lik=lik,
    )
    post._cache["core"] = core
    post.tail_index, post.notes = _tail_indices(lik, core, mu_prior, tau_prior, mu_fixed_at)
    return post


def _power(logf: Any, x1: float, x2: float) -> float:
    """Power-law index a of a density ~ x^-a from its log at x1 < x2 (inf if lighter)."""
    with np.errstate(all="ignore"):
        l1, l2 = (float(np.asarray(logf(x)).ravel()[0]) for x in (x1, x2))
    if not math.isfinite(l1) or not math.isfinite(l2):
        return math.inf
    a = -(l2 - l1) / math.log(x2 / x1)
    return a if a < 50 else math.inf


#: An estimated tail index this close to a moment's boundary counts as on it, where the
#: moment diverges (logarithmically): the estimates are accurate to ~1e-9, and the indices
#: of the priors and likelihoods here are integers or half-integers.
_MOMENT_MARGIN = 1e-6


def _has_moment(a: float, r: int) -> bool:
    """Whether a density with tail ~ |x|^-a has a finite r-th absolute moment."""
    return a > r + 1 + _MOMENT_MARGIN


def _tail_indices(lik, core, mu_prior, tau_prior, mu_fixed_at):
    """Tail indices of the posterior of mu (each side) and tau, and notes for absent moments.

    The tails are those of prior x likelihood far outside the grid (|x| ~ 1e6-1e7 times the
    data's scale), where both follow power laws or decay faster than any power. Far out in
    mu there are two routes: tau near 0 (the likelihood's own tail in mu), and tau ~ |mu|,
    where the likelihood scales as tau^-k' and p(mu) ~ |mu|^-(c + b + k' - 1) for a mu prior
    with tail index c and a tau prior with index b (b + k' is tau's index at fixed mu).
    """
    ref = float(max(np.median(lik.se), 0.05))
    out: dict[str, float] = {}
    # the likelihood's own tail in mu (at tau ~ 0): flat (zero cells) or exponential
    taus = np.zeros(1) if core.fixed else np.array([1e-9 * ref])
    if mu_fixed_at is None:
        c = float(core.mu[np.argmax(core.f_mu)])
        for side, sgn in (("mu_lo", -1.0), ("mu_hi", 1.0)):

            def logf(x, sgn=sgn):
                m = np.array([c + sgn * x])
                return _logpdf(mu_prior, m) + lik.logp(m, taus).sum()

            out[side] = _power(logf, 1e6 * ref, 1e7 * ref)
    if tau_prior is not None:
        m0 = np.array([mu_fixed_at if mu_fixed_at is not None else float(core.mu[0])])
        if mu_fixed_at is None:
            m0 = np.array([float(core.mu[np.argmax(core.f_mu)])])

        def logt(x):
            return _logpdf(tau_prior, np.array([x])) + lik.logp(m0, np.array([x])).sum()

        a = _power(logt, 1e6 * ref, 1e7 * ref)
        if mu_fixed_at is None:
            c = _power(lambda x: _logpdf(mu_prior, np.array([x])), 1e6 * ref, 1e7 * ref)
            for side in ("mu_lo", "mu_hi"):  # the route through large tau
                out[side] = min(out[side], c + a - 1.0)
            if not _proper(mu_prior) and math.isfinite(a):
                a -= 1.0  # integrating mu over a flat prior gains a factor tau
        out["tau"] = a
    notes = []
    checks = (("mu", min(out.get("mu_lo", math.inf), out.get("mu_hi", math.inf))),)
    checks += (("tau", out.get("tau", math.inf)),)
    for name, a in checks:
        if not _has_moment(a, 1):
            notes.append(
                f"the posterior of {name} has no mean (tail ~ |x|^-{a:.3g}); reported as inf"
            )
        elif not _has_moment(a, 2):
            notes.append(
                f"the posterior of {name} has no variance (tail ~ |x|^-{a:.3g}); sd reported as inf"
            )
    return out, tuple(notes)


def integrate_normal(
    y: ArrayLike,
    v: ArrayLike,
    *,
    mu_prior: Any,
    tau_prior: Any | None,
    study_labels: Any = None,
    mu_fixed_at: float | None = None,
    tol: float = 1e-6,
    seed: int = 0,
) -> GridPosterior:
    r"""Exact posterior of the normal-normal model for any prior on mu.

    .. math::

        y_i \sim N(\mu, v_i + \tau^2),\quad \mu \sim p(\mu),\quad \tau \sim p(\tau)

    integrated on a (mu, log tau) grid (see the module docstring).

    Parameters
    ----------
    y, v : array_like (K,)
        Estimates and sampling variances.
    mu_prior : Prior
        Any prior with ``logpdf`` (Normal, TruncatedNormal, StudentT, Flat, ...).
    tau_prior : Prior or None
        None for the fixed-effect model (tau = 0).
    study_labels : sequence of str, optional
    mu_fixed_at : float, optional
        Fix mu (the null model of the Bayes factor for the effect).
    tol : float
        Target absolute error of quantiles and log evidence (estimated, see ``accuracy``).
    seed : int
        Seed of :meth:`GridPosterior.joint_draws`.

    Returns
    -------
    GridPosterior

    Raises
    ------
    ValueError
        For inconsistent inputs or priors whose support misses the data.
    FloatingPointError
        If the grid cannot reach a finite, accurate answer.

    Examples
    --------
    >>> from bayesmeta import priors
    >>> p = integrate_normal([0.1, 0.3], [0.02, 0.03], mu_prior=priors.Normal(0, 1),
    ...                      tau_prior=None)
    >>> round(float(p.marginal("mu").mean()), 4)
    0.1779
    """
    y = np.asarray(y, dtype=float).ravel()
    v = np.asarray(v, dtype=float).ravel()
    if y.size == 0 or y.shape != v.shape:
        raise ValueError("y and v must be non-empty and of equal length")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("y must be finite and v finite and > 0")
    lik = _NormalLik(y, v)
    core, est, _ = _fit(lik, mu_prior, tau_prior, mu_fixed_at=mu_fixed_at, tol=tol)
    return _finish(
        lik,
        core,
        est,
        mu_prior,
        tau_prior,
        mu_fixed_at,
        _labels(study_labels, y.size),
        {"y": y, "v": v},
        seed,
    )


def integrate_binomial(
    events_t: ArrayLike,
    n_t: ArrayLike,
    events_c: ArrayLike,
    n_c: ArrayLike,
    *,
    mu_prior: Any,
    tau_prior: Any | None,
    baseline_prior: Any = None,
    study_labels: Any = None,
    mu_fixed_at: float | None = None,
    tol: float = 1e-5,
    n_alpha: int = 24,
    seed: int = 0,
) -> GridPosterior:
    r"""Exact posterior of the binomial-normal model (log odds ratio scale).

    .. math::

        r_{ci} \sim \mathrm{Bin}(n_{ci}, \mathrm{expit}\,\alpha_i),\
        r_{ti} \sim \mathrm{Bin}(n_{ti}, \mathrm{expit}(\alpha_i + \theta_i)),\
        \theta_i \sim N(\mu, \tau^2),\ \alpha_i \sim p(\alpha)

    with no continuity correction; double-zero studies are kept (see the module notes).

    Parameters
    ----------
    events_t, n_t, events_c, n_c : array_like (K,)
        Events and totals in the experimental (t) and control (c) arms.
    mu_prior, tau_prior : Prior
        As in :func:`integrate_normal` (``tau_prior=None``: fixed effect).
    baseline_prior : Prior, optional
        Prior on each study's control log odds alpha_i; default ``Normal(0, 10)``.
    study_labels : sequence of str, optional
    mu_fixed_at : float, optional
        Fix mu (the null model of the Bayes factor for the effect).
    tol : float
        Target absolute error of quantiles and log evidence (estimated).
    n_alpha : int
        Gauss-Legendre nodes on each side of the alpha mode.
    seed : int
        Seed of :meth:`GridPosterior.joint_draws`.

    Returns
    -------
    GridPosterior

    Examples
    --------
    >>> from bayesmeta import priors
    >>> p = integrate_binomial([3, 0], [20, 15], [8, 0], [20, 15],
    ...                        mu_prior=priors.Normal(0, 2), tau_prior=priors.HalfNormal(0.5))
    >>> q = p.marginal("mu").quantile([0.025, 0.975])
    >>> bool(q[0] < 0 < q[1] + 1)
    True
    """
    from bayesmeta import priors as _priors

    arrs = [np.asarray(a, dtype=float).ravel() for a in (events_t, n_t, events_c, n_c)]
    et, nt, ec, nc = arrs
    if not (et.size == nt.size == ec.size == nc.size) or et.size == 0:
        raise ValueError("events_t, n_t, events_c, n_c must be non-empty and of equal length")
    for name, e, n in (("t", et, nt), ("c", ec, nc)):
        if not (np.all(np.isfinite(e)) and np.all(np.isfinite(n))):
            raise ValueError(f"events_{name} and n_{name} must be finite")
        if np.any(e < 0) or np.any(n <= 0) or np.any(e > n) or np.any(e != np.round(e)):
            raise ValueError(f"need integer 0 <= events_{name} <= n_{name} and n_{name} > 0")
    if baseline_prior is None:
        baseline_prior = _priors.BASELINE
    if mu_fixed_at is None and not _proper(mu_prior):
        flat_tails = np.any(et == 0) or np.any(et == nt)
        if flat_tails and np.all((et == 0) | (et == nt) | (ec == 0) | (ec == nc)):
            raise ValueError(
                "an improper mu prior with every study having a zero (or full) cell gives an "
                "improper posterior; use a proper prior on mu"
            )
    lik = _BinomialLik(et, nt, ec, nc, baseline_prior, n_alpha=n_alpha, h_theta=None)
    core, est, _ = _fit(lik, mu_prior, tau_prior, mu_fixed_at=mu_fixed_at, tol=tol)
    data = {"events_t": et, "n_t": nt, "events_c": ec, "n_c": nc}
    return _finish(
        lik,
        core,
        est,
        mu_prior,
        tau_prior,
        mu_fixed_at,
        _labels(study_labels, et.size),
        data,
        seed,
    )


# -- engine adapter (bayesmeta.engines registry; keep below the numerical code) ---------------
DESCRIPTION = "exact numerical integration (2-D grid over mu and tau)"
CAPABILITIES = frozenset({"log_evidence", "density"})


def applies(spec: Any, sd: Any) -> str | None:
    """None when the grid engine can fit ``spec``; otherwise the reason."""
    if spec.moderators is not None or spec.subgroup is not None:
        return "the grid engine fits pairwise models (no moderators)"
    if spec.likelihood == "binomial":
        from bayesmeta import priors as P

        if spec.baseline_prior is not None and not isinstance(spec.baseline_prior, P.Normal):
            return f"the baseline prior must be Normal (got {spec.baseline_prior!r})"
    return None


def _integrate(spec: Any, sd: Any, *, tau_prior: Any, mu_fixed_at: float | None) -> GridPosterior:
    if spec.likelihood == "binomial":
        t = sd.table
        post = integrate_binomial(
            t["events_t"].to_numpy(float),
            t["n_t"].to_numpy(float),
            t["events_c"].to_numpy(float),
            t["n_c"].to_numpy(float),
            mu_prior=spec.mu_prior,
            tau_prior=tau_prior,
            baseline_prior=spec.baseline_prior,
            study_labels=sd.labels,
            mu_fixed_at=mu_fixed_at,
            seed=spec.seed or 0,
        )
    else:
        post = integrate_normal(
            sd.yi,
            sd.vi,
            mu_prior=spec.mu_prior,
            tau_prior=tau_prior,
            study_labels=sd.labels,
            mu_fixed_at=mu_fixed_at,
            seed=spec.seed or 0,
        )
    post.chains, post.n_draws = spec.chains, spec.draws
    return post


def fit(spec: Any, sd: Any) -> tuple[GridPosterior, Any]:
    """Fit a resolved ``spec`` to ``sd``."""
    from bayesmeta.diagnostics import Diagnostics

    tau = None if spec.fixed else spec.tau_prior
    return _integrate(spec, sd, tau_prior=tau, mu_fixed_at=None), Diagnostics.exact()


class Evidence:
    """Log marginal likelihood and the normalising constant valid for ratios."""

    def __init__(self, log_evidence: float, log_norm: float) -> None:
        self.log_evidence, self.log_norm = log_evidence, log_norm


def evidence(spec: Any, sd: Any, *, tau_zero: bool = False, mu_zero: bool = False) -> Evidence:
    """Marginal likelihood of ``spec``, or of its tau = 0 / mu = 0 sub-model."""
    tau = None if (spec.fixed or tau_zero) else spec.tau_prior
    post = _integrate(spec, sd, tau_prior=tau, mu_fixed_at=0.0 if mu_zero else None)
    return Evidence(float(post.log_evidence), float(post.log_norm))


def owns(dt: Any) -> bool:
    """Tell whether a saved DataTree holds this engine's posterior."""
    return "grid" in dt.children


def load_posterior(dt: Any) -> GridPosterior:
    """Rebuild the saved posterior without refitting."""
    return GridPosterior.from_datatree(dt)
