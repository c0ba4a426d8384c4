"""Independent brute-force reference for the binomial-normal model (k = 2); writes JSON.

Shares no code with bayesmeta.engines.grid. Every integral is scipy adaptive Gauss-Kronrod
(`scipy.integrate.quad`) at tight tolerance:

* L_i(theta) = int Bin(r_c | expit a) Bin(r_t | expit(a + theta)) N(a | 0, 10^2) da by quad,
  tabulated at 257 Chebyshev points of [-45, 35] and interpolated barycentrically in
  log L (spectral; the interpolation error is checked against direct quad at midpoints and
  stored in the JSON);
* p_i(mu, tau) = int L_i(theta) N(theta | mu, tau^2) dtheta by quad (tau = 0: L_i(mu));
* the (mu, tau) integrals are nested quad calls (tau outer, split at its posterior mode).

Run (about 15 minutes): .venv/bin/python tests/reference/make_binomial_reference.py
"""

import json
import platform
import time
from pathlib import Path

import numpy as np
import scipy
from scipy import integrate, interpolate, optimize, special, stats

OUT = Path(__file__).with_name("binomial_reference.json")
DATA = {"events_t": [0, 6], "n_t": [20, 30], "events_c": [4, 11], "n_c": [20, 30]}
MU_SD, TAU_SD, BASE_SD = 2.0, 0.5, 10.0
TH_LO, TH_HI = -45.0, 35.0
EPS = 1e-11
GL_X, GL_W = np.polynomial.legendre.leggauss(100)
# points where the CDFs are evaluated (the test compares the engine's CDF there, and its
# quantiles through F_ref(q_engine) = p)
MU_POINTS = (-2.58555, -1.5, -1.22069, -0.5, -0.00264, 0.0)
TAU_POINTS = (0.1, 0.4, 0.9)


def log_lik_alpha(et, nt, ec, nc):
    logc = (
        special.gammaln(nt + 1)
        - special.gammaln(et + 1)
        - special.gammaln(nt - et + 1)
        + special.gammaln(nc + 1)
        - special.gammaln(ec + 1)
        - special.gammaln(nc - ec + 1)
    )

    def L(theta):
        def logf(a):
            # binomial log pmf written with log_expit (stable for any a)
            b = a + theta
            return (
                logc
                + ec * special.log_expit(a)
                + (nc - ec) * special.log_expit(-a)
                + et * special.log_expit(b)
                + (nt - et) * special.log_expit(-b)
                - 0.5 * (a / BASE_SD) ** 2
                - np.log(BASE_SD * np.sqrt(2 * np.pi))
            )

        # split at the mode of the integrand; integrate exp(logf - logf(mode))
        m = optimize.minimize_scalar(lambda a: -logf(a), bounds=(-80, 80), method="bounded").x
        top = logf(m)
        f = lambda a: np.exp(logf(a) - top)  # noqa: E731
        s = sum(
            integrate.quad(f, lo, hi, epsabs=1e-16, epsrel=EPS, limit=500)[0]
            for lo, hi in ((m - 120, m - 30), (m - 30, m), (m, m + 30), (m + 30, m + 120))
        )
        return s * np.exp(top)

    return L


def cheb_table(L, n=257):
    k = np.arange(n)
    x = np.cos(np.pi * k / (n - 1))
    th = 0.5 * (TH_LO + TH_HI) + 0.5 * (TH_HI - TH_LO) * x
    vals = np.log([L(t) for t in th])
    interp = interpolate.BarycentricInterpolator(th, vals)
    mids = 0.5 * (th[1:] + th[:-1])[::16]
    err = max(abs(interp(t) - np.log(L(t))) for t in mids)
    return interp, float(err)


