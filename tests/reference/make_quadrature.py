"""Independent reference values for the linear model with one variance component.

    y ~ N(X beta, S + tau^2 W),  beta_j ~ N(m0_j, V0_j) or flat,  tau ~ p(tau)

Adaptive Gauss-Kronrod quadrature over tau (scipy.integrate.quad, epsrel 1e-11) with dense
linear algebra for the conditional Gaussians (proper coefficients integrated into the
covariance, flat ones by the restricted likelihood). Shares no code with
bayesmeta.engines.linear (different quadrature, different formulas: dense covariance
matrices and slogdet instead of simultaneous diagonalisation).

Run from the repository root (takes a few minutes):

    .venv/bin/python tests/reference/make_quadrature.py

and it writes tests/reference/quadrature.json.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy
from scipy import integrate, optimize, stats

OUT = Path(__file__).with_name("quadrature.json")
Q = [0.025, 0.5, 0.975]
EPSREL = 1e-11


# -- priors on tau (densities written here, not taken from bayesmeta.priors) ----------------
def tau_pdf(spec):
    """Density of tau (closed forms; checked against scipy.stats at import below)."""
    d = spec["dist"]
    if d == "HalfNormal":
        sg = spec["sigma"]
        c = math.sqrt(2 / math.pi) / sg
        return (lambda t: c * math.exp(-0.5 * (t / sg) ** 2)), (0.0, np.inf)
    if d == "HalfCauchy":
        b = spec["beta"]
        return (lambda t: 2 / (math.pi * b * (1 + (t / b) ** 2))), (0.0, np.inf)
    if d == "Uniform":
        lo, hi = spec["lower"], spec["upper"]
        return (lambda t: 1.0 / (hi - lo) if lo <= t <= hi else 0.0), (lo, hi)
    if d == "LogNormal":
        m, sg = spec["mu"], spec["sigma"]

        def f(t):
            if t <= 0:
                return 0.0
            z = (math.log(t) - m) / sg
            return math.exp(-0.5 * z * z) / (t * sg * math.sqrt(2 * math.pi))

        return f, (0.0, np.inf)
    if d == "LogStudentT":
        nu, m, sg = spec["nu"], spec["mu"], spec["sigma"]
        c = math.exp(math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2)) / math.sqrt(nu * math.pi) / sg

        def f(t):
            if t <= 0:
                return 0.0
            z = (math.log(t) - m) / sg
            return c * (1 + z * z / nu) ** (-(nu + 1) / 2) / t

        return f, (0.0, np.inf)
    raise ValueError(d)


def _check_densities():
    for spec, ref in [
        ({"dist": "HalfNormal", "sigma": 0.7}, stats.halfnorm(scale=0.7).pdf),
        ({"dist": "HalfCauchy", "beta": 0.7}, stats.halfcauchy(scale=0.7).pdf),
        (
            {"dist": "LogNormal", "mu": -1, "sigma": 0.8},
            stats.lognorm(s=0.8, scale=math.exp(-1)).pdf,
        ),
        (
            {"dist": "LogStudentT", "nu": 5, "mu": -1, "sigma": 0.8},
            lambda t: stats.t(5, -1, 0.8).pdf(math.log(t)) / t,
        ),
    ]:
        f, _ = tau_pdf(spec)
        for t in (0.01, 0.3, 2.0):
            assert abs(f(t) - ref(t)) <= 1e-13 * max(1, ref(t)), spec


class Reference:
    def __init__(self, y, S, X, W, m0, v0, prior):
        self.y = np.asarray(y, float)
        K = self.y.size
        S = np.asarray(S, float)
        self.S = np.diag(S) if S.ndim == 1 else S
        self.X = np.ones((K, 1)) if X is None else np.asarray(X, float)
        self.W = np.eye(K) if W is None else np.asarray(W, float)
        P = self.X.shape[1]
        self.m0 = np.zeros(P) if m0 is None else np.asarray(m0, float)
        self.v0 = np.full(P, np.inf) if v0 is None else np.asarray(v0, float)
        self.flat = np.isinf(self.v0)
        self.pdf, (self.lo, self.hi) = tau_pdf(prior)
        # scale by the log density at its maximum (grid search) to avoid underflow
        grid = np.geomspace(max(self.lo, 1e-8), min(self.hi, 1e4), 3000)
        lp = np.array([self.logpost(t) for t in grid])
        i = int(np.nanargmax(lp))
        self.c = lp[i]
        self.mode = grid[i]
        # roundoff in a long likelihood sum limits what quad can certify
        self.epsrel = EPSREL if self.y.size <= 50 else 1e-9
        self.norm = self._int(lambda t: 1.0)

    @property
    def diag(self):
        return np.count_nonzero(self.S - np.diag(np.diag(self.S))) == 0 and np.all(
            self.W == np.eye(self.y.size)
        )

    def _sigma_inv(self, tau):
        """Inverse and log determinant of S + tau^2 W."""
        if self.diag:
            d = np.diag(self.S) + tau**2
            return np.diag(1 / d), np.log(d).sum(), d
        Sig = self.S + tau**2 * self.W
        return np.linalg.inv(Sig), np.linalg.slogdet(Sig)[1], None

    def _logmarg_diag(self, tau):
        """Large diagonal case: Woodbury for the proper part, GLS for the flat part."""
        _, ld, d = self._sigma_inv(tau)
        K = self.y.size
        pr = ~self.flat
        Xp, Xf = self.X[:, pr], self.X[:, self.flat]
        r = self.y - Xp @ self.m0[pr]
        Di = 1 / d
        # Sig' = D + Xp V Xp' ;  inverse by Woodbury
        V = np.diag(self.v0[pr])
        M = np.linalg.inv(np.linalg.inv(V) + (Xp.T * Di) @ Xp) if pr.any() else np.zeros((0, 0))
        ldp = (np.linalg.slogdet(np.eye(pr.sum()) + V @ (Xp.T * Di) @ Xp)[1]) if pr.any() else 0

        def sinv(v):
            return Di * v - (Di[:, None] * Xp) @ (M @ (Xp.T @ (Di * v))) if pr.any() else Di * v

        p = Xf.shape[1]
        if p:
            SiXf = np.column_stack([sinv(Xf[:, j]) for j in range(p)])
            A = Xf.T @ SiXf
            bf = np.linalg.solve(A, SiXf.T @ r)
            res = r - Xf @ bf
            lda = np.linalg.slogdet(A)[1]
        else:
            res, lda = r, 0.0
        return -0.5 * ((K - p) * np.log(2 * np.pi) + ld + ldp + lda + res @ sinv(res))

    def _parts(self, tau):
        """Marginal covariance over proper coefficients, and the flat part's GLS."""
        pr = ~self.flat
        Sig = self.S + tau**2 * self.W
        Sig = Sig + self.X[:, pr] @ np.diag(self.v0[pr]) @ self.X[:, pr].T
        r = self.y - self.X[:, pr] @ self.m0[pr]
        return Sig, r

    def logmarg(self, tau):
        if self.diag and self.y.size > 50:
            return self._logmarg_diag(tau)
        Sig, r = self._parts(tau)
        K = self.y.size
        Si = np.linalg.inv(Sig)
        _, ld = np.linalg.slogdet(Sig)
        Xf = self.X[:, self.flat]
        p = Xf.shape[1]
        if p:
            A = Xf.T @ Si @ Xf
            bf = np.linalg.solve(A, Xf.T @ Si @ r)
            res = r - Xf @ bf
            _, lda = np.linalg.slogdet(A)
        else:
            res, lda = r, 0.0
        return -0.5 * ((K - p) * np.log(2 * np.pi) + ld + lda + res @ Si @ res)

    def logpost(self, tau):
        p = self.pdf(tau)
        return -np.inf if p <= 0 else math.log(p) + self.logmarg(tau)

    def cond_beta(self, tau):
        """Mean and covariance of beta | tau, y (all coefficients)."""
        if self.diag:
            d = np.diag(self.S) + tau**2
            XtSi = self.X.T / d
        else:
            XtSi = self.X.T @ np.linalg.inv(self.S + tau**2 * self.W)
        prec0 = np.where(self.flat, 0.0, 1.0 / np.where(self.flat, 1.0, self.v0))
        A = XtSi @ self.X + np.diag(prec0)
        C = np.linalg.inv(A)
        m = C @ (XtSi @ self.y + prec0 * np.where(self.flat, 0.0, self.m0))
        return m, C

    def _int(self, g, upper=None):
        f = lambda t: g(t) * math.exp(self.logpost(t) - self.c) if t > 0 or self.lo == 0 else 0.0  # noqa: E731
        hi = self.hi if upper is None else min(upper, self.hi)
        lo = self.lo
        pts = sorted({lo, min(self.mode, hi), hi})
        if not hasattr(self, "epsrel"):
            self.epsrel = EPSREL
        total = 0.0
        for a, b in zip(pts[:-1], pts[1:], strict=False):
            if b > a:
                total += integrate.quad(f, a, b, limit=500, epsabs=0, epsrel=self.epsrel)[0]
        return total

    def log_norm(self):
        return self.c + math.log(self.norm)

    def cdf_tau(self, x):
        return self._int(lambda t: 1.0, upper=x) / self.norm

    def quantile_tau(self, q):
        hi = self.hi if np.isfinite(self.hi) else 10.0
        while np.isinf(self.hi) and self.cdf_tau(hi) < q:
            hi *= 10
        return optimize.brentq(
            lambda x: self.cdf_tau(x) - q, max(self.lo, 1e-14), hi, xtol=1e-14, rtol=1e-13
        )

    def moment_tau(self, m):
        return self._int(lambda t: t**m) / self.norm

    def cdf_lin(self, a, x, new=False):
        def g(t):
            m, C = self.cond_beta(t)
            sd = math.sqrt(a @ C @ a + (t**2 if new else 0.0))
            return stats.norm.cdf(x, a @ m, sd)

        return self._int(g) / self.norm

    def quantile_lin(self, a, q, new=False):
        m, C = self.cond_beta(self.mode)
        c, s = a @ m, math.sqrt(a @ C @ a + self.mode**2)
        lo, hi = c - 20 * s - 1, c + 20 * s + 1
        while self.cdf_lin(a, lo, new) > q:
            lo -= 10 * (hi - lo)
        while self.cdf_lin(a, hi, new) < q:
            hi += 10 * (hi - lo)
        return optimize.brentq(lambda x: self.cdf_lin(a, x, new) - q, lo, hi, xtol=1e-13)

    def mean_sd_lin(self, a):
        def g1(t):
            return a @ self.cond_beta(t)[0]

        mean = self._int(g1) / self.norm

        def g2(t):
            m, C = self.cond_beta(t)
            return a @ C @ a + (a @ m - mean) ** 2

        return mean, math.sqrt(self._int(g2) / self.norm)


