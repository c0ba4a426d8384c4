"""One pipeline: spec -> fit -> classical estimates, MCID table, sensitivity, report.

:func:`run_analysis` is what the command line, the docs generator and the tests call, so
every surface shows the same numbers for the same analysis file.

Examples
--------
>>> import pandas as pd, bayesmeta
>>> df = pd.DataFrame({"study": ["A", "B", "C"], "estimate": [0.4, 0.7, 0.2],
...                    "se": [0.2, 0.25, 0.3]})
>>> a = bayesmeta.run_analysis(bayesmeta.AnalysisSpec.from_kwargs(
...     data=df, measure="SMD", mcid=[0.2, 0.5], seed=1))
>>> a.mcid["p_mu"].round(3).tolist()
[0.881, 0.388]
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bayesmeta.results import MetaResult
from bayesmeta.spec import AnalysisSpec

if TYPE_CHECKING:
    from bayesmeta.network.analysis import NetworkAnalysis

__all__ = ["Analysis", "OutputError", "atomic_directory", "check_out_dir", "run_analysis"]


class OutputError(OSError):
    """The output directory cannot be written (it is a file, read-only, or exists)."""


@dataclass(eq=False)
class Analysis:
    """Everything one analysis produces.

    Attributes
    ----------
    spec : AnalysisSpec
        The spec as given (``result.spec`` is the resolved one: defaults filled in).
    result : MetaResult
    classical : pandas.DataFrame or None
        Classical estimates a review would report.
    mcid : pandas.DataFrame or None
        :meth:`MetaResult.prob_exceeds` for the spec's thresholds.
    sensitivity : pandas.DataFrame or None
        One row per prior on tau in the spec's ``sensitivity`` (the first row is the
        primary analysis).
    warnings : list of str
        Every warning raised while running, as text.
    likelihoods : pandas.DataFrame or None
        Binary data analysed as OR: the normal approximation and the exact binomial-normal
        model side by side (mu, the prediction, the MCID probabilities).
    averaging : AveragedResult or None
        Bayesian model averaging, when the spec asks for it (``[averaging]``).
    """

    spec: AnalysisSpec
    result: MetaResult
    classical: pd.DataFrame | None
    mcid: pd.DataFrame | None
    sensitivity: pd.DataFrame | None
    warnings: list[str] = field(default_factory=list)
    likelihoods: pd.DataFrame | None = None
    averaging: Any = None

    @property
    def diagnostics(self) -> Any:
        """The result's diagnostics (MCMC checks, or the exact engine's accuracy)."""
        return self.result.diagnostics

    @property
    def provenance(self) -> dict[str, Any]:
        """Package versions, data digest, spec and settings (the result's)."""
        return self.result.provenance

    @property
    def scale(self) -> str:
        """``natural`` for ratio measures (tables as ratios), else ``analysis``."""
        return "natural" if self.result.is_ratio else "analysis"

    def text(self) -> str:
        """Return the printed report (what ``bayesmeta fit`` shows)."""
        from bayesmeta.report import mcid_text, plain_language

        parts = []
        if self.spec.title:
            parts.append(f"== {self.spec.title} ==")
        parts.append(self.result.report())
        if self.classical is not None:
            parts.append("\nClassical estimates (as a review would report them):")
            parts.append(
                self.classical.to_string(
                    float_format=lambda x: f"{x:.3f}", na_rep="", max_colwidth=60
                )
            )
        if self.mcid is not None:
            parts.append("\n" + mcid_text(self.result, self.mcid))
            parts += ["  " + s for s in plain_language(self.result, self.mcid)]
        if self.likelihoods is not None:
            parts.append(
                "\nNormal approximation vs exact binomial-normal model (OR; medians, 95% "
                "intervals; P for the pooled effect and a new study):"
            )
            parts.append(self.likelihoods.to_string(float_format=lambda x: f"{x:.3f}"))
        if self.averaging is not None:
            parts.append("\nBayesian model averaging (fixed/random effects x effect/no effect):")
            parts.append(self.averaging.models().to_string(float_format=lambda x: f"{x:.4g}"))
            bf = self.averaging.inclusion_bf()
            parts.append(
                f"  inclusion Bayes factors: effect {bf['effect']:.4g}, heterogeneity "
                f"{bf['heterogeneity']:.4g}"
            )
            parts.append(self.averaging.summary().to_string(float_format=lambda x: f"{x:.3f}"))
        if self.sensitivity is not None:
            pct = f"{100 * self.result.spec.ci_prob:g}%"
            parts.append(
                f"\nPrior sensitivity (median and {pct} CrI of mu; {pct} prediction interval):"
            )
            parts.append(self.sensitivity.to_string(float_format=lambda x: f"{x:.3f}"))
        return "\n".join(parts)

    def summary_table(self) -> pd.DataFrame:
        """Return the parameter summary with a ``scale`` column saying what each row is on."""
        s = self.result.summary(scale=self.scale)
        m = self.result.measure
        ratio = self.result.is_ratio
        s.insert(
            0,
            "scale",
            [(f"log {m} (SD)" if ratio else m) if n == "tau" else m for n in s.index],
        )
        return s

    def to_json(self) -> dict[str, Any]:
        """Everything as plain JSON-serialisable data (``bayesmeta fit --format json``)."""
        r = self.result

        def records(df: pd.DataFrame | None, orient: str = "index") -> Any:
            return None if df is None else json.loads(df.to_json(orient=orient))

        return {
            "title": self.spec.title,
            "model": r.describe_model(),
            "measure": r.measure,
            "k": r.k,
            "priors": {
                "mu": repr(r.mu_prior),
                "tau": None if r.tau_prior is None else repr(r.tau_prior),
            },
            "ci": f"{100 * r.spec.ci_prob:g}% equal-tailed",
            "scale": self.scale,
            "summary": records(self.summary_table()),
            "studies": records(r.studies(scale=self.scale)),
            "heterogeneity": None if r.fixed else records(r.heterogeneity()),
            "mcid": None
            if self.mcid is None
            else {
                "direction": self.mcid.attrs["direction"],
                "scale": self.mcid.attrs["scale"],
                "rows": records(self.mcid, "records"),
            },
            "classical": records(self.classical),
            "sensitivity": records(self.sensitivity),
            "likelihoods": records(self.likelihoods),
            "averaging": None
            if self.averaging is None
            else {
                "models": records(self.averaging.models()),
                "inclusion_bf": self.averaging.inclusion_bf(),
                "summary": records(self.averaging.summary()),
            },
            "notes": list(r.notes),
            "warnings": list(self.warnings),
            "diagnostics": r.diagnostics.to_dict(),
            "provenance": r.provenance,
        }

    def write(self, out_dir: str | os.PathLike[str], *, force: bool = False) -> Path:
        """Write every output to ``out_dir`` atomically (a temporary directory, then rename).

        Files: ``summary.csv`` (with a ``scale`` column), ``studies.csv``, ``mcid.csv``
        (with the direction), ``classical.csv``, ``sensitivity.csv``, ``posterior.nc``,
        ``diagnostics.json``, ``provenance.json``, the figures and ``report.md``. Files
        and directories get ordinary permissions (the umask).
        """
        from bayesmeta.report import markdown_report

        out = Path(out_dir)
        with atomic_directory(out, force=force) as tmp:
            r = self.result
            self.summary_table().to_csv(tmp / "summary.csv", float_format="%.10g")
            r.studies(scale=self.scale).to_csv(tmp / "studies.csv", float_format="%.10g")
            if self.mcid is not None:
                self.mcid.to_csv(tmp / "mcid.csv", index=False, float_format="%.10g")
            if self.classical is not None:
                self.classical.to_csv(tmp / "classical.csv", float_format="%.10g")
            if self.sensitivity is not None:
                self.sensitivity.to_csv(tmp / "sensitivity.csv", float_format="%.10g")
            if self.likelihoods is not None:
                self.likelihoods.to_csv(tmp / "likelihoods.csv", float_format="%.10g")
            if self.averaging is not None:
                self.averaging.models().to_csv(tmp / "averaging.csv", float_format="%.10g")
            r.save(tmp / "posterior.nc")
            _write_json(tmp / "diagnostics.json", r.diagnostics.to_dict())
            prov = dict(r.provenance)
            prov.update({"warnings": self.warnings, "command": prov.get("command")})
            _write_json(tmp / "provenance.json", prov)
            figures = _figures(self, tmp)
            (tmp / "report.md").write_text(markdown_report(self, figures), encoding="utf-8")
            from bayesmeta.html import write_analysis_html

            write_analysis_html(self, tmp / "report.html", [tmp / f for f in figures])
        return out


@contextmanager
def atomic_directory(out: Path, *, force: bool = False) -> Iterator[Path]:
    """Write an output directory atomically: yield a temporary directory beside ``out``.

    ``out`` is checked first (:func:`check_out_dir`). When the block ends normally, the
    files get ordinary permissions (the umask) and the directory is renamed to ``out``
    (replacing it with ``force``); on any error or interruption it is removed, so nothing
    partial is left behind.
    """
    out = Path(out)
    check_out_dir(out, force=force)
    tmp = Path(tempfile.mkdtemp(dir=out.resolve().parent, prefix=f".{out.name}.tmp-"))
    try:
        yield tmp
        _umask_permissions(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_out_dir(out: Path, *, force: bool = False) -> None:
    """Fail early (before any fitting) when ``out`` cannot become the output directory.

    Raises
    ------
    OutputError
        ``out`` is a file, lies under a file, exists and is not empty (without
        ``force``), or its parent is not writable.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputError(f"--out {out} exists and is not empty (use --force to replace it)")
    parent = out.resolve().parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"--out {out}: {probe} is a file, so {out} cannot be a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: {probe} is not writable")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out} is not writable")
    parent.mkdir(parents=True, exist_ok=True)


def _umask_permissions(root: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    for path in [root, *root.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _write_json(path: Path, obj: Any) -> None:
    from bayesmeta.results import _json

    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json) + "\n")


def _figures(analysis: Analysis, tmp: Path) -> list[str]:
    import logging

    os.environ.setdefault("MPLBACKEND", "Agg")
    # matplotlib logs font fallbacks ("findfont: ...") to stderr: not the user's concern
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib.pyplot as plt

    from bayesmeta import plots

    r, spec = analysis.result, analysis.spec
    nat = list(spec.mcid) if (spec.mcid and spec.mcid_scale == "natural") else None
    made = []

    def save(fig: Any, name: str) -> None:
        fig.savefig(tmp / name, dpi=120)
        plt.close(fig)
        made.append(name)

    d = r.design
    if d is not None and d.subgroup is not None:
        save(plots.subgroup_forest(r, mcid=nat, title=spec.title or None), "forest.png")
    elif d is not None:
        save(plots.bubble(r, mcid=nat, mcid_labels=spec.mcid_labels), "bubble.png")
    else:
        save(plots.forest(r, mcid=nat, title=spec.title or None), "forest.png")
    if d is None:
        save(
            plots.mcid_curve(
                r,
                candidates=nat,
                direction=spec.mcid_direction,
                labels=list(spec.mcid_labels) if spec.mcid_labels else None,
            ),
            "mcid.png",
        )
    if not r.fixed:
        save(plots.tau_posterior(r), "tau.png")
    if r.diagnostics.engine == "mcmc":
        for name, fig in plots.mcmc_diagnostics(r).items():
            save(fig, name)
    return made


def _capture(fn: Any, sink: list[str], prefix: str = "") -> Any:
    caught: list[Any] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return fn()
    finally:
        # re-emit outside the recording context, for Python users (the CLI prints each
        # as one line); inside it they would only be recorded again
        for w in caught:
            if any(seen.endswith(str(w.message)) for seen in sink):
                continue  # the same warning from a sensitivity fit: once is enough
            sink.append(prefix + str(w.message))
            # (no module=None: CPython 3.13.0 then ignores the filters)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _mcid_at(result: MetaResult) -> Any:
    """Say where MCID probabilities are evaluated with moderators (None without them).

    Each subgroup, or each distinct covariate combination of the studies.
    """
    d = result.design
    if d is None:
        return None
    if d.subgroup is not None:
        return list(d.names)
    cov = result.data.covariates
    used = [c for c in cov.columns if c in d.variables]
    return cov[used].drop_duplicates().reset_index(drop=True)


def run_analysis(
    spec: AnalysisSpec | str | os.PathLike[str],
    *,
    overrides: Mapping[str, Any] | None = None,
    data: Any = None,
    compare_likelihoods: bool = True,
) -> Analysis | NetworkAnalysis:
    """Run one analysis end to end.

    A spec that names a reference treatment is a network meta-analysis and gives a
    :class:`~bayesmeta.network.analysis.NetworkAnalysis`; every other spec an
    :class:`Analysis`.

    Parameters
    ----------
    spec : AnalysisSpec or path
        A spec, or an analysis file (TOML).
    overrides : mapping, optional
        Options to change (as :meth:`AnalysisSpec.replace`), e.g. from command-line flags.
    data : StudyData or NetworkData, optional
        Already-validated data (otherwise the spec's data are read).
    compare_likelihoods : bool, default True
        For binary data analysed as OR, also fit the other likelihood (normal
        approximation or exact binomial-normal) and show both (:attr:`Analysis.likelihoods`).

    Returns
    -------
    Analysis or NetworkAnalysis
    """
    from bayesmeta.classical import classical_table
    from bayesmeta.fit import fit_spec
    from bayesmeta.sensitivity import prior_sensitivity

    if not isinstance(spec, AnalysisSpec):
        spec = AnalysisSpec.from_toml(spec)
    if overrides:
        spec = spec.replace(**overrides)
    if spec.is_network:
        from bayesmeta.network.analysis import run_network

        return run_network(spec, data)
    notes: list[str] = []
    sd = data if data is not None else _capture(spec.load_data, notes)
    result = _capture(lambda: fit_spec(spec, sd), notes)
    mcid = None
    if spec.mcid:
        mcid = result.prob_exceeds(
            list(spec.mcid),
            direction=spec.mcid_direction,
            scale=spec.mcid_scale,
            labels=list(spec.mcid_labels) if spec.mcid_labels else None,
            at=_mcid_at(result),
        )
    try:
        classical = classical_table(sd)
    except ValueError as exc:
        classical = None
        notes.append(f"classical estimates not computed: {exc}")
    sensitivity = None
    if spec.sensitivity and result.design is not None:
        notes.append("prior sensitivity is tabulated for analyses without moderators only")
    elif spec.sensitivity:
        sensitivity = _capture(
            lambda: prior_sensitivity(result, spec.sensitivity), notes, "sensitivity fit: "
        )
    likelihoods = (
        _capture(lambda: _likelihood_comparison(spec, result), notes)
        if compare_likelihoods
        else None
    )
    averaging = _capture(lambda: _averaging(spec, result), notes) if spec.averaging else None
    return Analysis(
        spec=spec,
        result=result,
        classical=classical,
        mcid=mcid,
        sensitivity=sensitivity,
        warnings=notes,
        likelihoods=likelihoods,
        averaging=averaging,
    )


#: An MCID probability that moves more than this between the normal approximation and the
#: exact binomial model is a material disagreement.
MATERIAL_DIFFERENCE = 0.05


def _likelihood_comparison(spec: AnalysisSpec, result: MetaResult) -> pd.DataFrame | None:
    """Fit the normal approximation and the exact binomial-normal model side by side.

    Warns (ModelWarning) when an MCID probability differs by more than
    :data:`MATERIAL_DIFFERENCE`, or when zero cells force a continuity correction on the
    normal model.
    """
    from bayesmeta.effects import zero_cell_studies
    from bayesmeta.errors import ModelWarning
    from bayesmeta.fit import fit_spec

    sd = result.data
    if sd.kind != "binary" or sd.measure != "OR" or result.design is not None:
        return None
    rs = result.spec
    other = "binomial" if rs.likelihood == "normal" else "normal"
    alt = fit_spec(
        rs.replace(
            likelihood=other,
            engine="auto",
            baseline_prior=rs.baseline_prior if other == "binomial" else None,
        ),
        sd,
    )
    rows = {}
    sign = ">" if spec.mcid_direction == "greater" else "<"
    for lik, r in ((rs.likelihood, result), (other, alt)):
        s = r.summary(scale="natural")
        row = {
            "mu_median": s.loc["mu", "median"],
            "mu_lower": s.loc["mu", "lower"],
            "mu_upper": s.loc["mu", "upper"],
            "theta_new_lower": s.loc["theta_new", "lower"],
            "theta_new_upper": s.loc["theta_new", "upper"],
        }
        if spec.mcid:
            pe = r.prob_exceeds(list(spec.mcid), spec.mcid_direction, spec.mcid_scale)
            for t, p_mu, p_new in zip(spec.mcid, pe["p_mu"], pe["p_new"], strict=True):
                row[f"P(mu {sign} {t:g})"] = p_mu
                row[f"P(new {sign} {t:g})"] = p_new
        rows[f"{lik} ({'exact binomial-normal' if lik == 'binomial' else 'normal approx.'})"] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "likelihood"
    t = sd.table
    zero = zero_cell_studies(t["events_t"], t["n_t"], t["events_c"], t["n_c"])
    if zero.any():
        names = ", ".join(repr(x) for x, z in zip(sd.labels, zero, strict=True) if z)
        warnings.warn(
            f"zero cells in {names}: the normal model needs a 0.5 continuity correction "
            "there; the binomial-normal model uses the counts as they are",
            ModelWarning,
            stacklevel=2,
        )
    pcols = [c for c in table.columns if c.startswith("P(")]
    if pcols:
        diff = (table[pcols].iloc[0] - table[pcols].iloc[1]).abs()
        if (diff > MATERIAL_DIFFERENCE).any():
            worst = diff.idxmax()
            warnings.warn(
                f"the normal approximation and the exact binomial model disagree materially: "
                f"{worst} is {table[worst].iloc[0]:.3f} vs {table[worst].iloc[1]:.3f} "
                "(prefer the binomial-normal model for sparse binary data)",
                ModelWarning,
                stacklevel=2,
            )
    return table


def _averaging(spec: AnalysisSpec, result: MetaResult) -> Any:
    """Model averaging with the analysis's priors (a default tau prior for fixed effects)."""
    from bayesmeta.averaging import average
    from bayesmeta.fit import resolve

    rs = result.spec
    tau_prior = rs.tau_prior
    if tau_prior is None:
        tau_prior = resolve(rs.replace(effects="random", engine="auto"), result.data)[0].tau_prior
    return average(
        result.data,
        result.data.measure,
        likelihood=rs.likelihood,
        mu_prior=rs.mu_prior,
        tau_prior=tau_prior,
        baseline_prior=rs.baseline_prior,
        prior_model_probs=spec.prior_model_probs,
    )
