"""The exact engine: numerical integration over tau for normal likelihoods.

Covers the pairwise normal-normal model, meta-regression and subgroups with a common tau
(any linear model with one variance component, :mod:`bayesmeta.engines.linear`), with a
Normal or flat prior on mu (or on each regression coefficient) and any prior on tau.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesmeta.engines import linear

__all__ = ["CAPABILITIES", "DESCRIPTION", "applies", "evidence", "fit"]

DESCRIPTION = "exact numerical integration"
CAPABILITIES = linear.LinearPosterior.capabilities


def _normal_or_flat(prior: Any) -> bool:
    from bayesmeta import priors as P

    return prior is None or isinstance(prior, P.Normal | P.Flat)


def applies(spec: Any, sd: Any) -> str | None:
    """None when this engine can fit ``spec``; otherwise the reason it cannot."""
    if spec.likelihood != "normal":
        return "the exact linear engine needs the normal likelihood"
    if spec.moderators is None and spec.subgroup is None:
        if not _normal_or_flat(spec.mu_prior):
            return f"it needs a Normal or Flat prior on mu (got {spec.mu_prior!r})"
        return None
    bp = spec.beta_prior
    priors = bp.values() if isinstance(bp, dict) else [bp]
    bad = [p for p in priors if not _normal_or_flat(p)]
    if bad:
        return f"it needs Normal or Flat priors on the coefficients (got {bad[0]!r})"
    return None


def _inputs(spec: Any, sd: Any) -> dict[str, Any]:
    """Design, coefficient names and the Normal/flat prior on the coefficients."""
    from bayesmeta import priors as P
    from bayesmeta.design import design_for

    d = design_for(spec, sd)
    if d is None:
        X, names = None, ("mu",)
        priors = [spec.mu_prior]
    else:
        X, names = d.X, d.names
        bp = spec.beta_prior
        if isinstance(bp, dict):
            unknown = sorted(set(bp) - set(names))
            if unknown:
                from bayesmeta.spec import SpecError

                raise SpecError(
                    f"{spec.key('beta_prior')} names unknown coefficient(s) "
                    f"{', '.join(map(repr, unknown))}; coefficients: {', '.join(names)}",
                    [("beta_prior", "unknown coefficient")],
                )
            priors = [bp.get(n) for n in names]
        else:
            priors = [bp] * len(names)
    m0 = np.array([p.mu if isinstance(p, P.Normal) else 0.0 for p in priors])
    v0 = np.array([p.sigma**2 if isinstance(p, P.Normal) else np.inf for p in priors])
    return {"X": X, "coef_names": names, "beta_prior_mean": m0, "beta_prior_var": v0}


def fit(spec: Any, sd: Any) -> tuple[Any, Any]:
    """Fit a resolved ``spec`` to ``sd``."""
    from bayesmeta.diagnostics import Diagnostics

    post = linear.integrate(
        sd.yi,
        sd.vi,
        tau_prior=None if spec.fixed else spec.tau_prior,
        study_labels=sd.labels,
        n_chains=spec.chains,
        n_draws=spec.draws,
        seed=spec.seed,
        **_inputs(spec, sd),
    )
    return post, Diagnostics.exact()


class Evidence:
    """Log marginal likelihood and the normalising constant valid for ratios."""

    def __init__(self, log_evidence: float, log_norm: float) -> None:
        self.log_evidence, self.log_norm = log_evidence, log_norm


def evidence(spec: Any, sd: Any, *, tau_zero: bool = False, mu_zero: bool = False) -> Evidence:
    """Marginal likelihood of ``spec``, or of its tau = 0 / mu = 0 sub-model."""
    kw = _inputs(spec, sd)
    post = linear.integrate(
        sd.yi,
        sd.vi,
        tau_prior=None if (spec.fixed or tau_zero) else spec.tau_prior,
        study_labels=sd.labels,
        beta_fixed={kw["coef_names"][0]: 0.0} if mu_zero else None,
        **kw,
    )
    return Evidence(float(post.log_evidence), float(post.log_normalizer))


def owns(dt: Any) -> bool:
    """Tell whether a saved DataTree holds this engine's posterior."""
    return "quadrature" in dt.children


def load_posterior(dt: Any) -> linear.LinearPosterior:
    """Rebuild the saved posterior without refitting."""
    return linear.LinearPosterior.from_datatree(dt)