class Ref:
    def __init__(self):
        self.logL = []
        self.interp_err = 0.0
        for i in range(2):
            L = log_lik_alpha(*(DATA[c][i] for c in ("events_t", "n_t", "events_c", "n_c")))
            f, err = cheb_table(L)
            self.logL.append(f)
            self.interp_err = max(self.interp_err, err)
        self.c = 0.0
        self.c = self._logjoint(-0.5, 0.3)

    def p_i(self, i, mu, tau):
        if tau < 1e-9:
            return float(np.exp(self.logL[i](mu)))
        # theta integral: 3 x 100-point Gauss-Legendre panels over mu +- 12 tau (the
        # integrand is smooth; checked against adaptive quad in check_theta_rule())
        lo, hi = max(TH_LO, mu - 12 * tau), min(TH_HI, mu + 12 * tau)
        edges = np.linspace(lo, hi, 4)
        tot = 0.0
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            t = 0.5 * (a + b) + 0.5 * (b - a) * GL_X
            tot += (
                0.5 * (b - a) * np.sum(GL_W * np.exp(self.logL[i](t)) * stats.norm.pdf(t, mu, tau))
            )
        return float(tot)

    def check_theta_rule(self):
        """Largest relative difference between the GL theta rule and adaptive quad."""
        worst = 0.0
        for i in range(2):
            for mu, tau in ((-0.5, 0.05), (-1.0, 0.4), (0.5, 1.5), (-3.0, 2.5)):

                def g(t, mu=mu, tau=tau, i=i):
                    return np.exp(self.logL[i](t)) * stats.norm.pdf(t, mu, tau)

                lo, hi = max(TH_LO, mu - 12 * tau), min(TH_HI, mu + 12 * tau)
                q = integrate.quad(g, lo, hi, epsabs=0, epsrel=1e-12, limit=500, points=[mu])[0]
                worst = max(worst, abs(self.p_i(i, mu, tau) / q - 1))
        return worst

    def _logjoint(self, mu, tau):
        return (
            stats.norm.logpdf(mu, 0, MU_SD)
            + stats.halfnorm.logpdf(tau, scale=TAU_SD)
            + sum(np.log(self.p_i(i, mu, tau)) for i in range(2))
            - self.c
        )

    def inner(self, tau, mu_hi=np.inf):
        f = lambda mu: np.exp(self._logjoint(mu, tau))  # noqa: E731
        hi = min(mu_hi, 8.0)
        if hi <= -10:
            return 0.0
        return integrate.quad(
            f,
            -10,
            hi,
            epsabs=0,
            epsrel=1e-10,
            limit=200,
            points=[-0.6] if -10 < -0.6 < hi else None,
        )[0]

    def outer(self, g, tau_hi=3.0):
        pts = [p for p in (0.05, 0.3, 0.8) if p < tau_hi]
        return integrate.quad(g, 0, tau_hi, epsabs=0, epsrel=1e-9, limit=200, points=pts)[0]


def main():
    t0 = time.time()
    r = Ref()
    Z = r.outer(lambda t: r.inner(t))
    out = {"log_evidence": float(r.c + np.log(Z))}
    print("evidence", out, time.time() - t0, flush=True)
    out["cdf_mu"] = {}
    for x in MU_POINTS:
        out["cdf_mu"][repr(x)] = r.outer(lambda t, x=x: r.inner(t, x)) / Z
        print("cdf", x, out["cdf_mu"][repr(x)], time.time() - t0, flush=True)
    out["cdf_tau"] = {}
    for x in TAU_POINTS:
        out["cdf_tau"][repr(x)] = r.outer(lambda t: r.inner(t), tau_hi=x) / Z
        print("cdf tau", x, out["cdf_tau"][repr(x)], time.time() - t0, flush=True)
    out["theta_rule_rel_error"] = r.check_theta_rule()
    out["source"] = {
        "script": "tests/reference/make_binomial_reference.py",
        "method": "nested scipy.integrate.quad (epsrel 1e-9..1e-11); L_i by quad over alpha, "
        "Chebyshev-interpolated in log (257 points)",
        "data": DATA,
        "priors": {
            "mu": f"Normal(0, {MU_SD})",
            "tau": f"HalfNormal({TAU_SD})",
            "alpha": f"Normal(0, {BASE_SD})",
        },
        "chebyshev_log_interp_error": r.interp_err,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "seconds": round(time.time() - t0, 1),
    }
    doc = json.loads(OUT.read_text()) if OUT.exists() else {}
    doc["brute_force"] = out
    OUT.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(json.dumps(out, indent=2))