# -- data ------------------------------------------------------------------------------------
def crins():
    et, nt = np.array([14, 16, 3, 9, 4, 0.0]), np.array([61, 28, 18, 54, 36, 50.0])
    ec, nc = np.array([15, 19, 8, 29, 11, 3.0]), np.array([20, 28, 12, 54, 36, 34.0])
    zero = (et == 0) | (ec == 0) | (et == nt) | (ec == nc)
    a, b = et + 0.5 * zero, nt - et + 0.5 * zero
    c, d = ec + 0.5 * zero, nc - ec + 0.5 * zero
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


SCHOOLS_Y = [28.0, 8, -3, 7, -1, 1, 18, 12]
SCHOOLS_S = [15.0, 10, 16, 11, 9, 11, 10, 18]
# metafor dat.bcg (13 trials): tpos, tneg, cpos, cneg, ablat
BCG = [
    (4, 119, 11, 128, 44), (6, 300, 29, 274, 55), (3, 228, 11, 209, 42),
    (62, 13536, 248, 12619, 52), (33, 5036, 47, 5761, 13), (180, 1361, 372, 1079, 44),
    (8, 2537, 10, 619, 19), (505, 87886, 499, 87892, 13), (29, 7470, 45, 7232, 27),
    (17, 1699, 65, 1600, 42), (186, 50448, 141, 27197, 18), (5, 2493, 3, 2338, 33),
    (27, 16886, 29, 17825, 33),
]  # fmt: skip


