r"""Exact engine for the linear model with one variance component (quadrature over tau).

Model
-----
.. math::

    y \mid \beta, \tau \sim N(X\beta,\ S + \tau^2 W),\qquad
    \beta_j \sim N(m_{0j}, V_{0j})\ \text{(or flat, or fixed)},\qquad
    \tau \sim p(\tau).

Pairwise meta-analysis is ``X = 1`` (coefficient ``mu``), ``S = diag(v)``, ``W = I``;
meta-regression adds moderator columns; subgroups with a common tau use group indicators;
network meta-analysis uses a block-diagonal ``S`` and ``W`` with 0.5 off-diagonals.

Given :math:`\tau` everything is Gaussian. With :math:`T` such that :math:`TST^\top = I`
and :math:`TWT^\top = \Lambda = \mathrm{diag}(\lambda)` (simultaneous diagonalisation;
:math:`T = \mathrm{diag}(v)^{-1/2}`, :math:`\lambda = 1/v` for the pairwise case),
:math:`\tilde y = Ty`, :math:`\tilde X = TX` and :math:`D = I + \tau^2\Lambda`:

.. math::

    A(\tau) = \tilde X^\top D^{-1}\tilde X + V_0^{-1},\quad
    \hat\beta(\tau) = m_0 + A^{-1}\tilde X^\top D^{-1}(\tilde y - \tilde X m_0),\quad
    \beta \mid \tau, y \sim N(\hat\beta, A^{-1}),

.. math::

    \log p(y\mid\tau) = -\tfrac12\Big[(K - p_\mathrm{flat})\log 2\pi + \log|S|
      + \textstyle\sum_i \log d_i + \log|V_0| + \log|A| + r^\top D^{-1} r
      - c^\top A^{-1} c\Big]

(:math:`r = \tilde y - \tilde X m_0`, :math:`c = \tilde X^\top D^{-1} r`; flat coordinates
enter with zero prior precision and give the restricted likelihood, defined up to a
constant common to all tau; the quadratic form is evaluated as a weighted residual sum
of squares for numerical stability). The one-dimensional posterior
:math:`p(u\mid y) \propto p(\tau)\,\tau\,p(y\mid\tau)` of :math:`u = \log\tau` is
integrated by composite Gauss-Legendre panels: panels placed by a coarse scan of the log
density where the mass is, plus one panel per end that either stops *exactly* at the
bound of the prior's support or maps the infinite tail onto :math:`[-1, 1]`
(:math:`u = u_b + c\,s/(1-s)`), so polynomially and exponentially decaying tails are both
integrated. The resolution is checked on the Legendre coefficients of every panel, and
the panels that do not resolve the density are halved until it is resolved. The
posterior of tau is the piecewise Legendre interpolant (CDF and quantiles in closed form
per panel); every other posterior is a normal mixture over the nodes (the conditional
moments at the nodes come from the last pass of the quadrature). Moments whose existence
depends on the decay of :math:`p(\tau\mid y)` at infinity (slope of the log density in u
far out) are reported as ``inf`` with a note.

References
----------
Röver C. Bayesian random-effects meta-analysis using the bayesmeta R package. Journal of
Statistical Software 2020;93(6):1-51. https://doi.org/10.18637/jss.v093.i06

Röver C, Friede T. Using the bayesmeta R package for Bayesian random-effects
meta-regression. Computer Methods and Programs in Biomedicine 2023;229:107303.
https://doi.org/10.1016/j.cmpb.2022.107303

Examples
--------
>>> import numpy as np
>>> from bayesmeta import priors
>>> from bayesmeta.engines.linear import integrate
>>> y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
>>> s = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
>>> post = integrate(y, s**2, beta_prior_var=[np.inf], tau_prior=priors.Uniform(0, 15))
>>> np.round(post.marginal("tau").quantile([0.5, 0.975]), 4)
array([ 4.7703, 13.7083])
>>> np.round(post.marginal("mu").quantile([0.025, 0.5, 0.975]), 3)
array([-1.437,  7.866, 17.358])
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

__all__ = [
    "ImproperPosteriorError",
    "LinearPosterior",
    "MixtureMarginal",
    "TauMarginal",
    "Weights",
    "integrate",
]

Array = NDArray[np.float64]

_LOG2PI = math.log(2 * math.pi)
#: Gauss-Legendre nodes per panel.
N_GAUSS = 12
#: Panel width times the local rate of change of log density (then the panels that the
#: Legendre coefficients say are not resolved are halved, up to MAX_LEVELS - 1 times).
PANEL_RATE = 1.0
MAX_LEVELS = 4
#: Log-density drop that bounds the central range (the tails beyond are still integrated).
LOG_DROP = 34.0
#: Resolution target: sum over panels of the last two Legendre coefficients / total mass.
RESOLUTION_TOL = 1e-8
#: Refinement halves the least resolved panels until the others hold less than this
#: fraction of RESOLUTION_TOL.
_KEEP_ERR = 0.25
#: Far-tail probe: the decay rate r of p(u | y) ~ e^{-r u} decides which moments exist.
_FAR = (40.0, 80.0)
_MOMENT_MARGIN = 0.02
_CHUNK = 512
#: Mixture components lighter than this are dropped (total dropped mass < 1e-10).
_NODE_CUT = 1e-13
#: Mixture quantiles: a Halley step below this fraction of the narrowest component's sd
#: ends the search (the error after it is of the order of its cube; Newton steps: square).
_ACCEPT_STEP = 1e-5
#: Offsets (into the tail) where the log density is probed: local slope, slope further
#: out (exponential or polynomial decay?), far decay rate.
_PROBE = np.array([0.0, 1.0, 10.0, 11.0, *_FAR])

_GL_X, _GL_W = np.polynomial.legendre.leggauss(N_GAUSS)
# discrete Legendre transform at the GL nodes: coef = h @ _LT.T
_LT = (
    (2 * np.arange(N_GAUSS)[:, None] + 1)
    / 2
    * _GL_W[None, :]
    * np.polynomial.legendre.legvander(_GL_X, N_GAUSS - 1).T
)


def _power_series() -> Array:
    """(N_GAUSS, N_GAUSS + 1, 3): a Legendre series in the power basis (coef @ this).

    Columns: its integral from -1, the series, its derivative. On |x| <= 1 the rounding
    error of the power basis stays below 1e-14 of the panel's mass.
    """
    P = np.polynomial.polynomial
    out = np.zeros((N_GAUSS, N_GAUSS + 1, 3))
    for k, e in enumerate(np.eye(N_GAUSS)):
        val = np.polynomial.legendre.leg2poly(e)
        for j, c in enumerate((P.polyint(val, lbnd=-1), val, P.polyder(val))):
            out[k, : c.size, j] = c
    return out


_POW_SERIES = _power_series()
_POWERS = np.arange(N_GAUSS + 1)
_LOWER, _AFFINE, _UPPER = 0, 1, 2


class ImproperPosteriorError(ValueError):
    """The posterior is improper (does not integrate): no numbers can be reported."""


# ------------------------------------------------------------------------------------------
# the whitened model
# ------------------------------------------------------------------------------------------
@dataclass
class _Model:
    """Data after simultaneous diagonalisation (batched; padded studies have lam = 0)."""

    yt: Array  # (B, K)
    xt: Array  # (B, K, P) free coefficients only
    lam: Array  # (B, K)
    k: Array  # (B,) number of studies
    logdet_s: Array  # (B,)
    m0: Array  # (P,)
    prec0: Array  # (P,) 0 for flat
    p_flat: int
    logdet_v0: float
    tinv: Array | None  # (B, K, K) for the general case; None when diagonal
    sqrt_s: Array  # (B, K) sqrt of diag(S)
    y: Array  # (B, K) original, minus fixed-coefficient contributions
    x: Array  # (B, K, P) original design (free columns)
    offset: Array  # (B, K) X_fixed @ b_fixed
    mask: Array  # (B, K)
    tmat: Array | None = None  # (B, K, K) T (general case)

    @cached_property
    def r(self) -> Array:
        return self.yt - np.einsum("bkp,p->bk", self.xt, self.m0)

    @cached_property
    def cross(self) -> Array:
        """Products x_p x_q (p <= q), then x_p r: (B, K, P (P + 1) / 2 + P).

        ``D^-1``-weighted sums of these give A and c (one matrix product, :func:`_conditional`).
        """
        iu, ju = _triu(self.P)
        xt = self.xt
        return np.concatenate([xt[..., iu] * xt[..., ju], xt * self.r[..., None]], axis=-1)

    @property
    def P(self) -> int:
        return self.xt.shape[-1]

    def subset(self, idx: slice | Array) -> _Model:
        def s(a):
            return None if a is None else a[idx]

        sub = _Model(
            self.yt[idx],
            self.xt[idx],
            self.lam[idx],
            self.k[idx],
            self.logdet_s[idx],
            self.m0,
            self.prec0,
            self.p_flat,
            self.logdet_v0,
            s(self.tinv),
            self.sqrt_s[idx],
            self.y[idx],
            self.x[idx],
            self.offset[idx],
            self.mask[idx],
            s(self.tmat),
        )
        for name in ("r", "cross"):  # products computed once
            if name in self.__dict__:
                sub.__dict__[name] = self.__dict__[name][idx]
        return sub


#: Largest m * n * k of one matrix product: OpenBLAS multi-threads larger ones, and waking
#: its threads costs milliseconds when the other cores are busy (these products take
#: microseconds), so larger products are done in row blocks.
_MM_MNK = 1 << 17


def _matmul_rows(a: Array, b: Array) -> Array:
    """Return ``a @ b`` (a: (B, N, K), b: (B, K, Q)) in row blocks of at most ``_MM_MNK``."""
    n, k = a.shape[-2:]
    q = b.shape[-1]
    step = max(_MM_MNK // max(k * q, 1), 1)
    if n <= step:
        return a @ b
    out = np.empty((*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), n, q))
    for i in range(0, n, step):
        np.matmul(a[..., i : i + step, :], b, out=out[..., i : i + step, :])
    return out


@cache
def _triu(P: int) -> tuple[Array, Array]:
    return np.triu_indices(P)


@cache
def _packed(P: int) -> Array:
    """(P, P) position of each entry of a symmetric matrix in its packed upper triangle."""
    iu, ju = _triu(P)
    out = np.empty((P, P), int)
    out[iu, ju] = out[ju, iu] = np.arange(iu.size)
    return out


def _conditional(m: _Model, tau2: Array, *, moments: bool = True):
    """Log p(y | tau) (B, N) and, optionally, beta-hat (B, N, P), cov (B, N, P, P), d."""
    d = tau2[..., None] * m.lam[:, None, :]  # (B, N, K)
    d += 1.0
    iw = 1.0 / d
    if moments:
        logd = np.log(d).sum(-1)
    else:  # d is not returned: take the log in place
        logd = np.log(d, out=d).sum(-1)
    r = m.r[:, None, :]
    P = m.P
    B, N = tau2.shape
    if P == 0:
        quad = (iw * r * r).sum(-1)
        logdet_a = np.zeros_like(quad)
        delta = np.zeros((B, N, 0))
        cov = np.zeros((B, N, 0, 0))
    elif P == 1:
        xb = m.xt[..., 0]
        a = (iw @ (xb * xb)[..., None])[..., 0] + m.prec0[0]
        dl = (iw @ (xb * m.r)[..., None])[..., 0] / a
        res = r - xb[:, None, :] * dl[..., None]  # weighted residual sum of squares
        res *= res
        res *= iw
        quad = res.sum(-1) + m.prec0[0] * dl * dl
        logdet_a = np.log(a)
        delta = dl[..., None]
        cov = (1.0 / a)[..., None, None]
    else:
        # weighted cross products by one matrix product (BLAS), not a 3-operand einsum
        xt = m.xt
        prod = _matmul_rows(iw, m.cross)  # (B, N, P (P + 1) / 2 + P)
        a = prod[..., _packed(P)]  # (B, N, P, P)
        a += np.diag(m.prec0)
        c = prod[..., -P:]
        chol = np.linalg.cholesky(a)
        if moments:
            cov = np.linalg.inv(a)
            delta = (cov @ c[..., None])[..., 0]
        else:
            cov = None
            delta = np.linalg.solve(a, c[..., None])[..., 0]
        res = _matmul_rows(delta, xt.transpose(0, 2, 1))  # (B, N, K)
        np.subtract(r, res, out=res)
        res *= res
        res *= iw
        quad = res.sum(-1) + (delta * delta) @ m.prec0
        logdet_a = 2 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    ll = -0.5 * (
        (m.k - m.p_flat)[:, None] * _LOG2PI
        + m.logdet_s[:, None]
        + logd
        + m.logdet_v0
        + logdet_a
        + quad
    )
    if not moments:
        return ll, logdet_a
    return ll, m.m0 + delta, cov, d


def _conditional_p1(m: _Model, tau2: Array) -> tuple[Array, Array]:
    """beta-hat (B, N, 1) and its variance (B, N, 1, 1) for one free coefficient."""
    iw = 1.0 / (1.0 + tau2[..., None] * m.lam[:, None, :])  # (B, N, K)
    x = m.xt[..., 0]
    a = (iw @ (x * x)[..., None])[..., 0] + m.prec0[0]
    c = (iw @ (x * m.r)[..., None])[..., 0]
    return (m.m0 + (c / a)[..., None]), (1.0 / a)[..., None, None]


# ------------------------------------------------------------------------------------------
# panels on u = log(tau)
# ------------------------------------------------------------------------------------------
def _panel_u(kind: Array, pa: Array, pb: Array, x: Array) -> tuple[Array, Array]:
    """Map x in [-1, 1] to u on each panel; returns u and du/dx (broadcast shapes).

    Affine panels run from ``pa`` to ``pb``. Tail panels start at the edge ``pa``; ``pb > 0``
    is the rational map ``u = pa -+ pb (1 - s)/s`` (polynomial decay), ``pb < 0`` the
    logarithmic map ``u = pa + |pb| log s`` (exponential decay), with ``s = (1 + x)/2``
    measured from the far end.
    """
    kind, pa, pb, x = np.broadcast_arrays(kind, pa, pb, x)
    u = np.empty(x.shape)
    jac = np.empty(x.shape)
    for k in (_LOWER, _AFFINE, _UPPER):
        sel = kind == k
        if sel.any():
            u[sel], jac[sel] = _panel_u_kind(k, pa[sel], pb[sel], x[sel])
    return u, jac


def _panel_u_kind(k: int, pa: Array, pb: Array, x: Array) -> tuple[Array, Array]:
    """:func:`_panel_u` for panels of one kind ``k`` (broadcast shapes)."""
    s = 0.5 * (1.0 + x)
    if k == _AFFINE:
        w = pb - pa
        u = pa + w * s
        return u, np.broadcast_to(0.5 * w, u.shape)
    c, rational = np.abs(pb), pb > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if k == _LOWER:
            u = np.where(rational, pa - c * (1.0 - s) / s, pa + c * np.log(s))
            jac = np.where(rational, 0.5 * c / (s * s), 0.5 * c / s)
        else:
            u = np.where(rational, pa + c * s / (1.0 - s), pa - c * np.log1p(-s))
            jac = np.where(rational, 0.5 * c / ((1.0 - s) ** 2), 0.5 * c / (1.0 - s))
    return u, jac


def _panel_nodes(kind: Array, pa: Array, pb: Array) -> tuple[Array, Array]:
    """Return u and du/dx at the Gauss-Legendre nodes of every panel, (B, NP, N_GAUSS).

    Column by column: the panels of a column share their kind (``kind`` (NP,)).
    """
    u = np.empty((*pa.shape, N_GAUSS))
    jac = np.empty(u.shape)
    for k in (_LOWER, _AFFINE, _UPPER):
        cols = np.flatnonzero(kind == k)
        if cols.size:
            u[:, cols], jac[:, cols] = _panel_u_kind(k, pa[:, cols, None], pb[:, cols, None], _GL_X)
    return u, jac


def _panel_x(kind: Array, pa: Array, pb: Array, u: Array) -> Array:
    """Inverse of :func:`_panel_u` (x clipped to [-1, 1])."""
    c = np.abs(pb)
    rational = pb > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = pb - pa
        x_aff = np.where(w > 0, 2 * (u - pa) / np.where(w > 0, w, 1.0) - 1, 1.0)
        s_lo = np.where(rational, 1.0 / (1.0 + (pa - u) / c), np.exp((u - pa) / c))
        t = (u - pa) / c
        s_hi = np.where(rational, t / (1.0 + t), -np.expm1(-t))
    x = np.where(kind == _AFFINE, x_aff, np.where(kind == _LOWER, 2 * s_lo - 1, 2 * s_hi - 1))
    return np.clip(np.nan_to_num(x, nan=1.0), -1.0, 1.0)


def _legendre_all(x: Array, n: int) -> Array:
    """P_0..P_n at x: shape (n + 1, *x.shape)."""
    out = np.empty((n + 1, *x.shape))
    out[0] = 1.0
    if n >= 1:
        out[1] = x
    for k in range(1, n):
        out[k + 1] = ((2 * k + 1) * x * out[k] - k * out[k - 1]) / (k + 1)
    return out


def _series_int(coef: Array, x: Array) -> Array:
    """Integral from -1 to x of the Legendre series ``coef`` (..., n) at x (...)."""
    n = coef.shape[-1]
    pl = _legendre_all(x, n)
    out = coef[..., 0] * (x + 1.0)
    for k in range(1, n):
        out = out + coef[..., k] * (pl[k + 1] - pl[k - 1]) / (2 * k + 1)
    return out


def _series_val(coef: Array, x: Array) -> Array:
    n = coef.shape[-1]
    pl = _legendre_all(x, n - 1)
    return np.einsum("...k,k...->...", coef, pl)


# ------------------------------------------------------------------------------------------
# priors
# ------------------------------------------------------------------------------------------
def _prior_bounds(prior: Any) -> tuple[float, float]:
    b = getattr(prior, "bounds", None)
    if b is None:
        try:
            b = (float(prior.ppf(0.0)), float(prior.ppf(1.0)))
        except Exception:  # noqa: BLE001 - improper priors have no ppf
            b = (0.0, math.inf)
    lo, hi = float(b[0]), float(b[1])
    return max(lo, 0.0), hi


def _prior_proper(prior: Any) -> bool:
    p = getattr(prior, "proper", None)
    if p is not None:
        return bool(p)
    try:
        return bool(np.isfinite(prior.ppf(0.5)))
    except Exception:  # noqa: BLE001
        return False


def _prior_center(prior: Any) -> float | None:
    """Log of the prior median where it has one (to include the prior's bulk in the scan)."""
    if not _prior_proper(prior):
        return None
    try:
        med = float(prior.ppf(0.5))
    except Exception:  # noqa: BLE001
        return None
    return math.log(med) if np.isfinite(med) and med > 0 else None


# ------------------------------------------------------------------------------------------
# marginals
# ------------------------------------------------------------------------------------------
def _ndtr_mix(x: Array, m: Array, s: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - m) / s
    return np.where(s > 0, special.ndtr(z), (x >= m).astype(float))


def _npdf_mix(x: Array, m: Array, s: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = (x - m) / s
        return np.where(s > 0, np.exp(-0.5 * z * z) / (s * math.sqrt(2 * math.pi)), 0.0)


def _mixture_quantile(p: Array, m: Array, s: Array, q: Array, tol: float = 1e-13) -> Array:
    """Quantiles of normal mixtures: p, m, s (..., M); q (Q,) -> (..., Q).

    One safeguarded Newton loop for every mixture and probability at once, started from
    the normal approximation; mixtures leave the loop when all their quantiles have
    converged. A Newton step below ``_ACCEPT_STEP`` of the narrowest component's sd is
    taken and ends the search (the error after it is of the order of the step squared).
    Outside the bracket it bisects in asinh space: heavy tau tails give components with
    huge sds, and the bracket then shrinks geometrically, not linearly.
    """
    q = np.asarray(q, dtype=float)
    batch = np.broadcast_shapes(p.shape[:-1], m.shape[:-1], s.shape[:-1])
    M, Q = m.shape[-1], q.size
    n = math.prod(batch)
    p, m, s = (np.broadcast_to(a, (*batch, M)).reshape(n, M) for a in (p, m, s))
    live = p > 0
    mean = (p * m).sum(-1)
    var = np.maximum((p * (s * s + m * m)).sum(-1) - mean**2, 0.0)
    zmax = 40.0
    lo = np.where(live, m - zmax * s, np.inf).min(-1) - 1e-300
    hi = np.where(live, m + zmax * s, -np.inf).max(-1) + 1e-300
    scale = np.where(live, s, np.inf).min(-1)[:, None]  # the narrowest component
    x = mean[:, None] + np.sqrt(var)[:, None] * special.ndtri(q)
    x = np.clip(x, lo[:, None], hi[:, None])
    lo = np.broadcast_to(lo[:, None], x.shape).copy()
    hi = np.broadcast_to(hi[:, None], x.shape).copy()
    out = x.copy()
    rows = np.arange(n)
    fin = np.zeros(x.shape, bool)
    positive = bool(np.all(s[live] > 0))
    if positive:  # dead (zero-weight) components get sd 1: no 0 * inf
        inv_s = 1.0 / np.where(live, s, 1.0)
        pw = p * inv_s * 0.3989422804014327
        cols = [p, m, inv_s, pw, pw * inv_s]
    else:
        cols = [p, m, s]
    accept = _ACCEPT_STEP if positive else _ACCEPT_STEP**2
    for _ in range(200):
        if positive:
            pp, mm, iv, pw, pw2 = cols
            z = x[:, :, None] - mm[:, None, :]
            z *= iv[:, None, :]
            F = np.einsum("rm,rqm->rq", pp, special.ndtr(z)) - q
            e = z * z
            e *= -0.5
            np.exp(e, out=e)
            f = np.einsum("rm,rqm->rq", pw, e)
            e *= z
            f1 = -np.einsum("rm,rqm->rq", pw2, e)
        else:
            pp, mm, ss = cols
            xb, mb, sb = x[:, :, None], mm[:, None, :], ss[:, None, :]
            F = (pp[:, None, :] * _ndtr_mix(xb, mb, sb)).sum(-1) - q
            f = (pp[:, None, :] * _npdf_mix(xb, mb, sb)).sum(-1)
        lo = np.where(F < 0, x, lo)
        hi = np.where(F >= 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            nt = F / f
            if positive:  # Halley's correction where it is small
                c = 0.5 * nt * f1 / f
                nt = np.where(np.abs(c) < 0.5, nt / (1.0 - c), nt)
            x_new = x - nt
            step = np.abs(x_new - x)
        bad = ~np.isfinite(x_new) | (x_new < lo) | (x_new > hi)
        done = (
            fin
            | (np.abs(F) <= 1e-14)
            | (step <= 1e-12 * scale)
            | (hi - lo <= 4 * np.spacing(np.abs(x) + 1e-300))
        )
        with np.errstate(over="ignore", invalid="ignore"):
            mid = scale * np.sinh(0.5 * (np.arcsinh(lo / scale) + np.arcsinh(hi / scale)))
        mid = np.where(np.isfinite(mid), mid, 0.5 * (lo + hi))
        x = np.where(done, x, np.where(bad, mid, x_new))
        fin = done | (~bad & (step <= accept * scale))
        over = fin.all(1)
        if over.any():
            out[rows[over]] = x[over]
            if over.all():
                break
            if over.mean() > 0.25:  # compact the mixtures still at work
                keep = ~over
                rows, x, lo, hi, fin, scale = (a[keep] for a in (rows, x, lo, hi, fin, scale))
                cols = [c[keep] for c in cols]
    else:
        out[rows] = x
    return out.reshape(*batch, Q)


def _squeeze(a: Array, squeeze_batch: bool) -> Array:
    return a[0] if squeeze_batch else a


class MixtureMarginal:
    """Normal mixture over the quadrature nodes: the posterior of a Gaussian-given-tau quantity.

    ``weights`` (B, N), ``means`` and ``sds`` (B, R, N); ``needs_tau`` (R,) says whether the
    conditional variance grows like tau^2 (then the mean needs E[tau] and the SD E[tau^2]).
    """

    def __init__(
        self,
        post: LinearPosterior,
        name: str,
        weights: Array,
        means: Array,
        sds: Array,
        needs_tau: Array,
        scalar: bool,
    ) -> None:
        self._post, self.name = post, name
        self._w, self._m, self._s = weights, means, sds
        self._needs = np.broadcast_to(needs_tau, means.shape[:2])
        self._scalar = scalar
        sb = post.batch_shape == ()
        self._sb = sb
        shape = post.batch_shape + (() if scalar else (means.shape[1],))
        self.shape: tuple[int, ...] = shape

    @cached_property
    def _groups(self) -> list[tuple[Array, Array, Array, Array]]:
        """Analyses in groups of similar size, each compacted to its live nodes.

        Nodes with weight below ``_NODE_CUT`` are dropped (their total mass is < 1e-12).
        """
        out = []
        for idx, top, lv in self._post._live_groups:
            w = np.where(lv, np.take_along_axis(self._w[idx], top, 1), 0.0)
            m = np.take_along_axis(self._m[idx], top[:, None, :], 2)
            sd = np.take_along_axis(self._s[idx], top[:, None, :], 2)
            out.append((idx, w, m, sd))
        return out

    def _apply(self, fn, extra: tuple[int, ...]) -> Array:
        out = np.empty((self._w.shape[0], self._m.shape[1], *extra))
        for idx, w, m, sd in self._groups:
            out[idx] = fn(w, m, sd)
        return out

    def _out(self, a: Array) -> Array:
        # a: (B, R, ...) -> (*shape, ...)
        if self._scalar:
            a = a[:, 0]
        return _squeeze(a, self._sb)

    def cdf(self, x: ArrayLike) -> Array:
        """P(X <= x) for x (X,); returns (*shape, X)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))

        def fn(w, m, sd):
            s_live = np.where(w[:, None, :] > 0, sd, 1.0)  # dead components: sd 1
            if np.all(s_live > 0):
                cdf = special.ndtr((x[:, None] - m[:, :, None]) / s_live[:, :, None])
            else:
                cdf = _ndtr_mix(x[:, None], m[:, :, None], sd[:, :, None])
            return (w[:, None, None, :] * cdf).sum(-1)

        return self._out(np.clip(self._apply(fn, x.shape), 0.0, 1.0))

    def pdf(self, x: ArrayLike) -> Array:
        """Posterior density at x (X,); returns (*shape, X)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))

        def fn(w, m, sd):
            dens = _npdf_mix(x[:, None], m[:, :, None], sd[:, :, None])
            return (w[:, None, None, :] * dens).sum(-1)

        return self._out(self._apply(fn, x.shape))

    def quantile(self, q: ArrayLike) -> Array:
        """Quantiles at probabilities q (Q,); returns (*shape, Q)."""
        q = np.atleast_1d(np.asarray(q, dtype=float))

        def fn(w, m, sd):
            return _mixture_quantile(np.broadcast_to(w[:, None, :], m.shape), m, sd, q)

        return self._out(self._apply(fn, q.shape))

    @cached_property
    def _moments(self) -> tuple[Array, Array]:
        w = self._w[:, None, :]
        mean = (w * self._m).sum(-1)
        var = (w * (self._s**2 + (self._m - mean[..., None]) ** 2)).sum(-1)
        e1, e2 = self._post._tau_moment_exists(1), self._post._tau_moment_exists(2)
        mean = np.where(self._needs & ~e1[:, None], np.inf, mean)
        sd = np.where(self._needs & ~e2[:, None], np.inf, np.sqrt(np.maximum(var, 0.0)))
        return mean, sd

    def mean(self) -> Array:
        """Posterior mean (*shape); ``inf`` where it does not exist."""
        return self._out(self._moments[0]).copy()

    def sd(self) -> Array:
        """Posterior SD (*shape); ``inf`` where it does not exist."""
        return self._out(self._moments[1]).copy()

    def mean_sd_exp(self) -> tuple[Array, Array]:
        """Mean and SD of exp(X) (ratios from log ratios); ``inf`` where they do not exist."""
        w = self._w[:, None, :]
        with np.errstate(over="ignore", invalid="ignore"):
            e1 = (w * np.exp(self._m + self._s**2 / 2)).sum(-1)
            e2 = (w * np.exp(2 * self._m + 2 * self._s**2)).sum(-1)
            sd = np.sqrt(np.maximum(e2 - e1**2, 0.0))
        light = self._post._tau_light_tail()[:, None]
        e1 = np.where((self._needs & ~light) | ~np.isfinite(e1), np.inf, e1)
        sd = np.where((self._needs & ~light) | ~np.isfinite(e2), np.inf, sd)
        return self._out(e1), self._out(sd)

    def draws(self) -> Array:
        """Independent draws (chain, draw, *shape) from the exact posterior (seeded)."""
        d = self._post._draws_for(self.name)
        return d

    def mcse_cdf(self, x: ArrayLike) -> Array:
        """Zeros: the engine is deterministic."""
        return np.zeros((*self.shape, np.size(x)))


class TauMarginal:
    """Posterior of tau, tau^2 or I^2 (monotone transforms of tau) from the Legendre panels."""

    def __init__(self, post: LinearPosterior, name: str) -> None:
        self._post, self.name = post, name
        self.shape: tuple[int, ...] = post.batch_shape
        self._s2 = post.typical_variance[:, None]

    def _to_tau(self, x: Array) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.name == "tau":
                return np.maximum(x, 0.0)
            if self.name == "tau2":
                return np.sqrt(np.maximum(x, 0.0))
            xc = np.clip(x, 0.0, 1.0)
            return np.where(xc >= 1, np.inf, np.sqrt(self._s2 * xc / (1 - xc)))

    def _from_tau(self, t: Array) -> Array:
        if self.name == "tau":
            return t
        if self.name == "tau2":
            return t * t
        with np.errstate(invalid="ignore"):
            return np.where(np.isinf(t), 1.0, t * t / (t * t + self._s2))

    def _dtau(self, x: Array, t: Array) -> Array:
        """Return d tau / d x."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.name == "tau":
                return np.ones_like(t)
            if self.name == "tau2":
                return 0.5 / t
            return 0.5 * t / (x * (1 - x))

    def cdf(self, x: ArrayLike) -> Array:
        """P(X <= x) for x (X,); returns (*shape, X)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        t = self._to_tau(np.broadcast_to(x, (self._post.B, x.size)))
        out = self._post._tau_cdf(t)
        out = np.where(x[None, :] < 0, 0.0, out)
        return _squeeze(out, self._post.batch_shape == ())

    def pdf(self, x: ArrayLike) -> Array:
        """Posterior density at x (X,); returns (*shape, X)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        xb = np.broadcast_to(x, (self._post.B, x.size))
        t = self._to_tau(xb)
        dens = self._post._tau_pdf(t) * self._dtau(xb, t)
        dens = np.where(np.isfinite(dens) & (xb > 0), dens, 0.0)
        return _squeeze(dens, self._post.batch_shape == ())

    def quantile(self, q: ArrayLike) -> Array:
        """Quantiles at probabilities q (Q,); returns (*shape, Q)."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        return _squeeze(self._from_tau(self._post._tau_quantile(q)), self._post.batch_shape == ())

    @cached_property
    def _moments(self) -> tuple[Array, Array]:
        p = self._post
        g = np.where(p._w > 0, self._from_tau(p._tau_nodes), 0.0)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = (p._w * g).sum(-1)
            var = (p._w * (g - mean[:, None]) ** 2).sum(-1)
        sd = np.sqrt(np.maximum(var, 0.0))
        if self.name != "I2":
            m = 1 if self.name == "tau" else 2
            mean = np.where(p._tau_moment_exists(m), mean, np.inf)
            sd = np.where(p._tau_moment_exists(2 * m), sd, np.inf)
        return mean, sd

    def mean(self) -> Array:
        """Posterior mean (*shape); ``inf`` where it does not exist."""
        return _squeeze(self._moments[0], self._post.batch_shape == ()).copy()

    def sd(self) -> Array:
        """Posterior SD (*shape); ``inf`` where it does not exist."""
        return _squeeze(self._moments[1], self._post.batch_shape == ()).copy()

    def mean_sd_exp(self) -> tuple[Array, Array]:
        """Mean and SD of exp(X); ``inf`` where they do not exist."""
        p = self._post
        g = self._from_tau(p._tau_nodes)
        with np.errstate(over="ignore", invalid="ignore"):
            e1 = (p._w * np.exp(g)).sum(-1)
            e2 = (p._w * np.exp(2 * g)).sum(-1)
            sd = np.sqrt(np.maximum(e2 - e1**2, 0.0))
        if self.name != "I2":
            light = p._tau_light_tail()
            e1, sd = np.where(light, e1, np.inf), np.where(light, sd, np.inf)
        sb = p.batch_shape == ()
        return _squeeze(e1, sb), _squeeze(sd, sb)

    def draws(self) -> Array:
        """Independent draws (chain, draw, *shape) by inversion of the CDF (seeded)."""
        return self._post._draws_for(self.name)

    def mcse_cdf(self, x: ArrayLike) -> Array:
        """Zeros: the engine is deterministic."""
        return np.zeros((*self.shape, np.size(x)))


@dataclass
class Weights:
    """Posterior mean weights of the study estimates and of the prior mean in E[beta | y].

    ``E[beta | y] = study @ (y - offset) + prior @ m0`` where ``offset`` is the contribution of
    fixed coefficients. ``study`` (..., P, K) and ``prior`` (..., P, P), rows and columns
    labelled by ``names`` (free coefficients) and the studies.
    """

    names: tuple[str, ...]
    study: Array
    prior: Array


# ------------------------------------------------------------------------------------------
# the posterior
# ------------------------------------------------------------------------------------------
@dataclass
class LinearPosterior:
    """Exact posterior of the linear model with one variance component (see the module).

    Build it with :func:`integrate`. The quadrature representation: panels on
    ``u = log(tau)`` (``kind`` per panel, parameters ``pa``, ``pb``), the normalised
    integrand at the Gauss-Legendre nodes of each panel ``h`` (B, NP, N_GAUSS) and the
    whitened data needed to evaluate the conditional Gaussians anywhere.
    """

    model: _Model
    kind: Array  # (NP,) int
    pa: Array  # (B, NP)
    pb: Array  # (B, NP)
    h: Array  # (B, NP, N_GAUSS) normalised integrand in x
    log_norm: Array  # (B,)
    decay: Array  # (B,) decay rate r of p(u | y) ~ e^{-r u} at +inf (inf if bounded)
    names_beta: tuple[str, ...]
    free: Array  # (P_full,) bool
    beta_fixed: Array  # (P_full,) values of fixed coefficients (nan for free)
    typical_variance: Array  # (B,)
    tau_point: float | None  # tau fixed at this value
    proper: bool  # all priors proper (log_evidence defined)
    batched: bool
    study_labels: tuple[str, ...]
    notes_extra: tuple[str, ...] = ()
    tau_prior: Any = None
    n_chains: int = 4
    n_draws: int = 1000
    seed: int = 0
    #: log(tau), beta-hat and its covariance at the nodes (B, NP, N_GAUSS, ...), as
    #: :func:`integrate` computed them; None (a reloaded posterior): computed when needed.
    at_nodes: tuple[Array, Array, Array] | None = field(default=None, repr=False)
    _draw_cache: dict = field(default_factory=dict, repr=False)

    capabilities = frozenset({"log_evidence", "weights", "density", "linear", "map", "ml"})

    # -- shapes and names ----------------------------------------------------------------
    @property
    def B(self) -> int:
        """Number of analyses in the batch."""
        return self.pa.shape[0]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """() for a single analysis, (B,) for a batch."""
        return (self.B,) if self.batched else ()

    @cached_property
    def intercept_only(self) -> bool:
        """True when X is a single column of ones (then ``mu`` and ``theta_new`` exist)."""
        m = self.model
        if self.free.size != 1:
            return False
        x = self.model.x[..., 0] if m.P == 1 else np.ones_like(m.y)
        return bool(np.all(np.where(m.mask, x == 1.0, True)))

    @property
    def names(self) -> tuple[str, ...]:
        """Names :meth:`marginal` accepts."""
        base = ("tau", "tau2", "I2", "beta", "theta")
        return (("mu", "theta_new") if self.intercept_only else ()) + base

    @property
    def log_evidence(self) -> Array | float:
        """Log marginal likelihood p(y); NaN under a flat beta prior or improper tau prior."""
        out = self.log_norm if self.proper else np.full(self.B, np.nan)
        return _squeeze(out, not self.batched)

    @property
    def log_normalizer(self) -> Array | float:
        """Log normalising constant (valid for ratios with the same flat beta prior)."""
        return _squeeze(self.log_norm, not self.batched)

    @property
    def notes(self) -> tuple[str, ...]:
        """Caveats: moments that do not exist, resolution warnings."""
        out = list(self.notes_extra)
        if self.tau_point is None:
            r = float(np.min(self.decay))
            if np.isfinite(r):
                rate = f"posterior density of tau decays like tau^-{r + 1:.3g}"
                if not self._tau_moment_exists(1).all():
                    out.append(
                        f"E[tau] does not exist ({rate}): means of tau, tau^2 and theta_new and "
                        "all SDs that involve tau are reported as inf"
                    )
                elif not self._tau_moment_exists(2).all():
                    out.append(
                        f"E[tau^2] does not exist ({rate}): the mean of tau^2 and the SDs of tau, "
                        "theta_new and coefficients with flat priors are reported as inf"
                    )
                elif not self._tau_moment_exists(4).all():
                    out.append(f"E[tau^4] does not exist ({rate}): the SD of tau^2 is inf")
        return tuple(out)

    # -- nodes ---------------------------------------------------------------------------
    @cached_property
    def _nodes(self) -> tuple[Array, Array]:
        """(tau nodes (B, M), weights (B, M))."""
        if self.tau_point is not None:
            return np.full((self.B, 1), self.tau_point), np.ones((self.B, 1))
        if self.at_nodes is not None:
            u = self.at_nodes[0]
        else:
            u, _ = _panel_nodes(self.kind, self.pa, self.pb)
        w = self.h * _GL_W
        tau = np.exp(np.minimum(np.where(w > 0, u, 0.0), 300.0))
        return tau.reshape(self.B, -1), w.reshape(self.B, -1)

    @property
    def _tau_nodes(self) -> Array:
        return self._nodes[0]

    @property
    def _w(self) -> Array:
        return self._nodes[1]

    @cached_property
    def _live_groups(self) -> list[tuple[Array, Array, Array]]:
        """Analyses in groups of similar numbers of live nodes (weight > ``_NODE_CUT``).

        Each group: the analyses ``idx``, the columns ``top`` (G, M) of their live nodes
        (padded with dead ones) and the mask ``live`` (G, M) of the live entries.
        """
        live = self._w > _NODE_CUT
        count = live.sum(1)
        order = np.argsort(count, kind="stable")
        cs = count[order]
        out = []
        g0 = 0
        while g0 < order.size:  # new group when the count grows by > 10% (less padding)
            g1 = int(np.searchsorted(cs, 1.1 * cs[g0] + 4, side="right"))
            g1 = max(min(g1, g0 + _CHUNK), g0 + 1)
            idx = order[g0:g1]
            M = max(int(cs[g1 - 1]), 1)
            top = np.argsort(~live[idx], axis=1, kind="stable")[:, :M]
            out.append((idx, top, np.take_along_axis(live[idx], top, 1)))
            g0 = g1
        return out

    @cached_property
    def _cond_nodes(self) -> tuple[Array, Array]:
        """beta-hat (B, N, P) and its covariance (B, N, P, P) at the live nodes (else 0)."""
        t2 = self._tau_nodes**2
        P = self.model.P
        if self.at_nodes is not None:
            live = self._w > _NODE_CUT
            bh = self.at_nodes[1].reshape(*t2.shape, P)
            cov = self.at_nodes[2].reshape(*t2.shape, P, P)
            return np.where(live[..., None], bh, 0.0), np.where(live[..., None, None], cov, 0.0)
        bh = np.zeros((*t2.shape, P))
        cov = np.zeros((*t2.shape, P, P))
        for idx, top, lv in self._live_groups:  # only the live nodes, in groups
            sub = self.model.subset(idx)
            t2g = np.where(lv, np.take_along_axis(t2[idx], top, 1), 0.0)
            if P == 1:
                b_, c_ = _conditional_p1(sub, t2g)
            else:
                _, b_, c_, _ = _conditional(sub, t2g)
            rows = idx[:, None]
            bh[rows, top] = np.where(lv[..., None], b_, 0.0)
            cov[rows, top] = np.where(lv[..., None, None], c_, 0.0)
        return bh, cov

    @property
    def _d_nodes(self) -> Array:
        """1 + tau^2 lambda at the nodes (B, N, K)."""
        return 1.0 + (self._tau_nodes**2)[..., None] * self.model.lam[:, None, :]

    def _tau_moment_exists(self, m: float) -> Array:
        return self.decay > m + _MOMENT_MARGIN

    def _tau_light_tail(self) -> Array:
        return self.decay > 1e3

    # -- tau -----------------------------------------------------------------------------
    @cached_property
    def _coef(self) -> Array:
        return self.h @ _LT.T  # (B, NP, n)

    @cached_property
    def _edges(self) -> Array:
        mass = 2 * self._coef[..., 0]
        return np.concatenate([np.zeros((self.B, 1)), np.cumsum(mass, -1)], -1)

    @cached_property
    def _u_left(self) -> Array:
        return np.where(self.kind[None, :] == _LOWER, -np.inf, self.pa)

    @cached_property
    def _u_right(self) -> Array:
        return np.where(
            self.kind[None, :] == _UPPER,
            np.inf,
            np.where(self.kind[None, :] == _AFFINE, self.pb, self.pa),
        )

    def _tau_cdf(self, t: Array) -> Array:
        """P(tau <= t) for t (B, X)."""
        if self.tau_point is not None:
            return (t >= self.tau_point).astype(float)
        with np.errstate(divide="ignore"):
            u = np.log(t)
        p = np.clip((self._u_left[:, None, :] <= u[..., None]).sum(-1) - 1, 0, self.kind.size - 1)
        take = lambda a: np.take_along_axis(a, p, axis=1)  # noqa: E731
        kind = self.kind[p]
        x = _panel_x(kind, take(self.pa), take(self.pb), u)
        coef = np.take_along_axis(self._coef, p[..., None], axis=1)
        F = take(self._edges[:, :-1]) + _series_int(coef, x)
        F = np.where(u < self._u_left[:, :1], 0.0, F)
        F = np.where(u >= self._u_right[:, -1:], 1.0, F)
        F = np.where(u >= take(self._u_right), take(self._edges[:, 1:]), F)
        return np.clip(F, 0.0, 1.0)

    def _tau_pdf(self, t: Array) -> Array:
        """Density of tau at t (B, X) from the Legendre interpolant."""
        if self.tau_point is not None:
            return np.where(t == self.tau_point, np.inf, 0.0)
        with np.errstate(divide="ignore"):
            u = np.log(t)
        p = np.clip((self._u_left[:, None, :] <= u[..., None]).sum(-1) - 1, 0, self.kind.size - 1)
        take = lambda a: np.take_along_axis(a, p, axis=1)  # noqa: E731
        kind = self.kind[p]
        pa, pb = take(self.pa), take(self.pb)
        x = _panel_x(kind, pa, pb, u)
        _, jac = _panel_u(kind, pa, pb, x)
        coef = np.take_along_axis(self._coef, p[..., None], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            dens = np.maximum(_series_val(coef, x), 0.0) / jac / t
        inside = (u >= self._u_left[:, :1]) & (u <= self._u_right[:, -1:]) & (t > 0)
        return np.where(inside & np.isfinite(dens), dens, 0.0)

    def _tau_quantile(self, q: Array) -> Array:
        """Quantiles of tau (B, Q)."""
        B = self.B
        if self.tau_point is not None:
            return np.full((B, q.size), self.tau_point)
        edges = self._edges
        qq = np.broadcast_to(q, (B, q.size))
        p = (edges[:, None, 1:-1] <= qq[..., None]).sum(-1)
        take = lambda a: np.take_along_axis(a, p, axis=1)  # noqa: E731
        coef = np.take_along_axis(self._coef, p[..., None], axis=1)
        target = qq - take(edges[:, :-1])
        mass = take(edges[:, 1:]) - take(edges[:, :-1])
        # the panel's CDF, density and its slope as polynomials in x (power basis)
        series = np.einsum("...k,kmj->...mj", coef, _POW_SERIES).reshape(-1, *_POW_SERIES.shape[1:])
        tg = target.ravel()
        a, b = -np.ones_like(tg), np.ones_like(tg)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.clip(np.nan_to_num(2 * tg / mass.ravel() - 1), -1, 1)
            live = np.arange(x.size)  # the values still iterating (most stop after 2-3 steps)
            for _ in range(60):  # Halley on the panel's CDF, safeguarded by bisection
                xl, al, bl = x[live], a[live], b[live]
                F, f, f1 = np.einsum("nm,nmj->jn", xl[:, None] ** _POWERS, series[live])
                F -= tg[live]
                al, bl = np.where(F < 0, xl, al), np.where(F >= 0, xl, bl)
                nt = F / f
                c = 0.5 * nt * f1 / f
                xn = xl - np.where(np.abs(c) < 0.5, nt / (1.0 - c), nt)
                bad = ~np.isfinite(xn) | (xn < al) | (xn > bl)
                xn = np.where(bad, 0.5 * (al + bl), xn)
                done = (np.abs(xn - xl) <= 1e-15) | (bl - al <= 1e-15)
                x[live], a[live], b[live] = xn, al, bl
                live = live[~done]
                if live.size == 0:
                    break
        x = x.reshape(target.shape)
        u, _ = _panel_u(self.kind[p], take(self.pa), take(self.pb), x)
        out = np.exp(u)
        out = np.where(qq <= 0, np.exp(self._u_left[:, :1]) + 0 * out, out)
        out = np.where(qq >= 1, np.exp(self._u_right[:, -1:]) + 0 * out, out)
        return out

    # -- marginals -----------------------------------------------------------------------
    def marginal(self, name: str) -> TauMarginal | MixtureMarginal:
        """Return the posterior of ``name`` (see :attr:`names`)."""
        if name in ("tau", "tau2", "I2"):
            return TauMarginal(self, name)
        if name in ("mu", "theta_new"):
            if not self.intercept_only:
                raise ValueError(
                    f"{name!r} needs a single intercept column; use 'beta' or linear() instead"
                )
            return self.linear(np.ones((1, 1)), new=name == "theta_new", _name=name, _scalar=True)
        if name == "beta":
            return self.linear(np.eye(self.free.size), _name="beta")
        if name == "theta":
            m, s = self._theta_components()
            return MixtureMarginal(self, "theta", self._w, m, s, np.zeros(m.shape[1], bool), False)
        raise ValueError(f"unknown quantity {name!r}; valid: {', '.join(self.names)}")

    def linear(
        self, A: ArrayLike, *, new: bool = False, _name: str = "linear", _scalar: bool = False
    ) -> MixtureMarginal:
        """Posterior of ``A @ beta`` (mean effect at covariate rows ``A``), or of a new study.

        With ``new=True``: a new study's effect ``A @ beta + N(0, tau^2)`` (prediction).

        Parameters
        ----------
        A : array (R, P) or (P,)
            One row per linear combination, one column per coefficient (all coefficients,
            fixed ones included).
        """
        A = np.atleast_2d(np.asarray(A, dtype=float))
        if A.shape[1] != self.free.size:
            raise ValueError(f"A needs {self.free.size} columns (one per coefficient)")
        bh, cov = self._cond_nodes
        af = A[:, self.free]
        const = A[:, ~self.free] @ self.beta_fixed[~self.free]
        if af.shape == (1, 1):
            means = af[0, 0] * bh[None, ..., 0].swapaxes(0, 1) + const[None, :, None]
            var = af[0, 0] ** 2 * cov[None, ..., 0, 0].swapaxes(0, 1)
        else:
            means = np.moveaxis(bh @ af.T, -1, 1) + const[None, :, None]
            var = np.moveaxis(((cov @ af.T) * af.T).sum(-2), -1, 1)
        if new:
            var = var + self._tau_nodes[:, None, :] ** 2
            needs = np.ones(af.shape[0], bool)
        else:
            needs = self._var_grows(af)
        if _name == "linear":
            _name = "linear_new" if new else "linear"
        mm = MixtureMarginal(
            self, _name, self._w, means, np.sqrt(np.maximum(var, 0.0)), needs, _scalar
        )
        mm._A = A
        mm._new = new
        return mm

    def _var_grows(self, af: Array) -> Array:
        """Whether the conditional variance of af @ beta grows like tau^2 as tau -> inf."""
        if self.tau_point is not None or af.shape[1] == 0:
            return np.zeros(af.shape[0], bool)
        t_far2, cov = self._far_cov
        var = np.einsum("rp,pq,rq->r", af, cov, af)
        return var > 1e-6 * t_far2

    @cached_property
    def _far_cov(self) -> tuple[float, Array]:
        """tau^2 far beyond the nodes and the covariance of beta given that tau (P, P)."""
        t_far = np.exp(self.pa.max() + 60.0) if np.isfinite(self.pa.max()) else 1e30
        _, _, cov, _ = _conditional(self.model.subset(slice(0, 1)), np.array([[t_far**2]]))
        return t_far**2, cov[0, 0]

    def _theta_components(self, tau: Array | None = None, bh=None, cov=None):
        """Means and sds (B, K, N) of theta_i given tau at the nodes (or at ``tau``)."""
        m = self.model
        if tau is None:
            tau = self._tau_nodes
            bh, cov = self._cond_nodes
            d = self._d_nodes
        else:
            _, bh, cov, d = _conditional(m, tau**2)
        t2 = (tau**2)[..., None]
        g = t2 * m.lam[:, None, :] / d  # tau^2 lam / d  (B, N, K)
        xb = np.einsum("bkp,bnp->bnk", m.xt, bh)
        mt = xb + g * (m.yt[:, None, :] - xb)  # whitened conditional mean
        M = m.xt[:, None, :, :] / d[..., None]  # D^{-1} X~  (B, N, K, P)
        if m.tinv is None:
            sq = m.sqrt_s[:, None, :]
            mean = sq * mt
            v1 = sq**2 * g
            Mo = sq[..., None] * M
        else:
            mean = np.einsum("bij,bnj->bni", m.tinv, mt)
            v1 = np.einsum("bij,bnj->bni", m.tinv**2, g)
            Mo = np.einsum("bij,bnjp->bnip", m.tinv, M)
        v2 = np.einsum("bnkp,bnpq,bnkq->bnk", Mo, cov, Mo)
        mean = mean + m.offset[:, None, :]
        sd = np.sqrt(np.maximum(v1 + v2, 0.0))
        mean = np.where(m.mask[:, None, :], mean, np.nan)
        return np.moveaxis(mean, 1, 2), np.moveaxis(sd, 1, 2)

    # -- weights and shrinkage -------------------------------------------------------------
    def weights(self) -> Weights:
        """Posterior mean weights of each study and of the prior mean in E[beta | y]."""
        m = self.model
        bh, cov = self._cond_nodes
        d = self._d_nodes
        H = np.einsum("bnpq,bkq,bnk->bnpk", cov, m.xt, 1.0 / d)  # A^-1 X~^T D^-1
        if m.tmat is None:
            H = H / m.sqrt_s[:, None, None, :]
        else:
            H = np.einsum("bnpk,bkj->bnpj", H, m.tmat)
        Hp = cov * m.prec0[None, None, None, :]
        study = np.einsum("bn,bnpk->bpk", self._w, H)
        prior = np.einsum("bn,bnpq->bpq", self._w, Hp)
        names = tuple(n for n, f in zip(self.names_beta, self.free, strict=True) if f)
        sb = not self.batched
        return Weights(names, _squeeze(study, sb), _squeeze(prior, sb))

    def shrinkage(self) -> Array:
        """Posterior mean shrinkage factor b_i of each study (K,) or (B, K).

        ``E[theta_i | tau, y] = (1 - b_i) y_i + b_i (X beta-hat)_i`` in the diagonal case
        (b_i = s_i^2 / (s_i^2 + tau^2)); in general the diagonal of ``I - tau^2 W Sigma^-1``.
        """
        m = self.model
        d = self._d_nodes
        if m.tinv is None:
            b = 1.0 / d
        else:
            Z = m.tinv * np.swapaxes(m.tmat, 1, 2)
            b = np.einsum("bij,bnj->bni", Z, 1.0 / d)
        out = np.einsum("bn,bnk->bk", self._w, b)
        out = np.where(m.mask, out, np.nan)
        return _squeeze(out, not self.batched)

    # -- draws ---------------------------------------------------------------------------
    def joint_draws(
        self, n_chains: int | None = None, n_draws: int | None = None, seed: int | None = None
    ) -> dict[str, Array]:
        """Independent joint draws (chain, draw, ...) of tau, beta, theta (and mu, theta_new)."""
        nc = self.n_chains if n_chains is None else n_chains
        nd = self.n_draws if n_draws is None else n_draws
        sd_ = self.seed if seed is None else seed
        key = (nc, nd, sd_)
        if key in self._draw_cache:
            return self._draw_cache[key]
        rng = np.random.default_rng(sd_)
        n = nc * nd
        m = self.model
        tau = self._tau_quantile(rng.uniform(size=n))  # (B, n)
        _, bh, cov, d = _conditional(m, tau**2)
        P = m.P
        z = rng.standard_normal((self.B, n, P))
        L = np.linalg.cholesky(cov + 1e-300 * np.eye(P)) if P else cov
        beta_f = bh + np.einsum("bnpq,bnq->bnp", L, z) if P else bh
        beta = np.broadcast_to(self.beta_fixed, (self.B, n, self.free.size)).copy()
        beta[..., self.free] = beta_f
        # theta | beta, tau, y (whitened): X~b + g (y~ - X~b) + sqrt(g) z
        t2 = (tau**2)[..., None]
        g = t2 * m.lam[:, None, :] / d
        xb = np.einsum("bkp,bnp->bnk", m.xt, beta_f)
        zt = rng.standard_normal(xb.shape)
        mt = xb + g * (m.yt[:, None, :] - xb) + np.sqrt(g) * zt
        if m.tinv is None:
            theta = m.sqrt_s[:, None, :] * mt
        else:
            theta = np.einsum("bij,bnj->bni", m.tinv, mt)
        theta = np.where(m.mask[:, None, :], theta + m.offset[:, None, :], np.nan)
        shape = (nc, nd)
        out: dict[str, Array] = {}

        def put(name: str, a: Array) -> None:  # a: (B, n, ...)
            a = np.moveaxis(a, 0, -1 if a.ndim == 2 else 1)  # (n, B, ...)
            a = a.reshape(*shape, *a.shape[1:])
            out[name] = a[:, :, 0] if not self.batched else a

        put("tau", tau)
        put("tau2", tau**2)
        put("I2", tau**2 / (tau**2 + self.typical_variance[:, None]))
        put("beta", beta)
        put("theta", theta)
        if self.intercept_only:
            put("mu", beta[..., 0])
            put("theta_new", beta[..., 0] + tau * rng.standard_normal(tau.shape))
        self._draw_cache[key] = out
        return out

    def _draws_for(self, name: str) -> Array:
        if name not in self.names:
            raise ValueError(f"no draws for {name!r}")
        return self.joint_draws()[name]

    # -- point estimates -------------------------------------------------------------------
    def _log_post_u(self, u: Array, *, prior_tau: bool = True, prior_beta: bool = True):
        """Profile log densities at u (1-D, one analysis)."""
        m = self.model.subset(slice(0, 1))
        if not prior_beta:
            m = replace(m, prec0=np.zeros_like(m.prec0), p_flat=m.P, logdet_v0=0.0)
        tau = np.exp(np.asarray(u, float))[None, :]
        ll, logdet_a = _conditional(m, tau**2, moments=False)
        lp = 0.0
        if prior_tau:
            with np.errstate(divide="ignore"):
                lp = np.asarray(self.tau_prior.logpdf(tau), float)
        return ll[0], logdet_a[0], (lp[0] if prior_tau else 0.0), m

    def _profile_opt(self, fn, tau0_ok: bool) -> float:
        """Maximise fn(tau) over tau >= 0 (tau = 0 checked separately)."""
        lo, hi = _prior_bounds(self.tau_prior) if self.tau_prior is not None else (0, np.inf)
        tn = self._tau_nodes[0]
        w = self._w[0]
        tn = tn[w > 0]
        grid_u = np.log(tn)
        grid_u = np.concatenate([grid_u, np.linspace(grid_u.min() - 10, grid_u.max() + 10, 200)])
        if lo > 0:
            grid_u = grid_u[grid_u >= math.log(lo)]
        if np.isfinite(hi):
            grid_u = grid_u[grid_u <= math.log(hi)]
        grid_u = np.sort(grid_u)
        vals = fn(grid_u)
        i = int(np.nanargmax(vals))
        a = grid_u[max(i - 1, 0)]
        b = grid_u[min(i + 1, grid_u.size - 1)]
        res = optimize.minimize_scalar(
            lambda u: -fn(np.array([u]))[0],
            bounds=(a, b),
            method="bounded",
            options={"xatol": 1e-12},
        )
        best_u, best = res.x, -res.fun
        if vals[i] > best:
            best_u, best = grid_u[i], vals[i]
        if tau0_ok and lo == 0:
            v0 = fn(np.array([-np.inf]))[0]
            if v0 >= best:
                return 0.0
        return float(np.exp(best_u))

    def map(self) -> dict[str, dict[str, float]]:
        """Joint and marginal maximum-a-posteriori estimates of (tau, beta), as R bayesmeta.

        ``joint``: the mode of p(tau, beta | y) (tau on its own scale, not log). ``marginal``:
        the modes of the marginal posteriors of tau and of each coefficient.
        """
        self._single("map()")
        tp = self.tau_prior

        def joint(u):
            ll, lda, lp, _ = self._log_post_u(u)
            return ll + 0.5 * lda + lp

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            p0 = float(np.asarray(tp.logpdf(np.array([0.0])))[0]) if tp is not None else 0.0
            if self.tau_point is not None:
                tj = self.tau_point
            elif p0 == np.inf:
                tj = 0.0
            else:
                tj = self._profile_opt(joint, tau0_ok=np.isfinite(p0))
        bj = self._beta_at(tj)
        tm = self._tau_mode()
        beta_m = self.marginal("beta")
        bm = [self._mix_mode(beta_m, j) for j in range(self.free.size)]
        return {
            "joint": {"tau": tj, **dict(zip(self.names_beta, bj, strict=True))},
            "marginal": {"tau": tm, **dict(zip(self.names_beta, bm, strict=True))},
        }

    def ml(self) -> dict[str, dict[str, float]]:
        """Joint and marginal maximum-likelihood estimates, as R bayesmeta's ``$ML``.

        ``joint``: maximises p(y | tau, beta). ``marginal``: tau maximises p(y | tau) with
        beta integrated over its prior (the restricted likelihood under a flat prior);
        coefficient j maximises p(y | beta_j) = p(beta_j | y) / p(beta_j) (Savage-Dickey:
        integrated over tau's prior and the other coefficients' priors; under a flat prior
        on beta_j this is the marginal posterior mode).
        """
        self._single("ml()")

        def joint(u):
            ll, lda, _, _ = self._log_post_u(u, prior_tau=False, prior_beta=False)
            return ll + 0.5 * lda

        def marg(u):
            ll, _, _, _ = self._log_post_u(u, prior_tau=False)
            return ll

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.tau_point is not None:
                tj = tm = self.tau_point
            else:
                tj = self._profile_opt(joint, tau0_ok=True)
                tm = self._profile_opt(marg, tau0_ok=True)
        bj = self._beta_at(tj, prior_beta=False)
        beta_m = self.marginal("beta")
        bm = []
        for j in range(self.free.size):
            if not self.free[j]:
                bm.append(float(self.beta_fixed[j]))
                continue
            jf = int(self.free[:j].sum())
            prec = self.model.prec0[jf]
            m0 = self.model.m0[jf]
            bm.append(self._mix_mode(beta_m, j, prior=(m0, prec)))
        return {
            "joint": {"tau": tj, **dict(zip(self.names_beta, bj, strict=True))},
            "marginal": {"tau": tm, **dict(zip(self.names_beta, bm, strict=True))},
        }

    def _single(self, what: str) -> None:
        if self.batched:
            raise ValueError(f"{what} works on a single analysis, not a batch")
        if self.tau_prior is None and self.tau_point is None:
            raise ValueError(f"{what} needs the tau prior (not stored in this posterior)")

    def _beta_at(self, tau: float, prior_beta: bool = True) -> list[float]:
        m = self.model.subset(slice(0, 1))
        if not prior_beta:
            m = replace(m, prec0=np.zeros_like(m.prec0))
        _, bh, _, _ = _conditional(m, np.array([[tau**2]]))
        out = self.beta_fixed.copy()
        out[self.free] = bh[0, 0]
        return [float(v) for v in out]

    def _tau_mode(self) -> float:
        if self.tau_point is not None:
            return self.tau_point
        tn = self._tau_nodes[0][self._w[0] > 0]
        grid = np.concatenate([[0.0], np.sort(tn)])
        dens = self._tau_pdf(grid[None, :])[0]
        if self.tau_prior is not None:
            lo, _ = _prior_bounds(self.tau_prior)
            with np.errstate(divide="ignore"):
                p0 = float(np.asarray(self.tau_prior.logpdf(np.array([0.0])))[0])
            if lo == 0 and p0 == np.inf:
                return 0.0
            ll0 = self._log_post_u(np.array([-np.inf]))
            dens0 = np.exp(ll0[0][0] + ll0[2][0] - self.log_norm[0]) if np.isfinite(p0) else 0
            dens[0] = dens0 if lo == 0 else 0.0

            def f(t):
                ll, _, lp, _ = self._log_post_u(np.log(np.atleast_1d(t)))
                return float(ll[0] + lp[0])
        else:

            def f(t):
                return float(np.log(max(self._tau_pdf(np.array([[t]]))[0, 0], 1e-300)))

        i = int(np.argmax(dens))
        if i == 0:
            return 0.0
        a, b = grid[i - 1], grid[min(i + 1, grid.size - 1)]
        res = optimize.minimize_scalar(
            lambda t: -f(t),
            bounds=(a, b),
            method="bounded",
            options={"xatol": 1e-12 * max(b, 1e-300)},
        )
        return float(res.x)

    def _mix_mode(self, mm: MixtureMarginal, j: int, prior: tuple[float, float] | None = None):
        if not self.free[j]:
            return float(self.beta_fixed[j])
        w, m, s = mm._w[0], mm._m[0, j], mm._s[0, j]

        def neg(x):
            v = (w * _npdf_mix(np.array([x]), m, s)).sum()
            out = math.log(max(v, 1e-300))
            if prior is not None and prior[1] > 0:
                out += 0.5 * prior[1] * (x - prior[0]) ** 2
            return -out

        grid = np.linspace(*mm.quantile([0.001, 0.999])[j], 401)
        vals = [-neg(x) for x in grid]
        i = int(np.argmax(vals))
        a, b = grid[max(i - 1, 0)], grid[min(i + 1, 400)]
        res = optimize.minimize_scalar(
            neg, bounds=(a, b), method="bounded", options={"xatol": 1e-12}
        )
        return float(res.x)

    # -- serialisation -----------------------------------------------------------------------
    def to_datatree(
        self, chains: int | None = None, draws: int | None = None, seed: int | None = None
    ) -> Any:
        """DataTree: ``posterior`` (independent draws) and ``quadrature`` (to reload exactly).

        The draws are the posterior's own (its ``n_chains``, ``n_draws`` and ``seed``)
        unless others are asked for.
        """
        import xarray as xr

        chains = self.n_chains if chains is None else chains
        draws = self.n_draws if draws is None else draws
        seed = self.seed if seed is None else seed
        d = self.joint_draws(chains, draws, seed)
        batch = ("analysis",) if self.batched else ()
        coords: dict[str, Any] = {
            "chain": np.arange(chains),
            "draw": np.arange(draws),
            "coef": list(self.names_beta),
            "study": list(self.study_labels),
        }
        pv = {}
        for name, a in d.items():
            dims = ("chain", "draw", *batch)
            if name == "beta":
                dims = (*dims, "coef")
            elif name == "theta":
                dims = (*dims, "study")
            pv[name] = (dims, a)
        posterior = xr.Dataset(pv, coords=coords)
        m = self.model
        qv = {
            "kind": (("panel",), self.kind),
            "pa": (("analysis", "panel"), self.pa),
            "pb": (("analysis", "panel"), self.pb),
            "h": (("analysis", "panel", "gauss"), self.h),
            "log_norm": (("analysis",), self.log_norm),
            "decay": (("analysis",), self.decay),
            "typical_variance": (("analysis",), self.typical_variance),
            "yt": (("analysis", "k"), m.yt),
            "xt": (("analysis", "k", "p"), m.xt),
            "lam": (("analysis", "k"), m.lam),
            "k_count": (("analysis",), m.k),
            "logdet_s": (("analysis",), m.logdet_s),
            "m0": (("p",), m.m0),
            "prec0": (("p",), m.prec0),
            "sqrt_s": (("analysis", "k"), m.sqrt_s),
            "y": (("analysis", "k"), m.y),
            "x": (("analysis", "k", "p"), m.x),
            "offset": (("analysis", "k"), m.offset),
            "mask": (("analysis", "k"), m.mask),
            "free": (("coef",), self.free),
            "beta_fixed": (("coef",), self.beta_fixed),
        }
        if m.tinv is not None:
            qv["tinv"] = (("analysis", "k", "k2"), m.tinv)
            qv["tmat"] = (("analysis", "k", "k2"), m.tmat)
        prior = None
        if self.tau_prior is not None and hasattr(self.tau_prior, "to_dict"):
            try:
                prior = json.dumps(self.tau_prior.to_dict())
            except Exception:  # noqa: BLE001
                prior = None
        attrs = {
            "engine": "bayesmeta.engines.linear",
            "p_flat": m.p_flat,
            "logdet_v0": m.logdet_v0,
            "tau_point": "none" if self.tau_point is None else repr(float(self.tau_point)),
            "proper": int(self.proper),
            "batched": int(self.batched),
            "coef_names": json.dumps(list(self.names_beta)),
            "study_labels": json.dumps(list(self.study_labels)),
            "notes": json.dumps(list(self.notes_extra)),
            "tau_prior": prior or "none",
            "n_chains": chains,
            "n_draws": draws,
            "seed": seed,
        }
        quad = xr.Dataset(qv, attrs=attrs)
        return xr.DataTree.from_dict({"posterior": posterior, "quadrature": quad})

    @classmethod
    def from_datatree(cls, dt: Any) -> LinearPosterior:
        """Rebuild the posterior saved by :meth:`to_datatree` (no refitting)."""
        q = (
            dt["quadrature"].to_dataset()
            if hasattr(dt["quadrature"], "to_dataset")
            else dt["quadrature"]
        )
        a = q.attrs
        g = lambda n: np.asarray(q[n].values)  # noqa: E731
        tinv = g("tinv") if "tinv" in q else None
        tmat = g("tmat") if "tmat" in q else None
        model = _Model(
            g("yt"),
            g("xt"),
            g("lam"),
            g("k_count"),
            g("logdet_s"),
            g("m0"),
            g("prec0"),
            int(a["p_flat"]),
            float(a["logdet_v0"]),
            tinv,
            g("sqrt_s"),
            g("y"),
            g("x"),
            g("offset"),
            g("mask").astype(bool),
            tmat,
        )
        prior = None
        if a.get("tau_prior", "none") != "none":
            from bayesmeta import priors as _priors

            try:
                prior = _priors.from_dict(json.loads(a["tau_prior"]))
            except Exception:  # noqa: BLE001
                prior = None
        tp = a["tau_point"]
        return cls(
            model=model,
            kind=g("kind").astype(int),
            pa=g("pa"),
            pb=g("pb"),
            h=g("h"),
            log_norm=g("log_norm"),
            decay=g("decay"),
            names_beta=tuple(json.loads(a["coef_names"])),
            free=g("free").astype(bool),
            beta_fixed=g("beta_fixed"),
            typical_variance=g("typical_variance"),
            tau_point=None if tp == "none" else float(tp),
            proper=bool(a["proper"]),
            batched=bool(a["batched"]),
            study_labels=tuple(json.loads(a["study_labels"])),
            notes_extra=tuple(json.loads(a["notes"])),
            tau_prior=prior,
            n_chains=int(a["n_chains"]),
            n_draws=int(a["n_draws"]),
            seed=int(a["seed"]),
        )


# ------------------------------------------------------------------------------------------
# building the model
# ------------------------------------------------------------------------------------------
def _typical_variance(v: Array, mask: Array) -> Array:
    """Higgins-Thompson typical within-study variance (B,)."""
    w = np.where(mask, 1.0 / v, 0.0)
    k = mask.sum(-1)
    sw = w.sum(-1)
    K = w.shape[-1]
    if w.size * K <= 5e7:  # sum_i w_i sum_{j != i} w_j without cancellation
        others = np.where(np.eye(K, dtype=bool), 0.0, w[:, None, :]).sum(-1)
    else:
        others = sw[:, None] - w
    cross = (w * others).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = (k - 1) * sw / cross
    return np.where(k > 1, s2, np.where(mask, v, 0).sum(-1) / np.maximum(k, 1))


def _build(y, S, X, W, mask, m0, v0, names, beta_fixed):
    y = np.asarray(y, dtype=float)
    batched = y.ndim == 2
    Y = np.atleast_2d(y)
    B, K = Y.shape
    S = np.asarray(S, dtype=float)
    full_s = (not batched) and S.ndim == 2
    if full_s and S.shape != (K, K):
        raise ValueError(f"S must be ({K},) variances or a ({K}, {K}) matrix, got {S.shape}")
    if not full_s:
        S = np.broadcast_to(np.atleast_2d(S), (B, K)).astype(float)
    mask = (
        np.ones((B, K), bool)
        if mask is None
        else np.broadcast_to(np.atleast_2d(np.asarray(mask, bool)), (B, K))
    )
    if X is None:
        X = np.ones((K, 1))
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim == 2:
        X = np.broadcast_to(X, (B, *X.shape))
    if X.shape[:2] != (B, K):
        raise ValueError(f"X must have one row per study ({K}), got shape {X.shape}")
    P = X.shape[-1]
    names = (
        tuple(names)
        if names is not None
        else (("mu",) if P == 1 else tuple(f"beta{j}" for j in range(P)))
    )
    if len(names) != P:
        raise ValueError(f"coef_names has {len(names)} names for {P} columns of X")
    m0 = np.zeros(P) if m0 is None else np.broadcast_to(np.asarray(m0, float), (P,)).copy()
    v0 = np.full(P, np.inf) if v0 is None else np.broadcast_to(np.asarray(v0, float), (P,)).copy()
    if np.any(~(v0 > 0)):
        raise ValueError("beta_prior_var must be > 0 (inf for flat); fix values with beta_fixed")
    fixed_vals = np.full(P, np.nan)
    for key, val in (beta_fixed or {}).items():
        if key not in names:
            raise ValueError(f"beta_fixed: unknown coefficient {key!r}; coefficients: {names}")
        fixed_vals[names.index(key)] = float(val)
    free = np.isnan(fixed_vals)
    if not np.all(np.isfinite(Y[mask])):
        raise ValueError("y must be finite")
    Xm = np.where(mask[..., None], X, 0.0)
    offset = np.einsum("bkp,p->bk", Xm[..., ~free], fixed_vals[~free])
    Yc = np.where(mask, Y - offset, 0.0)
    Xf = Xm[..., free]
    m0f, v0f = m0[free], v0[free]
    flat = np.isinf(v0f)
    prec0 = np.where(flat, 0.0, 1.0 / np.where(flat, 1.0, v0f))
    logdet_v0 = float(np.log(v0f[~flat]).sum())
    m0f = np.where(flat, 0.0, m0f)
    if full_s:
        if W is None:
            W = np.eye(K)
        W = np.asarray(W, float)
        if not np.all(np.isfinite(S)) or not np.allclose(S, S.T, rtol=1e-12, atol=0):
            raise ValueError("S must be a finite symmetric positive definite matrix")
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            raise ValueError("S must be positive definite") from None
        Li = np.linalg.solve(L, np.eye(K))
        M = Li @ W @ Li.T
        lam, Q = np.linalg.eigh(0.5 * (M + M.T))
        lam = np.maximum(lam, 0.0)
        T = Q.T @ Li
        Ti = L @ Q
        yt = (T @ Yc[0])[None]
        xt = (T @ Xf[0])[None]
        logdet_s = np.array([2 * np.log(np.diag(L)).sum()])
        sqrt_s = np.sqrt(np.diag(S))[None]
        model = _Model(
            yt,
            xt,
            lam[None],
            np.array([K]),
            logdet_s,
            m0f,
            prec0,
            int(flat.sum()),
            logdet_v0,
            Ti[None],
            sqrt_s,
            Yc,
            Xf,
            offset,
            mask,
            T[None],
        )
        v_diag = np.diag(S)[None]
    else:
        if W is not None and not np.allclose(np.asarray(W, float), np.eye(K)):
            raise ValueError("a W other than the identity needs S as a full (K, K) matrix")
        v = np.where(mask, S, 1.0)
        if np.any(~np.isfinite(v) | (v <= 0)):
            raise ValueError("variances in S must be finite and > 0")
        sq = np.sqrt(v)
        yt = Yc / sq
        xt = Xf / sq[..., None]
        lam = np.where(mask, 1.0 / v, 0.0)
        logdet_s = np.where(mask, np.log(v), 0.0).sum(-1)
        model = _Model(
            yt,
            xt,
            lam,
            mask.sum(-1),
            logdet_s,
            m0f,
            prec0,
            int(flat.sum()),
            logdet_v0,
            None,
            sq,
            Yc,
            Xf,
            offset,
            mask,
        )
        v_diag = v
    return model, names, free, fixed_vals, batched, mask, v_diag


# ------------------------------------------------------------------------------------------
# integration
# ------------------------------------------------------------------------------------------
def _logf(m: _Model, u: Array, prior: Any, *, moments: bool = False):
    """Log of the (unnormalised) posterior density of u = log(tau) (B, N).

    With ``moments``: also beta-hat (B, N, P) and its covariance (B, N, P, P) given tau.
    """
    u = np.minimum(u, 300.0)  # tau^2 stays finite; the density is 0 there in practice
    tau = np.exp(u)
    if moments:
        ll, beta, cov, _ = _conditional(m, tau * tau)
    else:
        ll, _ = _conditional(m, tau * tau, moments=False)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lp = np.asarray(prior.logpdf(tau), float) + u + ll
    lp = np.where(np.isnan(lp) | (lp == np.inf), -np.inf, lp)
    return (lp, beta, cov) if moments else lp


def _tail_scale(probe: Array, moment: Array | float = 0.0) -> Array:
    """Signed scale of the tail map from the log density's decay (see :func:`_panel_u`).

    The map is chosen for the integrand ``e^{m u} p(u | y)`` of the highest moment
    ``E[tau^m]`` that exists (``moment``; 0 at the lower end). Exponential decay e^{-a|u|}:
    logarithmic map with c = 1/a (the mapped integrand is then nearly constant), returned
    negative. Polynomial decay |u - u0|^-a: rational map with c = |edge - u0|, the distance
    to the pole (the mapped integrand is then a polynomial).
    """
    s1 = probe[:, 0] - probe[:, 1] - moment
    s2 = probe[:, 2] - probe[:, 3] - moment
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dist = 10.0 * s2 / (s1 - s2)
        poly = (s2 > 0) & (s1 > 0) & (s2 < 0.8 * s1)
        c_exp = 1.0 / np.where(s2 > 0, s2, s1)
    c_exp = -np.clip(np.where(np.isfinite(c_exp) & (c_exp > 0), c_exp, 1.0), 0.01, 100.0)
    c_poly = np.clip(np.where(np.isfinite(dist) & (dist > 0), dist, 1.0), 0.05, 1e3)
    return np.where(poly, c_poly, c_exp)


def _integrate_chunk(m: _Model, prior: Any, lo: float, hi: float, proper: bool, center):
    B = m.yt.shape[0]
    # reference scale: median SE or the spread of the estimates (nan-free sort and sums: the
    # mask says which entries count)
    n = m.mask.sum(1)
    se = np.sort(np.where(m.mask, m.sqrt_s, np.inf), axis=1)
    middle = np.stack([(n - 1) // 2, n // 2], 1)
    with np.errstate(all="ignore"):
        scale = np.where(n > 0, np.take_along_axis(se, middle, 1).mean(1), np.nan)
        ys = np.where(m.mask, m.y, 0.0)
        dev = np.where(m.mask, ys - (ys.sum(1) / n)[:, None], 0.0)
        spread = np.sqrt((dev * dev).sum(1) / n)
    ref = np.maximum(scale, np.nan_to_num(spread))
    ref = np.where(np.isfinite(ref) & (ref > 0), ref, 1.0)
    uref = np.log(ref)
    L0 = uref - 18.0
    H0 = uref + 9.0
    if center is not None:
        L0 = np.minimum(L0, center - 12.0)
        H0 = np.maximum(H0, center + 12.0)
    if lo > 0:
        L0 = np.full(B, math.log(lo))
        H0 = np.maximum(H0, L0 + 1e-9)
    if np.isfinite(hi):
        H0 = np.full(B, math.log(hi))
        L0 = np.minimum(L0, H0 - (1e-9 if lo > 0 else 20.0))
    # 1. coarse scan
    nc = int(np.clip(np.ceil((H0 - L0).max() / 0.4), 16, 160)) + 1
    t = np.linspace(0.0, 1.0, nc)
    cell = (H0 - L0) / (nc - 1)
    uc = L0[:, None] + (H0 - L0)[:, None] * t
    if lo > 0:
        uc[:, 0] = np.nextafter(uc[:, 0], np.inf)
    if np.isfinite(hi):
        uc[:, -1] = np.nextafter(uc[:, -1], -np.inf)
        uc[:, -1] = np.maximum(uc[:, -1], uc[:, 0])
    lc = _logf(m, uc, prior)
    lmax = lc.max(1)
    if not np.all(np.isfinite(lmax)):
        bad = int(np.argmax(~np.isfinite(lmax)))
        raise FloatingPointError(
            f"the posterior density of tau could not be evaluated (analysis {bad}): "
            "check the data and the prior"
        )
    # 2. central range: coarse points within LOG_DROP of the peak, one cell of margin
    above = lc > (lmax - LOG_DROP)[:, None]
    idx = np.arange(nc)[None, :]
    first = np.where(above, idx, nc).min(1) - 1
    last = np.where(above, idx, -1).max(1) + 1
    ua = np.where(first <= 0, L0, L0 + first * cell)
    ub = np.where(last >= nc - 1, H0, L0 + last * cell)
    # 3. tails: exact bounds or mapped infinite tails (scale from the local slope)
    far = np.array(_FAR)
    ends = ([ua[:, None] - _PROBE] if lo == 0 else []) + (
        [] if np.isfinite(hi) else [ub[:, None] + _PROBE]
    )
    if ends:  # both ends in one evaluation
        probes = np.split(_logf(m, np.concatenate(ends, 1), prior), len(ends), axis=1)
    if lo == 0:
        probe = probes[0]
        c_lo = _tail_scale(probe)
        decay_lo = (probe[:, 4] - probe[:, 5]) / (far[1] - far[0])
        if not proper and np.any(~(decay_lo > _MOMENT_MARGIN)):
            raise ImproperPosteriorError(
                "the posterior is improper: its density in log(tau) does not decay as "
                "tau -> 0 (improper tau prior that does not vanish fast enough at 0)"
            )
    if np.isfinite(hi):
        decay = np.full(B, np.inf)
    else:
        probe = probes[-1]
        decay = (probe[:, 4] - probe[:, 5]) / (far[1] - far[0])
        top = np.where(
            decay > 2 + _MOMENT_MARGIN, 2.0, np.where(decay > 1 + _MOMENT_MARGIN, 1.0, 0.0)
        )
        c_hi = _tail_scale(probe, np.where(np.isfinite(decay), top, 0.0))
        decay = np.where(probe[:, 5] == -np.inf, np.inf, decay)
        if np.any(~(decay > _MOMENT_MARGIN)):
            raise ImproperPosteriorError(
                "the posterior is improper: p(tau | y) decays too slowly as tau -> inf "
                "(an improper tau prior with too few studies to identify tau, e.g. k = 1 "
                "with a flat prior on the effect)"
            )
    # 4. central panels: width ~ PANEL_RATE / (local rate of change of log f), relaxed by
    #    e^{drop/12} where the density is small (interpolation error ~ (rate w / 2)^12 / 12!)
    du = np.diff(uc, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lcf = np.maximum(lc, (lmax - 80.0)[:, None])
        slope = np.abs(np.diff(lcf, axis=1)) / np.where(du > 0, du, 1.0)
        curv = np.abs(np.diff(slope, axis=1, prepend=slope[:, :1])) / np.where(du > 0, du, 1.0)
    drop = lmax[:, None] - 0.5 * (lcf[:, 1:] + lcf[:, :-1])
    rate = (slope + np.sqrt(curv) + 0.05) * np.exp(-np.clip(drop, 0, 60) / 8.0)
    mid = 0.5 * (uc[:, 1:] + uc[:, :-1])
    inside = (mid >= ua[:, None] - 0.5 * cell[:, None]) & (mid <= ub[:, None] + 0.5 * cell[:, None])
    seg = np.where(inside, np.nan_to_num(rate, nan=0.05, posinf=60.0), 0.0) * du
    seg = np.minimum(seg, 60.0)
    cum = np.concatenate([np.zeros((B, 1)), np.cumsum(seg, 1)], 1)
    n0 = int(np.clip(np.ceil(cum[:, -1].max() / PANEL_RATE), 4, 64))
    cum = cum / np.where(cum[:, -1:] > 0, cum[:, -1:], 1.0)
    c_lo = c_lo if lo == 0 else np.zeros(B)
    c_hi = c_hi if not np.isfinite(hi) else np.zeros(B)

    targets = np.linspace(0, 1, n0 + 1)
    j = np.clip((cum[:, None, :] <= targets[None, :, None]).sum(-1) - 1, 0, nc - 2)
    c0, c1 = np.take_along_axis(cum, j, 1), np.take_along_axis(cum, j + 1, 1)
    u0, u1 = np.take_along_axis(uc, j, 1), np.take_along_axis(uc, j + 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fr = np.where(c1 > c0, (targets - c0) / (c1 - c0), 0.0)
    edges = np.clip(u0 + fr * (u1 - u0), ua[:, None], ub[:, None])
    edges = np.maximum.accumulate(edges, axis=1)
    edges[:, 0], edges[:, -1] = ua, ub
    kind = np.array(
        [_LOWER if lo == 0 else _AFFINE]
        + [_AFFINE] * n0
        + [_UPPER if not np.isfinite(hi) else _AFFINE]
    )
    first_a = ua[:, None] if lo == 0 else np.full((B, 1), math.log(max(lo, 1e-300)))
    first_b = c_lo[:, None] if lo == 0 else np.maximum(ua[:, None], first_a)
    last_b = c_hi[:, None] if not np.isfinite(hi) else np.full((B, 1), math.log(hi))
    if np.isfinite(hi):
        last_b = np.maximum(last_b, ub[:, None])
    pa = np.concatenate([first_a, edges[:, :-1], ub[:, None]], 1)
    pb = np.concatenate([first_b, edges[:, 1:], last_b], 1)

    def evaluate(ix: slice | Array, kind: Array, pa: Array, pb: Array) -> _Nodes:
        u, jac = _panel_nodes(kind, pa, pb)
        lf, beta, cov = _logf(m.subset(ix), u.reshape(len(pa), -1), prior, moments=True)
        P = m.P
        return _Nodes(
            u, jac, lf.reshape(u.shape), beta.reshape(*u.shape, P), cov.reshape(*u.shape, P, P)
        )

    nodes = evaluate(slice(None), kind, pa, pb)
    for level in range(MAX_LEVELS):
        # 5. normalise; refine the central panels that carry the unresolved part
        top = np.maximum(lmax, nodes.lf.max(axis=(1, 2)))
        h = np.exp(nodes.lf - top[:, None, None]) * nodes.jac
        h = np.where(np.isfinite(h), h, 0.0)
        coef = h @ _LT.T
        total = 2 * coef[..., 0].sum(-1)
        if not np.all(total > 0) or not np.all(np.isfinite(total)):
            raise FloatingPointError("the posterior of tau could not be integrated (zero mass)")
        perr = (np.abs(coef[..., -1]) + np.abs(coef[..., -2])) * 2 / total[:, None]
        err = perr.sum(-1)
        split = _panels_to_split(perr, ~(err < RESOLUTION_TOL))
        if level == MAX_LEVELS - 1 or not split.any():
            break
        kind, pa, pb, nodes = _split_panels(kind, pa, pb, nodes, split, evaluate)
    h /= total[:, None, None]
    return kind, pa, pb, h, top + np.log(total), decay, err, nodes


@dataclass
class _Nodes:
    """The integrand at the Gauss-Legendre nodes of each panel, (B, NP, N_GAUSS, ...)."""

    u: Array  # log(tau)
    jac: Array  # du/dx
    lf: Array  # log density of u (unnormalised)
    beta: Array  # (..., P) beta-hat given tau
    cov: Array  # (..., P, P) its covariance

    def fields(self) -> tuple[Array, ...]:
        return self.u, self.jac, self.lf, self.beta, self.cov


def _panels_to_split(perr: Array, bad: Array) -> Array:
    """Central panels to halve (B, NP) where the analysis is not resolved (``bad``).

    The panels with the largest resolution error, until those left hold less than
    ``_KEEP_ERR`` of the target (halving a panel divides its error by about 2^11).
    """
    pc = np.where(bad[:, None], perr, 0.0)
    pc[:, [0, -1]] = 0.0  # the end panels (tails, or up to a bound of the prior) stay
    order = np.argsort(-pc, axis=1, kind="stable")
    ranked = np.take_along_axis(pc, order, 1)
    rest = np.cumsum(ranked[:, ::-1], 1)[:, ::-1]  # error of this panel and all smaller
    split = np.zeros(pc.shape, bool)
    np.put_along_axis(split, order, (rest > _KEEP_ERR * RESOLUTION_TOL) & (ranked > 0), 1)
    return split


def _split_panels(kind: Array, pa: Array, pb: Array, nodes: _Nodes, split: Array, evaluate):
    """Halve the panels marked in ``split`` (B, NP); only the new halves are evaluated.

    Analyses that split fewer panels get zero-width panels before the last one (as
    :func:`_pad`), so that every analysis has the same number of panels.
    """
    B, NP = pa.shape
    ns = split.sum(1)
    NPn = NP + int(ns.max())
    pos = np.arange(NP) + np.cumsum(split, 1) - split  # new column of each panel
    pos[:, -1] = NPn - 1
    rows = np.arange(B)[:, None]
    mid = 0.5 * (pa + pb)
    at = pa[:, -1:]  # zero-width padding at the start of the last panel
    new_pa, new_pb = np.repeat(at, NPn, 1), np.repeat(at, NPn, 1)
    new_pa[rows, pos], new_pb[rows, pos] = pa, np.where(split, mid, pb)
    new = []
    for a in nodes.fields():
        out = np.full((B, NPn, *a.shape[2:]), -np.inf if a is nodes.lf else 0.0)
        out[rows, pos] = a
        new.append(out)
    # the new halves: (left, right) of each split panel, evaluated in one call
    ix = np.flatnonzero(ns)
    smax = int(ns.max())
    cols = np.argsort(~split[ix], axis=1, kind="stable")[:, :smax]
    valid = np.take_along_axis(split[ix], cols, 1)
    ha = np.take_along_axis(pa[ix], cols, 1)
    hm = np.take_along_axis(mid[ix], cols, 1)
    hb = np.take_along_axis(pb[ix], cols, 1)
    ha, hm, hb = (np.where(valid, v, at[ix]) for v in (ha, hm, hb))
    halves = evaluate(ix, np.full(2 * smax, _AFFINE), np.hstack([ha, hm]), np.hstack([hm, hb]))
    left = np.take_along_axis(pos[ix], cols, 1)
    r = np.broadcast_to(ix[:, None], valid.shape)[valid]
    for out, a in zip(new, halves.fields(), strict=True):
        out[r, left[valid]] = a[:, :smax][valid]
        out[r, left[valid] + 1] = a[:, smax:][valid]
    new_pa[r, left[valid] + 1] = hm[valid]
    new_pb[r, left[valid] + 1] = hb[valid]
    kind = np.concatenate([kind[:1], np.full(NPn - 2, _AFFINE), kind[-1:]])
    return kind, new_pa, new_pb, _Nodes(*new)


def _pad(kind: Array, pa: Array, pb: Array, npmax: int, *per_panel: Array):
    """Pad to ``npmax`` panels with zero-width panels before the last (upper) panel.

    ``per_panel`` arrays (B, NP, ...) get zeros in the new panels.
    """
    pad = npmax - pa.shape[1]
    if pad <= 0:
        return kind, pa, pb, *per_panel
    at = pa[:, -1:] if kind[-1] == _UPPER else pb[:, -2:-1]
    pa = np.concatenate([pa[:, :-1], np.repeat(at, pad, 1), pa[:, -1:]], 1)
    pb = np.concatenate([pb[:, :-1], np.repeat(at, pad, 1), pb[:, -1:]], 1)
    out = [
        np.concatenate([a[:, :-1], np.zeros((a.shape[0], pad, *a.shape[2:])), a[:, -1:]], 1)
        for a in per_panel
    ]
    kind = np.concatenate([kind[:-1], np.full(pad, _AFFINE), kind[-1:]])
    return kind, pa, pb, *out


def integrate(
    y: ArrayLike,
    S: ArrayLike,
    X: ArrayLike | None = None,
    W: ArrayLike | None = None,
    *,
    tau_prior: Any,
    beta_prior_mean: ArrayLike | None = None,
    beta_prior_var: ArrayLike | None = None,
    beta_fixed: Mapping[str, float] | None = None,
    tau_fixed: float | None = None,
    coef_names: Sequence[str] | None = None,
    study_labels: Sequence[str] | None = None,
    mask: ArrayLike | None = None,
    typical_variance: ArrayLike | None = None,
    n_chains: int = 4,
    n_draws: int = 1000,
    seed: int = 0,
) -> LinearPosterior:
    r"""Exact posterior of :math:`y \sim N(X\beta, S + \tau^2 W)` by quadrature over tau.

    Parameters
    ----------
    y : array (K,) or (B, K)
        Study estimates; a 2-D array is a batch of B analyses (diagonal S, W = I), padded
        with ``mask`` False where an analysis has fewer studies.
    S : array
        Sampling variances (K,) / (B, K), or a full (K, K) covariance matrix (single
        analysis).
    X : array (K, P), optional
        Design matrix; default one intercept column (coefficient ``mu``).
    W : array (K, K), optional
        Structure of the random effects (default identity); needs a full ``S``.
    tau_prior : Prior or None
        Prior of tau (anything with ``logpdf``, ``bounds`` and ``proper``); None for the
        common-effect model (tau = 0).
    beta_prior_mean, beta_prior_var : array (P,), optional
        Independent normal priors on the coefficients; a variance of ``inf`` (the default)
        is a flat prior.
    beta_fixed : mapping, optional
        Coefficients held at given values (e.g. ``{"mu": 0.0}`` for the Bayes factor of
        mu = 0).
    tau_fixed : float, optional
        Condition on tau = ``tau_fixed`` (``0.0``: the Bayes factor of tau = 0 is
        ``exp(fixed.log_normalizer - model.log_normalizer)``, valid under flat beta priors).
    coef_names, study_labels : sequences of str, optional
    mask : array (B, K) of bool, optional
    typical_variance : float or array (B,), optional
        s^2 of I^2 = tau^2 / (tau^2 + s^2); default Higgins and Thompson's.
    n_chains, n_draws, seed : int
        Size and seed of the independent draws (:meth:`LinearPosterior.joint_draws`).

    Returns
    -------
    LinearPosterior

    Raises
    ------
    ImproperPosteriorError
        When the posterior does not integrate (e.g. k = 1, flat prior on mu, improper tau
        prior).
    ValueError
        For invalid input.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmeta import priors
    >>> post = integrate([0.2, 0.5, 0.1], [0.04, 0.09, 0.0625], tau_prior=priors.HalfNormal(0.5),
    ...                  beta_prior_mean=[0.0], beta_prior_var=[16.0])
    >>> round(float(post.marginal("mu").quantile([0.5])[0]), 4)
    0.2416
    """
    model, names, free, fixed_vals, batched, mask_arr, v_diag = _build(
        y, S, X, W, mask, beta_prior_mean, beta_prior_var, coef_names, beta_fixed
    )
    B, K = model.yt.shape
    labels = (
        tuple(study_labels)
        if study_labels is not None
        else tuple(f"study {i + 1}" for i in range(K))
    )
    if typical_variance is None:
        tv = _typical_variance(v_diag, mask_arr)
    else:
        tv = np.broadcast_to(np.asarray(typical_variance, float), (B,)).copy()
    beta_proper = bool(np.all(model.prec0 > 0))
    point = 0.0 if tau_prior is None else tau_fixed
    if tau_prior is not None and getattr(tau_prior, "data_dependent", False):
        if batched:
            raise ValueError("a data-dependent tau prior needs one analysis at a time")
        tau_prior = tau_prior.bind(np.sqrt(v_diag[0]))
    common = dict(
        names_beta=names,
        free=free,
        beta_fixed=fixed_vals,
        typical_variance=tv,
        batched=batched,
        study_labels=labels,
        n_chains=n_chains,
        n_draws=n_draws,
        seed=seed,
    )
    if point is not None:
        if not (np.isfinite(point) and point >= 0):
            raise ValueError(f"tau_fixed must be >= 0, got {point}")
        ll, _ = _conditional(model, np.full((B, 1), float(point) ** 2), moments=False)
        return LinearPosterior(
            model=model,
            kind=np.array([_AFFINE]),
            pa=np.zeros((B, 1)),
            pb=np.zeros((B, 1)),
            h=np.zeros((B, 1, N_GAUSS)),
            log_norm=ll[:, 0],
            decay=np.full(B, np.inf),
            tau_point=float(point),
            proper=beta_proper,
            tau_prior=tau_prior,
            **common,
        )
    lo, hi = _prior_bounds(tau_prior)
    proper = _prior_proper(tau_prior)
    if model.k.min() - model.p_flat < 0 and not proper:
        raise ImproperPosteriorError(
            "the posterior is improper: fewer studies than flat coefficients and an improper "
            "tau prior"
        )
    center = _prior_center(tau_prior)
    parts = []
    for s0 in range(0, B, _CHUNK):
        parts.append(
            _integrate_chunk(
                model.subset(slice(s0, s0 + _CHUNK)), tau_prior, lo, hi, proper, center
            )
        )
    npmax = max(p[1].shape[1] for p in parts)
    kind = None
    padded = []
    for kd, pa, pb, h, *_, nodes in parts:
        kind, *arrays = _pad(kd, pa, pb, npmax, h, nodes.u, nodes.beta, nodes.cov)
        padded.append(arrays)
    pa, pb, h, u, beta, cov = (np.concatenate(a) for a in zip(*padded, strict=True))
    err = np.concatenate([p[6] for p in parts])
    notes = ()
    if np.any(err > 1e3 * RESOLUTION_TOL):
        notes = (f"quadrature resolution {err.max():.1e} (target {RESOLUTION_TOL:g})",)
    return LinearPosterior(
        model=model,
        kind=kind,
        pa=pa,
        pb=pb,
        h=h,
        log_norm=np.concatenate([p[4] for p in parts]),
        decay=np.concatenate([p[5] for p in parts]),
        tau_point=None,
        proper=beta_proper and proper,
        tau_prior=tau_prior,
        notes_extra=notes,
        at_nodes=(u, beta, cov),
        **common,
    )
