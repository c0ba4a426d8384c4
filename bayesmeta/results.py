"""MetaResult: posterior summaries, MCID probabilities, heterogeneity, save/load.

A result always carries its data, priors and settings. Two posterior backends sit behind
one interface: :class:`ExactBackend` (normal mixtures from :mod:`bayesmeta.exact`, draws
made on demand for ArviZ) and :class:`DrawsBackend` (MCMC draws).
"""

from __future__ import annotations

import io
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

from bayesmeta import priors as _priors
from bayesmeta.data import StudyData, study_data
from bayesmeta.diagnostics import Diagnostics
from bayesmeta.exact import ExactPosterior

__all__ = ["MetaResult", "load", "typical_variance"]

Scale = Literal["analysis", "natural"]
Direction = Literal["greater", "less"]
_SUMMARY_COLUMNS = ["mean", "sd", "median", "lower", "upper", "ess_bulk", "ess_tail", "r_hat"]


def typical_variance(vi: np.ndarray) -> float:
    """Higgins and Thompson's typical within-study variance, used for I^2.

    ``s^2 = (k - 1) sum(w) / (sum(w)^2 - sum(w^2))`` with ``w = 1/vi``; for k = 1 the
    study's own variance.
    """
    w = 1.0 / np.asarray(vi, dtype=float)
    k = w.size
    if k == 1:
        return float(vi[0])
    return float((k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum()))