def bcg():
    a = np.array(BCG, float)
    tp, tn, cp, cn, lat = a.T
    yi = np.log((tp / (tp + tn)) / (cp / (cp + cn)))
    vi = 1 / tp - 1 / (tp + tn) + 1 / cp - 1 / (cp + cn)
    return yi, vi, lat


def nma():
    """Contrasts vs A (basic parameters d_AB, d_AC); study 2 is a three-arm trial."""
    y = [0.30, 0.25, 0.55, 0.60, 0.20]
    vA2, vB2, vC2 = 0.04, 0.05, 0.06
    S = np.diag([0.09, vA2 + vB2, vA2 + vC2, 0.08, 0.10])
    S[1, 2] = S[2, 1] = vA2
    W = np.eye(5)
    W[1, 2] = W[2, 1] = 0.5
    X = [[1, 0], [1, 0], [0, 1], [0, 1], [-1, 1]]
    return y, S.tolist(), X, W.tolist()


def cases():
    y4, s4 = [0.2, 0.9, -0.4, 0.6], [0.3, 0.25, 0.4, 0.5]
    cy, cv = crins()
    rng = np.random.default_rng(7)
    s1000 = rng.uniform(0.1, 0.5, 1000)
    y1000 = rng.normal(0.3, 0.2, 1000) + rng.normal(0, s1000)
    hn = {"dist": "HalfNormal", "sigma": 0.5}
    hc = {"dist": "HalfCauchy", "beta": 1.0}
    rhodes = {"dist": "LogStudentT", "nu": 5.0, "mu": -1.72, "sigma": 1.295}
    n04 = {"m0": [0.0], "v0": [16.0]}
    out = {
        "crins-halfnormal": dict(y=cy.tolist(), S=cv.tolist(), tau_prior=hn, theta_study=1, **n04),
        # mu fixed at 0 (prior variance 0): the numerator of the Bayes factor of mu = 0
        "crins-halfnormal-mu0": dict(
            y=cy.tolist(), S=cv.tolist(), tau_prior=hn, m0=[0.0], v0=[0.0], fixed=True
        ),
        "single-study": dict(y=[0.8], S=[0.16], tau_prior=hn, **n04),
        "tau-piled-at-zero": dict(y=[0.3] * 8, S=[0.04] * 8, tau_prior=hn, **n04),
        "sei-span-4-orders": dict(
            y=[0.10, 0.35, -0.2, 0.5, 0.05], S=[1e-6, 1e-4, 1e-2, 1.0, 100.0], tau_prior=hn, **n04
        ),
        "halfcauchy-k4": dict(y=y4, S=(np.square(s4)).tolist(), tau_prior=hc, **n04),
        "turner-k4": dict(
            y=y4,
            S=np.square(s4).tolist(),
            tau_prior={"dist": "LogNormal", "mu": -1.28, "sigma": 0.87},
            **n04,
        ),
        "flat-mu-k4": dict(y=y4, S=np.square(s4).tolist(), tau_prior=hn, m0=[0.0], v0=[math.inf]),
        # 1000 studies: quantiles of mu and tau only (each quad takes seconds here)
        "k1000": dict(y=y1000.tolist(), S=(s1000**2).tolist(), tau_prior=hn, light=True, **n04),
        "rhodes-k2": dict(y=cy[:2].tolist(), S=cv[:2].tolist(), tau_prior=rhodes, **n04),
        "rhodes-k3": dict(y=cy[:3].tolist(), S=cv[:3].tolist(), tau_prior=rhodes, **n04),
        "halfcauchy-k1-normal": dict(y=[0.8], S=[0.16], tau_prior=hc, **n04),
        "halfcauchy-k2-normal": dict(y=y4[:2], S=np.square(s4[:2]).tolist(), tau_prior=hc, **n04),
        "halfcauchy-k1-flat": dict(y=[0.8], S=[0.16], tau_prior=hc, m0=[0.0], v0=[math.inf]),
        "halfcauchy-k2-flat": dict(
            y=y4[:2], S=np.square(s4[:2]).tolist(), tau_prior=hc, m0=[0.0], v0=[math.inf]
        ),
        "halfnormal-k1-flat": dict(y=[0.8], S=[0.16], tau_prior=hn, m0=[0.0], v0=[math.inf]),
    }
    for U in (5, 7.5, 10, 12.5, 15, 20, 30, 50):
        out[f"schools-uniform-{U:g}"] = dict(
            y=SCHOOLS_Y, S=np.square(SCHOOLS_S).tolist(),
            tau_prior={"dist": "Uniform", "lower": 0.0, "upper": float(U)},
            m0=[0.0], v0=[math.inf],
        )  # fmt: skip
    out["schools-uniform-2-15"] = dict(
        y=SCHOOLS_Y, S=np.square(SCHOOLS_S).tolist(),
        tau_prior={"dist": "Uniform", "lower": 2.0, "upper": 15.0}, m0=[0.0], v0=[math.inf],
    )  # fmt: skip
    by, bv, lat = bcg()
    X = np.column_stack([np.ones(13), lat]).tolist()
    out["bcg-latitude-flat"] = dict(
        y=by.tolist(), S=bv.tolist(), X=X, coef_names=["intercept", "ablat"],
        tau_prior={"dist": "HalfNormal", "sigma": 1.0}, m0=[0.0, 0.0], v0=[math.inf, math.inf],
    )  # fmt: skip
    out["bcg-latitude-normal"] = dict(
        y=by.tolist(), S=bv.tolist(), X=X, coef_names=["intercept", "ablat"],
        tau_prior={"dist": "HalfNormal", "sigma": 1.0}, m0=[0.0, 0.0], v0=[4.0, 0.01],
    )  # fmt: skip
    ny, nS, nX, nW = nma()
    out["nma-three-arm"] = dict(
        y=ny, S=nS, X=nX, W=nW, coef_names=["d_AB", "d_AC"], tau_prior=hn,
        m0=[0.0, 0.0], v0=[math.inf, math.inf],
    )  # fmt: skip
    return out


