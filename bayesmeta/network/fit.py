r"""fit_network(): network data + priors + engine -> :class:`NetworkResult`.

* Normal likelihood on contrasts: the exact linear engine
  (:func:`bayesmeta.engines.linear.integrate`, quadrature over tau; milliseconds), or NUTS
  with ``engine="nuts"`` (the same marginal model).
* Binomial likelihood on arms (logit link, study baselines): NUTS
  (:mod:`bayesmeta.engines.nuts_network`); a pairwise network (two treatments, every study
  comparing both) with a Normal baseline prior goes to the exact binomial-normal engine
  (:func:`bayesmeta.engines.grid.integrate_binomial`, via :mod:`bayesmeta.network.pairwise`)
  unless ``engine="nuts"``.

Model (consistency, random effects; :math:`d_{\mathrm{ref}} = 0`):

.. math::

    y_i \sim N(X_i d,\ V_i + \tau^2 W_i),\qquad d_k \sim N(m, s^2),\qquad \tau \sim p(\tau),

``W_i`` with 1 on the diagonal and 0.5 off it (multi-arm studies).

Examples
--------
>>> from bayesmeta import datasets, priors
>>> res = fit_network(datasets.load("parkinsons_tsd2"), "MD", reference="placebo",
...                   tau_prior=priors.Uniform(0, 5), lower_better=True)
>>> res.relative_effects().round(2)["mean"].tolist()
[-1.85, -0.5, -0.53, -0.83]
>>> res.sucra().round(2)["mean"].idxmax()
'drug2'
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from bayesmeta.errors import DataError, ModelWarning
from bayesmeta.network.data import NetworkData
from bayesmeta.network.result import NetworkFit, NetworkResult
from bayesmeta.spec import AnalysisSpec

__all__ = ["fit_network", "fit_network_spec", "resolve_priors"]

#: Default prior on each basic parameter d (vague, as in NICE DSU TSD2: N(0, 100^2)).
D_PRIOR_SD = 100.0
#: Independent draws from the exact posterior (rank probabilities and SUCRA).
EXACT_DRAWS = (4, 2500)


def fit_network(
    data: pd.DataFrame | str | NetworkData,
    measure: str | None = None,
    *,
    reference: str,
    model: Literal["random", "fixed"] = "random",
    likelihood: Literal["normal", "binomial"] = "normal",
    d_prior: Any = None,
    tau_prior: Any = None,
    baseline_prior: Any = None,
    engine: Literal["auto", "exact", "nuts"] = "auto",
    consistency: Literal["consistency", "ume", "nodesplit"] = "consistency",
    seed: int | None = None,
    lower_better: bool = False,
    ci_prob: float = 0.95,
    draws: int = 2000,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float = 0.95,
) -> NetworkResult:
    """Fit a Bayesian network meta-analysis.

    Parameters
    ----------
    data : DataFrame, path or NetworkData
        Long table, one row per arm (see :func:`bayesmeta.network.network_data`).
    measure : str, optional
        ``OR`` (binary arms), ``MD``/``SMD`` (continuous arms), or the scale of given
        contrasts (``MD``, ``SMD``, ``OR``, ``RR``, ``HR``, ``GEN``).
    reference : str
        Reference treatment (every d is against it).
    model : {"random", "fixed"}
    likelihood : {"normal", "binomial"}
        ``normal`` on contrasts (exact engine); ``binomial`` on arm counts (NUTS; the
        exact binomial-normal engine for a pairwise network of two treatments).
    d_prior : Prior or str, optional
        Prior on each basic parameter (default Normal(0, 100), as TSD2); ``"flat"`` allowed.
    tau_prior : Prior or str, optional
        Any prior on tau the package has (``turner2015(...)``, ``rhodes2015(...)``,
        ``halfnormal(0.5)``, ...). Default HalfNormal(0.5) for log ratios and SMD; MD and
        GEN need one.
    baseline_prior : Prior or str, optional
        Binomial likelihood: prior on each study's baseline log odds (default
        :data:`bayesmeta.priors.BASELINE`, Normal(0, 10), as pairwise binomial models).
    engine : {"auto", "exact", "nuts"}
    consistency : {"consistency", "ume", "nodesplit"}
        Also fit unrelated mean effects (``ume``) or node-split models for every comparison
        with direct and indirect evidence (``nodesplit``) now; either can be asked for later
        with :meth:`NetworkResult.unrelated_effects` / :meth:`NetworkResult.node_split`.
    seed : int, optional
        Seed of NUTS and of the exact engines' independent draws (default 0 for exact, drawn
        and recorded for NUTS).
    lower_better : bool
        Lower effects are better (ranks, SUCRA, P(best)).
    ci_prob : float
        Interval probability of every table (equal-tailed).
    draws, tune, chains, target_accept
        NUTS settings.

    Returns
    -------
    NetworkResult

    Raises
    ------
    DataError
        Invalid data (naming study and treatment) or options (a
        :class:`~bayesmeta.spec.SpecError` listing every problem).
    """
    source = {"path": data} if isinstance(data, str | Path) else {"data": data}
    spec = AnalysisSpec.from_kwargs(
        **source,
        measure=measure,
        reference=reference,
        effects=model,
        likelihood=likelihood,
        d_prior=d_prior,
        tau_prior=tau_prior,
        baseline_prior=baseline_prior,
        engine=engine,
        consistency=consistency,
        seed=seed,
        lower_better=lower_better,
        ci_prob=ci_prob,
        draws=draws,
        tune=tune,
        chains=chains,
        target_accept=target_accept,
    )
    nd = spec.load_data()
    return fit_network_spec(spec, nd)


def resolve_priors(spec: AnalysisSpec, nd: NetworkData) -> dict[str, Any]:
    """Priors as used: ``d``, ``tau`` (None for fixed) and ``baseline`` (binomial)."""
    from bayesmeta import priors as P
    from bayesmeta.spec import SpecError

    d = spec.d_prior if spec.d_prior is not None else P.Normal(0.0, D_PRIOR_SD)
    tau = None
    if spec.effects == "random":
        tau = spec.tau_prior
        if tau is None:
            if nd.measure in ("OR", "RR", "HR", "SMD"):
                tau = P.HalfNormal(0.5)
            else:
                raise SpecError(
                    f"no default prior on tau for measure {nd.measure}: its scale is unknown "
                    "to bayesmeta. Give tau_prior=... (--tau-prior, [network.priors] tau), "
                    "e.g. 'halfnormal(s)' with s about half the outcome's between-patient SD",
                    [("tau_prior", "has no default for this measure")],
                )
        im = getattr(tau, "intended_measure", None)
        if im is not None and im != nd.measure:
            warnings.warn(
                f"the tau prior {tau!r} was made for {im}, but the network's measure is "
                f"{nd.measure}",
                ModelWarning,
                stacklevel=3,
            )
    out = {"d": d, "tau": tau}
    if spec.likelihood == "binomial":
        out["baseline"] = spec.baseline_prior if spec.baseline_prior is not None else P.BASELINE
    return out


def _normal_moments(prior: Any, P: int) -> tuple[np.ndarray, np.ndarray]:
    name = type(prior).__name__
    if name == "Flat":
        return np.zeros(P), np.full(P, np.inf)
    if name == "Normal":
        return np.full(P, float(prior.mu)), np.full(P, float(prior.sigma) ** 2)
    from bayesmeta.spec import SpecError

    raise SpecError(
        f"the exact engine needs a Normal or flat prior on d, got {prior!r} (use engine='nuts')",
        [("d_prior", "must be Normal or flat for the exact engine")],
    )


def _fit_design(
    spec: AnalysisSpec, nd: NetworkData, design: Any, pri: dict, seed: int
) -> NetworkFit:
    t0 = time.perf_counter()
    tau = pri["tau"]
    if spec.likelihood == "normal" and spec.engine in ("auto", "exact"):
        from bayesmeta.engines.linear import integrate

        m0, v0 = _normal_moments(pri["d"], design.X.shape[1])
        post = integrate(
            design.y,
            design.S,
            design.X,
            design.W,
            tau_prior=tau,
            beta_prior_mean=m0,
            beta_prior_var=v0,
            coef_names=design.names,
            study_labels=[f"{s}: {a} vs {b}" for s, a, b in design.rows],
            n_chains=EXACT_DRAWS[0],
            n_draws=EXACT_DRAWS[1],
            seed=seed,
        )
        return NetworkFit(design, post, None, "exact", time.perf_counter() - t0)
    if spec.likelihood == "binomial" and spec.engine in ("auto", "exact"):
        exact = _fit_pairwise_binomial(spec, nd, design, pri, seed, t0)
        if exact is not None:
            return exact
        if spec.engine == "exact":
            from bayesmeta.spec import SpecError

            raise SpecError(
                "engine='exact' applies to the binomial likelihood only for a pairwise network "
                "(two treatments, every study comparing both) with a Normal baseline prior; "
                "use engine='nuts' or 'auto'",
                [("engine", "exact does not apply to this binomial network")],
            )
    from bayesmeta.engines import nuts_network as nn

    if tau is not None:
        tau = tau.bind(np.sqrt(np.diag(design.S)))
    if spec.likelihood == "normal":
        pm_model = nn.normal_model(design, pri["d"], tau)
    else:
        arms, X_arm = _arms_for(nd, design)
        pm_model = nn.binomial_model(arms, X_arm, design.names, pri["d"], tau, pri["baseline"])
    post, diag = nn.fit(
        pm_model,
        draws=spec.draws,
        tune=spec.tune,
        chains=spec.chains,
        seed=seed,
        target_accept=spec.target_accept,
        progressbar=spec.progressbar,
    )
    return NetworkFit(design, post, diag, "nuts", time.perf_counter() - t0)


def _pairwise_exact(nd: NetworkData, design: Any, pri: dict) -> dict | None:
    """Return the pairwise arm counts when the exact binomial-normal engine applies, else None."""
    from bayesmeta.network.pairwise import pairwise_arms

    if type(pri.get("baseline")).__name__ != "Normal":
        return None
    return pairwise_arms(nd, design)


def _fit_pairwise_binomial(
    spec: AnalysisSpec, nd: NetworkData, design: Any, pri: dict, seed: int, t0: float
) -> NetworkFit | None:
    """Exact binomial-normal fit of a pairwise network (None when it does not apply).

    Applies with two treatments, every study comparing both, and a Normal baseline prior
    (the exact engine's model); d is the engine's mu (the non-reference treatment against
    the reference).
    """
    from bayesmeta.network.pairwise import pairwise_posterior

    counts = _pairwise_exact(nd, design, pri)
    if counts is None:
        return None
    tau = pri["tau"]
    if tau is not None:
        tau = tau.bind(np.sqrt(np.diag(design.S)))
    post = pairwise_posterior(
        counts,
        d_prior=pri["d"],
        tau_prior=tau,
        baseline_prior=pri["baseline"],
        seed=seed,
        chains=EXACT_DRAWS[0],
        draws=EXACT_DRAWS[1],
    )
    return NetworkFit(design, post, None, "exact", time.perf_counter() - t0)


def _arms_for(nd: NetworkData, design: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """Arms with each study's baseline (from the design) first, and each arm's X row."""
    if nd.arms is None:
        raise DataError(
            "the binomial likelihood needs arm-level binary data (study, treatment, events, n)"
        )
    base: dict[str, str] = {}
    xrow: dict[tuple[str, str], np.ndarray] = {}
    for (st, a, b), x in zip(design.rows, design.X, strict=True):
        base.setdefault(st, b)
        xrow[(st, a)] = x
    arms = nd.arms.copy()
    arms["_later"] = [t != base[s] for s, t in zip(arms["study"], arms["treatment"], strict=True)]
    arms["_order"] = [list(base).index(s) for s in arms["study"]]
    arms = arms.sort_values(["_order", "_later"], kind="stable")
    arms = arms.drop(columns=["_later", "_order"]).reset_index(drop=True)
    zero = np.zeros(design.X.shape[1])
    X_arm = np.array(
        [xrow.get((s, t), zero) for s, t in zip(arms["study"], arms["treatment"], strict=True)]
    )
    return arms, X_arm


def refitter(spec: AnalysisSpec, nd: NetworkData, pri: dict[str, Any], seed: int) -> Any:
    """Return ``refit(kind, comparison)``: the UME or a node-split model, fitted on demand.

    The same data, priors, engine and seed as the consistency fit, so a comparison split
    later (or after :func:`~bayesmeta.network.result.load_network`) equals one split now.
    """
    from bayesmeta.network.model import nodesplit_design, ume_design

    def refit(kind: str, comp: tuple[str, str] | None) -> NetworkFit:
        if kind == "ume":
            design = ume_design(nd, spec.reference)
        else:
            assert comp is not None
            design = nodesplit_design(nd, spec.reference, comp)
        return _fit_design(spec, nd, design, pri, seed)

    return refit


def fit_network_spec(spec: AnalysisSpec, nd: NetworkData) -> NetworkResult:
    """Fit a validated :class:`AnalysisSpec` to validated data."""
    from bayesmeta.network.model import consistency_design

    if spec.likelihood == "binomial" and nd.kind != "binary":
        raise DataError(
            "the binomial likelihood needs arm-level binary data (study, treatment, events, "
            f"n); these data are {nd.kind}"
        )
    pri = resolve_priors(spec, nd)
    design = consistency_design(nd, spec.reference)
    seed = spec.seed
    if seed is None:
        seed = (
            0
            if spec.engine != "nuts"
            and (spec.likelihood == "normal" or _pairwise_exact(nd, design, pri))
            else int(np.random.default_rng().integers(2**31 - 1))
        )
    main = _fit_design(spec, nd, design, pri, seed)
    # zero-cell corrections concern the normal approximation only
    notes = () if spec.likelihood == "binomial" else nd.notes

    res = NetworkResult(
        data=nd,
        fit=main,
        reference=spec.reference,
        model=spec.effects,
        likelihood=spec.likelihood,
        priors=pri,
        lower_better=spec.lower_better,
        ci_prob=spec.ci_prob,
        consistency=spec.consistency,
        seed=seed,
        refit=refitter(spec, nd, pri, seed),
        notes=notes,
        spec=spec,
    )
    if spec.consistency == "nodesplit":
        res.node_split()
    elif spec.consistency == "ume":
        res.unrelated_effects()
    return res