# -- long NUTS runs (PyMC + nutpie), stored so the tests need no MCMC --------------------
NUTS_SETS = {
    # shared/reference/README.md (Crins et al. 2014)
    "crins": {
        "events_t": [14, 16, 3, 9, 4, 0],
        "n_t": [61, 28, 18, 54, 36, 50],
        "events_c": [15, 19, 8, 29, 11, 3],
        "n_c": [20, 28, 12, 54, 36, 34],
    },
    # metafor dat.bcg: tpos, tpos + tneg, cpos, cpos + cneg
    "bcg": {
        "events_t": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
        "n_t": [123, 306, 231, 13598, 5069, 1541, 2545, 88391, 7499, 1716, 50634, 2498, 16913],
        "events_c": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
        "n_c": [139, 303, 220, 12867, 5808, 1451, 629, 88391, 7277, 1665, 27338, 2341, 17854],
    },
    # sparse, with zero cells and one double-zero study
    "sparse": {
        "events_t": [0, 2, 1, 0, 5],
        "n_t": [15, 20, 12, 40, 30],
        "events_c": [3, 6, 4, 0, 9],
        "n_c": [15, 20, 12, 40, 30],
    },
}
NUTS_PRIORS = {"mu": 2.0, "tau": 0.5, "alpha": 10.0}
NUTS_PROBS = (0.025, 0.5, 0.975)
NUTS_CUTS = {"mu": (-1.0, -0.5, 0.0), "tau": (0.1, 0.3, 0.6)}
SD_DELTA = 0.05  # half-width of the window for the Savage-Dickey density at mu = 0


def nuts_runs(chains=4, draws=5000, seed=20240601):
    import arviz_stats as azs
    import pymc as pm

    out = {}
    for name, d in NUTS_SETS.items():
        k = len(d["n_t"])
        with pm.Model():
            mu = pm.Normal("mu", 0, NUTS_PRIORS["mu"])
            tau = pm.HalfNormal("tau", NUTS_PRIORS["tau"])
            alpha = pm.Normal("alpha", 0, NUTS_PRIORS["alpha"], shape=k)
            z = pm.Normal("z", 0, 1, shape=k)
            theta = pm.Deterministic("theta", mu + tau * z)
            pm.Binomial("ec", n=np.array(d["n_c"]), logit_p=alpha, observed=np.array(d["events_c"]))
            pm.Binomial(
                "et", n=np.array(d["n_t"]), logit_p=alpha + theta, observed=np.array(d["events_t"])
            )
            idata = pm.sample(
                draws=draws,
                tune=2000,
                chains=chains,
                random_seed=seed,
                nuts_sampler="nutpie",
                nuts={"target_accept": 0.95},
                progressbar=False,
                compute_convergence_checks=False,
            )
        res = {"divergences": int(idata.sample_stats["diverging"].values.sum())}
        for var in ("mu", "tau"):
            x = idata.posterior[var].values  # (chain, draw)
            qs = np.quantile(x, NUTS_PROBS)
            mq = [
                float(np.asarray(azs.mcse(x, method="quantile", prob=p, chain_axis=0, draw_axis=1)))
                for p in NUTS_PROBS
            ]
            res[var] = {"quantile": [float(v) for v in qs], "mcse_quantile": mq}
            cdf, mc = [], []
            for c in NUTS_CUTS[var]:
                ind = (x <= c).astype(float)
                p = float(ind.mean())
                ess = float(np.asarray(azs.ess(ind, method="mean", chain_axis=0, draw_axis=1)))
                cdf.append(p)
                mc.append(float(np.sqrt(p * (1 - p) / ess)) if 0 < p < 1 else 0.0)
            res[var]["cuts"], res[var]["cdf"], res[var]["mcse_cdf"] = list(NUTS_CUTS[var]), cdf, mc
        mu = idata.posterior["mu"].values
        ind = (np.abs(mu) < SD_DELTA).astype(float)
        p = float(ind.mean())
        ess = float(np.asarray(azs.ess(ind, method="mean", chain_axis=0, draw_axis=1)))
        res["savage_dickey"] = {
            "delta": SD_DELTA,
            "p_window": p,
            "mcse": float(np.sqrt(p * (1 - p) / ess)),
        }
        out[name] = res
        print(name, res, flush=True)
    import nutpie

    return {
        "sets": NUTS_SETS,
        "priors": NUTS_PRIORS,
        "chains": chains,
        "draws": draws,
        "seed": seed,
        "runs": out,
        "pymc": pm.__version__,
        "nutpie": nutpie.__version__,
    }


if __name__ == "__main__":
    import sys

    if "--nuts" in sys.argv:
        doc = json.loads(OUT.read_text()) if OUT.exists() else {}
        doc["nuts"] = nuts_runs()
        OUT.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        main()