# Moments that do not exist (posterior density of tau decays like tau^-(r+1), r below):
# HalfCauchy: prior ~ tau^-2; likelihood ~ tau^-(k - p_flat).  E[tau^m] needs r > m.
DECAY = {
    "halfcauchy-k1-normal": 2,
    "halfcauchy-k2-normal": 3,
    "halfcauchy-k1-flat": 1,
    "halfcauchy-k2-flat": 2,
    "halfcauchy-k4": 5,
}


def compute(name, c):
    ref = Reference(
        c["y"], c["S"], c.get("X"), c.get("W"), c.get("m0"), c.get("v0"), c["tau_prior"]
    )
    P = ref.X.shape[1]
    names = c.get("coef_names", ["mu"] if P == 1 else [f"beta{j}" for j in range(P)])
    r = DECAY.get(name, math.inf)
    res = {"log_norm": ref.log_norm()}
    if c.get("fixed"):
        return res
    res |= {
        "tau": [ref.quantile_tau(q) for q in Q],
        "tau_mean": ref.moment_tau(1) if r > 1 and not c.get("light") else None,
        "tau2_mean": ref.moment_tau(2) if r > 2 and not c.get("light") else None,
    }
    for j, nm in enumerate(names):
        a = np.eye(P)[j]
        res[f"beta[{nm}]"] = [ref.quantile_lin(a, q) for q in Q]
        if r > 2 and not c.get("light"):
            res[f"beta[{nm}]_mean_sd"] = list(ref.mean_sd_lin(a))
    if "theta_study" in c:
        i = c["theta_study"]

        def cdf_theta(x):
            def g(t):
                m, C = ref.cond_beta(t)
                v, s2 = ref.S[i, i], t**2
                b = v / (v + s2)
                mean = (1 - b) * ref.y[i] + b * m[0]
                return stats.norm.cdf(x, mean, math.sqrt((1 - b) * v + b * b * C[0, 0]))

            return ref._int(g) / ref.norm

        res["theta_i"] = [
            optimize.brentq(lambda x, q=q: cdf_theta(x) - q, -20, 20, xtol=1e-13) for q in Q
        ]
    if P == 1 and np.all(ref.X == 1) and not c.get("light"):
        res["theta_new"] = [ref.quantile_lin(np.ones(1), q, new=True) for q in Q]
    if P == 2:  # mean effect at a covariate row (second column at its mean)
        row = (
            np.array([1.0, float(np.mean(ref.X[:, 1]))])
            if np.all(ref.X[:, 0] == 1)
            else (np.array([-1.0, 1.0]))
        )
        res["linear_row"] = row.tolist()
        res["linear"] = [ref.quantile_lin(row, q) for q in Q]
        res["linear_new"] = [ref.quantile_lin(row, q, new=True) for q in Q]
    return res


def main() -> int:
    out = {
        "source": {
            "generator": "tests/reference/make_quadrature.py",
            "method": "scipy.integrate.quad over tau (epsrel 1e-11; 1e-9 for k > 50), dense Gaussian "
            "algebra; "
            "brentq for quantiles (xtol 1e-13)",
            "quantiles": Q,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "platform": platform.platform(),
            "log_norm": "log integral of p(tau) N(y | X m0, S + tau^2 W + X V0 X') over tau; "
            "flat coefficients integrated with density 1 (restricted likelihood)",
        },
        "cases": {},
    }
    _check_densities()
    only = sys.argv[1:]
    if only and OUT.exists():  # recompute some cases, keep the others
        out["cases"] = json.loads(OUT.read_text())["cases"]
    todo = {n: c for n, c in cases().items() if not only or n in only}
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(2) as pool:
        futures = {pool.submit(compute, n, c): n for n, c in todo.items()}
        for fut in as_completed(futures):
            n = futures[fut]
            out["cases"][n] = {"input": todo[n], "values": fut.result()}
            print(n, flush=True)
            OUT.write_text(json.dumps(out, indent=1, sort_keys=True, allow_nan=True) + "\n")
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True, allow_nan=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
