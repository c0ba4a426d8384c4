r"""Results of a network meta-analysis: relative effects, prediction, rankings, MCIDs.

A :class:`NetworkResult` holds the data, the model's design and the posterior (any engine's
:class:`~bayesmeta.engines.base.Posterior` with the ``linear`` capability: exact normal
mixtures from the linear engine, or MCMC draws). Every table is computed from
``posterior.linear(A)`` (the posterior of linear combinations ``A @ d`` of the basic
parameters) or from joint draws of ``d``; nothing here asks which engine ran.

Tables have the columns ``mean, sd, median, lower, upper``: posterior mean, SD, median and
the equal-tailed interval of probability ``ci_prob`` (default 0.95). Tables of an MCMC fit
add ``ess_bulk, ess_tail, r_hat, mcse_mean`` (:data:`MC_COLUMNS`), computed with
arviz_stats from the draws of each quantity shown: a contrast ``d_k - d_j``, a
predictive effect or a SUCRA gets its own ESS and R-hat, as in multinma's summaries, not
those of the basic parameters. Exact fits have no Monte Carlo error and no such columns.

:meth:`NetworkResult.save` writes one netCDF file (the consistency fit, the node-split and
UME fits already computed, the data, priors, diagnostics and spec) that
:func:`load_network` reads back without refitting.

Examples
--------
>>> from bayesmeta import datasets, priors
>>> from bayesmeta.network import fit_network
>>> res = fit_network(datasets.load("parkinsons_tsd2"), "MD", reference="placebo",
...                   model="fixed")
>>> res.relative_effects().round(2).loc[("drug2", "placebo"), ["mean", "sd"]].tolist()
[-1.81, 0.33]
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bayesmeta.errors import DataError

__all__ = ["COLUMNS", "MC_COLUMNS", "NetworkFit", "NetworkResult", "load_network"]

Array = NDArray[np.float64]
#: The columns of every summary table.
COLUMNS = ["mean", "sd", "median", "lower", "upper"]
#: Format tag of a saved network result (the JSON in the root attribute ``bayesmeta_network``).
FORMAT = "bayesmeta-network-result/1"
#: Added to the tables of an MCMC fit: bulk and tail ESS, rank-normalised split R-hat and
#: the Monte Carlo SE of the mean (Vehtari et al. 2021), from arviz_stats.
MC_COLUMNS = ["ess_bulk", "ess_tail", "r_hat", "mcse_mean"]
Scale = Literal["analysis", "natural"]
Direction = Literal["greater", "less"]
_NS_INDEX = ("treatment", "comparator", "estimate")


@dataclass
class NetworkFit:
    """One fitted linear model: its design, posterior and diagnostics (None for exact)."""

    design: Any
    posterior: Any
    diagnostics: Any = None
    engine: str = "exact"
    seconds: float = float("nan")


def _is_mcmc(fit: NetworkFit | None) -> bool:
    return fit is not None and getattr(fit.diagnostics, "engine", None) == "mcmc"


def _mc_columns(draws: Any) -> dict[str, Array]:
    """``MC_COLUMNS`` of each quantity in ``draws`` (chain, draw, k).

    From ``arviz_stats.summary(kind="diagnostics")``, as the fit's own diagnostics
    (:meth:`bayesmeta.diagnostics.Diagnostics.from_datatree`), so a basic parameter's row
    matches its diagnostics; NaN where undefined (R-hat of a constant).
    """
    import arviz_stats as azs
    import xarray as xr

    x = np.asarray(draws, dtype=float)
    x = x.reshape(*x.shape[:2], -1)
    ds = xr.Dataset(
        {"q": (("chain", "draw", "k"), x)},
        coords={"chain": np.arange(x.shape[0]), "draw": np.arange(x.shape[1])},
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        tab = azs.summary(ds, kind="diagnostics", round_to="none")
    return {c: tab[c].to_numpy(dtype=float) for c in MC_COLUMNS}


def _check(name: str, value: Any, options: Sequence[Any]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")


@dataclass
class NetworkResult:
    """A fitted network meta-analysis (see :func:`bayesmeta.network.fit_network`).

    Attributes
    ----------
    data : NetworkData
    fit : NetworkFit
        The consistency model.
    reference : str
    model : {"random", "fixed"}
    likelihood : {"normal", "binomial"}
    priors : dict
        ``d``, ``tau`` and (binomial) ``baseline`` priors as used.
    lower_better : bool
        Whether lower values of the effect are better (for ranks, SUCRA and P(best)).
    ci_prob : float
    splits : dict
        Node-split fits by comparison ``(B, A)`` (filled by :meth:`node_split`).
    ume : NetworkFit or None
        The unrelated-mean-effects fit (filled by :meth:`unrelated_effects`).
    """

    data: Any
    fit: NetworkFit
    reference: str
    model: str
    likelihood: str
    priors: dict[str, Any]
    lower_better: bool = False
    ci_prob: float = 0.95
    consistency: str = "consistency"
    seed: int = 0
    refit: Any = field(default=None, repr=False)
    splits: dict[tuple[str, str], NetworkFit] = field(default_factory=dict, repr=False)
    ume: NetworkFit | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    spec: Any = None

    # -- basics ----------------------------------------------------------------------------
    @property
    def treatments(self) -> tuple[str, ...]:
        """The treatments, reference first."""
        return self.fit.design.treatments

    @property
    def measure(self) -> str:
        """The effect measure (ratios analysed on the log scale)."""
        return self.data.measure

    @property
    def is_ratio(self) -> bool:
        """Whether effects are ratios (log scale for analysis, natural scale with exp)."""
        return self.data.is_ratio

    @property
    def engine(self) -> str:
        """``exact`` or ``nuts``."""
        return self.fit.engine

    def _contrast_matrix(self, pairs: Sequence[tuple[str, str]]) -> Array:
        idx = {t: i - 1 for i, t in enumerate(self.treatments)}
        A = np.zeros((len(pairs), len(self.treatments) - 1))
        for r, (a, b) in enumerate(pairs):
            for t, sgn in ((a, 1.0), (b, -1.0)):
                if t not in idx:
                    raise DataError(
                        f"unknown treatment {t!r}; the network's treatments are: "
                        f"{', '.join(self.treatments)}"
                    )
                if idx[t] >= 0:
                    A[r, idx[t]] += sgn
        return A

    def _pairs(self, all_pairs: bool, vs: str | None = None) -> list[tuple[str, str]]:
        t = self.treatments
        if all_pairs:
            return [(a, b) for j, b in enumerate(t) for a in t[j + 1 :]]
        ref = self.reference if vs is None else vs
        self._contrast_matrix([(ref, ref)])  # validates the name
        return [(a, ref) for a in t if a != ref]

    def _table(
        self,
        marg: Any,
        pairs: Sequence[tuple[str, ...]],
        natural: bool,
        names: Sequence[str] = ("treatment", "comparator"),
        fit: NetworkFit | None = None,
    ) -> pd.DataFrame:
        """Summary rows of ``marg``, plus :data:`MC_COLUMNS` when ``fit`` is an MCMC fit."""
        a = (1 - self.ci_prob) / 2
        q = np.atleast_2d(marg.quantile([0.5, a, 1 - a]))
        if natural:
            mean, sd = (np.atleast_1d(x) for x in marg.mean_sd_exp())
            q = np.exp(q)
        else:
            mean, sd = np.atleast_1d(marg.mean()), np.atleast_1d(marg.sd())
        cols = {"mean": mean, "sd": sd, "median": q[:, 0], "lower": q[:, 1], "upper": q[:, 2]}
        if _is_mcmc(fit):
            draws = np.asarray(marg.draws(), dtype=float)
            with np.errstate(over="ignore"):
                cols.update(_mc_columns(np.exp(draws) if natural else draws))
        return pd.DataFrame(cols, index=pd.MultiIndex.from_tuples(list(pairs), names=list(names)))

    def _natural(self, scale: Scale) -> bool:
        _check("scale", scale, ("analysis", "natural"))
        return scale == "natural" and self.is_ratio

    # -- relative effects ------------------------------------------------------------------
    def relative_effects(
        self, all_pairs: bool = False, scale: Scale = "analysis", vs: str | None = None
    ) -> pd.DataFrame:
        """Posterior of each treatment's effect against the reference (or of every pair).

        Parameters
        ----------
        all_pairs : bool
            Every pair ``(treatment, comparator)`` with the comparator earlier in
            :attr:`treatments`, instead of every treatment against the reference.
        scale : {"analysis", "natural"}
            ``natural`` exponentiates ratio measures (OR, RR, HR).
        vs : str, optional
            Comparator other than the reference (when ``all_pairs`` is False).

        Returns
        -------
        pandas.DataFrame
            Index ``(treatment, comparator)``; columns ``mean, sd, median, lower, upper``
            (and :data:`MC_COLUMNS` for an MCMC fit).
        """
        pairs = self._pairs(all_pairs, vs)
        marg = self.fit.posterior.linear(self._contrast_matrix(pairs))
        return self._table(marg, pairs, self._natural(scale), fit=self.fit)

    def predict(
        self, all_pairs: bool = False, scale: Scale = "analysis", vs: str | None = None
    ) -> pd.DataFrame:
        """Predict the relative effect in a new study (effect + N(0, tau^2)); as above."""
        pairs = self._pairs(all_pairs, vs)
        marg = self.fit.posterior.linear(self._contrast_matrix(pairs), new=True)
        return self._table(marg, pairs, self._natural(scale), fit=self.fit)

    def league_table(self, scale: Scale = "natural", digits: int = 2) -> pd.DataFrame:
        """League table: cell (row, column) is row vs column, "median (lower to upper)".

        Rows and columns in treatment order; the diagonal holds the treatment's name.
        """
        t = self.treatments
        pairs = [(a, b) for a in t for b in t if a != b]
        tab = self._table(
            self.fit.posterior.linear(self._contrast_matrix(pairs)), pairs, self._natural(scale)
        )
        out = pd.DataFrame("", index=list(t), columns=list(t))
        for (a, b), r in tab.iterrows():
            out.loc[a, b] = (
                f"{r['median']:.{digits}f} ({r['lower']:.{digits}f} to {r['upper']:.{digits}f})"
            )
        for a in t:
            out.loc[a, a] = a
        out.index.name = "treatment"
        out.columns.name = "comparator"
        return out

    # -- rankings ----------------------------------------------------------------------------
    def _effects_draws(self) -> Array:
        """Draws (n, T) of each treatment's effect against the reference (0 for it)."""
        b = np.asarray(self.fit.posterior.marginal("beta").draws(), float)
        b = b.reshape(-1, b.shape[-1])
        return np.concatenate([np.zeros((b.shape[0], 1)), b], axis=1)

    def _rank_draws(self, lower_better: bool | None) -> Array:
        lb = self.lower_better if lower_better is None else lower_better
        e = self._effects_draws()
        e = e if lb else -e
        # rank 1 = best; ties (none with continuous draws) broken by order
        return np.argsort(np.argsort(e, axis=1, kind="stable"), axis=1, kind="stable") + 1.0

    def ranks(self, lower_better: bool | None = None) -> pd.DataFrame:
        """Rank probabilities: one row per treatment, columns ``1 .. T`` (rank 1 = best).

        Also the posterior mean rank (``mean_rank``) and P(best) (``p_best``, = column 1).
        """
        r = self._rank_draws(lower_better)
        T = r.shape[1]
        probs = np.stack([(r == k).mean(0) for k in range(1, T + 1)], axis=1)
        out = pd.DataFrame(probs, index=list(self.treatments), columns=list(range(1, T + 1)))
        out["mean_rank"] = r.mean(0)
        out["p_best"] = probs[:, 0]
        out.index.name = "treatment"
        return out

    def sucra(self, lower_better: bool | None = None) -> pd.DataFrame:
        """SUCRA per treatment with its posterior distribution (Salanti et al. 2011).

        Per draw, SUCRA is ``(T - rank) / (T - 1)``; its posterior mean is the usual SUCRA
        (the area under the cumulative rank curve). ``p_best`` is P(rank 1).

        Returns
        -------
        pandas.DataFrame
            Index ``treatment``; columns ``mean, sd, median, lower, upper`` of SUCRA (the
            interval from the draws of the rank), ``p_best`` (and :data:`MC_COLUMNS` of the
            SUCRA draws for an MCMC fit; R-hat NaN for a treatment whose rank never changes).
        """
        r = self._rank_draws(lower_better)
        T = r.shape[1]
        s = (T - r) / (T - 1)
        a = (1 - self.ci_prob) / 2
        q = np.quantile(s, [0.5, a, 1 - a], axis=0)
        cols = {
            "mean": s.mean(0),
            "sd": s.std(0, ddof=1),
            "median": q[0],
            "lower": q[1],
            "upper": q[2],
            "p_best": (r == 1).mean(0),
        }
        if _is_mcmc(self.fit):
            chains = np.asarray(self.fit.posterior.marginal("beta").draws()).shape[0]
            cols.update(_mc_columns(s.reshape(chains, -1, T)))
        return pd.DataFrame(cols, index=pd.Index(list(self.treatments), name="treatment"))

    # -- MCID probabilities --------------------------------------------------------------------
    def prob_exceeds(
        self,
        thresholds: float | Sequence[float],
        vs: str | None = None,
        direction: Direction = "greater",
        scale: Scale = "natural",
        pairs: Sequence[tuple[str, str]] | None = None,
    ) -> pd.DataFrame:
        """P(effect beyond each threshold), for the mean effect and for a new study.

        Parameters
        ----------
        thresholds : float or sequence of float
            MCIDs; ratios on the natural scale for ratio measures (unless ``scale`` is
            ``analysis``).
        vs : str, optional
            Comparator (default the reference): every other treatment against it.
        direction : {"greater", "less"}
            ``greater``: P(effect > threshold); ``less``: P(effect < threshold).
        scale : {"natural", "analysis"}
            Scale of the thresholds.
        pairs : sequence of (treatment, comparator), optional
            Any pairs the user names, instead of every treatment against ``vs``.

        Returns
        -------
        pandas.DataFrame
            Columns ``treatment, comparator, threshold, direction, p, p_new, mcse, mcse_new``
            (Monte Carlo SEs 0 for the exact engine).
        """
        _check("direction", direction, ("greater", "less"))
        _check("scale", scale, ("analysis", "natural"))
        thr = np.atleast_1d(np.asarray(thresholds, dtype=float))
        if thr.size == 0 or not np.all(np.isfinite(thr)):
            raise ValueError("thresholds must be finite numbers")
        x = thr
        if scale == "natural" and self.is_ratio:
            if np.any(thr <= 0):
                raise ValueError("ratio thresholds on the natural scale must be > 0")
            x = np.log(thr)
        pr = list(pairs) if pairs is not None else self._pairs(False, vs)
        A = self._contrast_matrix(pr)
        rows = []
        m = self.fit.posterior.linear(A)
        mn = self.fit.posterior.linear(A, new=True)
        c, cn = np.atleast_2d(m.cdf(x)), np.atleast_2d(mn.cdf(x))
        e, en = np.atleast_2d(m.mcse_cdf(x)), np.atleast_2d(mn.mcse_cdf(x))
        for i, (a, b) in enumerate(pr):
            for j, t in enumerate(thr):
                p, pn = c[i, j], cn[i, j]
                if direction == "greater":
                    p, pn = 1 - p, 1 - pn
                rows.append(
                    {
                        "treatment": a,
                        "comparator": b,
                        "threshold": float(t),
                        "direction": direction,
                        "p": float(p),
                        "p_new": float(pn),
                        "mcse": float(e[i, j]),
                        "mcse_new": float(en[i, j]),
                    }
                )
        return pd.DataFrame(rows)

    # -- heterogeneity -----------------------------------------------------------------------
    def heterogeneity(self) -> pd.DataFrame:
        """Posterior of tau and tau^2 (zeros for the fixed-effect model).

        Index ``parameter``; columns ``mean, sd, median, lower, upper`` (and
        :data:`MC_COLUMNS` for an MCMC fit, NaN for the fixed-effect model's constant zeros).
        """
        mcmc = _is_mcmc(self.fit)
        cols = COLUMNS + (MC_COLUMNS if mcmc else [])
        index = pd.Index(["tau", "tau2"], name="parameter")
        if self.model == "fixed":
            out = pd.DataFrame(0.0, index=index, columns=cols)
            out[cols[len(COLUMNS) :]] = np.nan
            return out
        rows = []
        a = (1 - self.ci_prob) / 2
        for name in index:
            m = self.fit.posterior.marginal(name)
            q = np.atleast_1d(m.quantile([0.5, a, 1 - a]))
            row = [float(m.mean()), float(m.sd()), *map(float, q)]
            if mcmc:
                mc = _mc_columns(np.asarray(m.draws())[..., None])
                row += [float(mc[c][0]) for c in MC_COLUMNS]
            rows.append(row)
        return pd.DataFrame(rows, index=index, columns=cols)

    # -- inconsistency ------------------------------------------------------------------------
    def node_split(self) -> pd.DataFrame:
        """Node-splitting for every comparison with direct and indirect evidence.

        Returns
        -------
        pandas.DataFrame
            Index ``(treatment, comparator, estimate)`` with ``estimate`` one of
            ``direct``, ``indirect``, ``network``, ``inconsistency`` (direct minus indirect);
            columns ``mean, sd, median, lower, upper`` on the analysis scale and ``p_value``
            (on the inconsistency rows: the Bayesian p-value ``2 min(P(w > 0), P(w < 0))``),
            then :data:`MC_COLUMNS` for an MCMC fit. Empty when no comparison has both kinds
            of evidence.
        """
        from bayesmeta.network.model import nodesplit_comparisons

        comps = nodesplit_comparisons(self.data, self.reference)
        frames = []
        for comp in comps:
            if comp not in self.splits:
                self.splits[comp] = self.refit("nodesplit", comp)
            sf = self.splits[comp]
            b, a = comp
            P = len(self.treatments) - 1
            A_ind = np.concatenate([self._contrast_matrix([comp])[0], [0.0]])
            A_dir = np.zeros(P + 1)
            A_dir[-1] = 1.0
            A = np.stack([A_dir, A_ind, A_dir - A_ind])
            marg = sf.posterior.linear(A)
            t = self._table(
                marg,
                [(b, a, "direct"), (b, a, "indirect"), (b, a, "inconsistency")],
                False,
                _NS_INDEX,
                fit=sf,
            )
            net = self._table(
                self.fit.posterior.linear(self._contrast_matrix([comp])),
                [(b, a, "network")],
                False,
                _NS_INDEX,
                fit=self.fit,
            )
            t = pd.concat([t.iloc[:2], net, t.iloc[2:]])
            p0 = float(np.asarray(marg.cdf([0.0]))[2, 0])
            t["p_value"] = [np.nan, np.nan, np.nan, 2 * min(p0, 1 - p0)]
            frames.append(t)
        cols = [*COLUMNS, "p_value", *(MC_COLUMNS if _is_mcmc(self.fit) else [])]
        if not frames:
            idx = pd.MultiIndex.from_tuples([], names=["treatment", "comparator", "estimate"])
            return pd.DataFrame(columns=cols, index=idx, dtype=float)
        out = pd.concat(frames)
        out.index = pd.MultiIndex.from_tuples(
            list(out.index), names=["treatment", "comparator", "estimate"]
        )
        return out[cols]

    def unrelated_effects(self, scale: Scale = "analysis") -> pd.DataFrame:
        """Unrelated mean effects (no consistency): one row per directly compared pair."""
        if self.ume is None:
            self.ume = self.refit("ume", None)
        names = self.ume.design.names
        pairs = [tuple(n.split(" vs ", 1)) for n in names]
        marg = self.ume.posterior.linear(np.eye(len(names)))
        return self._table(marg, pairs, self._natural(scale), fit=self.ume)

    # -- summary -----------------------------------------------------------------------------
    def summary(self, scale: Scale = "analysis") -> pd.DataFrame:
        """Summarise the basic parameters ``d[treatment]`` (vs the reference) and ``tau``.

        Index ``parameter``; columns ``mean, sd, median, lower, upper`` (``tau`` always on
        its own scale), and :data:`MC_COLUMNS` for an MCMC fit.
        """
        rel = self.relative_effects(scale=scale)
        rel.index = pd.Index([f"d[{a}]" for a, _ in rel.index], name="parameter")
        het = self.heterogeneity().loc[["tau"]]
        out = pd.concat([rel, het])
        out.index.name = "parameter"
        return out

    def describe(self) -> dict[str, Any]:
        """Describe what was fitted (for reports and provenance)."""
        return {
            "measure": self.measure,
            "reference": self.reference,
            "model": self.model,
            "likelihood": self.likelihood,
            "engine": self.engine,
            "consistency": self.consistency,
            "priors": {k: repr(v) for k, v in self.priors.items()},
            "studies": len(self.data.studies),
            "treatments": list(self.treatments),
            "lower_better": self.lower_better,
            "ci_prob": self.ci_prob,
            "interval": f"equal-tailed {100 * self.ci_prob:g}%",
            "seconds": None if math.isnan(self.fit.seconds) else self.fit.seconds,
        }

    # -- persistence -----------------------------------------------------------------------
    def _fits(self) -> list[tuple[str, str, tuple[str, str] | None, NetworkFit]]:
        """Every fit held: ``(node, kind, comparison, fit)``."""
        out: list[tuple[str, str, tuple[str, str] | None, NetworkFit]] = [
            ("consistency", "consistency", None, self.fit)
        ]
        if self.ume is not None:
            out.append(("ume", "ume", None, self.ume))
        for i, (comp, f) in enumerate(self.splits.items()):
            out.append((f"nodesplit_{i}", "nodesplit", comp, f))
        return out

    def to_metadata(self) -> dict[str, Any]:
        """Everything besides the posteriors needed to rebuild this result (JSON-ready)."""
        import io

        from bayesmeta.network.pairwise import PairwisePosterior

        buf = io.StringIO()
        self.data.table.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
        fits = []
        for node, kind, comp, f in self._fits():
            diag = f.diagnostics
            fits.append(
                {
                    "node": node,
                    "kind": kind,
                    "comparison": None if comp is None else list(comp),
                    "engine": f.engine,
                    "seconds": None if math.isnan(f.seconds) else float(f.seconds),
                    "diagnostics": None if diag is None else diag.to_dict(),
                    # the pairwise adapter saves its engine's tree: note it to wrap it again
                    "pairwise": isinstance(f.posterior, PairwisePosterior),
                }
            )
        return {
            "format": FORMAT,
            "measure": self.measure,
            "source": self.data.source,
            "data_csv": buf.getvalue(),
            "reference": self.reference,
            "model": self.model,
            "likelihood": self.likelihood,
            "priors": {k: (None if v is None else v.to_dict()) for k, v in self.priors.items()},
            "lower_better": bool(self.lower_better),
            "ci_prob": float(self.ci_prob),
            "consistency": self.consistency,
            "seed": int(self.seed),
            "notes": list(self.notes),
            "spec": self.spec.to_dict(),
            "fits": fits,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save to one netCDF file, reloaded by :func:`load_network` without refitting.

        Each fit's posterior (``posterior.to_datatree()``) is a group named after the fit
        (``consistency``, ``ume``, ``nodesplit_0``, ...); the metadata is JSON in the root
        attribute ``bayesmeta_network``. Written to a temporary file first and renamed, so
        a failure leaves no partial file.

        Returns
        -------
        pathlib.Path
        """
        import xarray as xr

        from bayesmeta.results import _json, write_netcdf

        path = Path(path)
        groups = {}
        for node, _, _, f in self._fits():
            groups[node] = f.posterior.to_datatree()
        root = xr.DataTree(children={k: v.copy() for k, v in groups.items()})
        root.attrs["bayesmeta_network"] = json.dumps(
            self.to_metadata(), sort_keys=True, default=_json
        )
        return write_netcdf(root, path)


def load_network(path: str | os.PathLike[str]) -> NetworkResult:
    """Load a result saved with :meth:`NetworkResult.save` (a true round trip, no refit).

    Every table of the loaded result equals the saved one's. Node-split and UME fits that
    were not saved are fitted on demand from the saved spec and data, with the saved seed.

    Raises
    ------
    ValueError
        When the file is not readable or holds no network result (a pairwise result names
        :func:`bayesmeta.load`).
    """
    import dataclasses
    import io

    import xarray as xr

    from bayesmeta import engines
    from bayesmeta import priors as P
    from bayesmeta.diagnostics import Diagnostics
    from bayesmeta.network.data import network_data
    from bayesmeta.network.fit import refitter
    from bayesmeta.network.model import consistency_design, nodesplit_design, ume_design
    from bayesmeta.network.pairwise import PairwisePosterior
    from bayesmeta.spec import AnalysisSpec

    try:
        dt = xr.open_datatree(path, engine="h5netcdf").load()
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable bayesmeta network result ({exc})") from None
    if "bayesmeta_network" not in dt.attrs:
        hint = (
            " (it is a pairwise result: read it with bayesmeta.load)"
            if "bayesmeta" in dt.attrs
            else ""
        )
        raise ValueError(
            f"{path}: not a bayesmeta network result (no 'bayesmeta_network' metadata){hint}"
        )
    meta = json.loads(dt.attrs["bayesmeta_network"])
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{path}: unknown network result format {meta.get('format')!r} (this version of "
            f"bayesmeta reads {FORMAT!r})"
        )
    table = pd.read_csv(
        io.StringIO(meta["data_csv"]), dtype={"study": str, "treatment": str}, keep_default_na=True
    )
    nd = dataclasses.replace(network_data(table, meta["measure"]), source=meta.get("source"))
    spec = AnalysisSpec.from_dict(meta["spec"])
    pri = {k: (None if v is None else P.from_dict(v)) for k, v in meta["priors"].items()}
    reference = meta["reference"]
    fixed = meta["model"] == "fixed"

    def load_fit(info: dict[str, Any]) -> NetworkFit:
        if info["kind"] == "consistency":
            design = consistency_design(nd, reference)
        elif info["kind"] == "ume":
            design = ume_design(nd, reference)
        else:
            design = nodesplit_design(nd, reference, tuple(info["comparison"]))
        post = engines.posterior_from_datatree(dt[info["node"]])
        if info["pairwise"]:
            post = PairwisePosterior(post, fixed=fixed)
        diag = None
        if info["diagnostics"] is not None:
            diag = Diagnostics.from_dict(info["diagnostics"])
        return NetworkFit(
            design=design,
            posterior=post,
            diagnostics=diag,
            engine=info["engine"],
            seconds=float("nan") if info["seconds"] is None else info["seconds"],
        )

    fits = {f["node"]: (f, load_fit(f)) for f in meta["fits"]}
    splits = {
        tuple(info["comparison"]): f for info, f in fits.values() if info["kind"] == "nodesplit"
    }
    ume = next((f for info, f in fits.values() if info["kind"] == "ume"), None)
    return NetworkResult(
        data=nd,
        fit=fits["consistency"][1],
        reference=reference,
        model=meta["model"],
        likelihood=meta["likelihood"],
        priors=pri,
        lower_better=meta["lower_better"],
        ci_prob=meta["ci_prob"],
        consistency=meta["consistency"],
        seed=meta["seed"],
        refit=refitter(spec, nd, pri, meta["seed"]),
        splits=splits,
        ume=ume,
        notes=tuple(meta["notes"]),
        spec=spec,
    )
