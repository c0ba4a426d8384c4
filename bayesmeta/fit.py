"""fit(): data + priors + engine -> MetaResult; fit_many(): many analyses at once.

Default priors, with their reasons (printed with every result):

* ``mu``: ``Normal(0, 4)`` for OR, RR, HR (log scale) and SMD: weakly informative, 95% of
  its mass on odds ratios between 1/2500 and 2500 and SMDs within +/-8, so the data decide
  (the reference case of R bayesmeta's documentation uses the same).
  ``Flat()`` (R bayesmeta's default) for MD, RD and GEN, whose scale the package cannot
  know.
* ``tau``: ``HalfNormal(0.5)`` for log OR, log RR, log HR and SMD (Röver et al. 2021:
  it puts 95% of its mass below 0.98, allowing "fairly high" heterogeneity but not
  absurd values); for MD from arm-level data ``HalfNormal(0.5 * s)`` with ``s`` the
  pooled within-arm SD, i.e. the same prior on the SMD scale; for RD ``HalfNormal(0.2)``.
  MD from reported estimates and GEN have no natural scale: a random-effects fit needs an
  explicit ``tau_prior``.
* binomial-normal baselines ``alpha_i``: ``Normal(0, 10)`` (vague on the log-odds scale).

References
----------
Röver C, Bender R, Dias S, Schmid CH, Schmidli H, Sturtz S, Weber S, Friede T. On
weakly informative prior distributions for the heterogeneity parameter in Bayesian
random-effects meta-analysis. Research Synthesis Methods 2021;12(4):448-474.
https://doi.org/10.1002/jrsm.1475
"""

from __future__ import annotations

import importlib.metadata
import math
import platform
import warnings
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from bayesmeta import priors as P
from bayesmeta.data import DataError, StudyData, study_data
from bayesmeta.diagnostics import ConvergenceWarning, Diagnostics
from bayesmeta.exact import integrate
from bayesmeta.results import DrawsBackend, ExactBackend, MetaResult

__all__ = ["default_priors", "fit", "fit_many"]

Model = Literal["random", "fixed"]
Likelihood = Literal["normal", "binomial"]
Engine = Literal["auto", "exact", "nuts"]
PriorLike = P.Prior | str | dict[str, Any] | None


def _as_prior(p: PriorLike, what: str) -> P.Prior | None:
    if p is None or isinstance(p, P.Prior):
        return p
    if isinstance(p, str):
        return P.parse(p)
    if isinstance(p, dict):
        return P.from_dict(p)
    raise P.PriorError(
        f"{what} must be a bayesmeta prior, a string such as "
        f"'halfnormal(0.5)' or a dict, got {type(p).__name__}"
    )


def default_priors(
    sd: StudyData, model: str = "random", likelihood: str = "normal"
) -> tuple[P.Prior, P.Prior | None, dict[str, str]]:
    """Default priors on mu and tau for these data, and the reason for each.

    Raises
    ------
    PriorError
        When no default tau prior exists (MD from reported estimates, GEN).
    """
    m = sd.measure
    notes: dict[str, str] = {}
    if m in ("OR", "RR", "HR", "SMD") or likelihood == "binomial":
        mu: P.Prior = P.Normal(0.0, 4.0)
        notes["mu"] = "default: weakly informative on the log-ratio/SMD scale"
    else:
        mu = P.Flat()
        notes["mu"] = f"default: flat, as R bayesmeta (no natural scale for {m})"
    if model == "fixed":
        return mu, None, notes
    if m in ("OR", "RR", "HR", "SMD") or likelihood == "binomial":
        tau: P.Prior = P.HalfNormal(0.5)
        notes["tau"] = "default for log ratios and SMD (Röver et al. 2021)"
    elif m == "MD" and sd.kind == "continuous":
        t = sd.table
        dof = (t["n_t"] - 1).sum() + (t["n_c"] - 1).sum()
        s = math.sqrt(
            (((t["n_t"] - 1) * t["sd_t"] ** 2).sum() + ((t["n_c"] - 1) * t["sd_c"] ** 2).sum())
            / max(dof, 1)
        )
        tau = P.HalfNormal(float(f"{0.5 * s:.4g}"))
        notes["tau"] = (
            f"default: HalfNormal(0.5) on the SMD scale, times the pooled within-arm SD {s:.4g}"
        )
    elif m == "RD":
        tau = P.HalfNormal(0.2)
        notes["tau"] = "default for risk differences"
    else:
        raise P.PriorError(
            f"no default prior on tau for measure {m} from reported estimates: its scale is "
            "unknown to bayesmeta. Give tau_prior=..., e.g. 'halfnormal(s)' with s about half "
            "the outcome's between-patient SD"
        )
    return mu, tau, notes


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@cache
def _versions(engine: str) -> dict[str, str]:
    pkgs = ["bayesmeta", "numpy", "scipy", "pandas", "xarray", "arviz-base", "arviz-stats"]
    if engine == "nuts":
        pkgs += ["pymc", "pytensor", "nutpie"]
    out = {"python": platform.python_version()}
    for p in pkgs:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            out[p] = "not installed"
    return out


