"""Independent reference for the normal-normal posterior: adaptive Gauss-Kronrod
(scipy.integrate.quad) over tau, closed-form normal integrals over mu.

Shares no code with bayesmeta.exact (different quadrature, written from the model).
"""

import numpy as np
from scipy import integrate, optimize, stats


class QuadPosterior:
    def __init__(self, y, s, m0, s0, tau_pdf, upper=np.inf):
        self.y, self.v = np.asarray(y, float), np.asarray(s, float) ** 2
        self.m0, self.s0, self.tau_pdf, self.upper = m0, s0, tau_pdf, upper
        # scale the likelihood by its value at the mode of tau to avoid underflow
        grid = np.concatenate([[0.0], np.geomspace(1e-6, 1e3, 2000)])
        grid = grid[grid <= upper]
        self._c = max(self._logmarg(t) + np.log(max(tau_pdf(t), 1e-300)) for t in grid)
        self.points = [
            grid[np.argmax([self._logmarg(t) + np.log(max(tau_pdf(t), 1e-300)) for t in grid])]
        ]
        self.norm = self._int(lambda t: 1.0)

    def _cond(self, tau):
        w = 1 / (self.v + tau**2)
        prec = 1 / self.s0**2 + w.sum()
        mhat = (self.m0 / self.s0**2 + (w * self.y).sum()) / prec
        return mhat, 1 / prec

    def _logmarg(self, tau):
        # y ~ MVN(m0 1, D + s0^2 11'), D = diag(v + tau^2)
        if self.y.size <= 50 and self.s0 < 1e3:
            cov = np.diag(self.v + tau**2) + self.s0**2
            return stats.multivariate_normal(np.full(self.y.size, self.m0), cov).logpdf(self.y)
        # large k: matrix determinant lemma and Sherman-Morrison (rank-one update of D)
        d = self.v + tau**2
        r = self.y - self.m0
        a = self.s0**2
        u = (1 / d).sum()
        quad = (r**2 / d).sum() - a * (r / d).sum() ** 2 / (1 + a * u)
        logdet = np.log(d).sum() + np.log1p(a * u)
        return -0.5 * (self.y.size * np.log(2 * np.pi) + logdet + quad)

    def _int(self, g):
        f = lambda t: g(t) * self.tau_pdf(t) * np.exp(self._logmarg(t) - self._c)  # noqa: E731
        up = self.upper
        a = integrate.quad(f, 0, self.points[0], limit=400, epsabs=0, epsrel=1e-11)[0]
        b = integrate.quad(f, self.points[0], up, limit=400, epsabs=0, epsrel=1e-11)[0]
        return a + b

    def log_evidence(self):
        return self._c + np.log(self.norm)

    def cdf_mu(self, x, predict=False):
        def g(t):
            m, v = self._cond(t)
            return stats.norm.cdf(x, m, np.sqrt(v + (t**2 if predict else 0)))

        return self._int(g) / self.norm

    def quantile_mu(self, q, predict=False):
        return optimize.brentq(lambda x: self.cdf_mu(x, predict) - q, -50, 50, xtol=1e-12)

    def cdf_tau(self, x):
        f = lambda t: self.tau_pdf(t) * np.exp(self._logmarg(t) - self._c)  # noqa: E731
        return (
            integrate.quad(
                f,
                0,
                x,
                limit=400,
                epsabs=0,
                epsrel=1e-11,
                points=[p for p in self.points if p < x] or None,
            )[0]
            / self.norm
        )

    def quantile_tau(self, q):
        return optimize.brentq(lambda x: self.cdf_tau(x) - q, 1e-12, 50, xtol=1e-13)