# -- backends ------------------------------------------------------------------------------
class ExactBackend:
    """Posterior from the exact engine (one analysis of an ExactPosterior batch)."""

    kind = "exact"

    def __init__(self, post: ExactPosterior) -> None:
        self.post = post

    def quantile(self, name: str, q: np.ndarray) -> np.ndarray:
        out = self.post.quantile(name, q)
        return out[0]

    def mean_sd(self, name: str, natural: bool = False) -> tuple[np.ndarray, np.ndarray]:
        if name == "tau":
            m, s = self.post.tau_moments(1)
            return m[0], s[0]
        if not natural:
            m, s = self.post.mean_sd(name)
            return m[0], s[0]
        mean_c, sd_c = self.post.components(name)
        p = self.post.weight[:, None, :] if name == "theta" else self.post.weight
        # E[exp(X)] of a normal mixture; with a heavy tau tail it can be infinite (inf)
        with np.errstate(over="ignore", invalid="ignore"):
            e1 = (p * np.exp(mean_c + sd_c**2 / 2)).sum(-1)
            e2 = (p * np.exp(2 * mean_c + 2 * sd_c**2)).sum(-1)
            sd = np.where(np.isinf(e2), np.inf, np.sqrt(np.maximum(e2 - e1**2, 0.0)))
        return e1[0], sd[0]

    def prob_greater(self, name: str, x: np.ndarray) -> np.ndarray:
        return 1.0 - self.post.cdf(name, x)[0]

    def tau_function_mean(self, fn) -> tuple[float, float]:
        vals = fn(self.post.tau[0])
        m = float((self.post.weight[0] * vals).sum())
        v = float((self.post.weight[0] * vals**2).sum()) - m**2
        return m, math.sqrt(max(v, 0.0))

    def draws(self, n_chains: int, n_draws: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Independent draws from the exact posterior, shaped (chain, draw[, study])."""
        n = n_chains * n_draws
        post = self.post
        tau = post.tau_draws(n, rng)[0] if not post.fixed else np.zeros(n)
        mh, mv = post.conditional_mu(tau[None, :])
        mu = mh[0] + np.sqrt(mv[0]) * rng.standard_normal(n)
        yi, vi = post.y[0], post.v[0]
        t2 = tau[:, None] ** 2
        b = vi / (vi + t2)
        theta = (
            (1 - b) * yi
            + b * mu[:, None]
            + np.sqrt((1 - b) * vi) * rng.standard_normal((n, yi.size))
        )
        theta_new = mu + tau * rng.standard_normal(n)
        shape = (n_chains, n_draws)
        return {
            "mu": mu.reshape(shape),
            "tau": tau.reshape(shape),
            "theta": theta.reshape(*shape, yi.size),
            "theta_new": theta_new.reshape(shape),
        }


class DrawsBackend:
    """Posterior from MCMC draws (the DataTree's posterior group)."""

    kind = "draws"

    def __init__(self, posterior: Any) -> None:
        self.posterior = posterior
        self._flat: dict[str, np.ndarray] = {}

    def values(self, name: str) -> np.ndarray:
        if name not in self._flat:
            if name == "tau" and "tau" not in self.posterior:
                mu = np.asarray(self.posterior["mu"])
                self._flat[name] = np.zeros(mu.size)
            else:
                arr = np.asarray(self.posterior[name])
                self._flat[name] = arr.reshape(arr.shape[0] * arr.shape[1], *arr.shape[2:])
        return self._flat[name]

    def quantile(self, name: str, q: np.ndarray) -> np.ndarray:
        return np.quantile(self.values(name), q, axis=0).T

    def mean_sd(self, name: str, natural: bool = False) -> tuple[np.ndarray, np.ndarray]:
        x = self.values(name)
        if natural and name != "tau":
            x = np.exp(x)
        return x.mean(0), x.std(0, ddof=1)

    def prob_greater(self, name: str, x: np.ndarray) -> np.ndarray:
        v = self.values(name)
        return (v[:, None] > np.asarray(x)[None, :]).mean(0)

    def tau_function_mean(self, fn) -> tuple[float, float]:
        vals = fn(self.values("tau"))
        return float(vals.mean()), float(vals.std(ddof=1))


# -- the result ------------------------------------------------------------------------------
@dataclass(eq=False)
class MetaResult:
    """A fitted Bayesian meta-analysis.

    Print it for a report; :meth:`summary` for a table; :meth:`prob_exceeds` for MCID
    probabilities; :meth:`heterogeneity`; :attr:`idata` (ArviZ DataTree with ``mu``,
    ``tau``, ``theta`` (dim ``study``) and ``theta_new``); :meth:`save` and :func:`load`.

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

    data: StudyData
    model: str
    likelihood: str
    engine: str
    mu_prior: _priors.Prior
    tau_prior: _priors.Prior | None
    settings: dict[str, Any]
    backend: ExactBackend | DrawsBackend = field(repr=False)
    diagnostics: Diagnostics = field(repr=False)
    provenance: dict[str, Any] = field(default_factory=dict, repr=False)
    prior_notes: dict[str, str] = field(default_factory=dict, repr=False)
    baseline_prior: _priors.Prior | None = None
    _idata: Any = field(default=None, repr=False)

    # -- basic facts ---------------------------------------------------------------------
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
        return self.data.is_ratio or self.likelihood == "binomial"

    @property
    def fixed(self) -> bool:
        """True for the fixed-effect (common-effect) model."""
        return self.model == "fixed"

    # -- idata -------------------------------------------------------------------------------
    @property
    def idata(self) -> Any:
        """ArviZ DataTree: posterior (``mu``, ``tau``, ``theta``, ``theta_new``), observed data.

        For the exact engine it holds independent draws from the exact posterior
        (``chains`` x ``draws`` of the settings), made on first access with the fit's seed.
        """
        if self._idata is None:
            self._idata = self._exact_datatree()
        return self._idata

    def _exact_datatree(self) -> Any:
        from arviz_base import from_dict

        rng = np.random.default_rng([self.settings["seed"], 2])
        d = self.backend.draws(self.settings["chains"], self.settings["draws"], rng)
        if self.fixed:
            d.pop("tau")
        return from_dict(
            {
                "posterior": d,
                "observed_data": {"yi": self.data.yi},
                "constant_data": {"sei": self.data.sei},
            },
            dims={"theta": ["study"], "yi": ["study"], "sei": ["study"]},
            coords={"study": self.data.labels},
        )

    # -- summaries ---------------------------------------------------------------------------
    def _row_names(self) -> list[str]:
        return ["mu", "tau", "theta_new", *self.data.labels]

    def summary(self, ci_prob: float = 0.95, scale: Scale = "analysis") -> pd.DataFrame:
        """Posterior summary table.

        Parameters
        ----------
        ci_prob : float, default 0.95
            Probability of the equal-tailed credible interval (``lower``, ``upper``).
        scale : {"analysis", "natural"}
            ``natural`` exponentiates ratio measures (mean and sd of the ratio itself,
            quantiles transformed); ``tau`` always stays on the analysis scale.

        Returns
        -------
        pandas.DataFrame
            Rows ``mu``, ``tau``, ``theta_new`` and one per study; columns ``mean``, ``sd``,
            ``median``, ``lower``, ``upper``, ``ess_bulk``, ``ess_tail``, ``r_hat``
            (NaN for the exact engine, which has no Monte Carlo error).
        """
        _check_prob(ci_prob)
        _check_choice("scale", scale, ("analysis", "natural"))
        natural = scale == "natural" and self.is_ratio
        q = np.array([(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2])
        rows = []
        for name in ("mu", "tau", "theta_new", "theta"):
            quant = np.atleast_2d(self.backend.quantile(name, q))
            mean, sd = self.backend.mean_sd(name, natural=natural and name != "tau")
            if natural and name != "tau":
                quant = np.exp(quant)
            mean, sd = np.atleast_1d(mean), np.atleast_1d(sd)
            for i in range(quant.shape[0]):
                rows.append([mean[i], sd[i], quant[i, 1], quant[i, 0], quant[i, 2]])
        table = pd.DataFrame(rows, index=self._row_names(), columns=_SUMMARY_COLUMNS[:5])
        table.index.name = "parameter"
        diag = self.diagnostics.table
        for col in ("ess_bulk", "ess_tail", "r_hat"):
            table[col] = (
                [self._diag_value(diag, name, col) for name in self._row_names()]
                if len(diag)
                else np.nan
            )
        if self.fixed:
            table.loc["tau", ["mean", "sd", "median", "lower", "upper"]] = 0.0
        table.attrs.update({"ci_prob": ci_prob, "ci_kind": "equal-tailed", "scale": scale})
        return table

    def _diag_value(self, diag: pd.DataFrame, name: str, col: str) -> float:
        key = name if name in ("mu", "tau", "theta_new") else f"theta[{name}]"
        if key in diag.index:
            return float(diag.loc[key, col])
        return float("nan")

    def prob_exceeds(
        self,
        thresholds: float | Sequence[float],
        direction: Direction = "greater",
        scale: Scale = "natural",
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

        Returns
        -------
        pandas.DataFrame
            Columns ``threshold`` (as given), ``p_mu``, ``p_new``, and their Monte Carlo
            standard errors ``mcse`` (for ``p_mu``) and ``mcse_new`` (0 for the exact engine).
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
        out = {"threshold": thr}
        for name, col in (("mu", "p_mu"), ("theta_new", "p_new")):
            p = self.backend.prob_greater(name, x)
            out[col] = p if direction == "greater" else 1.0 - p
        out["mcse"] = self._prob_mcse("mu", x, direction)
        out["mcse_new"] = self._prob_mcse("theta_new", x, direction)
        table = pd.DataFrame(out)
        table.attrs.update({"direction": direction, "scale": scale})
        return table

    def _prob_mcse(self, name: str, x: np.ndarray, direction: str) -> np.ndarray:
        if isinstance(self.backend, ExactBackend):
            return np.zeros(x.size)
        import arviz_stats as azs

        arr = np.asarray(self.idata["posterior"][name])
        out = []
        for xi in x:
            ind = (arr > xi) if direction == "greater" else (arr < xi)
            p = ind.mean()
            if p in (0.0, 1.0):
                out.append(0.0)
                continue
            ess = float(azs.ess(ind.astype(float), method="mean"))
            out.append(math.sqrt(p * (1 - p) / ess))
        return np.array(out)

    def heterogeneity(self, ci_prob: float = 0.95) -> pd.DataFrame:
        """Posterior of tau, tau^2 and I^2 (Higgins-Thompson typical variance).

        Returns
        -------
        pandas.DataFrame
            Rows ``tau``, ``tau2``, ``I2``; columns ``mean``, ``sd``, ``median``, ``lower``,
            ``upper``.
        """
        _check_prob(ci_prob)
        q = np.array([(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2])
        s2 = typical_variance(self.data.vi)
        if self.fixed:
            tq = np.zeros(3)
        else:
            tq = np.atleast_1d(self.backend.quantile("tau", q)).ravel()
        fns = {"tau": lambda t: t, "tau2": lambda t: t**2, "I2": lambda t: t**2 / (t**2 + s2)}
        rows = {}
        for name, fn in fns.items():
            mean, sd = (0.0, 0.0) if self.fixed else self.backend.tau_function_mean(fn)
            qq = fn(tq)
            rows[name] = [mean, sd, qq[1], qq[0], qq[2]]
        table = pd.DataFrame.from_dict(rows, orient="index", columns=_SUMMARY_COLUMNS[:5])
        table.attrs.update({"ci_prob": ci_prob, "typical_variance": s2})
        return table

    # -- exact-engine extras ---------------------------------------------------------------------
    def _require_exact(self, what: str) -> ExactPosterior:
        if not isinstance(self.backend, ExactBackend):
            raise ValueError(
                f"{what} needs the exact engine (normal-normal model): refit with engine='exact'"
            )
        return self.backend.post

    @property
    def log_marginal_likelihood(self) -> float:
        """Log marginal likelihood p(y) (exact engine; NaN under a flat prior on mu)."""
        return float(self._require_exact("the marginal likelihood").log_evidence[0])

    def bayes_factors(self) -> pd.DataFrame:
        """Bayes factors of the null hypotheses tau = 0 and mu = 0 against this model.

        ``BF01 = p(y | H0) / p(y | model)``: values above 1 favour the null. ``BF10`` is
        its reciprocal. mu = 0 is undefined under a flat prior on mu (NaN).
        """
        from bayesmeta.exact import integrate

        post = self._require_exact("Bayes factors")
        log_m = post.log_evidence[0]
        sd = self.data
        rows = {}
        if not self.fixed:
            # same (flat or proper) mu prior in both models: the ratio of normalising
            # constants is the Bayes factor even when the flat prior makes each improper
            null = integrate(sd.yi[None], sd.vi[None], None, self.mu_prior, None)
            rows["tau=0"] = math.exp(null.log_norm[0] - post.log_norm[0])
        if isinstance(self.mu_prior, _priors.Flat):
            rows["mu=0"] = float("nan")
        else:
            mu0 = integrate(
                sd.yi[None], sd.vi[None], None, self.mu_prior, self.tau_prior, mu_fixed_at=0.0
            )
            rows["mu=0"] = math.exp(mu0.log_evidence[0] - log_m)
        return pd.DataFrame(
            {"BF01": rows, "BF10": {k: 1 / v if v else math.inf for k, v in rows.items()}}
        )

    def weights(self) -> pd.Series:
        """Posterior mean weights of each study (and of the prior) in the posterior mean of mu.

        ``E[mu | y] = w_prior * m0 + sum_i w_i y_i`` with ``w_i = E[(1/(s_i^2+tau^2)) V(tau)]``.
        """
        post = self._require_exact("study weights")
        t2 = post.tau[0] ** 2
        v = post.v[0]
        w = (1.0 / (v[:, None] + t2[None, :])) * post.mu_var[0][None, :]
        wi = (w * post.weight[0][None, :]).sum(1)
        out = pd.Series(wi, index=self.data.labels, name="weight")
        prior_w = 1.0 - wi.sum()
        if not isinstance(self.mu_prior, _priors.Flat):
            out["(prior mean)"] = prior_w
        return out

    # -- binomial extras -----------------------------------------------------------------------
    def implied(self, control_risk: float | None = None, ci_prob: float = 0.95) -> pd.DataFrame:
        """Risk ratio and risk difference implied by the odds ratios at a control risk.

        Parameters
        ----------
        control_risk : float, optional
            Default: the fit's ``control_risk`` setting, else the pooled observed control
            risk (sum of control events / sum of control participants).
        """
        if self.measure != "OR" or self.data.kind != "binary":
            raise ValueError("implied risks need binary arm-level data analysed as OR")
        p0 = control_risk if control_risk is not None else self._control_risk()
        if not 0 < p0 < 1:
            raise ValueError(f"control_risk must be between 0 and 1, got {p0}")
        _check_prob(ci_prob)
        q = np.array([(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2])
        lo0 = math.log(p0 / (1 - p0))
        rows = {}
        for name in ("mu", "theta_new"):
            lor = np.asarray(self.idata["posterior"][name]).ravel()
            p1 = 1 / (1 + np.exp(-(lo0 + lor)))
            for label, vals in (("RR", p1 / p0), ("RD", p1 - p0)):
                qq = np.quantile(vals, q)
                rows[f"{label} ({name})"] = [vals.mean(), vals.std(ddof=1), qq[1], qq[0], qq[2]]
        table = pd.DataFrame.from_dict(rows, orient="index", columns=_SUMMARY_COLUMNS[:5])
        table.attrs["control_risk"] = p0
        return table

    def _control_risk(self) -> float:
        """Return the control_risk setting, else the pooled observed control risk."""
        p0 = self.settings.get("control_risk")
        if p0 is None:
            p0 = float(self.data.table["events_c"].sum() / self.data.table["n_c"].sum())
        return p0

    # -- text ------------------------------------------------------------------------------------
    def describe_model(self) -> str:
        """One line naming the model and engine."""
        kind = "fixed-effect" if self.fixed else "random-effects"
        lik = (
            "binomial-normal (exact likelihood)"
            if self.likelihood == "binomial"
            else "normal-normal"
        )
        eng = {"exact": "exact numerical integration", "nuts": "NUTS (nutpie)"}[self.engine]
        return f"Bayesian {kind} meta-analysis, {lik} model, {eng}"

    def __repr__(self) -> str:
        return (
            f"<MetaResult {self.model} {self.likelihood} {self.engine}: k={self.k}, "
            f"measure={self.measure}>"
        )

    def __str__(self) -> str:
        return self.report()

    def report(self, ci_prob: float = 0.95) -> str:
        """Return the printed report: model, priors, k, intervals, diagnostics verdict."""
        natural = self.is_ratio
        s = self.summary(ci_prob=ci_prob, scale="natural" if natural else "analysis")
        pct = f"{100 * ci_prob:g}%"
        scale_note = f" ({self.measure}; tau on the log scale)" if natural else ""
        lines = [
            self.describe_model(),
            f"Measure: {self.data.measure_label}"
            + (" (analysed on the log scale)" if natural else "")
            + f"; k = {self.k} stud{'y' if self.k == 1 else 'ies'}",
            "Priors:",
        ]
        lines.append(f"  mu  ~ {self.mu_prior!r}" + _note(self.prior_notes.get("mu")))
        if self.fixed:
            lines.append("  tau = 0 (fixed effect)")
        else:
            lines.append(f"  tau ~ {self.tau_prior!r}" + _note(self.prior_notes.get("tau")))
        if self.baseline_prior is not None:
            lines.append(f"  alpha_i (baseline log odds) ~ {self.baseline_prior!r}")
        lines.append(f"Posterior medians with {pct} equal-tailed credible intervals{scale_note}:")
        width = max(12, *(len(str(i)) for i in s.index)) + 2
        moments = not natural  # mean/sd of a ratio's heavy-tailed posterior mislead; omit
        lines.append(
            f"  {'':<{width}}{'median':>9}  {pct + ' CrI':<22}"
            + (f"{'mean':>9}{'sd':>9}" if moments else "")
        )
        labels = {"mu": "mu (pooled)", "tau": "tau", "theta_new": "theta_new"}
        for name, row in s.iterrows():
            if self.fixed and name in ("tau", "theta_new"):
                continue  # tau = 0 and theta_new = mu under a common effect
            if name == self.data.labels[0]:
                lines.append("  Study-specific (shrunken) effects:")
            lab = labels.get(name, f"  {name}")
            ci = f"{_num(row['lower'])} to {_num(row['upper'])}"
            lines.append(
                f"  {lab:<{width}}{_num(row['median']):>9}  {ci:<22}"
                + (f"{_num(row['mean']):>9}{_num(row['sd']):>9}" if moments else "")
            )
        if not self.fixed:
            h = self.heterogeneity(ci_prob)
            i2 = h.loc["I2"]
            lines.append(
                f"Heterogeneity: I^2 median {100 * i2['median']:.0f}% "
                f"({pct} CrI {100 * i2['lower']:.0f}% to {100 * i2['upper']:.0f}%)"
            )
        if self.likelihood == "binomial" and not 0 < self._control_risk() < 1:
            lines.append(
                f"Implied RR and RD: the pooled observed control risk is "
                f"{self._control_risk():g}; give control_risk=... to report them"
            )
        elif self.likelihood == "binomial":
            imp = self.implied(ci_prob=ci_prob)
            lines.append(
                f"Implied at control risk {imp.attrs['control_risk']:.3f} (medians, {pct} CrI):"
            )
            for name, row in imp.iterrows():
                lines.append(
                    f"  {name:<{width}}{_num(row['median']):>9}  "
                    f"{_num(row['lower'])} to {_num(row['upper'])}"
                )
        lines.append(f"Diagnostics: {self.diagnostics.summary_line()}")
        return "\n".join(line.rstrip() for line in lines)

    # -- persistence -----------------------------------------------------------------------------
    def to_metadata(self) -> dict[str, Any]:
        """Everything needed to rebuild this result besides the draws."""
        buf = io.StringIO()
        self.data.table.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
        return {
            "format": "bayesmeta-result/1",
            "measure": self.measure,
            "kind": self.data.kind,
            "source": self.data.source,
            "data_csv": buf.getvalue(),
            "data_sha256": self.data.sha256(),
            "model": self.model,
            "likelihood": self.likelihood,
            "engine": self.engine,
            "mu_prior": self.mu_prior.to_dict(),
            "tau_prior": None if self.tau_prior is None else self.tau_prior.to_dict(),
            "baseline_prior": (
                None if self.baseline_prior is None else self.baseline_prior.to_dict()
            ),
            "prior_notes": self.prior_notes,
            "settings": self.settings,
            "provenance": self.provenance,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save to a netCDF file (DataTree with the metadata in the root attributes).

        Written to a temporary file first and renamed, so a failure leaves no partial file.
        """
        path = Path(path)
        dt = self.idata.copy()
        dt.attrs["bayesmeta"] = json.dumps(self.to_metadata(), sort_keys=True, default=_json)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            dt.to_netcdf(tmp, engine="h5netcdf")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def load(path: str | os.PathLike[str]) -> MetaResult:
    """Load a result saved with :meth:`MetaResult.save`.

    The exact engine's posterior is recomputed from the stored data and priors (it is
    deterministic); MCMC results are rebuilt from the stored draws.
    """
    import xarray as xr

    dt = xr.open_datatree(path, engine="h5netcdf").load()
    try:
        meta = json.loads(dt.attrs["bayesmeta"])
    except KeyError:
        raise ValueError(f"{path}: not a bayesmeta result (no 'bayesmeta' metadata)") from None
    table = pd.read_csv(io.StringIO(meta["data_csv"]), dtype={"study": str})
    sd = study_data(table, meta["measure"], source=meta.get("source"))
    mu_prior = _priors.from_dict(_strip_note(meta["mu_prior"]))
    tau_prior = (
        None if meta["tau_prior"] is None else _priors.from_dict(_strip_note(meta["tau_prior"]))
    )
    if meta["tau_prior"] and meta["tau_prior"].get("note"):
        tau_prior = type(tau_prior)(**tau_prior.params, note=meta["tau_prior"]["note"])
    baseline = (
        None
        if meta.get("baseline_prior") is None
        else _priors.from_dict(_strip_note(meta["baseline_prior"]))
    )
    del dt.attrs["bayesmeta"]
    if meta["engine"] == "exact":
        from bayesmeta.exact import integrate

        post = integrate(sd.yi[None], sd.vi[None], None, mu_prior, tau_prior)
        backend: ExactBackend | DrawsBackend = ExactBackend(post)
        diagnostics = Diagnostics.exact()
    else:
        backend = DrawsBackend(dt["posterior"].to_dataset())
        names = ["mu", "theta", "theta_new"] + ([] if meta["model"] == "fixed" else ["tau"])
        diagnostics = Diagnostics.from_datatree(dt, names)
    return MetaResult(
        data=sd,
        model=meta["model"],
        likelihood=meta["likelihood"],
        engine=meta["engine"],
        mu_prior=mu_prior,
        tau_prior=tau_prior,
        settings=meta["settings"],
        backend=backend,
        diagnostics=diagnostics,
        provenance=meta["provenance"],
        prior_notes=meta.get("prior_notes", {}),
        baseline_prior=baseline,
        _idata=dt,
    )


def _strip_note(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "note"}


def _note(text: str | None) -> str:
    return f"   [{text}]" if text else ""


def _num(x: float) -> str:
    if not np.isfinite(x):
        return "nan"
    ax = abs(x)
    if ax != 0 and (ax >= 1e5 or ax < 1e-3):
        return f"{x:.3g}"
    return f"{x:.3f}" if ax < 100 else f"{x:.1f}"


def _json(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _check_prob(p: float) -> None:
    if not (isinstance(p, int | float) and 0 < p < 1):
        raise ValueError(f"ci_prob must be between 0 and 1, got {p!r}")


def _check_choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
