r"""Bayesian model averaging over fixed vs random effects and effect vs no effect.

Four models share the data (Gronau et al. 2021; metaBMA; RoBMA):

=============  ======================  ==========================
model          mu                      tau
=============  ======================  ==========================
``fixed_H0``   0                       0
``fixed_H1``   :math:`p(\mu)`          0
``random_H0``  0                       :math:`p(\tau)`
``random_H1``  :math:`p(\mu)`          :math:`p(\tau)`
=============  ======================  ==========================

Each marginal likelihood :math:`p(y \mid M)` is computed exactly by
:mod:`bayesmeta.engines.grid` (normal or binomial-normal likelihood), so no bridge
sampling is needed. Posterior model probabilities are
:math:`p(M \mid y) \propto p(y \mid M)\,p(M)`; the inclusion Bayes factor for the effect is
:math:`\frac{p(H_1 \mid y)/p(H_0 \mid y)}{p(H_1)/p(H_0)}`, summing over fixed and random
models, and likewise for heterogeneity (random vs fixed). Model-averaged posteriors are
mixtures: under the H0 models mu is a point mass at 0, under the fixed models tau is a
point mass at 0.

The H0 models compare mu = 0 with a *proper* prior on mu; a flat prior makes the Bayes
factor undefined and is refused.

References
----------
Gronau QF, Heck DW, Berkhout SW, Haaf JM, Wagenmakers E-J. A primer on Bayesian
model-averaged meta-analysis. AMPPS 2021;4(3). https://doi.org/10.1177/25152459211031256

Examples
--------
>>> import pandas as pd
>>> from bayesmeta import priors
>>> df = pd.DataFrame({"study": ["A", "B", "C"], "estimate": [0.3, 0.5, 0.1],
...                    "se": [0.15, 0.2, 0.25]})
>>> res = average(df, "MD", mu_prior=priors.Normal(0, 0.5), tau_prior=priors.HalfNormal(0.3))
>>> list(res.models().index)
['fixed_H0', 'fixed_H1', 'random_H0', 'random_H1']
>>> bool(res.inclusion_bf()["effect"] > 1)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bayesmeta.data import StudyData, study_data
from bayesmeta.engines import grid

__all__ = ["MODELS", "AveragedResult", "average"]

#: Model names, in order.
MODELS = ("fixed_H0", "fixed_H1", "random_H0", "random_H1")


def _prior_probs(p: Mapping[str, float] | Sequence[float] | None) -> np.ndarray:
    if p is None:
        return np.full(4, 0.25)
    if isinstance(p, Mapping):
        unknown = sorted(set(p) - set(MODELS))
        missing = sorted(set(MODELS) - set(p))
        if unknown or missing:
            raise ValueError(
                f"prior_model_probs needs exactly the keys {', '.join(MODELS)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        arr = np.array([float(p[m]) for m in MODELS])
    else:
        arr = np.asarray(list(p), dtype=float)
        if arr.shape != (4,):
            raise ValueError(f"prior_model_probs needs 4 values (for {', '.join(MODELS)})")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("prior_model_probs must be finite and non-negative")
    if abs(arr.sum() - 1.0) > 1e-9:
        raise ValueError(f"prior_model_probs must sum to 1, got {arr.sum():g}")
    return arr


@dataclass
class AveragedResult:
    """Result of :func:`average`: the four fitted models and their weights.

    Attributes
    ----------
    posteriors : dict of str to GridPosterior
        One per model in :data:`MODELS`.
    prior_prob : numpy.ndarray
        Prior model probabilities (order of :data:`MODELS`).
    data : StudyData
    """

    posteriors: dict[str, grid.GridPosterior]
    prior_prob: np.ndarray
    data: StudyData
    likelihood: str
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def log_ml(self) -> np.ndarray:
        """Log marginal likelihoods in the order of :data:`MODELS`."""
        return np.array([self.posteriors[m].log_evidence for m in MODELS])

    @property
    def posterior_prob(self) -> np.ndarray:
        """Posterior model probabilities in the order of :data:`MODELS`."""
        with np.errstate(divide="ignore"):
            lw = self.log_ml + np.log(self.prior_prob)
        lw = np.where(self.prior_prob > 0, lw, -np.inf)
        w = np.exp(lw - np.max(lw))
        return w / w.sum()

    def models(self) -> pd.DataFrame:
        """Log marginal likelihood, prior and posterior probability of each model."""
        return pd.DataFrame(
            {
                "log_marginal_likelihood": self.log_ml,
                "prior_prob": self.prior_prob,
                "posterior_prob": self.posterior_prob,
            },
            index=pd.Index(MODELS, name="model"),
        )

    def bayes_factor(self, a: str, b: str) -> float:
        """Bayes factor of model ``a`` against model ``b``."""
        lm = dict(zip(MODELS, self.log_ml, strict=True))
        return float(math.exp(lm[a] - lm[b]))

    def inclusion_bf(self) -> dict[str, float]:
        """Inclusion Bayes factors: ``effect`` (H1 vs H0) and ``heterogeneity`` (random vs fixed).

        Computed from the marginal likelihoods and the prior model probabilities (posterior
        inclusion odds over prior inclusion odds).
        """
        lm = dict(zip(MODELS, self.log_ml, strict=True))
        pp = dict(zip(MODELS, self.prior_prob, strict=True))

        def incl(yes: tuple[str, str], no: tuple[str, str]) -> float:
            def lse(ms):
                vals = [lm[m] + math.log(pp[m]) for m in ms if pp[m] > 0]
                if not vals:
                    return -math.inf
                mx = max(vals)
                return mx + math.log(sum(math.exp(v - mx) for v in vals))

            prior_odds = sum(pp[m] for m in yes) / sum(pp[m] for m in no)
            return float(math.exp(lse(yes) - lse(no)) / prior_odds)

        return {
            "effect": incl(("fixed_H1", "random_H1"), ("fixed_H0", "random_H0")),
            "heterogeneity": incl(("random_H0", "random_H1"), ("fixed_H0", "fixed_H1")),
        }

    # -- mixtures -----------------------------------------------------------------------
    def _weights(self, models: Literal["all", "H1"]) -> dict[str, float]:
        w = dict(zip(MODELS, self.posterior_prob, strict=True))
        if models == "H1":
            w = {m: v for m, v in w.items() if m.endswith("H1")}
        elif models != "all":
            raise ValueError(f"models must be 'all' or 'H1', got {models!r}")
        tot = sum(w.values())
        if not tot > 0:
            raise ValueError("the selected models have zero posterior probability")
        return {m: v / tot for m, v in w.items() if v > 0}

    def _cdf(self, name: str, x: np.ndarray, w: dict[str, float]) -> np.ndarray:
        out = np.zeros(x.size)
        for m, wm in w.items():
            out += wm * self.posteriors[m].marginal(name).cdf(x)
        return out

    def _quantile(self, name: str, q: np.ndarray, w: dict[str, float]) -> np.ndarray:
        lo = min(float(self.posteriors[m].marginal(name).quantile([1e-9])[0]) for m in w) - 1e-9
        hi = max(float(self.posteriors[m].marginal(name).quantile([1 - 1e-9])[0]) for m in w)
        a, b = np.full(q.size, lo), np.full(q.size, hi + 1e-9)
        for _ in range(80):  # bisection handles the atoms (point masses at 0)
            mid = 0.5 * (a + b)
            below = self._cdf(name, mid, w) < q
            a, b = np.where(below, mid, a), np.where(below, b, mid)
        return np.where(np.abs(b) < 1e-12, 0.0, b)  # the atoms sit exactly at 0

    def summary(self, models: Literal["all", "H1"] = "all", ci_prob: float = 0.95) -> pd.DataFrame:
        """Model-averaged posterior of mu and tau (mean, sd, median, equal-tailed interval).

        Parameters
        ----------
        models : {"all", "H1"}
            Average over all four models (mu = 0 under H0 is a point mass), or only over
            the H1 models (the estimate given that an effect exists, as metaBMA reports).
        ci_prob : float
            Probability of the equal-tailed interval (default 0.95).
        """
        w = self._weights(models)
        rows = {}
        for name in ("mu", "tau"):
            means = {m: float(self.posteriors[m].marginal(name).mean()) for m in w}
            sds = {m: float(self.posteriors[m].marginal(name).sd()) for m in w}
            mean = sum(w[m] * means[m] for m in w)
            second = sum(w[m] * (sds[m] ** 2 + means[m] ** 2) for m in w)
            q = self._quantile(name, np.array([(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2]), w)
            rows[name] = {
                "mean": mean,
                "sd": math.sqrt(max(second - mean**2, 0.0)),
                "median": q[1],
                "lower": q[0],
                "upper": q[2],
            }
        return pd.DataFrame.from_dict(rows, orient="index")[
            ["mean", "sd", "median", "lower", "upper"]
        ]

    def prob_exceeds(
        self,
        thresholds: ArrayLike,
        direction: Literal["greater", "less"] = "greater",
        scale: Literal["natural", "analysis"] = "natural",
        models: Literal["all", "H1"] = "all",
    ) -> pd.DataFrame:
        """Model-averaged P(mu > threshold) (or < with ``direction="less"``).

        Thresholds are ratios on the natural scale for OR/RR/HR (``scale="natural"``) and
        on the analysis (log) scale with ``scale="analysis"``.
        """
        t = np.atleast_1d(np.asarray(thresholds, dtype=float))
        if scale not in ("natural", "analysis"):
            raise ValueError(f"scale must be 'natural' or 'analysis', got {scale!r}")
        if direction not in ("greater", "less"):
            raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
        x = t
        if scale == "natural" and self.data.is_ratio:
            if np.any(t <= 0):
                raise ValueError("ratio thresholds must be > 0 on the natural scale")
            x = np.log(t)
        w = self._weights(models)
        F = self._cdf("mu", x, w)
        p = 1.0 - F if direction == "greater" else F
        return pd.DataFrame({"threshold": t, "p_mu": np.clip(p, 0.0, 1.0)})


def average(
    data: pd.DataFrame | StudyData,
    measure: str,
    *,
    likelihood: Literal["normal", "binomial"] = "normal",
    mu_prior: Any,
    tau_prior: Any,
    baseline_prior: Any = None,
    prior_model_probs: Mapping[str, float] | Sequence[float] | None = None,
    tol: float | None = None,
) -> AveragedResult:
    """Bayesian model averaging over fixed/random effects and effect/no effect.

    Parameters
    ----------
    data : pandas.DataFrame or StudyData
        Trial data in a bayesmeta input shape (validated by
        :func:`bayesmeta.data.study_data`).
    measure : str
        Effect measure; ``likelihood="binomial"`` needs binary arms and ``OR``.
    likelihood : {"normal", "binomial"}
    mu_prior : Prior
        Proper prior on mu under H1 (e.g. Normal, or a one-sided TruncatedNormal).
    tau_prior : Prior
        Prior on tau under the random-effects models.
    baseline_prior : Prior, optional
        Binomial only: prior on the control log odds (default Normal(0, 10)).
    prior_model_probs : mapping or sequence of 4 floats, optional
        Prior probabilities of ``fixed_H0, fixed_H1, random_H0, random_H1``; equal by
        default. Must be non-negative and sum to 1.
    tol : float, optional
        Accuracy target passed to the grid engine.

    Returns
    -------
    AveragedResult

    Raises
    ------
    ValueError
        For an improper mu prior, bad model probabilities or a likelihood that does not fit
        the data.
    """
    probs = _prior_probs(prior_model_probs)
    sd = study_data(data, measure)
    if tau_prior is None:
        raise ValueError("tau_prior is needed for the random-effects models")
    if not grid._proper(mu_prior):
        raise ValueError(
            "model averaging with mu = 0 models needs a proper prior on mu under H1 "
            f"(got {mu_prior!r}); the Bayes factor is undefined under a flat prior"
        )
    if likelihood not in ("normal", "binomial"):
        raise ValueError(f"likelihood must be 'normal' or 'binomial', got {likelihood!r}")
    kw: dict[str, Any] = {} if tol is None else {"tol": tol}
    if likelihood == "binomial":
        if sd.kind != "binary" or sd.measure != "OR":
            raise ValueError("likelihood='binomial' needs binary arms and measure 'OR'")
        t = sd.table
        args = tuple(t[c].to_numpy(float) for c in ("events_t", "n_t", "events_c", "n_c"))

        def fit(tp, mf):
            return grid.integrate_binomial(
                *args,
                mu_prior=mu_prior,
                tau_prior=tp,
                baseline_prior=baseline_prior,
                study_labels=sd.labels,
                mu_fixed_at=mf,
                **kw,
            )
    else:

        def fit(tp, mf):
            return grid.integrate_normal(
                sd.yi,
                sd.vi,
                mu_prior=mu_prior,
                tau_prior=tp,
                study_labels=sd.labels,
                mu_fixed_at=mf,
                **kw,
            )

    posts = {
        "fixed_H0": fit(None, 0.0),
        "fixed_H1": fit(None, None),
        "random_H0": fit(tau_prior, 0.0),
        "random_H1": fit(tau_prior, None),
    }
    return AveragedResult(posts, probs, sd, likelihood)
