"""MetaResult: a fitted analysis = spec + data + posterior + diagnostics + provenance.

Every table is computed from the :class:`~bayesmeta.engines.base.Posterior` protocol, so
the same code serves every engine. Text for people lives in :mod:`bayesmeta.report`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from bayesmeta.diagnostics import Diagnostics
from bayesmeta.spec import AnalysisSpec
from bayesmeta.stats import typical_variance

__all__ = ["MetaResult", "load", "typical_variance"]

Scale = Literal["analysis", "natural"]
Direction = Literal["greater", "less"]
Interval = Literal["central", "shortest"]
SUMMARY_COLUMNS = ["mean", "sd", "median", "lower", "upper"]
_DIAG_COLUMNS = ["ess_bulk", "ess_tail", "r_hat"]
#: Number of equal-probability cells for expectations of bounded transforms.
_N_CELLS = 4000


@dataclass(eq=False)
class MetaResult:
    """A fitted Bayesian meta-analysis.

    Print it for a report; :meth:`summary` for the model parameters; :meth:`studies` for
    the shrunken study effects; :meth:`prob_exceeds` for MCID probabilities;
    :meth:`heterogeneity`; :attr:`idata` (ArviZ DataTree); :meth:`save` and :func:`load`.

    Examples
    --------
    >>> import pandas as pd, bayesmeta
    >>> df = pd.DataFrame({"study": ["A", "B", "C"], "estimate": [0.4, 0.7, 0.2],
    ...                    "se": [0.2, 0.25, 0.3]})
    >>> res = bayesmeta.fit(df, "SMD", engine="exact")
    >>> res.summary().loc["mu", ["median", "lower", "upper"]].round(2).tolist()
    [0.45, -0.04, 0.92]
    >>> res.prob_exceeds([0.2, 0.5])["p_mu"].round(3).tolist()
    [0.881, 0.388]
    """

    spec: AnalysisSpec
    data: Any
    posterior: Any = field(repr=False)
    diagnostics: Diagnostics = field(repr=False)
    provenance: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- basic facts -------------------------------------------------------------------------
    @property
    def k(self) -> int:
        """Number of studies."""
        return self.data.k

    @property
    def measure(self) -> str:
        """Effect measure."""
        return self.data.measure

    @property
    def is_ratio(self) -> bool:
        """True when the analysis scale is the log of a ratio."""
        return self.data.is_ratio or self.spec.likelihood == "binomial"

    @property
    def fixed(self) -> bool:
        """True for the fixed-effect (common-effect) model."""
        return self.spec.fixed

    @property
    def model(self) -> str:
        """``random`` or ``fixed``."""
        return self.spec.effects

    @property
    def likelihood(self) -> str:
        """``normal`` or ``binomial``."""
        return self.spec.likelihood

    @property
    def engine(self) -> str:
        """Name of the engine that produced the posterior (for the record)."""
        return self.spec.engine

    @property
    def mu_prior(self) -> Any:
        """The prior on mu."""
        return self.spec.mu_prior

    @property
    def tau_prior(self) -> Any:
        """The prior on tau (None for a fixed effect)."""
        return self.spec.tau_prior

    @property
    def baseline_prior(self) -> Any:
        """The prior on the baseline log odds (binomial likelihood)."""
        return self.spec.baseline_prior

    @property
    def prior_notes(self) -> dict[str, str]:
        """Why each default prior was chosen."""
        return self.provenance.get("prior_notes", {})

    @property
    def notes(self) -> tuple[str, ...]:
        """Notes from the engine (e.g. a posterior moment that does not exist)."""
        return tuple(getattr(self.posterior, "notes", ()))

    def describe_model(self) -> str:
        """One line naming the model and engine."""
        from bayesmeta import engines

        kind = "fixed-effect" if self.fixed else "random-effects"
        lik = (
            "binomial-normal (exact likelihood)"
            if self.likelihood == "binomial"
            else "normal-normal"
        )
        return (
            f"Bayesian {kind} meta-analysis, {lik} model, {engines.describe(self.spec, self.data)}"
        )

    # -- idata -------------------------------------------------------------------------------
    @property
    def idata(self) -> Any:
        """ArviZ DataTree: posterior (``mu``, ``tau``, ``theta`` (dim ``study``), ``theta_new``).

        For deterministic engines it holds independent draws from the exact posterior
        (``chains`` x ``draws`` of the spec), made with the fit's seed.
        """
        if not hasattr(self, "_idata"):
            self._idata = self.posterior.to_datatree()
        return self._idata

    # -- tables ------------------------------------------------------------------------------
    def _ci(self, ci_prob: float | None) -> float:
        p = self.spec.ci_prob if ci_prob is None else ci_prob
        _check_prob(p)
        return p

    def _rows(self, name: str, ci_prob: float, natural: bool, interval: Interval) -> np.ndarray:
        """(n, 5) array of mean, sd, median, lower, upper for a marginal."""
        return _summary_rows(self.marginal(name), ci_prob, natural, interval)

    def summary(
        self,
        ci_prob: float | None = None,
        scale: Scale = "analysis",
        interval: Interval = "central",
    ) -> pd.DataFrame:
        """Posterior summary of the model parameters: ``mu``, ``tau`` and ``theta_new``.

        Parameters
        ----------
        ci_prob : float, optional
            Credible-interval probability (default: the spec's ``ci_prob``, 0.95).
        scale : {"analysis", "natural"}
            ``natural`` exponentiates ratio measures (mean and sd of the ratio itself,
            quantiles transformed); ``tau`` always stays on the analysis scale.
        interval : {"central", "shortest"}
            Equal-tailed (default) or shortest (highest posterior density) intervals.

        Returns
        -------
        pandas.DataFrame
            Index ``parameter``; columns ``mean``, ``sd``, ``median``, ``lower``, ``upper``,
            ``ess_bulk``, ``ess_tail``, ``r_hat`` (NaN for deterministic engines, which have
            no Monte Carlo error). A mean or sd that does not exist is ``inf`` (see
            :attr:`notes`). Study effects are in :meth:`studies`.
        """
        ci = self._ci(ci_prob)
        _check_choice("scale", scale, ("analysis", "natural"))
        _check_choice("interval", interval, ("central", "shortest"))
        natural = scale == "natural" and self.is_ratio
        if self.design is not None:
            return self.coefficients(ci_prob, scale=scale, interval=interval)
        names = ("mu", "tau", "theta_new")
        arr = np.empty((3, len(SUMMARY_COLUMNS) + len(_DIAG_COLUMNS)))
        for i, name in enumerate(names):
            if name == "tau" and self.fixed:
                arr[i, :5] = 0.0
            else:
                arr[i, :5] = self._rows(name, ci, natural and name != "tau", interval)[0]
            arr[i, 5:] = [self._diag_value(name, col) for col in _DIAG_COLUMNS]
        table = pd.DataFrame(
            arr,
            index=pd.Index(list(names), name="parameter"),
            columns=SUMMARY_COLUMNS + _DIAG_COLUMNS,
        )
        table.attrs.update(
            {
                "ci_prob": ci,
                "ci_kind": "equal-tailed" if interval == "central" else "shortest",
                "scale": "natural" if natural else "analysis",
            }
        )
        return table

    # -- moderators ------------------------------------------------------------------------
    @property
    def design(self) -> Any:
        """The meta-regression or subgroup design (None for a plain pairwise analysis)."""
        if not hasattr(self, "_design"):
            from bayesmeta.design import design_for

            self._design = design_for(self.spec, self.data)
        return self._design

    def _require_design(self, what: str) -> Any:
        if self.design is None:
            raise ValueError(
                f"{what} needs moderators or a subgroup: fit with moderators='~ x' or "
                "subgroup='column'"
            )
        return self.design

    def marginal(self, name: str) -> Any:
        """Return the posterior of ``name`` (tau2 and I2 derived from tau if need be)."""
        if name in self.posterior.names or name not in ("tau2", "I2"):
            return self.posterior.marginal(name)
        from bayesmeta.engines.base import TransformedMarginal

        tau = self.posterior.marginal("tau")
        if name == "tau2":
            return TransformedMarginal(tau, np.square, lambda x: np.sqrt(np.clip(x, 0, None)))
        s2 = typical_variance(self.data.vi)

        def i2(t: np.ndarray) -> np.ndarray:
            return t**2 / (t**2 + s2)

        def inv(x: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.sqrt(np.clip(x, 0, 1) * s2 / np.clip(1 - x, 0, None))

        return TransformedMarginal(tau, i2, inv)

    def _table(
        self, m: Any, index: list[str], ci: float, natural: bool, interval: Interval
    ) -> pd.DataFrame:
        arr = _summary_rows(m, ci, natural, interval)
        return pd.DataFrame(arr, index=index, columns=SUMMARY_COLUMNS)

    def coefficients(
        self,
        ci_prob: float | None = None,
        scale: Scale = "analysis",
        interval: Interval = "central",
    ) -> pd.DataFrame:
        """Posterior summary of each regression coefficient (and of tau), with P(beta > 0).

        Indexed by the design's column names (``Intercept``, ``ablat``, ...; for a subgroup
        analysis the group values, each the mean effect in that group). ``scale="natural"``
        exponentiates ratio measures (a coefficient is then a ratio of ratios).
        """
        d = self._require_design("coefficients()")
        ci = self._ci(ci_prob)
        natural = scale == "natural" and self.is_ratio
        beta = self.posterior.marginal("beta")
        tau = np.zeros(5) if self.fixed else self._rows("tau", ci, False, interval)[0]
        keys = [f"beta[{n}]" for n in d.names] + ["tau"]
        diag = [[self._diag_value(k, col) for col in _DIAG_COLUMNS] for k in keys]
        arr = np.column_stack(
            [
                np.vstack([_summary_rows(beta, ci, natural, interval), tau]),
                np.append(1.0 - beta.cdf(np.array([0.0]))[..., 0], np.nan),
                np.array(diag, dtype=float).reshape(len(keys), len(_DIAG_COLUMNS)),
            ]
        )
        table = pd.DataFrame(
            arr,
            index=pd.Index([*d.names, "tau"], name="parameter"),
            columns=[*SUMMARY_COLUMNS, "P(>0)", *_DIAG_COLUMNS],
        )
        table.attrs.update({"ci_prob": ci, "scale": "natural" if natural else "analysis"})
        return table

    def _at(self, newdata: Any) -> tuple[np.ndarray, list[str]]:
        d = self._require_design("predict()")
        if not isinstance(newdata, pd.DataFrame | dict):
            labels = [f"{d.subgroup} = {v}" if d.subgroup else str(v) for v in newdata]
            return d.rows(newdata), labels
        frame = pd.DataFrame(newdata) if isinstance(newdata, dict) else newdata
        cols = [str(c) for c in frame.columns]
        # rows as iterrows() gives them (one common dtype per row), without a Series each
        labels = [
            ", ".join(f"{c}={v}" for c, v in zip(cols, row, strict=True))
            for row in frame.to_numpy().tolist()
        ]
        return d.rows(frame), labels

    def predict(
        self,
        newdata: Any,
        kind: Literal["mean", "new"] = "mean",
        ci_prob: float | None = None,
        scale: Scale = "analysis",
    ) -> pd.DataFrame:
        """Predict the mean effect (``kind="mean"``) or a new study's effect at covariates.

        Parameters
        ----------
        newdata : DataFrame, dict of columns, or list of subgroup values
            One row per prediction.

        Returns
        -------
        pandas.DataFrame
            One row per row of ``newdata``; columns ``mean, sd, median, lower, upper``.
        """
        _check_choice("kind", kind, ("mean", "new"))
        A, labels = self._at(newdata)
        m = self.posterior.linear(A, new=kind == "new")
        natural = scale == "natural" and self.is_ratio
        out = self._table(m, labels, self._ci(ci_prob), natural, "central")
        out.index.name = "at"
        out.attrs.update({"kind": kind, "scale": "natural" if natural else "analysis"})
        return out

    def subgroups(self, ci_prob: float | None = None, scale: Scale = "analysis") -> pd.DataFrame:
        """One row per subgroup (its mean effect) and one per difference between groups.

        Differences are labelled ``"B - A"`` with P(difference > 0). With
        ``separate_tau=True`` each group is fitted on its own (its own tau) and the
        differences come from independent posterior draws. ``attrs["bf_no_moderator"]``
        is the Bayes factor of "no subgroup effect" (a common mean) against this model,
        from the exact marginal likelihoods (NaN under a flat prior on the coefficients,
        where it is not defined).
        """
        d = self._require_design("subgroups()")
        if d.subgroup is None:
            raise ValueError("subgroups() needs subgroup='column' (this fit has moderators)")
        ci = self._ci(ci_prob)
        natural = scale == "natural" and self.is_ratio
        g = list(d.names)
        pairs = [(i, j) for i in range(len(g)) for j in range(i + 1, len(g))]
        if self.spec.separate_tau:
            return self._separate_subgroups(g, pairs, ci, natural)
        A = np.vstack([np.eye(len(g))] + [np.eye(len(g))[j] - np.eye(len(g))[i] for i, j in pairs])
        m = self.posterior.linear(A)
        labels = g + [f"{g[j]} - {g[i]}" for i, j in pairs]
        table = self._table(m, labels, ci, False, "central")
        if natural:
            table[["median", "lower", "upper"]] = np.exp(table[["median", "lower", "upper"]])
            mean, sd = m.mean_sd_exp()
            table["mean"], table["sd"] = mean, sd
        table["P(>0)"] = 1.0 - m.cdf(np.array([0.0]))[..., 0]
        table.loc[g, "P(>0)"] = np.nan
        table.index.name = "subgroup"
        table.attrs.update(
            {"ci_prob": ci, "bf_no_moderator": self._bf_no_moderator(), "separate_tau": False}
        )
        return table

    def _separate_subgroups(
        self, g: list[str], pairs: list[tuple[int, int]], ci: float, natural: bool
    ) -> pd.DataFrame:
        from bayesmeta.fit import fit_spec

        d = self.design
        draws, rows = [], {}
        for name in g:
            keep = [i for i, x in enumerate(d.groups) if x == name]
            sub = self.data.subset(keep)
            spec = self.spec.replace(
                subgroup=None, separate_tau=False, beta_prior=None, data=sub, engine="auto"
            )
            r = fit_spec(spec, sub)
            rows[name] = r.summary(ci, scale="natural" if natural else "analysis").loc["mu"]
            draws.append(np.ravel(r.posterior.marginal("mu").draws()))
        n = min(x.size for x in draws)
        for i, j in pairs:
            diff = draws[j][:n] - draws[i][:n]
            q = np.quantile(diff, [0.5, (1 - ci) / 2, (1 + ci) / 2])
            vals = np.exp(q) if natural else q
            rows[f"{g[j]} - {g[i]}"] = pd.Series(
                {"mean": diff.mean(), "sd": diff.std(ddof=1), "median": vals[0],
                 "lower": vals[1], "upper": vals[2], "P(>0)": float((diff > 0).mean())}
            )  # fmt: skip
        table = pd.DataFrame(rows).T[[*SUMMARY_COLUMNS, "P(>0)"]].astype(float)
        table.index.name = "subgroup"
        table.attrs.update({"ci_prob": ci, "separate_tau": True, "bf_no_moderator": np.nan})
        return table

    def _bf_no_moderator(self) -> float:
        from bayesmeta import engines

        try:
            full = engines.evidence(self.spec, self.data).log_evidence
            null_spec = self.spec.replace(
                moderators=None, subgroup=None, beta_prior=None, separate_tau=False
            )
            null = engines.evidence(null_spec, self.data).log_evidence
        except NotImplementedError:
            return float("nan")
        return float(math.exp(null - full)) if np.isfinite(full) and np.isfinite(null) else np.nan

    def heterogeneity_explained(self) -> float:
        """Share of tau^2 explained by the moderators: 1 - median tau^2 / median tau^2_0.

        tau^2_0 is from the same model without moderators (same priors). Can be negative
        (moderators that explain nothing); 0 when tau^2_0 is 0.
        """
        from bayesmeta.fit import fit_spec

        self._require_design("heterogeneity_explained()")
        if self.fixed:
            return float("nan")
        base = fit_spec(
            self.spec.replace(moderators=None, subgroup=None, beta_prior=None, separate_tau=False),
            self.data,
        )
        t0 = float(base.marginal("tau2").quantile(np.array([0.5]))[0])
        t1 = float(self.marginal("tau2").quantile(np.array([0.5]))[0])
        return 0.0 if t0 == 0 else 1.0 - t1 / t0

    def studies(
        self,
        ci_prob: float | None = None,
        scale: Scale = "analysis",
        interval: Interval = "central",
    ) -> pd.DataFrame:
        """Observed and shrunken (posterior) effect of each study.

        Returns
        -------
        pandas.DataFrame
            Index ``study`` (the labels as given; a study may be called ``mu``); columns
            ``yi`` and ``sei`` (observed, analysis scale), ``observed``, ``observed_lower``,
            ``observed_upper`` (the study's own estimate and CI on the requested scale),
            then ``mean, sd, median, lower, upper`` of the shrunken effect theta_i and the
            MCMC diagnostics columns.
        """
        from scipy import special

        ci = self._ci(ci_prob)
        _check_choice("scale", scale, ("analysis", "natural"))
        natural = scale == "natural" and self.is_ratio
        z = float(special.ndtri((1 + ci) / 2))
        yi, sei = self.data.yi, self.data.sei
        obs = np.column_stack([yi, yi - z * sei, yi + z * sei])
        if natural:
            obs = np.exp(obs)
        post = self._rows("theta", ci, natural, interval)
        table = pd.DataFrame(
            np.column_stack([yi, sei, obs, post]),
            index=pd.Index(self.data.labels, name="study"),
            columns=["yi", "sei", "observed", "observed_lower", "observed_upper"] + SUMMARY_COLUMNS,
        )
        for col in _DIAG_COLUMNS:
            table[col] = [self._diag_value(f"theta[{s}]", col) for s in self.data.labels]
        table.attrs.update({"ci_prob": ci, "scale": "natural" if natural else "analysis"})
        return table

    def _diag_value(self, key: str, col: str) -> float:
        diag = self.diagnostics.table
        if len(diag) and key in diag.index:
            return float(diag.loc[key, col])
        return float("nan")

    def prob_exceeds(
        self,
        thresholds: float | Sequence[float],
        direction: Direction = "greater",
        scale: Scale = "natural",
        labels: Sequence[str] | None = None,
        at: Any = None,
    ) -> pd.DataFrame:
        """Probability that the pooled effect, and a new study's effect, lie beyond thresholds.

        Parameters
        ----------
        thresholds : float or sequence of float
            Candidate MCIDs. On the natural scale by default: ratios for OR/RR/HR
            (e.g. 1.25 for a relative 25% increase).
        direction : {"greater", "less"}
            ``greater``: P(effect > threshold); ``less``: P(effect < threshold).
        scale : {"natural", "analysis"}
            Scale of ``thresholds`` (``analysis``: log ratios for ratio measures).
        labels : sequence of str, optional
            One label per threshold (a ``label`` column).
        at : DataFrame, dict or list, optional
            With moderators: covariate values (or subgroups) at which to evaluate the mean
            effect (``p_mu``) and a new study's effect (``p_new``); one row per value and
            threshold, labelled in an ``at`` column ("P(effect > MCID) in dermatomyositis vs
            polymyositis").

        Returns
        -------
        pandas.DataFrame
            Columns ``threshold`` (as given), ``direction``, ``p_mu``, ``p_new`` and their
            Monte Carlo standard errors ``mcse`` and ``mcse_new`` (0 for deterministic
            engines).
        """
        _check_choice("direction", direction, ("greater", "less"))
        _check_choice("scale", scale, ("analysis", "natural"))
        thr = np.atleast_1d(np.asarray(thresholds, dtype=float))
        if thr.size == 0 or not np.all(np.isfinite(thr)):
            raise ValueError("thresholds must be finite numbers")
        x = thr
        if scale == "natural" and self.is_ratio:
            if np.any(thr <= 0):
                raise ValueError(
                    f"thresholds for a ratio measure ({self.measure}) are ratios "
                    "and must be > 0; use scale='analysis' for log ratios"
                )
            x = np.log(thr)
        out: dict[str, Any] = {"threshold": thr}
        if labels is not None:
            if len(labels) != thr.size:
                raise ValueError("labels must give one label per threshold")
            out["label"] = list(labels)
        out["direction"] = [direction] * thr.size  # a list: the quickest str column
        if at is not None:
            return self._prob_exceeds_at(at, thr, x, direction, scale, out)
        if self.design is not None:
            raise ValueError(
                "with moderators there is no single pooled effect: give at=... (covariate "
                "values or subgroups) to prob_exceeds"
            )
        mcse = {}
        for name, col in (("mu", "p_mu"), ("theta_new", "p_new")):
            m = self.posterior.marginal(name)
            below = m.cdf(x)
            out[col] = 1.0 - below if direction == "greater" else below
            mcse[col] = m.mcse_cdf(x)
        out["mcse"], out["mcse_new"] = mcse["p_mu"], mcse["p_new"]
        table = pd.DataFrame(out)
        table.attrs.update({"direction": direction, "scale": scale})
        return table

    def _prob_exceeds_at(
        self, at: Any, thr: np.ndarray, x: np.ndarray, direction: str, scale: str, base: dict
    ) -> pd.DataFrame:
        A, labels = self._at(at)
        R, X = len(labels), thr.size
        # one row per (covariate row, threshold); str columns as lists (the quickest)
        cols: dict[str, Any] = {"at": [lab for lab in labels for _ in range(X)]}
        cols["threshold"] = np.tile(thr, R)
        if "label" in base:
            cols["label"] = base["label"] * R
        cols["direction"] = [direction] * (R * X)
        for new, col, se in ((False, "p_mu", "mcse"), (True, "p_new", "mcse_new")):
            m = self.posterior.linear(A, new=new)
            below = m.cdf(x)  # (R, X)
            cols[col] = (1.0 - below if direction == "greater" else below).ravel()
            cols[se] = m.mcse_cdf(x).ravel()
        table = pd.DataFrame(cols)
        table.attrs.update({"direction": direction, "scale": scale})
        return table

    def heterogeneity(self, ci_prob: float | None = None) -> pd.DataFrame:
        """Posterior of tau, tau^2 and I^2 (Higgins-Thompson typical variance).

        Returns
        -------
        pandas.DataFrame
            Rows ``tau``, ``tau2``, ``I2``; columns ``mean``, ``sd``, ``median``,
            ``lower``, ``upper`` (``inf`` where a moment does not exist).
        """
        ci = self._ci(ci_prob)
        rows = {}
        for name in ("tau", "tau2", "I2"):
            rows[name] = np.zeros(5) if self.fixed else self._rows(name, ci, False, "central")[0]
        table = pd.DataFrame.from_dict(rows, orient="index", columns=SUMMARY_COLUMNS)
        table.attrs.update({"ci_prob": ci, "typical_variance": typical_variance(self.data.vi)})
        return table

    def cdf(self, name: str, x: float | Sequence[float]) -> np.ndarray:
        """P(parameter <= x) on the analysis scale, e.g. ``cdf("tau", [0.1, 0.5])``."""
        return self.marginal(name).cdf(np.atleast_1d(np.asarray(x, dtype=float)))

    def density(self, name: str, x: float | Sequence[float]) -> np.ndarray:
        """Posterior density of ``name`` at ``x`` (analysis scale), as R's ``dposterior``.

        Exact for deterministic engines; a kernel density estimate from the draws otherwise.
        """
        xs = np.atleast_1d(np.asarray(x, dtype=float))
        m = self.marginal(name)
        if hasattr(m, "pdf"):
            return m.pdf(xs)
        from scipy.stats import gaussian_kde

        return gaussian_kde(np.ravel(m.draws()))(xs)

    def estimates(self) -> pd.DataFrame:
        """MAP and maximum-likelihood estimates, as R bayesmeta's ``$MAP`` and ``$ML``.

        Rows ``MAP joint``, ``MAP marginal``, ``ML joint``, ``ML marginal``; columns tau and
        the coefficients (``mu`` in the pairwise model). Computed by the exact engine,
        whatever engine fitted the posterior (normal likelihood).
        """
        from bayesmeta import engines

        post = self.posterior
        if "map" not in post.capabilities:
            post, _ = engines.run(self.spec.replace(engine="exact"), self.data)
        rows = {}
        for kind, fn in (("MAP", post.map), ("ML", post.ml)):
            for which, values in fn().items():
                rows[f"{kind} {which}"] = values
        return pd.DataFrame.from_dict(rows, orient="index")

    def shrinkage(self) -> pd.Series:
        """Posterior mean shrinkage factor of each study (0: its own estimate; 1: the pool)."""
        from bayesmeta import engines

        post = self.posterior
        if "weights" not in post.capabilities:
            post, _ = engines.run(self.spec.replace(engine="exact"), self.data)
        return pd.Series(np.asarray(post.shrinkage()), index=self.data.labels, name="shrinkage")

    # -- marginal likelihood, Bayes factors, weights -----------------------------------------
    @property
    def log_marginal_likelihood(self) -> float:
        """Log marginal likelihood p(y) (NaN under a flat prior on mu).

        Computed by a deterministic engine whatever engine produced the posterior.
        """
        from bayesmeta import engines

        if "log_evidence" in self.posterior.capabilities:
            return float(self.posterior.log_evidence)
        return float(engines.evidence(self.spec, self.data).log_evidence)

    def bayes_factors(self) -> pd.DataFrame:
        """Bayes factors of the null hypotheses tau = 0 and mu = 0 against this model.

        ``BF01 = p(y | H0) / p(y | model)``: values above 1 favour the null. ``BF10`` is
        its reciprocal. mu = 0 is undefined under a flat prior on mu (NaN).
        """
        from bayesmeta import engines
        from bayesmeta import priors as P

        full = engines.evidence(self.spec, self.data)
        rows: dict[str, float] = {}
        if not self.fixed:
            # the same (flat or proper) mu prior in both models: the ratio of normalising
            # constants is the Bayes factor even when a flat prior makes each improper
            null = engines.evidence(self.spec, self.data, tau_zero=True)
            rows["tau=0"] = math.exp(null.log_norm - full.log_norm)
        if isinstance(self.mu_prior, P.Flat):
            rows["mu=0"] = float("nan")
        else:
            mu0 = engines.evidence(self.spec, self.data, mu_zero=True)
            rows["mu=0"] = math.exp(mu0.log_evidence - full.log_evidence)
        return pd.DataFrame(
            {
                "BF01": rows,
                "BF10": {k: (1 / v if v else math.inf) for k, v in rows.items()},
            }
        )

    def weights(self) -> pd.Series:
        """Posterior mean weights of each study (and of the prior) in the posterior mean of mu.

        ``E[mu | y] = w_prior * m0 + sum_i w_i y_i``. Computed by the exact engine whatever
        engine produced the posterior (normal likelihood).
        """
        from bayesmeta import engines
        from bayesmeta import priors as P

        post = self.posterior
        if "weights" not in post.capabilities:
            post, _ = engines.run(self.spec.replace(engine="exact"), self.data)
        w = post.weights()
        wi = np.asarray(w.study)[0] if hasattr(w, "study") else np.asarray(w)
        out = pd.Series(wi, index=self.data.labels, name="weight")
        if not isinstance(self.mu_prior, P.Flat):
            out["(prior mean)"] = 1.0 - wi.sum()
        return out

    # -- binary outcomes ---------------------------------------------------------------------
    def control_risk(self) -> float:
        """Return the control risk for implied effects: the spec's, else the pooled one."""
        if self.spec.control_risk is not None:
            return float(self.spec.control_risk)
        t = self.data.table
        return float(t["events_c"].sum() / t["n_c"].sum())

    def implied(
        self, control_risk: float | None = None, ci_prob: float | None = None
    ) -> pd.DataFrame:
        """Risk ratio and risk difference implied by the odds ratios at a control risk.

        Quantiles are exact transforms (RR and RD increase with the log odds ratio);
        means and sds are expectations over equal-probability cells of the posterior.

        Parameters
        ----------
        control_risk : float, optional
            Default: :meth:`control_risk`.
        """
        if self.measure != "OR" or self.data.kind != "binary":
            raise ValueError("implied risks need binary arm-level data analysed as OR")
        p0 = self.control_risk() if control_risk is None else control_risk
        if not 0 < p0 < 1:
            raise ValueError(
                f"the control risk is {p0:g}; implied RR and RD need one between 0 and 1 "
                "(give control_risk=...)"
            )
        ci = self._ci(ci_prob)
        lo0 = math.log(p0 / (1 - p0))
        q = np.array([0.5, (1 - ci) / 2, (1 + ci) / 2])
        u = (np.arange(_N_CELLS) + 0.5) / _N_CELLS
        rows = {}
        for name in ("mu", "theta_new"):
            m = self.posterior.marginal(name)
            grid = m.quantile(u)
            qq = m.quantile(q)
            for label, fn in (
                ("RR", lambda x: _expit(lo0 + x) / p0),
                ("RD", lambda x: _expit(lo0 + x) - p0),
            ):
                vals = fn(grid)
                rows[f"{label} ({name})"] = [vals.mean(), vals.std(), *fn(qq)]
        table = pd.DataFrame.from_dict(
            rows, orient="index", columns=["mean", "sd", "median", "lower", "upper"]
        )
        table.attrs["control_risk"] = p0
        return table

    # -- text ----------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"<MetaResult {self.model} {self.likelihood} {self.engine}: k={self.k}, "
            f"measure={self.measure}>"
        )

    def __str__(self) -> str:
        return self.report()

    def report(self, ci_prob: float | None = None) -> str:
        """Return the printed report (see :func:`bayesmeta.report.result_text`)."""
        from bayesmeta.report import result_text

        return result_text(self, ci_prob)

    # -- persistence -----------------------------------------------------------------------------
    def to_metadata(self) -> dict[str, Any]:
        """Everything needed to rebuild this result besides the posterior."""
        import io

        buf = io.StringIO()
        table = self.data.table
        cov = getattr(self.data, "covariates", None)
        if cov is not None and len(cov.columns):
            table = pd.concat([table, cov.reset_index(drop=True)], axis=1)
        table.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
        return {
            "format": "bayesmeta-result/2",
            "measure": self.measure,
            "source": self.data.source,
            "data_csv": buf.getvalue(),
            "data_sha256": self.data.sha256(),
            "spec": self.spec.to_dict(),
            "diagnostics": self.diagnostics.to_dict(),
            "diagnostics_table": json.loads(self.diagnostics.table.to_json(orient="split")),
            "provenance": self.provenance,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save to a netCDF file (DataTree with the metadata in the root attributes).

        Written to a temporary file first and renamed, so a failure leaves no partial file.
        """
        path = Path(path)
        dt = self.posterior.to_datatree().copy()
        dt.attrs["bayesmeta"] = json.dumps(self.to_metadata(), sort_keys=True, default=_json)
        return write_netcdf(dt, path)


def write_netcdf(dt: Any, path: Path) -> Path:
    """Write a DataTree to ``path`` atomically (a temporary file beside it, then renamed)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        dt.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike[str]) -> MetaResult | Any:
    """Load a result saved with :meth:`MetaResult.save` (a true round trip, no refit).

    A network result (:meth:`~bayesmeta.network.result.NetworkResult.save`) loads as a
    :class:`~bayesmeta.network.result.NetworkResult`.
    """
    import io

    import xarray as xr

    from bayesmeta import engines
    from bayesmeta.data import study_data

    try:
        dt = xr.open_datatree(path, engine="h5netcdf").load()
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable bayesmeta result ({exc})") from None
    if "bayesmeta_network" in dt.attrs:  # a network meta-analysis
        from bayesmeta.network.result import load_network

        return load_network(path)
    try:
        meta = json.loads(dt.attrs["bayesmeta"])
    except KeyError:
        raise ValueError(f"{path}: not a bayesmeta result (no 'bayesmeta' metadata)") from None
    table = pd.read_csv(io.StringIO(meta["data_csv"]), dtype={"study": str})
    sd = study_data(table, meta["measure"], source=meta.get("source"))
    spec = AnalysisSpec.from_dict(meta["spec"])
    del dt.attrs["bayesmeta"]
    posterior = engines.posterior_from_datatree(dt)
    diag = Diagnostics.from_dict(meta["diagnostics"], meta.get("diagnostics_table"))
    return MetaResult(
        spec=spec, data=sd, posterior=posterior, diagnostics=diag, provenance=meta["provenance"]
    )


def _summary_rows(m: Any, ci_prob: float, natural: bool, interval: Interval) -> np.ndarray:
    """(n, 5) array of mean, sd, median, lower, upper for a marginal (quantiles in one call)."""
    if interval == "shortest":
        from bayesmeta.engines.base import shortest_interval

        q = m.quantile(np.array([0.5]))[..., 0]
        lim = shortest_interval(m, ci_prob)
    else:
        qs = m.quantile(np.array([0.5, (1 - ci_prob) / 2, (1 + ci_prob) / 2]))
        q, lim = qs[..., 0], qs[..., 1:]
    if natural:
        mean, sd = m.mean_sd_exp()
        q, lim = np.exp(q), np.exp(lim)
    else:
        mean, sd = m.mean(), m.sd()
    return np.column_stack(
        [np.atleast_1d(mean), np.atleast_1d(sd), np.atleast_1d(q), np.atleast_2d(lim)]
    )


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _json(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _check_prob(p: float) -> None:
    if isinstance(p, bool) or not (isinstance(p, int | float) and 0 < p < 1):
        raise ValueError(f"ci_prob must be between 0 and 1, got {p!r}")


def _check_choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