def fit(
    data: pd.DataFrame | StudyData,
    measure: str | None = None,
    *,
    model: Model = "random",
    likelihood: Likelihood = "normal",
    mu_prior: PriorLike = None,
    tau_prior: PriorLike = None,
    engine: Engine = "auto",
    draws: int = 2000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    target_accept: float = 0.95,
    baseline_prior: PriorLike = None,
    control_risk: float | None = None,
    progressbar: bool = False,
    columns: dict[str, str] | None = None,
) -> MetaResult:
    r"""Fit a Bayesian meta-analysis.

    Parameters
    ----------
    data : pandas.DataFrame or StudyData
        Trial data in any input shape (see :func:`bayesmeta.study_data`).
    measure : str
        ``MD``, ``SMD``, ``OR``, ``RR``, ``RD``, ``HR`` or ``GEN`` (optional for StudyData).
    model : {"random", "fixed"}
        Random effects (``theta_i ~ Normal(mu, tau)``) or a common effect (``tau = 0``).
    likelihood : {"normal", "binomial"}
        ``normal``: normal-normal model on the effect sizes. ``binomial``: exact
        binomial-normal model for arm-level binary data on the log-odds-ratio scale
        (``measure="OR"``; no continuity correction).
    mu_prior, tau_prior : Prior, str or dict, optional
        Priors on the pooled effect (analysis scale) and the heterogeneity SD. Defaults:
        see :func:`default_priors`. Strings such as ``"halfnormal(0.5)"`` or
        ``"turner2015(adverse events; pharmacological vs. placebo)"`` are parsed.
    engine : {"auto", "exact", "nuts"}
        ``exact``: numerical integration (normal-normal model, Normal or Flat prior on
        mu). ``nuts``: MCMC with nutpie. ``auto`` takes ``exact`` wherever it applies.
    draws, tune, chains : int
        MCMC settings (for the exact engine: the number of independent draws stored in
        :attr:`MetaResult.idata` is ``draws * chains``).
    seed : int, optional
        Random seed; the same seed gives identical numbers. A seed is drawn and recorded
        when none is given.
    target_accept : float, default 0.95
        NUTS target acceptance (0.95 avoids the few divergences the marginal model shows
        at 0.8 when tau's posterior piles up near zero).
    baseline_prior : Prior, optional
        Prior on the binomial-normal baseline log odds, default ``Normal(0, 10)``.
    control_risk : float, optional
        Control risk for the RR and RD implied by a binomial-normal fit (default: the
        pooled observed control risk).
    progressbar : bool
        Show the sampler's progress bar.
    columns : dict, optional
        Rename input columns to canonical names.

    Returns
    -------
    MetaResult

    Raises
    ------
    DataError
        Invalid data (the message names study and column).
    PriorError
        Invalid prior (non-positive scale, wrong support, unknown name).
    ValueError
        Invalid option, e.g. ``likelihood="binomial"`` with reported estimates.

    Notes
    -----
    .. math::

        y_i \sim N(\theta_i, s_i^2),\quad \theta_i \sim N(\mu, \tau^2),\quad
        \theta_{new} \sim N(\mu, \tau^2).

    Emits :class:`bayesmeta.ConvergenceWarning` when an MCMC diagnostic fails.

    Examples
    --------
    >>> import pandas as pd, bayesmeta
    >>> df = pd.DataFrame({"study": ["A", "B"], "events_t": [5, 8], "n_t": [40, 50],
    ...                    "events_c": [12, 15], "n_c": [40, 50]})
    >>> res = bayesmeta.fit(df, "OR", seed=1)
    >>> res.engine
    'exact'
    >>> round(float(res.summary(scale="natural").loc["mu", "median"]), 2)
    0.4
    """
    _choice("model", model, ("random", "fixed"))
    _choice("likelihood", likelihood, ("normal", "binomial"))
    _choice("engine", engine, ("auto", "exact", "nuts"))
    if measure is None and not isinstance(data, StudyData):
        raise ValueError("measure is required (e.g. measure='SMD') unless data is a StudyData")
    sd = (
        data
        if (isinstance(data, StudyData) and measure is None)
        else study_data(data, measure, columns=columns)
    )  # type: ignore[arg-type]
    draws = _check_int("draws", draws, 1)
    tune = _check_int("tune", tune, 0)
    chains = _check_int("chains", chains, 1)
    if not (isinstance(target_accept, float | int) and 0 < target_accept < 1):
        raise ValueError(f"target_accept must be between 0 and 1, got {target_accept!r}")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    seed = _check_int("seed", seed, 0)

    if likelihood == "binomial":
        if sd.kind != "binary":
            raise ValueError(
                "likelihood='binomial' needs arm-level binary data (columns study, events_t, "
                f"n_t, events_c, n_c); these data are {sd.kind} "
                + ("(reported estimates)" if sd.kind == "estimate" else "")
            )
        if sd.measure != "OR":
            raise ValueError(
                "the binomial-normal model is on the log odds ratio scale: use "
                f"measure='OR' (RR and RD are reported by .implied()), got "
                f"{sd.measure!r}"
            )

    mu_p, tau_p = _as_prior(mu_prior, "mu_prior"), _as_prior(tau_prior, "tau_prior")
    notes: dict[str, str] = {}
    if model == "fixed" and tau_p is not None:
        raise ValueError("tau_prior was given but model='fixed' has no heterogeneity (tau = 0)")
    if mu_p is None or (tau_p is None and model == "random"):
        d_mu, d_tau, d_notes = default_priors(sd, model, likelihood)
        if mu_p is None:
            mu_p, notes["mu"] = d_mu, d_notes["mu"]
        if tau_p is None and model == "random":
            tau_p, notes["tau"] = d_tau, d_notes["tau"]
    assert mu_p is not None
    if mu_p.support == "positive":
        raise P.PriorError(f"the prior on mu must allow negative effects, got {mu_p!r}")
    if tau_p is not None and (isinstance(tau_p, P.Flat) or tau_p.support != "positive"):
        raise P.PriorError(
            f"the prior on tau must be on [0, inf), got {tau_p!r} "
            "(e.g. HalfNormal, HalfCauchy, LogNormal, turner2015(...))"
        )
    base_p = _as_prior(baseline_prior, "baseline_prior")
    if likelihood == "binomial" and base_p is None:
        base_p = P.Normal(0.0, 10.0)
    if likelihood != "binomial" and base_p is not None:
        raise ValueError("baseline_prior applies to likelihood='binomial' only")
    if control_risk is not None and not (0 < control_risk < 1):
        raise ValueError(f"control_risk must be between 0 and 1, got {control_risk!r}")

    exact_ok = likelihood == "normal" and isinstance(mu_p, P.Normal | P.Flat)
    if engine == "exact" and not exact_ok:
        why = (
            "the binomial-normal model"
            if likelihood == "binomial"
            else f"mu prior {mu_p!r} (needs Normal or Flat)"
        )
        raise ValueError(f"engine='exact' does not apply to {why}; use engine='nuts'")
    chosen = "exact" if (engine == "exact" or (engine == "auto" and exact_ok)) else "nuts"

    settings: dict[str, Any] = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "seed": seed,
        "target_accept": target_accept,
        "engine_requested": engine,
    }
    if control_risk is not None:
        settings["control_risk"] = control_risk
    provenance = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": dict(_versions(chosen)),
        "data_sha256": sd.sha256(),
        "data_source": sd.source,
    }
    common = dict(
        data=sd,
        model=model,
        likelihood=likelihood,
        engine=chosen,
        mu_prior=mu_p,
        tau_prior=tau_p,
        settings=settings,
        provenance=provenance,
        prior_notes=notes,
        baseline_prior=base_p,
    )
    if chosen == "exact":
        post = integrate(sd.yi[None], sd.vi[None], None, mu_p, tau_p)
        return MetaResult(backend=ExactBackend(post), diagnostics=Diagnostics.exact(), **common)
    return _fit_nuts(sd, common, base_p, progressbar)


