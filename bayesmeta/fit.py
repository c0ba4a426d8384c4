"""fit(): data + spec -> MetaResult; fit_many(): many analyses at once.

Both build an :class:`~bayesmeta.spec.AnalysisSpec` (the one place options are checked),
resolve it against the data (default priors, the engine, the seed), and hand it to
:mod:`bayesmeta.engines`.

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
  explicit ``tau_prior`` (then mu defaults to flat).
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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from bayesmeta import priors as P
from bayesmeta.data import StudyData
from bayesmeta.errors import DataError, ModelWarning
from bayesmeta.results import MetaResult
from bayesmeta.spec import AnalysisSpec, SpecError, _copy

__all__ = ["default_priors", "fit", "fit_many", "fit_spec", "resolve"]

Model = Literal["random", "fixed"]
Likelihood = Literal["normal", "binomial"]
Engine = Literal["auto", "exact", "nuts"]
PriorLike = P.Prior | str | dict[str, Any] | None


def default_mu_prior(sd: StudyData, likelihood: str = "normal") -> tuple[P.Prior, str]:
    """Default prior on mu for these data, and the reason."""
    if sd.measure in ("OR", "RR", "HR", "SMD") or likelihood == "binomial":
        return P.Normal(0.0, 4.0), "default: weakly informative on the log-ratio/SMD scale"
    return P.Flat(), f"default: flat, as R bayesmeta (no natural scale for {sd.measure})"


def default_tau_prior(sd: StudyData, likelihood: str = "normal") -> tuple[P.Prior, str]:
    """Default prior on tau for these data, and the reason.

    Raises
    ------
    SpecError
        When no default exists (MD from reported estimates, GEN).
    """
    m = sd.measure
    if m in ("OR", "RR", "HR", "SMD") or likelihood == "binomial":
        return P.HalfNormal(0.5), "default for log ratios and SMD (Röver et al. 2021)"
    if m == "MD" and sd.kind == "continuous":
        t = sd.table
        dof = (t["n_t"] - 1).sum() + (t["n_c"] - 1).sum()
        s = math.sqrt(
            (((t["n_t"] - 1) * t["sd_t"] ** 2).sum() + ((t["n_c"] - 1) * t["sd_c"] ** 2).sum())
            / max(dof, 1)
        )
        return P.HalfNormal(float(f"{0.5 * s:.4g}")), (
            f"default: HalfNormal(0.5) on the SMD scale, times the pooled within-arm SD {s:.4g}"
        )
    if m == "RD":
        return P.HalfNormal(0.2), "default for risk differences"
    raise SpecError(
        f"no default prior on tau for measure {m} from reported estimates: its scale is "
        "unknown to bayesmeta. Give tau_prior=... (--tau-prior, [priors] tau), e.g. "
        "'halfnormal(s)' with s about half the outcome's between-patient SD",
        [("tau_prior", "has no default for this measure")],
    )


def default_priors(
    sd: StudyData, model: str = "random", likelihood: str = "normal"
) -> tuple[P.Prior, P.Prior | None, dict[str, str]]:
    """Default priors on mu and tau for these data, and the reason for each."""
    mu, mu_note = default_mu_prior(sd, likelihood)
    if model == "fixed":
        return mu, None, {"mu": mu_note}
    tau, tau_note = default_tau_prior(sd, likelihood)
    return mu, tau, {"mu": mu_note, "tau": tau_note}


def resolve(spec: AnalysisSpec, sd: StudyData) -> tuple[AnalysisSpec, dict[str, str]]:
    """Check ``spec`` against the data and fill in what it leaves open.

    Default priors (with their reasons), the engine for ``engine="auto"`` and a seed when
    none is given. Warns (:class:`bayesmeta.errors.ModelWarning`) about choices that are
    valid but deserve a second look.

    Returns
    -------
    (AnalysisSpec, dict)
        The resolved spec and the reason for each default prior.
    """
    from bayesmeta import engines

    if spec.measure is not None and sd.measure != spec.measure:
        raise SpecError(
            f"{spec.key('measure')} is {spec.measure} but the data were prepared as {sd.measure}"
        )
    if spec.likelihood == "binomial" and sd.kind != "binary":
        raise SpecError(
            f"{spec.key('likelihood')} binomial needs arm-level binary data (columns study, "
            f"events_t, n_t, events_c, n_c); these data are {sd.kind}",
            [("likelihood", "needs binary data")],
        )
    notes: dict[str, str] = {}
    changes: dict[str, Any] = {"measure": sd.measure}
    mu_p, tau_p = spec.mu_prior, spec.tau_prior
    if mu_p is None:
        if spec.tau_prior is not None and sd.measure in ("MD", "GEN", "RD"):
            mu_p, notes["mu"] = P.Flat(), "default: flat, as R bayesmeta"
        else:
            mu_p, notes["mu"] = default_mu_prior(sd, spec.likelihood)
        changes["mu_prior"] = mu_p
    if tau_p is None and not spec.fixed:
        tau_p, notes["tau"] = default_tau_prior(sd, spec.likelihood)
        changes["tau_prior"] = tau_p
    if tau_p is not None and tau_p.data_dependent:
        changes["tau_prior"] = tau_p.bind(sd.sei)  # R bayesmeta's priors built from the SEs
    if spec.likelihood == "binomial" and spec.baseline_prior is None:
        changes["baseline_prior"] = P.BASELINE
        notes["baseline"] = "default: vague on the log-odds scale"
    if spec.seed is None:
        changes["seed"] = int(np.random.SeedSequence().generate_state(1)[0])
    for prior in [tau_p, *spec.sensitivity]:
        _warn_intended(prior, sd.measure, spec)
    if not spec.fixed and sd.k == 1:
        warnings.warn(
            "random effects with k = 1: the data say nothing about heterogeneity, so tau, "
            "I^2 and the prediction for a new study come from the prior on tau",
            ModelWarning,
            stacklevel=3,
        )
    resolved = _copy(spec, **changes)
    resolved = _copy(resolved, engine=engines.choose(resolved, sd))
    return resolved, notes


def _warn_intended(prior: Any, measure: str, spec: AnalysisSpec) -> None:
    intended = getattr(prior, "intended_measure", None)
    if intended and intended != measure:
        what = {"OR": "log odds ratios", "SMD": "standardised mean differences"}.get(
            intended, intended
        )
        warnings.warn(
            f"the prior on tau {prior!r} was derived for {what} ({intended}), but this "
            f"analysis uses {measure}: its scale may not fit",
            ModelWarning,
            stacklevel=4,
        )


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


def fit_spec(spec: AnalysisSpec, data: StudyData | None = None) -> MetaResult:
    """Fit an :class:`AnalysisSpec` (its data, or ``data`` when given)."""
    from bayesmeta import engines

    sd = spec.load_data() if data is None else data
    resolved, notes = resolve(spec, sd)
    try:
        posterior, diagnostics = engines.run(resolved, sd)
    except FloatingPointError as exc:
        # a deterministic engine that cannot reach its accuracy: with engine="auto" NUTS
        # fits the same model (with its diagnostics); asked for "exact", it is an error
        if spec.engine != "auto" or resolved.engine == "nuts":
            raise
        warnings.warn(
            f"{str(exc).split(';')[0]}: fitted with NUTS instead (engine='auto')",
            ModelWarning,
            stacklevel=2,
        )
        resolved = _copy(resolved, engine="nuts")
        notes["engine"] = f"NUTS: the exact engine failed ({exc})"
        posterior, diagnostics = engines.run(resolved, sd)
    provenance = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": dict(_versions(resolved.engine)),
        "data_sha256": sd.sha256(),
        "data_source": sd.source,
        "prior_notes": notes,
        "engine_requested": spec.engine,
        "spec": resolved.to_dict(),
    }
    if spec.source is not None:
        provenance["spec_file"] = str(spec.source)
        provenance["spec_sha256"] = spec.sha256()
    return MetaResult(
        spec=resolved, data=sd, posterior=posterior, diagnostics=diagnostics, provenance=provenance
    )


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
    ci_prob: float = 0.95,
    moderators: str | Sequence[str] | None = None,
    subgroup: str | None = None,
    separate_tau: bool = False,
    beta_prior: PriorLike | Mapping[str, PriorLike] = None,
) -> MetaResult:
    r"""Fit a Bayesian meta-analysis, meta-regression or subgroup analysis.

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
        ``exact``: numerical integration. ``nuts``: MCMC with nutpie. ``auto`` takes a
        deterministic engine wherever one applies.
    draws, tune, chains : int
        MCMC settings (for deterministic engines: the number of independent draws stored
        in :attr:`MetaResult.idata` is ``draws * chains``).
    seed : int, optional
        Random seed; the same seed gives identical numbers. A seed is drawn and recorded
        when none is given.
    target_accept : float, default 0.95
        NUTS target acceptance.
    baseline_prior : Prior, optional
        Prior on the binomial-normal baseline log odds, default ``Normal(0, 10)``.
    control_risk : float, optional
        Control risk for the RR and RD implied by a binomial-normal fit (default: the
        pooled observed control risk).
    progressbar : bool
        Show the sampler's progress bar.
    columns : dict, optional
        Rename input columns to canonical names.
    ci_prob : float, default 0.95
        Credible-interval probability used by the result's tables and report.
    moderators : str or list of str, optional
        Meta-regression on the data's covariate columns: a formula (formulaic syntax,
        ``"~ ablat + C(alloc)"``) or a list of numeric columns. The model becomes
        ``theta_i ~ N(x_i' beta, tau^2)``; see :meth:`MetaResult.coefficients` and
        :meth:`MetaResult.predict`.
    subgroup : str, optional
        Subgroup analysis by this covariate column: one mean per group with a common tau
        (see :meth:`MetaResult.subgroups`).
    separate_tau : bool, default False
        Subgroups: one tau per group (each group fitted on its own), compared with the
        common-tau model.
    beta_prior : Prior, str or dict, optional
        Prior on the regression coefficients: flat by default (as R bayesmeta's ``bmr``),
        one prior for every coefficient, or a dict by coefficient name (``Intercept``,
        ``ablat``, ...).

    Returns
    -------
    MetaResult

    Raises
    ------
    DataError
        Invalid data (the message names study and column) or options (a
        :class:`~bayesmeta.spec.SpecError` naming every invalid argument).
    KeyboardInterrupt
        When sampling is interrupted (Ctrl-C).

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

    Meta-regression on a covariate column (any extra column of the data):

    >>> df = pd.DataFrame({"study": list("ABCDE"), "estimate": [0.1, 0.3, 0.2, 0.6, 0.7],
    ...                    "se": [0.1, 0.12, 0.1, 0.15, 0.1], "dose": [1, 2, 2, 4, 5]})
    >>> reg = bayesmeta.fit(df, "SMD", moderators="~ dose", seed=1)
    >>> reg.coefficients().index.tolist()
    ['Intercept', 'dose', 'tau']
    """
    if measure is None and not isinstance(data, StudyData):
        raise SpecError(
            "measure is required (e.g. measure='SMD') unless data is a StudyData",
            [("measure", "is required")],
        )
    if measure is None:
        measure = data.measure  # type: ignore[union-attr]
    spec = AnalysisSpec.from_kwargs(
        data=data,
        measure=measure,
        model=model,  # an alias of `effects`: messages then say model=
        likelihood=likelihood,
        mu_prior=mu_prior,
        tau_prior=tau_prior,
        engine=engine,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
        baseline_prior=baseline_prior,
        control_risk=control_risk,
        progressbar=progressbar,
        columns=columns,
        ci_prob=ci_prob,
        moderators=moderators,
        subgroup=subgroup,
        separate_tau=separate_tau,
        beta_prior=beta_prior,
    )
    return fit_spec(spec)


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
    likelihood: Likelihood = "normal",
    baseline_prior: PriorLike = None,
) -> pd.DataFrame:
    """Fit many meta-analyses from one long table with the exact engines.

    Normal likelihood: vectorised across analyses (in chunks), so thousands of fits take
    seconds. ``likelihood="binomial"`` (arm-level binary data, OR): the exact
    binomial-normal engine, one analysis at a time (tens of milliseconds each). The options
    are checked by the same :class:`~bayesmeta.spec.AnalysisSpec` as :func:`fit`.

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
    likelihood : {"normal", "binomial"}
    baseline_prior : Prior, optional
        Binomial likelihood: prior on the baseline log odds (default Normal(0, 10)).

    Returns
    -------
    pandas.DataFrame
        One row per analysis (in order of first appearance): ``k``; ``mu_mean``,
        ``mu_median``, ``mu_lower``, ``mu_upper``; the same for ``tau`` and ``theta_new``
        (analysis scale); ``p_mu[t]``, ``p_new[t]`` for each threshold ``t``; and
        ``log_evidence``.

    Examples
    --------
    >>> import pandas as pd, bayesmeta
    >>> df = pd.DataFrame({"analysis": ["a", "a", "b"], "study": ["s1", "s2", "s1"],
    ...                    "estimate": [0.3, 0.5, -0.1], "se": [0.1, 0.2, 0.3]})
    >>> out = bayesmeta.fit_many(df, measure="SMD", thresholds=[0.2])
    >>> out.index.tolist(), out["k"].tolist()
    (['a', 'b'], [2, 1])
    """
    from bayesmeta import engines
    from bayesmeta.data import study_data
    from bayesmeta.engines import linear

    spec = AnalysisSpec.from_kwargs(
        measure=measure,
        model=model,  # an alias of `effects`: messages then say model=
        mu_prior=mu_prior,
        tau_prior=tau_prior,
        thresholds=thresholds,  # aliases of mcid and mcid_direction (messages)
        direction=direction,
        ci_prob=ci_prob,
        engine="exact",
        likelihood=likelihood,
        baseline_prior=baseline_prior,
    )
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise SpecError(f"chunk must be an integer >= 1 (got {chunk!r})")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if by not in data.columns:
        raise DataError(
            f"column {by!r} (the analysis label) is missing; columns: "
            f"{', '.join(map(str, data.columns))}"
        )
    if data[by].isna().any():
        row = int(np.flatnonzero(data[by].isna())[0]) + 1
        raise DataError(f"row {row}: column {by!r} is missing (NaN)")
    labels = data[by].astype(str)
    table = data.drop(columns=by).copy()
    if "study" not in table.columns:
        raise DataError("missing column 'study'")
    table["study"] = labels + " / " + table["study"].astype(str)
    sd = study_data(table, spec.measure)  # one vectorised validation for every row
    resolved, _ = resolve(spec.replace(seed=0), sd)
    mu_p, tau_p = resolved.mu_prior, resolved.tau_prior
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

    thr = np.asarray(resolved.mcid, dtype=float)
    x = np.log(thr) if (sd.is_ratio and thr.size) else thr
    q = np.array([(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2])
    m0, v0 = (mu_p.mu, mu_p.sigma**2) if isinstance(mu_p, P.Normal) else (0.0, np.inf)
    cols: dict[str, list[np.ndarray]] = {}
    if resolved.likelihood == "binomial":
        for b in range(B):
            rows = np.flatnonzero(codes == b)
            post, _ = engines.run(resolved, sd.subset(list(rows)))
            _collect(cols, post, q, x, thr, direction, batched=False)
        return _many_table(cols, names, by, counts, sd, resolved, ci_prob, direction)
    for start in range(0, B, chunk):
        sl = slice(start, start + chunk)
        post = linear.integrate(
            Y[sl],
            V[sl],
            tau_prior=tau_p,
            beta_prior_mean=[m0],
            beta_prior_var=[v0],
            mask=M[sl],
        )
        _collect(cols, post, q, x, thr, direction, batched=True)
    return _many_table(cols, names, by, counts, sd, resolved, ci_prob, direction)


def _collect(
    cols: dict[str, list[np.ndarray]],
    post: Any,
    q: np.ndarray,
    x: np.ndarray,
    thr: np.ndarray,
    direction: str,
    *,
    batched: bool,
) -> None:
    """Append one chunk's (or one analysis's) summaries to the fit_many columns."""
    margs = {name: post.marginal(name) for name in ("mu", "tau", "theta_new")}
    for name, m in margs.items():
        qq = np.atleast_2d(m.quantile(q))
        n = qq.shape[0]
        for col, val in (
            (f"{name}_mean", m.mean()),
            (f"{name}_median", qq[:, 1]),
            (f"{name}_lower", qq[:, 0]),
            (f"{name}_upper", qq[:, 2]),
        ):
            cols.setdefault(col, []).append(np.broadcast_to(val, (n,)))
    if x.size:
        for name, prefix in (("mu", "p_mu"), ("theta_new", "p_new")):
            below = np.atleast_2d(margs[name].cdf(x))
            p = 1.0 - below if direction == "greater" else below
            for j, t in enumerate(thr):
                cols.setdefault(f"{prefix}[{t:g}]", []).append(p[:, j])
    ev = np.asarray(post.log_evidence, dtype=float)
    cols.setdefault("log_evidence", []).append(ev if batched else ev.reshape(1))


def _many_table(
    cols: dict[str, list[np.ndarray]],
    names: Any,
    by: str,
    counts: np.ndarray,
    sd: StudyData,
    resolved: AnalysisSpec,
    ci_prob: float,
    direction: str,
) -> pd.DataFrame:
    out = pd.DataFrame(
        {c: np.concatenate(v) for c, v in cols.items()}, index=pd.Index(names, name=by)
    )
    out.insert(0, "k", counts)
    out.attrs.update(
        {
            "measure": sd.measure,
            "likelihood": resolved.likelihood,
            "mu_prior": repr(resolved.mu_prior),
            "tau_prior": repr(resolved.tau_prior),
            "ci_prob": ci_prob,
            "direction": direction,
        }
    )
    return out