def _fit_nuts(
    sd: StudyData, common: dict[str, Any], base_p: P.Prior | None, progressbar: bool
) -> MetaResult:
    from arviz_base import from_dict

    from bayesmeta import models

    s = common["settings"]
    tau_p = common["tau_prior"]
    if common["likelihood"] == "binomial":
        assert base_p is not None
        pm_model = models.binomial_normal(sd, common["mu_prior"], tau_p, base_p)
    else:
        pm_model = models.normal_normal(sd, common["mu_prior"], tau_p)
    dt = models.sample(
        pm_model,
        draws=s["draws"],
        tune=s["tune"],
        chains=s["chains"],
        seed=s["seed"],
        target_accept=s["target_accept"],
        progressbar=progressbar,
    )
    post = dt["posterior"].to_dataset()
    rng = np.random.default_rng([s["seed"], 1])
    mu = np.asarray(post["mu"])
    tau = np.asarray(post["tau"]) if tau_p is not None else np.zeros_like(mu)
    extra: dict[str, Any] = {}
    if common["likelihood"] == "normal":
        extra["theta"] = models.draw_theta(mu, tau, sd.yi, sd.vi, rng)
    extra["theta_new"] = mu + tau * rng.standard_normal(mu.shape)
    add = from_dict({"posterior": extra}, dims={"theta": ["study"]}, coords={"study": sd.labels})[
        "posterior"
    ].to_dataset()
    merged = post.assign({k: add[k] for k in extra}).assign_coords(
        chain=post["chain"], draw=post["draw"]
    )
    dt["posterior"] = merged
    obs = {"yi": sd.yi, "sei": sd.sei}
    dt["observed_data"] = from_dict(
        {"observed_data": obs},
        dims={"yi": ["study"], "sei": ["study"]},
        coords={"study": sd.labels},
    )["observed_data"]
    names = ["mu", "theta", "theta_new"] + ([] if tau_p is None else ["tau"])
    diagnostics = Diagnostics.from_datatree(dt, names)
    result = MetaResult(
        backend=DrawsBackend(dt["posterior"].to_dataset()),
        diagnostics=diagnostics,
        _idata=dt,
        **common,
    )
    if not diagnostics.ok:
        warnings.warn(
            "MCMC diagnostics failed: "
            + "; ".join(diagnostics.problems)
            + ". Do not trust these summaries; increase draws/tune or check the model.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return result


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")


# -- many analyses ---------------------------------------------------------------------------
def fit_many(
    data: pd.DataFrame,
    by: str = "analysis",
    *,
    measure: str,
    model: Model = "random",
    mu_prior: PriorLike = None,
    tau_prior: PriorLike = None,
    thresholds: list[float] | tuple[float, ...] = (),
    direction: Literal["greater", "less"] = "greater",
    ci_prob: float = 0.95,
    chunk: int = 256,
) -> pd.DataFrame:
    """Fit many normal-normal meta-analyses from one long table with the exact engine.

    Vectorised across analyses (in chunks), so thousands of fits take seconds.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per study; column ``by`` names the analysis, the other columns are an input
        shape of :func:`bayesmeta.study_data`. Study labels must be unique within an analysis.
    by : str
        The analysis column.
    measure, model, mu_prior, tau_prior
        As for :func:`fit` (the same priors for every analysis; defaults need a measure
        with a natural scale).
    thresholds : sequence of float
        Candidate MCIDs on the natural scale (ratios for OR/RR/HR).
    direction : {"greater", "less"}
    ci_prob : float

    Returns
    -------
    pandas.DataFrame
        One row per analysis (in order of first appearance): ``k``; ``mu_mean``,
        ``mu_median``, ``mu_lower``, ``mu_upper``; the same for ``tau`` and ``theta_new``
        (analysis scale); and ``p_mu[t]``, ``p_new[t]`` for each threshold ``t``.

    Examples
    --------
    >>> import pandas as pd, bayesmeta
    >>> df = pd.DataFrame({"analysis": ["a", "a", "b"], "study": ["s1", "s2", "s1"],
    ...                    "estimate": [0.3, 0.5, -0.1], "se": [0.1, 0.2, 0.3]})
    >>> out = bayesmeta.fit_many(df, measure="SMD", thresholds=[0.2])
    >>> out.index.tolist(), out["k"].tolist()
    (['a', 'b'], [2, 1])
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if by not in data.columns:
        raise DataError(
            f"column {by!r} (the analysis label) is missing; columns: "
            f"{', '.join(map(str, data.columns))}"
        )
    _choice("model", model, ("random", "fixed"))
    _choice("direction", direction, ("greater", "less"))
    chunk = _check_int("chunk", chunk, 1)
    labels = data[by].astype(str)
    if data[by].isna().any():
        row = int(np.flatnonzero(data[by].isna())[0]) + 1
        raise DataError(f"row {row}: column {by!r} is missing (NaN)")
    table = data.drop(columns=by).copy()
    if "study" not in table.columns:
        raise DataError("missing column 'study'")
    table["study"] = labels + " / " + table["study"].astype(str)
    sd = study_data(table, measure)  # one vectorised validation for every row
    mu_p, tau_p = _as_prior(mu_prior, "mu_prior"), _as_prior(tau_prior, "tau_prior")
    if mu_p is None or (tau_p is None and model == "random"):
        d_mu, d_tau, _ = default_priors(sd, model)
        mu_p = mu_p or d_mu
        tau_p = tau_p if tau_p is not None else d_tau
    if model == "fixed":
        tau_p = None
    if not isinstance(mu_p, P.Normal | P.Flat):
        raise P.PriorError(
            f"fit_many uses the exact engine: mu prior must be Normal or Flat, got {mu_p!r}"
        )
    codes, names = pd.factorize(labels)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    B, K = len(names), int(counts.max())
    pos = np.arange(len(codes)) - np.repeat(np.cumsum(counts) - counts, counts)
    Y = np.zeros((B, K))
    V = np.ones((B, K))
    M = np.zeros((B, K), dtype=bool)
    Y[codes[order], pos] = sd.yi[order]
    V[codes[order], pos] = sd.vi[order]
    M[codes[order], pos] = True

    thr = np.asarray(thresholds, dtype=float)
    x = np.log(thr) if (sd.is_ratio and thr.size) else thr
    if sd.is_ratio and thr.size and np.any(thr <= 0):
        raise ValueError("thresholds for a ratio measure are ratios and must be > 0")
    q = np.array([(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2])
    cols: dict[str, list[np.ndarray]] = {}
    for start in range(0, B, chunk):
        sl = slice(start, start + chunk)
        post = integrate(Y[sl], V[sl], M[sl], mu_p, tau_p)
        for name in ("mu", "tau", "theta_new"):
            if name == "tau":
                mean = post.tau_moments(1)[0]
            else:
                mean = post.mean_sd(name)[0]
            qq = post.quantile(name, q)
            for col, val in (
                (f"{name}_mean", mean),
                (f"{name}_median", qq[:, 1]),
                (f"{name}_lower", qq[:, 0]),
                (f"{name}_upper", qq[:, 2]),
            ):
                cols.setdefault(col, []).append(val)
        if x.size:
            for name, prefix in (("mu", "p_mu"), ("theta_new", "p_new")):
                p = 1.0 - post.cdf(name, x)
                if direction == "less":
                    p = 1.0 - p
                for j, t in enumerate(thr):
                    cols.setdefault(f"{prefix}[{t:g}]", []).append(p[:, j])
        cols.setdefault("log_evidence", []).append(post.log_evidence)
    out = pd.DataFrame(
        {c: np.concatenate(v) for c, v in cols.items()}, index=pd.Index(names, name=by)
    )
    out.insert(0, "k", counts)
    out.attrs.update(
        {
            "measure": sd.measure,
            "mu_prior": repr(mu_p),
            "tau_prior": repr(tau_p),
            "ci_prob": ci_prob,
            "direction": direction,
        }
    )
    return out
